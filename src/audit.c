/*-------------------------------------------------------------------------
 *
 * audit.c
 *		The app's audit trail (case_events 'contacted', 'notification_failed'
 *		...): queued in guestbook_notify.audit_outbox with the queue's own
 *		record, written to the app's table later, in a step of its own.
 *
 * Why queued: the queue's record (sent, provider id, attempt) must never
 * wait on the app's tables or fail because of the app's code.  A LOCK TABLE
 * on case_events, a slow or failing trigger, a CHECK or DEFAULT of the
 * app's: the notification is recorded all the same, and its audit row
 * waits in the outbox (visible in the notifications view as audit_pending,
 * and in worker_status()) until it can be written.  Nothing is lost.
 *
 * How written: each case_events INSERT runs as the owner of case_events in
 * a security-restricted operation (app_access.c), with the table lock taken
 * without waiting and guestbook_notify.app_lock_timeout for the rest, each
 * row in a subtransaction: a row the app refuses gets its error and a
 * backoff (1 s, 2 s, 4 s ... 5 min) and the others go on; rows of a table
 * the app holds locked are tried again every second.
 *
 * src/audit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "app_access.h"
#include "audit.h"
#include "classify.h"
#include "guestbook_notify.h"
#include "spi_util.h"
#include "tx.h"

PG_FUNCTION_INFO_V1(gbn_case_event_sql);
PG_FUNCTION_INFO_V1(gbn_write_audit_sql);

#define AUDIT_MAX_BACKOFF_S 300
#define AUDIT_BUSY_RETRY_S 1

static SPIPlanPtr queue_plan = NULL;
static SPIPlanPtr due_plan = NULL;
static SPIPlanPtr done_plan = NULL;
static SPIPlanPtr retry_plan = NULL;

/* kept INSERT into <schema>.case_events, one per schema */
typedef struct InsertPlan
{
	char		schema[NAMEDATALEN];
	SPIPlanPtr	plan;
	struct InsertPlan *next;
} InsertPlan;

static InsertPlan *insert_plans = NULL;

/* one queued row */
typedef struct AuditRow
{
	int64		id;
	char	   *schema;
	Datum		case_id;
	char	   *event_type;
	Datum		details;
	int			attempts;
	char	   *error;			/* NULL: written */
	bool		busy;			/* the error was a lock not granted in time */
} AuditRow;

void
gbn_audit_case_event(const char *schema, const pg_uuid_t *case_id,
					 const char *event_type, Jsonb *details,
					 const pg_uuid_t *notification_id)
{
	GbnSqlArgs	a = {0};

	gbn_arg(&a, NAMEOID, DirectFunctionCall1(namein, CStringGetDatum(schema)), false);
	gbn_arg(&a, UUIDOID, UUIDPGetDatum(case_id), false);
	gbn_arg_text(&a, event_type);
	gbn_arg(&a, JSONBOID, JsonbPGetDatum(details), false);
	gbn_arg(&a, UUIDOID, UUIDPGetDatum(notification_id), notification_id == NULL);
	if (queue_plan == NULL)
		queue_plan = gbn_prepare_kept("INSERT INTO guestbook_notify.audit_outbox"
									  " (app_schema, case_id, event_type, details,"
									  " notification_id) VALUES ($1, $2, $3, $4, $5)",
									  a.n, a.types);
	gbn_spi_run(queue_plan, a.values, a.nulls, SPI_OK_INSERT, 0);
	gbn_wake_at_commit();
}

