/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The worker's short transactions on the queue, through SPI and the
 *		worker interface of the install script (section 4):
 *		  _claim_batch(limit, lease_seconds)   lease due rows
 *		  _next_due()                          when the next row is due
 *		  _record_result(...)                  one try's outcome
 *		  _record_fallback(...)                minimal outcome if that fails
 *		  _release(ids)                        give leases back at shutdown
 *		  archive_finished(age, n)             retention
 *
 * Every transaction follows the worker_spi bracket and is protected: an
 * error is logged, the transaction aborted, and the worker carries on.
 * No transaction is open while the worker waits on the network.
 *
 * src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "classify.h"
#include "queue.h"

#define ERROR_TEXT_BYTES	1000

/* results recorded per transaction (each in a subtransaction) */
#define RECORD_CHUNK		32

static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr fallback_plan = NULL;
static SPIPlanPtr release_plan = NULL;
static SPIPlanPtr archive_plan = NULL;

/* ----------------------------------------------------------------
 * Transaction bracket
 * ----------------------------------------------------------------
 */

typedef void (*TxBody) (void *arg);

/*
 * Run body(arg) in its own transaction with SPI and a snapshot.  Returns
 * false if it raised an error, which is logged as a WARNING and does not
 * stop the worker.
 */
static bool
run_in_transaction(const char *activity, TxBody body, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	gbn_in_database = true;
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);

		body(arg);

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("guestbook_notify: %s failed: %s", activity, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 edata->hint ? errhint("%s", edata->hint) : 0,
				 edata->context ? errcontext("%s", edata->context) : 0));
		gbn_status_set_last_error(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	gbn_in_database = false;
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

static SPIPlanPtr
prepare_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Is the extension installed here, with its queue table free to use?
 * Takes RowExclusiveLock on the queue conditionally, as pg_net does, so a
 * DROP EXTENSION, TRUNCATE or VACUUM FULL is never blocked by the worker.
 */
static GbnClaimStatus
check_extension(void)
{
	Oid			nsp;
	Oid			relid;

	if (!OidIsValid(get_extension_oid("guestbook_notify", true)))
		return GBN_CLAIM_NO_EXTENSION;
	nsp = get_namespace_oid("guestbook_notify", true);
	if (!OidIsValid(nsp))
		return GBN_CLAIM_NO_EXTENSION;
	relid = get_relname_relid("notification_queue", nsp);
	if (!OidIsValid(relid))
		return GBN_CLAIM_NO_EXTENSION;
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
		return GBN_CLAIM_BUSY;
	/* dropped while we waited for nothing? */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return GBN_CLAIM_NO_EXTENSION;
	return GBN_CLAIM_OK;
}

/* text in the database encoding -> palloc'd UTF-8 */
static char *
to_utf8(Datum d)
{
	char	   *s = TextDatumGetCString(d);

	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/* ----------------------------------------------------------------
 * Claim
 * ----------------------------------------------------------------
 */

typedef struct ClaimArgs
{
	int			limit;
	int			lease_seconds;
	MemoryContext rows_cxt;		/* temporary parent of the row contexts */
	List	   *messages;		/* allocated in rows_cxt */
	GbnClaimStatus status;
	bool		have_next_due;
	TimestampTz next_due;
} ClaimArgs;

static GbnMessage *
copy_row(HeapTuple tuple, TupleDesc desc, MemoryContext parent)
{
	MemoryContext cxt;
	MemoryContext oldcxt;
	GbnMessage *msg;
	Datum		d;
	bool		isnull;

	cxt = AllocSetContextCreate(parent, "guestbook_notify request",
								ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	msg = palloc0(sizeof(GbnMessage));

	d = SPI_getbinval(tuple, desc, 1, &isnull);
	if (isnull)
		elog(ERROR, "_claim_batch returned a row without id");
	memcpy(&msg->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	msg->id_text = DatumGetCString(DirectFunctionCall1(uuid_out, d));

	d = SPI_getbinval(tuple, desc, 2, &isnull);
	msg->to_number = isnull ? NULL : to_utf8(d);
	d = SPI_getbinval(tuple, desc, 3, &isnull);
	msg->message_text = isnull ? pstrdup("") : to_utf8(d);
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	msg->template_name = isnull ? NULL : to_utf8(d);
	d = SPI_getbinval(tuple, desc, 5, &isnull);
	msg->template_language = isnull ? NULL : to_utf8(d);

	d = SPI_getbinval(tuple, desc, 6, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		msg->nargs = n;
		msg->args = palloc0(sizeof(char *) * Max(n, 1));
		for (i = 0; i < n; i++)
			msg->args[i] = nulls[i] ? pstrdup("") : to_utf8(elems[i]);
	}

	d = SPI_getbinval(tuple, desc, 7, &isnull);
	msg->attempt_count = isnull ? 1 : DatumGetInt32(d);

	MemoryContextSwitchTo(oldcxt);
	return msg;
}

static void
claim_body(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			rc;
	uint64		i;

	a->status = check_extension();
	if (a->status != GBN_CLAIM_OK)
		return;

	if (claim_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT4OID};

		claim_plan = prepare_plan("SELECT id, to_number, message_text, template_name,"
								  " template_language, template_args, attempt_count"
								  " FROM guestbook_notify._claim_batch($1, $2)",
								  2, types);
	}
	if (next_due_plan == NULL)
		next_due_plan = prepare_plan("SELECT guestbook_notify._next_due()", 0, NULL);

	values[0] = Int32GetDatum(a->limit);
	values[1] = Int32GetDatum(a->lease_seconds);
	rc = SPI_execute_plan(claim_plan, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "_claim_batch failed: %s", SPI_result_code_string(rc));

	for (i = 0; i < SPI_processed; i++)
	{
		GbnMessage *msg = copy_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
								   a->rows_cxt);
		MemoryContext oldcxt = MemoryContextSwitchTo(a->rows_cxt);

		a->messages = lappend(a->messages, msg);
		MemoryContextSwitchTo(oldcxt);
	}

	/* all due rows taken: when is the next one due? */
	if ((int) SPI_processed < a->limit)
	{
		bool		isnull;

		/* read_only = false: a new command, so it sees the leases just taken */
		rc = SPI_execute_plan(next_due_plan, NULL, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "_next_due failed: %s", SPI_result_code_string(rc));
		a->next_due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc,
														1, &isnull));
		a->have_next_due = !isnull;
	}
}

