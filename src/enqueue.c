/*-------------------------------------------------------------------------
 *
 * enqueue.c
 *		guestbook_notify._enqueue_row(): the one place that writes a new
 *		notification_queue row, for the triggers and for enqueue().
 *
 *	 problem not NULL		-> status 'failed', last_error problem
 *	 template missing		-> 'failed', 'template "x" not found'
 *	 number missing/invalid -> 'failed', to_number NULL, to_number_raw kept
 *	 number opted out		-> 'cancelled', 'recipient opted out'
 *	 otherwise				-> 'pending', and the worker is woken at commit
 *
 * message_text and the template snapshot (name, language, params, args) are
 * taken now.  A dedupe_key already in the queue: nothing is written and the
 * existing row's id is returned (INSERT .. ON CONFLICT waits for a
 * concurrent inserter of the same key, so this is race-free).  One
 * exception: an existing row that failed for want of a valid number
 * (to_number NULL) is redone in place when the new call has a valid number,
 * so that fixing the number and repeating the assignment notifies (such a
 * row cannot be requeue()d: it has no number).  A new 'failed' row of a
 * case also writes case_events 'notification_failed' (through
 * _case_event(), whose failure is only a WARNING).
 *
 * The statements are prepared once per session and kept (SPI_keepplan);
 * every name in them is schema-qualified, operators included, so they mean
 * the same whatever the caller's search_path (the plan cache re-analyses a
 * kept plan when search_path changes).  The caller runs as the extension's
 * owner: the triggers and enqueue() are SECURITY DEFINER.
 *
 * src/enqueue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "enqueue.h"
#include "guestbook_notify.h"

PG_FUNCTION_INFO_V1(gbn_enqueue_row_sql);

static SPIPlanPtr template_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr redo_plan = NULL;
static SPIPlanPtr existing_plan = NULL;
static SPIPlanPtr case_event_plan = NULL;

/* the template row and the opt-out probe, in one statement */
static const char *const template_sql =
"SELECT " GBN_TEMPLATE_COLUMNS("$2")
" FROM (SELECT) AS one"
GBN_TEMPLATE_JOIN("$1");

static const char *const insert_sql =
"INSERT INTO guestbook_notify.notification_queue AS q"
" (to_number, to_number_raw, recipient_name, recipient_role, template_key,"
" template_name, template_language, template_params, template_args,"
" message_text, case_id, app_schema, status, scheduled_at, last_error,"
" dedupe_key)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,"
" $16)"
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
" SET to_number = $1, to_number_raw = $2, recipient_name = $3,"
" template_name = $4, template_language = $5, template_params = $6,"
" template_args = $7, message_text = $8, status = $9, scheduled_at = $10,"
" last_error = $11, attempt_count = 0, updated_at = pg_catalog.now()"
" WHERE q.dedupe_key OPERATOR(pg_catalog.=) $12"
" AND q.status OPERATOR(pg_catalog.=) 'failed' AND q.to_number IS NULL"
" RETURNING q.id";

static const char *const existing_sql =
"SELECT q.id FROM guestbook_notify.notification_queue q"
" WHERE q.dedupe_key OPERATOR(pg_catalog.=) $1";

static const char *const case_event_sql =
"SELECT guestbook_notify._case_event($1, $2, 'notification_failed',"
" pg_catalog.jsonb_build_object('notification_id', $3, 'template', $4,"
" 'recipient_role', $5, 'recipient_name', $6, 'to_number', $7, 'error', $8))";

SPIPlanPtr
gbn_prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

static Datum
text_datum(const char *s, char *null)
{
	*null = s == NULL ? 'n' : ' ';
	return s == NULL ? (Datum) 0 : PointerGetDatum(cstring_to_text(s));
}

