/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *		gbn_enqueue_row(): the one place that writes a new
 *		notification_queue row, for the worker's event processing
 *		(events.c) and for enqueue() (_enqueue_row).
 *
 *	 problem not NULL		-> status 'failed', last_error problem
 *	 template missing		-> 'failed', 'template "x" not found'
 *	 number missing/invalid -> 'failed', to_number NULL, to_number_raw kept
 *	 number opted out		-> 'cancelled', 'recipient opted out'
 *	 otherwise				-> 'pending', and the worker is woken at commit
 *
 * message_text and the template snapshot (name, language, params, args,
 * send_as) are taken now.  A dedupe_key already in the queue: nothing is
 * written and the existing row's id is returned (INSERT .. ON CONFLICT
 * waits for a concurrent inserter of the same key, so this is race-free).
 * One exception: an existing row that failed for want of a valid number
 * (to_number NULL) is redone in place when the new call has a valid number,
 * so that fixing the number and repeating the assignment notifies (such a
 * row cannot be requeue()d: it has no number).  A new 'failed' row of a
 * case also queues a case_events 'notification_failed' (audit.c).
 *
 * Only the extension's own tables are written here, with the extension's
 * rights; the statements are kept and name everything schema-qualified,
 * operators included, so they mean the same under any search_path.
 *
 * src/enqueue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "compat.h"
#include "enqueue.h"
#include "guestbook_notify.h"
#include "jsonb_build.h"
#include "normalize.h"
#include "render.h"
#include "spi_util.h"
#include "status.h"

PG_FUNCTION_INFO_V1(gbn_enqueue_row_sql);

static SPIPlanPtr template_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr redo_plan = NULL;
static SPIPlanPtr existing_plan = NULL;
static SPIPlanPtr pacing_plan = NULL;

/* the template row and the opt-out probe, in one statement */
static const char *const template_sql =
"SELECT t.key IS NOT NULL, t.cloud_template_name, t.language, t.param_names,"
" t.body, t.send_as, EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o"
" WHERE o.number OPERATOR(pg_catalog.=) $2)"
" FROM (SELECT) AS one"
" LEFT JOIN guestbook_notify.templates t ON t.key OPERATOR(pg_catalog.=) $1";

static const char *const insert_sql =
"INSERT INTO guestbook_notify.notification_queue AS q"
" (to_number, to_number_raw, recipient_name, recipient_role, template_key,"
" template_name, template_language, template_params, template_args,"
" message_text, case_id, app_schema, status, scheduled_at, last_error,"
" dedupe_key, send_as)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
" $16, $17)"
" ON CONFLICT (dedupe_key) DO NOTHING"
" RETURNING q.id";

/*
 * The rare redo.  DO NOTHING + this UPDATE rather than ON CONFLICT DO
 * UPDATE: the DO UPDATE's SET list and WHERE would be set up by every
 * execution of the INSERT, and it would lock the existing row even when its
 * WHERE is false.  The UPDATE re-checks its WHERE on the latest version.
 */
static const char *const redo_sql =
"UPDATE guestbook_notify.notification_queue AS q"
" SET to_number = $2, to_number_raw = $3, recipient_name = $4,"
" template_name = $5, template_language = $6, template_params = $7,"
" template_args = $8, message_text = $9, status = $10, scheduled_at = $11,"
" last_error = $12, send_as = $13, attempt_count = 0,"
" updated_at = pg_catalog.now()"
" WHERE q.dedupe_key OPERATOR(pg_catalog.=) $1"
" AND q.status OPERATOR(pg_catalog.=) 'failed' AND q.to_number IS NULL"
" RETURNING q.id";

static const char *const existing_sql =
"SELECT q.id FROM guestbook_notify.notification_queue q"
" WHERE q.dedupe_key OPERATOR(pg_catalog.=) $1";

/* what a new row gets, decided and rendered once */
typedef struct NewRow
{
	const GbnEnqueueRow *in;
	GbnTemplate t;
	char	   *number;			/* normalised, NULL when none or invalid */
	GbnStatus	status;
	const char *error;
	Jsonb	   *params;
	ArrayType  *args;
	text	   *message;
	TimestampTz scheduled_at;
} NewRow;

void
gbn_lookup_template(const char *key, const char *number, GbnTemplate *t)
{
	GbnSqlArgs	a = {0};

	if (template_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, TEXTOID};

		template_plan = gbn_prepare_kept(template_sql, 2, types);
	}
	gbn_arg_text(&a, key);
	gbn_arg_text(&a, number);
	gbn_spi_run(template_plan, a.values, a.nulls, SPI_OK_SELECT, 1);
	if (SPI_processed != 1)
		elog(ERROR, "template lookup returned %d rows", (int) SPI_processed);

	t->found = gbn_spi_bool(0, 1, false);
	t->name = gbn_spi_text(0, 2);
	t->language = gbn_spi_text(0, 3);
	t->param_names = NULL;
	t->body = NULL;
	if (t->found)
	{
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull);
		t->param_names = isnull ? NULL : DatumGetArrayTypePCopy(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
		t->body = isnull ? NULL : DatumGetTextPCopy(d);
	}
	t->send_as = gbn_spi_text(0, 6);
	t->opted_out = gbn_spi_bool(0, 7, false);
}