/*
 * Lease up to limit due rows.  *messages gets the rows (GbnMessage *), each
 * in its own memory context, a child of parent.  When fewer rows than limit
 * were due, *have_next_due and *next_due say when the next pending row is due.
 */
GbnClaimStatus
gbn_queue_claim(int limit, int lease_seconds, MemoryContext parent,
				List **messages, bool *have_next_due, TimestampTz *next_due)
{
	ClaimArgs	a;
	ListCell   *lc;

	memset(&a, 0, sizeof(a));
	a.limit = limit;
	a.lease_seconds = lease_seconds;
	a.rows_cxt = AllocSetContextCreate(parent, "guestbook_notify claim",
									   ALLOCSET_SMALL_SIZES);
	a.status = GBN_CLAIM_ERROR;

	*messages = NIL;
	*have_next_due = false;

	if (!run_in_transaction("guestbook_notify: claim", claim_body, &a))
	{
		/* the claim was rolled back: forget the copies */
		MemoryContextDelete(a.rows_cxt);
		return GBN_CLAIM_ERROR;
	}

	/* committed: hand each row's context to the caller */
	foreach(lc, a.messages)
	{
		GbnMessage *msg = (GbnMessage *) lfirst(lc);

		MemoryContextSetParent(GetMemoryChunkContext(msg), parent);
	}
	*messages = list_copy(a.messages);	/* in the caller's context */
	MemoryContextDelete(a.rows_cxt);

	*have_next_due = a.have_next_due;
	*next_due = a.next_due;
	return a.status;
}

/* ----------------------------------------------------------------
 * Record
 * ----------------------------------------------------------------
 */

typedef struct RecordArgs
{
	GbnResult **results;
	int			n;
	MemoryContext outcxt;		/* where new_status strings go */
} RecordArgs;

static Datum
text_or_null(const char *s, char *null)
{
	if (s == NULL)
	{
		*null = 'n';
		return (Datum) 0;
	}
	*null = ' ';
	return CStringGetTextDatum(s);
}

static char *
clean(const char *s)
{
	if (s == NULL)
		return NULL;
	return gbn_clean_text(s, strlen(s), ERROR_TEXT_BYTES);
}

/* Run plan, which returns one text column; palloc'd in outcxt, or NULL. */
static char *
exec_text_plan(SPIPlanPtr plan, Datum *values, char *nulls, MemoryContext outcxt)
{
	int			rc;
	bool		isnull = true;
	Datum		d = (Datum) 0;
	char	   *result = NULL;

	rc = SPI_execute_plan(plan, values, nulls, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(outcxt);

		result = TextDatumGetCString(d);
		MemoryContextSwitchTo(oldcxt);
	}
	return result;
}

