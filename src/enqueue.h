/*-------------------------------------------------------------------------
 *
 * enqueue.h
 *		The enqueue side in C: number normalisation, message rendering,
 *		template values, the outbox insert and the assignment trigger.
 *		The SQL functions of the same names are thin wrappers, so the
 *		triggers, enqueue() and render() share one implementation.
 *
 * src/enqueue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_ENQUEUE_H
#define GBN_ENQUEUE_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* WhatsApp's limit for a text body, in characters */
#define GBN_MAX_MESSAGE_CHARS	4096

/* normalize.c: canonical 628... digits (palloc'd), or NULL if invalid */
extern char *gbn_normalize_number(const char *number, int len);

/* render.c */
extern text *gbn_render_text(text *body, Jsonb *params);
extern ArrayType *gbn_template_args(ArrayType *names, Jsonb *params);
extern char *gbn_template_arg(const char *value, int len);

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

extern Jsonb *gbn_case_params(const GbnCaseValues *values);

/* enqueue.c: one new notification_queue row (see _enqueue_row) */

/* the template row and whether the number opted out */
typedef struct GbnTemplate
{
	bool		found;
	char	   *name;			/* cloud_template_name */
	char	   *language;
	ArrayType  *param_names;
	text	   *body;
	bool		opted_out;
} GbnTemplate;

/*
 * The SQL that reads a GbnTemplate: six output columns (see
 * gbn_template_from_result) and the join they need; key and number are SQL
 * expressions of type text.  Shared by _enqueue_row and the assignment
 * trigger, which reads them in its own lookup.
 */
#define GBN_TEMPLATE_COLUMNS(number) \
	"t.key IS NOT NULL, t.cloud_template_name, t.language, t.param_names," \
	" t.body, EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o" \
	" WHERE o.number OPERATOR(pg_catalog.=) " number ")"
#define GBN_TEMPLATE_JOIN(key) \
	" LEFT JOIN guestbook_notify.templates t" \
	" ON t.key OPERATOR(pg_catalog.=) " key

typedef struct GbnEnqueueRow
{
	const char *template_key;
	const char *number_raw;		/* NULL: none */
	const char *recipient_name;
	const char *recipient_role;
	Jsonb	   *params;			/* NULL: '{}' */
	pg_uuid_t  *case_id;		/* NULL: none */
	const char *app_schema;		/* NULL: none */
	const char *dedupe_key;		/* NULL: none */
	TimestampTz scheduled_at;
	bool		scheduled_at_isnull;	/* true: now() */
	const char *problem;		/* not NULL: a 'failed' row with this */
	const GbnTemplate *template;	/* NULL: looked up here */
} GbnEnqueueRow;

/* SPI_prepare + SPI_keepplan, erroring out on failure; caller in SPI */
extern SPIPlanPtr gbn_prepare_kept(const char *sql, int nargs, Oid *argtypes);

/* argument n of a SQL function as a C string, NULL for SQL NULL */
static inline char *
gbn_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/* Caller must be connected to SPI.  false: no row (never, in practice). */
extern bool gbn_enqueue_row(const GbnEnqueueRow *row, pg_uuid_t *id);
extern void gbn_template_from_result(HeapTuple tup, TupleDesc desc, int first,
									 GbnTemplate *t);

#endif							/* GBN_ENQUEUE_H */
