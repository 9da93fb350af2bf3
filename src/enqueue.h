/*-------------------------------------------------------------------------
 *
 * enqueue.h
 *		The one place that writes a new notification_queue row (enqueue.c),
 *		for the worker's event processing and for enqueue().
 *
 * src/enqueue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_ENQUEUE_H
#define GBN_ENQUEUE_H

#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* a template row, and whether the recipient opted out */
typedef struct GbnTemplate
{
	bool		found;
	char	   *name;			/* cloud_template_name */
	char	   *language;
	ArrayType  *param_names;
	text	   *body;
	char	   *send_as;		/* 'template', 'text' or NULL */
	bool		opted_out;
} GbnTemplate;

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

/*
 * Write row; *id is the new row's id, or the existing row's for a
 * dedupe_key already queued.  Caller is connected to SPI and runs with the
 * extension's rights.  false: no row to report (the existing row went away
 * meanwhile, e.g. archived).
 */
extern bool gbn_enqueue_row(const GbnEnqueueRow *row, pg_uuid_t *id);

/* the template row of key and whether number (normalised) opted out */
extern void gbn_lookup_template(const char *key, const char *number,
								GbnTemplate *t);

#endif							/* GBN_ENQUEUE_H */