static void
record_one(GbnResult *r, MemoryContext outcxt)
{
	Datum		values[11];
	char		nulls[11];
	char	   *error_text = clean(r->error_text);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&r->id);
	values[1] = CStringGetTextDatum(gbn_outcome_name(r->outcome));
	values[2] = CStringGetTextDatum(r->provider);
	values[3] = Int32GetDatum(r->http_status);
	if (r->http_status <= 0)
		nulls[3] = 'n';
	values[4] = Int32GetDatum(r->error_code);
	if (!r->has_error_code)
		nulls[4] = 'n';
	values[5] = text_or_null(error_text, &nulls[5]);
	values[6] = text_or_null(r->provider_message_id, &nulls[6]);
	values[7] = TimestampTzGetDatum(r->started_at);
	values[8] = Float8GetDatum(r->duration_ms);
	values[9] = Int32GetDatum(r->outcome == GBN_OUTCOME_RETRY ? r->retry_delay_ms : 0);
	values[10] = Int32GetDatum(r->max_attempts);

	r->new_status = exec_text_plan(record_plan, values, nulls, outcxt);
}

/*
 * _record_result failed for r (say, a trigger on the app's case_events
 * raised): still settle the queue row, so that a sent message is not sent
 * again when its lease runs out and a failing row does not loop.
 */
static void
record_fallback(GbnResult *r, const char *db_error, MemoryContext outcxt)
{
	Datum		values[7];
	char		nulls[7];
	char	   *text;

	if (r->outcome == GBN_OUTCOME_SENT)
		text = psprintf("sent, but recording the result failed: %s", db_error);
	else
		text = psprintf("%s; recording the result failed: %s",
						r->error_text ? r->error_text : gbn_outcome_name(r->outcome),
						db_error);

	memset(nulls, ' ', sizeof(nulls));
	values[0] = UUIDPGetDatum(&r->id);
	values[1] = CStringGetTextDatum(gbn_outcome_name(r->outcome));
	values[2] = CStringGetTextDatum(r->provider);
	values[3] = text_or_null(r->provider_message_id, &nulls[3]);
	values[4] = CStringGetTextDatum(clean(text));
	values[5] = Int32GetDatum(r->outcome == GBN_OUTCOME_RETRY ? r->retry_delay_ms : 0);
	values[6] = Int32GetDatum(r->max_attempts);

	r->new_status = exec_text_plan(fallback_plan, values, nulls, outcxt);
}

/*
 * Run fn in a subtransaction.  On error: roll the subtransaction back and
 * return the error message (palloc'd in outcxt); otherwise NULL.
 */
static char *
in_subtransaction(void (*fn) (GbnResult *, const char *, MemoryContext),
				  GbnResult *r, const char *arg, MemoryContext outcxt)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	char	   *volatile errmsg_copy = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(r, arg, outcxt);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(outcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("guestbook_notify: could not record the result of notification %s: %s",
						r->id_text, edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 edata->context ? errcontext("%s", edata->context) : 0));
		errmsg_copy = MemoryContextStrdup(outcxt, edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return errmsg_copy;
}

static void
record_one_cb(GbnResult *r, const char *unused, MemoryContext outcxt)
{
	record_one(r, outcxt);
}

static void
record_fallback_cb(GbnResult *r, const char *db_error, MemoryContext outcxt)
{
	record_fallback(r, db_error, outcxt);
}

static void
record_body(void *arg)
{
	RecordArgs *a = (RecordArgs *) arg;
	int			i;

	if (record_plan == NULL)
	{
		Oid			types[11] = {UUIDOID, TEXTOID, TEXTOID, INT4OID, INT4OID,
		TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID, INT4OID, INT4OID};

		record_plan = prepare_plan("SELECT guestbook_notify._record_result"
								   "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
								   11, types);
	}
	if (fallback_plan == NULL)
	{
		Oid			types[7] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		INT4OID, INT4OID};

		fallback_plan = prepare_plan("SELECT guestbook_notify._record_fallback"
									 "($1, $2, $3, $4, $5, $6, $7)",
									 7, types);
	}

	for (i = 0; i < a->n; i++)
	{
		GbnResult  *r = a->results[i];
		char	   *db_error;

		db_error = in_subtransaction(record_one_cb, r, NULL, a->outcxt);
		if (db_error != NULL)
		{
			r->record_failed = true;
			if (in_subtransaction(record_fallback_cb, r, db_error, a->outcxt) != NULL)
				r->new_status = NULL;	/* the lease will run out */
		}
	}
}