/* the due rows, locked (SKIP LOCKED: several workers share the work) */
static AuditRow *
due_rows(int max_rows, int *n)
{
	GbnSqlArgs	a = {0};
	AuditRow   *rows;
	uint64		i;

	gbn_arg(&a, INT4OID, Int32GetDatum(max_rows), false);
	if (due_plan == NULL)
		due_plan = gbn_prepare_kept("SELECT a.id, a.app_schema::text, a.case_id,"
									" a.event_type, a.details, a.attempts"
									" FROM guestbook_notify.audit_outbox a"
									" WHERE a.next_try_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
									" ORDER BY a.app_schema, a.id LIMIT $1"
									" FOR UPDATE SKIP LOCKED",
									a.n, a.types);
	gbn_spi_run(due_plan, a.values, a.nulls, SPI_OK_SELECT, 0);
	*n = (int) SPI_processed;
	rows = palloc0(sizeof(AuditRow) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		rows[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		rows[i].schema = SPI_getvalue(tup, desc, 2);
		rows[i].case_id = SPI_datumTransfer(SPI_getbinval(tup, desc, 3, &isnull),
											false, UUID_LEN);
		rows[i].event_type = SPI_getvalue(tup, desc, 4);
		rows[i].details = SPI_datumTransfer(SPI_getbinval(tup, desc, 5, &isnull),
											false, -1);
		rows[i].attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
	}
	return rows;
}

static SPIPlanPtr
insert_plan(const char *schema)
{
	InsertPlan *p;
	Oid			types[3] = {UUIDOID, TEXTOID, JSONBOID};

	for (p = insert_plans; p != NULL; p = p->next)
		if (strcmp(p->schema, schema) == 0)
			return p->plan;
	p = MemoryContextAllocZero(TopMemoryContext, sizeof(InsertPlan));
	strlcpy(p->schema, schema, NAMEDATALEN);
	p->plan = gbn_prepare_kept(psprintf("INSERT INTO %s.case_events"
										" (case_id, event_type, details)"
										" VALUES ($1, $2, $3)",
										quote_identifier(schema)),
							   3, types);
	p->next = insert_plans;
	insert_plans = p;
	return p->plan;
}

typedef struct InsertArgs
{
	AuditRow   *row;
	Oid			relid;
} InsertArgs;

/* one INSERT, as the owner of case_events (already become) */
static void
insert_one(void *arg)
{
	InsertArgs *ia = (InsertArgs *) arg;
	SPIPlanPtr	plan = insert_plan(ia->row->schema);
	Datum		values[3];

	values[0] = ia->row->case_id;
	values[1] = CStringGetTextDatum(ia->row->event_type);
	values[2] = ia->row->details;
	gbn_spi_run(plan, values, NULL, SPI_OK_INSERT, 0);
	gbn_plan_reads_only(plan, ia->relid);
}

typedef struct SchemaArgs
{
	AuditRow   *rows;
	int			n;
	bool		nowait;
} SchemaArgs;

/* the rows of one schema (rows[0..n)): lock, become the owner, insert each */
static void
write_schema(void *arg)
{
	SchemaArgs *sa = (SchemaArgs *) arg;
	char	   *problem = NULL;
	Oid			relid;
	GbnAsOwner	st;
	int			i;

	relid = gbn_app_relation(sa->rows[0].schema, "case_events",
							 RowExclusiveLock, sa->nowait, &problem);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s", problem)));
	gbn_become_owner(relid, sa->nowait ? gbn_app_lock_timeout : 0, &st);
	for (i = 0; i < sa->n; i++)
	{
		InsertArgs	ia = {&sa->rows[i], relid};
		ErrorData  *e = gbn_try_subxact(insert_one, &ia);

		sa->rows[i].error = e ? pstrdup(e->message) : NULL;
		sa->rows[i].busy = e && e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
	}
	gbn_restore_user(&st);
}

/*
 * Seconds until the next try: a table the app holds locked is tried again
 * every second (a try costs one lock request that does not wait); a row the
 * app refused backs off 1 s, 2 s, 4 s ... 5 min.
 */
static int
backoff_seconds(const AuditRow *r)
{
	if (r->busy)
		return AUDIT_BUSY_RETRY_S;
	return Min(1 << Min(r->attempts, 9), AUDIT_MAX_BACKOFF_S);
}

/* settle the rows: delete the written ones, back off the others */
static void
settle(AuditRow *r)
{
	GbnSqlArgs	a = {0};

	gbn_arg(&a, INT8OID, Int64GetDatum(r->id), false);
	if (r->error == NULL)
	{
		if (done_plan == NULL)
			done_plan = gbn_prepare_kept("DELETE FROM guestbook_notify.audit_outbox a"
										 " WHERE a.id OPERATOR(pg_catalog.=) $1",
										 a.n, a.types);
		gbn_spi_run(done_plan, a.values, a.nulls, SPI_OK_DELETE, 0);
		return;
	}
	gbn_arg_text(&a, gbn_clean_text(r->error, strlen(r->error), 1000));
	gbn_arg(&a, INT4OID, Int32GetDatum(backoff_seconds(r)), false);
	if (retry_plan == NULL)
		retry_plan = gbn_prepare_kept("UPDATE guestbook_notify.audit_outbox a"
									  " SET attempts = a.attempts OPERATOR(pg_catalog.+) 1,"
									  " last_error = $2,"
									  " next_try_at = pg_catalog.now() OPERATOR(pg_catalog.+)"
									  " pg_catalog.make_interval(secs => $3)"
									  " WHERE a.id OPERATOR(pg_catalog.=) $1",
									  a.n, a.types);
	gbn_spi_run(retry_plan, a.values, a.nulls, SPI_OK_UPDATE, 0);
	if (r->attempts == 0 || r->attempts % 10 == 9)
		ereport(WARNING,
				(errmsg("guestbook_notify: could not write the case_events row \"%s\" into schema \"%s\": %s",
						r->event_type, r->schema, r->error),
				 errdetail("It stays in guestbook_notify.audit_outbox and is tried again (%d tries so far).",
						   r->attempts + 1)));
}

int
gbn_audit_write(int max_rows, bool nowait, int *failed)
{
	int			n;
	AuditRow   *rows = due_rows(max_rows, &n);
	int			start = 0;
	int			written = 0;
	int			i;

	*failed = 0;
	while (start < n)
	{
		SchemaArgs	sa;
		ErrorData  *e;
		int			end = start;

		while (end < n && strcmp(rows[end].schema, rows[start].schema) == 0)
			end++;
		sa.rows = rows + start;
		sa.n = end - start;
		sa.nowait = nowait;
		e = gbn_try_subxact(write_schema, &sa);
		for (i = start; i < end; i++)
		{
			if (e != NULL)
			{
				rows[i].error = pstrdup(e->message);
				rows[i].busy = e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
			}
			settle(&rows[i]);
			if (rows[i].error == NULL)
				written++;
			else
				(*failed)++;
		}
		start = end;
	}
	return written;
}

/*
 * guestbook_notify._case_event(p_schema name, p_case_id uuid, p_event_type
 *								text, p_details jsonb) RETURNS void
 */
Datum
gbn_case_event_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	Jsonb	   *details;
	pg_uuid_t	nid;
	pg_uuid_t  *nidp = NULL;
	JsonbValue	v;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_VOID();
	details = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	if (details == NULL)
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	if (JB_ROOT_IS_OBJECT(details) &&
		getKeyJsonValueFromContainer(&details->root, "notification_id", 15, &v) &&
		v.type == jbvString && v.val.string.len == 36)
	{
		char	   *s = pnstrdup(v.val.string.val, 36);

		memcpy(&nid, DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s))),
			   sizeof(nid));
		nidp = &nid;
	}
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gbn_audit_case_event(NameStr(*PG_GETARG_NAME(0)), PG_GETARG_UUID_P(1),
						 text_to_cstring(PG_GETARG_TEXT_PP(2)), details, nidp);
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	PG_RETURN_VOID();
}

/*
 * guestbook_notify.write_audit(max_rows integer DEFAULT 1000) RETURNS
 * integer: what the worker does in its audit step, for a manual run (and
 * for tests without a worker).  Waits for locks like any statement.
 */
Datum
gbn_write_audit_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	int			max_rows = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
	int			failed;
	int			written;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1")));
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	written = gbn_audit_write(max_rows, false, &failed);
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	PG_RETURN_INT32(written);
}