/* nullif(btrim(s), '') IS NULL, btrim trimming spaces */
static bool
is_blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (*s != ' ')
			return false;
	return true;
}

/* status, error and number of r (the rules in the file header) */
static void
decide(NewRow *r)
{
	const GbnEnqueueRow *in = r->in;

	r->status = GBN_STATUS_PENDING;
	r->error = in->problem;
	if (!r->t.found && r->error == NULL)
		r->error = psprintf("template \"%s\" not found",
							in->template_key ? in->template_key : "");
	if (r->error == NULL && r->number == NULL)
	{
		const char *role = in->recipient_role ? in->recipient_role : "";
		const char *name = in->recipient_name ? in->recipient_name : "";

		if (is_blank(in->number_raw))
			r->error = psprintf("no WhatsApp number for %s %s", role, name);
		else
			r->error = psprintf("invalid WhatsApp number \"%s\" for %s %s",
								in->number_raw, role, name);
	}
	if (r->error != NULL)
	{
		r->status = GBN_STATUS_FAILED;
		r->number = NULL;
	}
	else if (r->t.opted_out)
	{
		r->status = GBN_STATUS_CANCELLED;
		r->error = "recipient opted out";
	}
}

/* message text and template arguments, rendered once for insert and redo */
static void
render_row(NewRow *r)
{
	r->params = r->in->params ? r->in->params : gbn_empty_jsonb();
	r->args = gbn_template_args(r->t.param_names, r->in->params,
								gbn_template_budget(r->t.body));
	r->message = gbn_render_text(r->t.body, r->in->params);
	r->scheduled_at = r->in->scheduled_at_isnull ?
		GetCurrentTransactionStartTimestamp() : r->in->scheduled_at;
}

static bool
insert_row(NewRow *r, pg_uuid_t *id)
{
	const GbnEnqueueRow *in = r->in;
	GbnSqlArgs	a = {0};

	gbn_arg_text(&a, r->number);
	gbn_arg_text(&a, in->number_raw);
	gbn_arg_text(&a, in->recipient_name);
	gbn_arg_text(&a, in->recipient_role);
	gbn_arg_text(&a, in->template_key);
	gbn_arg_text(&a, r->t.name);
	gbn_arg_text(&a, r->t.language);
	gbn_arg(&a, JSONBOID, JsonbPGetDatum(r->params), false);
	gbn_arg(&a, TEXTARRAYOID, PointerGetDatum(r->args), false);
	gbn_arg(&a, TEXTOID, PointerGetDatum(r->message), false);
	gbn_arg(&a, UUIDOID, UUIDPGetDatum(in->case_id), in->case_id == NULL);
	gbn_arg(&a, NAMEOID, in->app_schema ?
			DirectFunctionCall1(namein, CStringGetDatum(in->app_schema)) : (Datum) 0,
			in->app_schema == NULL);
	gbn_arg_text(&a, gbn_status_name(r->status));
	gbn_arg(&a, TIMESTAMPTZOID, TimestampTzGetDatum(r->scheduled_at), false);
	gbn_arg_text(&a, r->error);
	gbn_arg_text(&a, in->dedupe_key);
	gbn_arg_text(&a, r->t.send_as);

	if (insert_plan == NULL)
		insert_plan = gbn_prepare_kept(insert_sql, a.n, a.types);
	gbn_spi_run(insert_plan, a.values, a.nulls, SPI_OK_INSERT_RETURNING, 1);
	return gbn_spi_uuid(0, 1, id);
}

/* the in-place redo of a row that failed for want of a number */
static bool
redo_row(NewRow *r, pg_uuid_t *id)
{
	const GbnEnqueueRow *in = r->in;
	GbnSqlArgs	a = {0};

	gbn_arg_text(&a, in->dedupe_key);
	gbn_arg_text(&a, r->number);
	gbn_arg_text(&a, in->number_raw);
	gbn_arg_text(&a, in->recipient_name);
	gbn_arg_text(&a, r->t.name);
	gbn_arg_text(&a, r->t.language);
	gbn_arg(&a, JSONBOID, JsonbPGetDatum(r->params), false);
	gbn_arg(&a, TEXTARRAYOID, PointerGetDatum(r->args), false);
	gbn_arg(&a, TEXTOID, PointerGetDatum(r->message), false);
	gbn_arg_text(&a, gbn_status_name(r->status));
	gbn_arg(&a, TIMESTAMPTZOID, TimestampTzGetDatum(r->scheduled_at), false);
	gbn_arg_text(&a, r->error);
	gbn_arg_text(&a, r->t.send_as);

	if (redo_plan == NULL)
		redo_plan = gbn_prepare_kept(redo_sql, a.n, a.types);
	gbn_spi_run(redo_plan, a.values, a.nulls, SPI_OK_UPDATE_RETURNING, 1);
	return gbn_spi_uuid(0, 1, id);
}