/*
 * Record results (each one's new_status is set), in transactions of up to
 * RECORD_CHUNK rows, each row in a subtransaction: one row's database error
 * is logged and does not lose the others.
 */
void
gbn_queue_record(GbnResult **results, int n)
{
	int			start;

	for (start = 0; start < n; start += RECORD_CHUNK)
	{
		RecordArgs	a;

		a.results = results + start;
		a.n = Min(RECORD_CHUNK, n - start);
		a.outcxt = CurrentMemoryContext;
		if (!run_in_transaction("guestbook_notify: record results", record_body, &a))
		{
			int			i;

			/* the whole transaction failed (commit?): nothing was recorded */
			for (i = 0; i < a.n; i++)
			{
				a.results[i]->new_status = NULL;
				a.results[i]->record_failed = true;
			}
		}
	}
}

/* ----------------------------------------------------------------
 * Release (shutdown)
 * ----------------------------------------------------------------
 */

typedef struct ReleaseArgs
{
	List	   *messages;
	int			released;
} ReleaseArgs;

static void
release_body(void *arg)
{
	ReleaseArgs *a = (ReleaseArgs *) arg;
	Datum	   *ids;
	ArrayType  *arr;
	Datum		values[1];
	int			n = list_length(a->messages);
	int			i = 0;
	int			rc;
	bool		isnull;
	ListCell   *lc;

	if (check_extension() != GBN_CLAIM_OK)
		return;
	if (release_plan == NULL)
	{
		Oid			types[1] = {UUIDARRAYOID};

		release_plan = prepare_plan("SELECT guestbook_notify._release($1)", 1, types);
	}

	ids = palloc(sizeof(Datum) * n);
	foreach(lc, a->messages)
	{
		GbnMessage *msg = (GbnMessage *) lfirst(lc);

		ids[i++] = UUIDPGetDatum(&msg->id);
	}
	arr = construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
	values[0] = PointerGetDatum(arr);
	rc = SPI_execute_plan(release_plan, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "_release failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									  1, &isnull);

		a->released = isnull ? 0 : DatumGetInt32(d);
	}
}

/* Give back the leases of rows whose requests were aborted. */
int
gbn_queue_release(List *messages)
{
	ReleaseArgs a;

	if (messages == NIL)
		return 0;
	a.messages = messages;
	a.released = 0;
	if (!run_in_transaction("guestbook_notify: release", release_body, &a))
		return 0;
	return a.released;
}

/* ----------------------------------------------------------------
 * Archive (retention)
 * ----------------------------------------------------------------
 */

typedef struct ArchiveArgs
{
	int			older_than_s;
	int			batch_size;
	int			moved;			/* -1: the extension is not there */
} ArchiveArgs;

static void
archive_body(void *arg)
{
	ArchiveArgs *a = (ArchiveArgs *) arg;
	Datum		values[2];
	int			rc;
	bool		isnull;

	a->moved = -1;
	if (check_extension() != GBN_CLAIM_OK)
		return;
	if (archive_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT4OID};

		archive_plan = prepare_plan("SELECT guestbook_notify.archive_finished"
									"(make_interval(secs => $1), $2)",
									2, types);
	}
	values[0] = Int32GetDatum(a->older_than_s);
	values[1] = Int32GetDatum(a->batch_size);
	rc = SPI_execute_plan(archive_plan, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "archive_finished failed: %s", SPI_result_code_string(rc));
	a->moved = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		a->moved = 0;
}

/*
 * Move up to batch_size finished rows older than older_than_s seconds to
 * the archive.  Returns how many moved, or -1 if it could not run.
 */
int
gbn_queue_archive(int older_than_s, int batch_size)
{
	ArchiveArgs a;

	a.older_than_s = older_than_s;
	a.batch_size = batch_size;
	a.moved = -1;
	if (!run_in_transaction("guestbook_notify: archive", archive_body, &a))
		return -1;
	return a.moved;
}

/* ----------------------------------------------------------------
 * Start-up check
 * ----------------------------------------------------------------
 */

static void
template_body(void *arg)
{
	bool	   *is_template = (bool *) arg;
	HeapTuple	tup;

	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(MyDatabaseId));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for database %u", MyDatabaseId);
	*is_template = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
}

/* A worker connected to a template database would block CREATE DATABASE. */
bool
gbn_queue_database_is_template(void)
{
	bool		is_template = false;

	(void) run_in_transaction("guestbook_notify: start", template_body, &is_template);
	return is_template;
}