static void
run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 1);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* the id in column 1 of the first result row, if there is one */
static bool
result_uuid(pg_uuid_t *id)
{
	bool		isnull;
	Datum		d;

	if (SPI_processed == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return false;
	memcpy(id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return true;
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

/* the template row of key and whether number (normalised) opted out */
static void
lookup_template(const char *key, const char *number, GbnTemplate *t)
{
	Datum		values[2];
	char		nulls[2];

	if (template_plan == NULL)
	{
		Oid			types[2] = {TEXTOID, TEXTOID};

		template_plan = gbn_prepare_kept(template_sql, 2, types);
	}
	values[0] = text_datum(key, &nulls[0]);
	values[1] = text_datum(number, &nulls[1]);
	run(template_plan, values, nulls, SPI_OK_SELECT);
	if (SPI_processed != 1)
		elog(ERROR, "template lookup returned %d rows", (int) SPI_processed);
	gbn_template_from_result(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, t);
}

/*
 * A GbnTemplate from six columns of a result, starting at column first:
 * found (bool), cloud_template_name, language, param_names, body, opted_out
 * (bool), as template_sql selects them.
 */
void
gbn_template_from_result(HeapTuple tup, TupleDesc desc, int first,
						 GbnTemplate *t)
{
	bool		isnull;
	Datum		d;

	d = SPI_getbinval(tup, desc, first, &isnull);
	t->found = !isnull && DatumGetBool(d);
	t->name = SPI_getvalue(tup, desc, first + 1);
	t->language = SPI_getvalue(tup, desc, first + 2);
	d = SPI_getbinval(tup, desc, first + 3, &isnull);
	t->param_names = isnull ? NULL : DatumGetArrayTypeP(d);
	d = SPI_getbinval(tup, desc, first + 4, &isnull);
	t->body = isnull ? NULL : DatumGetTextPP(d);
	d = SPI_getbinval(tup, desc, first + 5, &isnull);
	t->opted_out = !isnull && DatumGetBool(d);
}

/*
 * gbn_enqueue_row: write row (the rules in the file header); *id is the new
 * row's id, or the existing row's for a dedupe_key already queued.  The
 * caller is connected to SPI.  false: no row to report (the existing row
 * went away meanwhile, e.g. archived).
 */
bool
gbn_enqueue_row(const GbnEnqueueRow *row, pg_uuid_t *id)
{
	char	   *number;
	Datum		values[16];
	char		nulls[16];
	GbnTemplate t;
	const char *error = row->problem;
	const char *status = "pending";
	Jsonb	   *params;
	ArrayType  *args;
	text	   *message;
	TimestampTz scheduled_at;

	number = row->number_raw == NULL ? NULL :
		gbn_normalize_number(row->number_raw, strlen(row->number_raw));
	if (row->template != NULL)
		t = *row->template;
	else
		lookup_template(row->template_key, number, &t);

	if (!t.found && error == NULL)
		error = psprintf("template \"%s\" not found",
						 row->template_key ? row->template_key : "");
	if (error == NULL && number == NULL)
	{
		const char *role = row->recipient_role ? row->recipient_role : "";
		const char *name = row->recipient_name ? row->recipient_name : "";

		if (is_blank(row->number_raw))
			error = psprintf("no WhatsApp number for %s %s", role, name);
		else
			error = psprintf("invalid WhatsApp number \"%s\" for %s %s",
							 row->number_raw, role, name);
	}
	if (error != NULL)
	{
		status = "failed";
		number = NULL;
	}
	else if (t.opted_out)
	{
		status = "cancelled";
		error = "recipient opted out";
	}

	/* rendered once, here: the INSERT and the rare redo share them */
	params = row->params;
	if (params == NULL)
		params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum("{}")));
	args = gbn_template_args(t.param_names, row->params);
	message = gbn_render_text(t.body, row->params);
	scheduled_at = row->scheduled_at_isnull ? GetCurrentTransactionStartTimestamp() :
		row->scheduled_at;

	if (insert_plan == NULL)
	{
		Oid			types[16] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
			TEXTOID, TEXTOID, JSONBOID, TEXTARRAYOID, TEXTOID, UUIDOID,
		NAMEOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};

		insert_plan = gbn_prepare_kept(insert_sql, 16, types);
	}
	values[0] = text_datum(number, &nulls[0]);
	values[1] = text_datum(row->number_raw, &nulls[1]);
	values[2] = text_datum(row->recipient_name, &nulls[2]);
	values[3] = text_datum(row->recipient_role, &nulls[3]);
	values[4] = text_datum(row->template_key, &nulls[4]);
	values[5] = text_datum(t.name, &nulls[5]);
	values[6] = text_datum(t.language, &nulls[6]);
	values[7] = JsonbPGetDatum(params);
	nulls[7] = ' ';
	values[8] = PointerGetDatum(args);
	nulls[8] = ' ';
	values[9] = PointerGetDatum(message);
	nulls[9] = ' ';
	values[10] = row->case_id ? UUIDPGetDatum(row->case_id) : (Datum) 0;
	nulls[10] = row->case_id ? ' ' : 'n';
	values[11] = row->app_schema ?
		DirectFunctionCall1(namein, CStringGetDatum(row->app_schema)) : (Datum) 0;
	nulls[11] = row->app_schema ? ' ' : 'n';
	values[12] = text_datum(status, &nulls[12]);
	values[13] = TimestampTzGetDatum(scheduled_at);
	nulls[13] = ' ';
	values[14] = text_datum(error, &nulls[14]);
	values[15] = text_datum(row->dedupe_key, &nulls[15]);
	run(insert_plan, values, nulls, SPI_OK_INSERT_RETURNING);

	if (!result_uuid(id))
	{
		/*
		 * The key exists (ON CONFLICT waited for a concurrent inserter of
		 * it).  Redo it in place only if it failed for want of a valid
		 * number and this call has one.
		 */
		bool		redone = false;

		if (number != NULL)
		{
			Datum		rv[12];
			char		rn[12];

			if (redo_plan == NULL)
			{
				Oid			types[12] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID,
					TEXTOID, JSONBOID, TEXTARRAYOID, TEXTOID, TEXTOID,
				TIMESTAMPTZOID, TEXTOID, TEXTOID};

				redo_plan = gbn_prepare_kept(redo_sql, 12, types);
			}
			rv[0] = values[0];
			rn[0] = nulls[0];
			rv[1] = values[1];
			rn[1] = nulls[1];
			rv[2] = values[2];
			rn[2] = nulls[2];
			rv[3] = values[5];
			rn[3] = nulls[5];
			rv[4] = values[6];
			rn[4] = nulls[6];
			rv[5] = values[7];
			rn[5] = nulls[7];
			rv[6] = values[8];
			rn[6] = nulls[8];
			rv[7] = values[9];
			rn[7] = nulls[9];
			rv[8] = values[12];
			rn[8] = nulls[12];
			rv[9] = values[13];
			rn[9] = nulls[13];
			rv[10] = values[14];
			rn[10] = nulls[14];
			rv[11] = values[15];
			rn[11] = nulls[15];
			run(redo_plan, rv, rn, SPI_OK_UPDATE_RETURNING);
			redone = result_uuid(id);
		}
		if (!redone)
		{
			if (existing_plan == NULL)
			{
				Oid			types[1] = {TEXTOID};

				existing_plan = gbn_prepare_kept(existing_sql, 1, types);
			}
			run(existing_plan, &values[15], &nulls[15], SPI_OK_SELECT);
			return result_uuid(id);
		}
	}

	if (strcmp(status, "pending") == 0)
		gbn_wake_at_commit();
	else if (strcmp(status, "failed") == 0 && row->case_id != NULL &&
			 row->app_schema != NULL)
	{
		Datum		ev[8];
		char		en[8];

		if (case_event_plan == NULL)
		{
			Oid			types[8] = {NAMEOID, UUIDOID, UUIDOID, TEXTOID,
			TEXTOID, TEXTOID, TEXTOID, TEXTOID};

			case_event_plan = gbn_prepare_kept(case_event_sql, 8, types);
		}
		ev[0] = values[11];
		en[0] = ' ';
		ev[1] = UUIDPGetDatum(row->case_id);
		en[1] = ' ';
		ev[2] = UUIDPGetDatum(id);
		en[2] = ' ';
		ev[3] = values[4];
		en[3] = nulls[4];
		ev[4] = values[3];
		en[4] = nulls[3];
		ev[5] = values[2];
		en[5] = nulls[2];
		ev[6] = values[1];
		en[6] = nulls[1];
		ev[7] = values[14];
		en[7] = nulls[14];
		run(case_event_plan, ev, en, SPI_OK_SELECT);
	}
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
	GbnEnqueueRow row;
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	bool		found;

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
	row.template = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	found = gbn_enqueue_row(&row, id);
	SPI_finish();
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(id);
}
