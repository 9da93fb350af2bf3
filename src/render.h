/*-------------------------------------------------------------------------
 *
 * render.h
 *		What a notification says: the message text rendered from a
 *		template's {{placeholders}}, the Cloud API template arguments, and
 *		the placeholder values of a case (render.c).
 *
 * src/render.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_RENDER_H
#define GBN_RENDER_H

#include "utils/array.h"
#include "utils/jsonb.h"

/* WhatsApp's limit for a text body, in characters */
#define GBN_MAX_MESSAGE_CHARS	4096

/* a template message: its body with the parameters in, and one parameter */
#define GBN_TEMPLATE_BODY_CHARS		1024
#define GBN_TEMPLATE_PARAM_CHARS	32768

/* the values of a case, as the template placeholders see them */
typedef struct GbnCaseValues
{
	const char *case_id;		/* uuid as text; NULL: no detail_url */
	const char *code;
	const char *case_type;
	const char *unit_tujuan;
	const char *org_unit_name;
	const char *visitor_name;
	const char *visitor_id_number;
	const char *purpose;
	const char *surat_tracking_no;
	const char *surat_perihal;
	const char *recipient_name;
} GbnCaseValues;

extern text *gbn_render_text(text *body, Jsonb *params);
extern ArrayType *gbn_template_args(ArrayType *names, Jsonb *params,
									 int budget_chars);
extern int	gbn_template_budget(text *body);
extern char *gbn_template_arg(const char *value, int len);
extern Jsonb *gbn_case_params(const GbnCaseValues *values);
extern Jsonb *gbn_empty_jsonb(void);

#endif							/* GBN_RENDER_H */