static bool
existing_row(const char *dedupe_key, pg_uuid_t *id)
{
	GbnSqlArgs	a = {0};

	gbn_arg_text(&a, dedupe_key);
	if (existing_plan == NULL)
		existing_plan = gbn_prepare_kept(existing_sql, a.n, a.types);
	gbn_spi_run(existing_plan, a.values, a.nulls, SPI_OK_SELECT, 1);
	return gbn_spi_uuid(0, 1, id);
}

/*
 * The number's pacing row, made now if it is new: the claims lock pacing
 * rows without waiting (SKIP LOCKED) and then need not insert them, so two
 * claims never wait for each other's new rows.
 */
static void
ensure_pacing_row(const char *number)
{
	GbnSqlArgs	a = {0};

	gbn_arg_text(&a, number);
	if (pacing_plan == NULL)
		pacing_plan = gbn_prepare_kept("INSERT INTO guestbook_notify.recipient_pacing"
									   " (to_number, next_allowed_at, window_start, window_count)"
									   " VALUES ($1, '-infinity', '-infinity', 0)"
									   " ON CONFLICT ON CONSTRAINT recipient_pacing_pkey DO NOTHING",
									   a.n, a.types);
	gbn_spi_run(pacing_plan, a.values, a.nulls, SPI_OK_INSERT, 0);
}

/* case_events 'notification_failed' for a new failed row of a case */
static void
audit_failure(NewRow *r, pg_uuid_t *id)
{
	const GbnEnqueueRow *in = r->in;
	GbnJsonbObject o;

	gbn_jsonb_begin(&o);
	gbn_jsonb_text(&o, "notification_id",
				   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id))));
	gbn_jsonb_text(&o, "template", in->template_key);
	gbn_jsonb_text(&o, "recipient_role", in->recipient_role);
	gbn_jsonb_text(&o, "recipient_name", in->recipient_name);
	gbn_jsonb_text(&o, "to_number", in->number_raw);
	gbn_jsonb_text(&o, "error", r->error);
	gbn_audit_case_event(in->app_schema, in->case_id, "notification_failed",
						 gbn_jsonb_end(&o), id);
}

bool
gbn_enqueue_row(const GbnEnqueueRow *row, pg_uuid_t *id)
{
	NewRow		r;

	memset(&r, 0, sizeof(r));
	r.in = row;
	r.number = row->number_raw == NULL ? NULL :
		gbn_normalize_number(row->number_raw, strlen(row->number_raw));
	if (row->template != NULL)
		r.t = *row->template;
	else
		gbn_lookup_template(row->template_key, r.number, &r.t);
	decide(&r);
	render_row(&r);

	if (!insert_row(&r, id))
	{
		/*
		 * The key exists (ON CONFLICT waited for a concurrent inserter of
		 * it).  Redo it in place only if it failed for want of a valid
		 * number and this call has one.
		 */
		if (r.number == NULL || !redo_row(&r, id))
			return existing_row(row->dedupe_key, id);
	}

	if (r.status == GBN_STATUS_PENDING)
	{
		ensure_pacing_row(r.number);
		gbn_wake_at_commit();
	}
	else if (r.status == GBN_STATUS_FAILED && row->case_id != NULL &&
			 row->app_schema != NULL)
		audit_failure(&r, id);
	return true;
}

/*
 * _enqueue_row(p_template_key text, p_number_raw text, p_recipient_name
 *				text, p_recipient_role text, p_params jsonb, p_case_id uuid,
 *				p_app_schema text, p_dedupe_key text, p_scheduled_at
 *				timestamptz, p_problem text) RETURNS uuid
 */
Datum
gbn_enqueue_row_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	GbnEnqueueRow row;
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	bool		found;

	memset(&row, 0, sizeof(row));
	row.template_key = gbn_text_arg(fcinfo, 0);
	row.number_raw = gbn_text_arg(fcinfo, 1);
	row.recipient_name = gbn_text_arg(fcinfo, 2);
	row.recipient_role = gbn_text_arg(fcinfo, 3);
	row.params = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	row.case_id = PG_ARGISNULL(5) ? NULL : PG_GETARG_UUID_P(5);
	row.app_schema = gbn_text_arg(fcinfo, 6);
	row.dedupe_key = gbn_text_arg(fcinfo, 7);
	row.scheduled_at_isnull = PG_ARGISNULL(8);
	row.scheduled_at = PG_ARGISNULL(8) ? 0 : PG_GETARG_TIMESTAMPTZ(8);
	row.problem = gbn_text_arg(fcinfo, 9);

	/* 1.0's escalation trigger, before ALTER EXTENSION UPDATE */
	if (!gbn_sql_is_current())
	{
		gbn_warn_sql_outdated();
		PG_RETURN_NULL();
	}
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = gbn_enqueue_row(&row, id);
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(id);
}
