/*-------------------------------------------------------------------------
 *
 * queue.c
 *		The worker's short transactions, through SPI and the worker
 *		interface of the install script (src/sql/70_worker.sql):
 *		  claim    trigger events -> queue rows (events.c), then
 *				   _claim_unpaced / _claim_paced, and _next_due
 *		  record   _record_result, one row per subtransaction
 *		  release  _release (shutdown, a slot missed)
 *		  renew    _renew_leases
 *		  archive  archive_finished
 *		  audit    case_events rows into the app's tables (audit.c)
 *		  sla      sla_tick, the SLA reminders (src/sql/75_sla.sql)
 * Every transaction goes through gbn_run_in_transaction() (tx.c); none is
 * open while the worker waits on the network.
 *
 * src/queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "audit.h"
#include "classify.h"
#include "events.h"
#include "queue.h"
#include "spi_util.h"
#include "tx.h"

#define ERROR_TEXT_BYTES	1000

static SPIPlanPtr version_plan = NULL;
static SPIPlanPtr unpaced_plan = NULL;
static SPIPlanPtr paced_plan = NULL;
static SPIPlanPtr next_due_plan = NULL;
static SPIPlanPtr blocked_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static SPIPlanPtr release_plan = NULL;
static SPIPlanPtr renew_plan = NULL;
static SPIPlanPtr archive_plan = NULL;
static SPIPlanPtr audit_count_plan = NULL;
static SPIPlanPtr sla_plan = NULL;

/* the columns the claim functions return */
#define CLAIM_COLUMNS \
	"id, to_number, message_text, template_name, template_language," \
	" template_args, attempt_count, send_as, claimed_at"

/*
 * Is the extension installed here, at this library's version, with its
 * queue table free to use?  Takes RowExclusiveLock on the queue
 * conditionally, as pg_net does, so a DROP EXTENSION, TRUNCATE or VACUUM
 * FULL is never blocked by the worker.
 */
static GbnClaimStatus
check_extension(void)
{
	Oid			nsp;
	Oid			relid;
	char	   *version;

	if (!OidIsValid(get_extension_oid("guestbook_notify", true)))
		return GBN_CLAIM_NO_EXTENSION;
	nsp = get_namespace_oid("guestbook_notify", true);
	relid = OidIsValid(nsp) ? get_relname_relid("notification_queue", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		return GBN_CLAIM_NO_EXTENSION;
	if (version_plan == NULL)
		version_plan = gbn_prepare_kept("SELECT e.extversion FROM pg_catalog.pg_extension e"
										" WHERE e.extname OPERATOR(pg_catalog.=) 'guestbook_notify'",
										0, NULL);
	gbn_spi_run(version_plan, NULL, NULL, SPI_OK_SELECT, 1);
	version = gbn_spi_text(0, 1);
	if (version == NULL || strcmp(version, GBN_VERSION) != 0)
		return GBN_CLAIM_OLD_EXTENSION;
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

static char *
column_utf8(HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, col, &isnull);

	return isnull ? NULL : to_utf8(d);
}

static void
copy_args(GbnMessage *msg, HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	msg->nargs = n;
	msg->args = palloc0(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		msg->args[i] = nulls[i] ? pstrdup("") : to_utf8(elems[i]);
}

/* one claimed row, in a memory context of its own under parent */
static GbnMessage *
copy_row(HeapTuple tuple, TupleDesc desc, MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent, "guestbook_notify request",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	GbnMessage *msg = palloc0(sizeof(GbnMessage));
	char	   *send_as;
	bool		isnull;
	Datum		d;

	msg->cxt = cxt;
	d = SPI_getbinval(tuple, desc, 1, &isnull);
	if (isnull)
		elog(ERROR, "the claim returned a row without id");
	memcpy(&msg->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	msg->id_text = DatumGetCString(DirectFunctionCall1(uuid_out, d));
	msg->to_number = column_utf8(tuple, desc, 2);
	msg->message_text = column_utf8(tuple, desc, 3);
	if (msg->message_text == NULL)
		msg->message_text = pstrdup("");
	msg->template_name = column_utf8(tuple, desc, 4);
	msg->template_language = column_utf8(tuple, desc, 5);
	copy_args(msg, tuple, desc, 6);
	d = SPI_getbinval(tuple, desc, 7, &isnull);
	msg->attempt_count = isnull ? 1 : DatumGetInt32(d);
	send_as = column_utf8(tuple, desc, 8);
	msg->send_as_text = (send_as != NULL && strcmp(send_as, "text") == 0);
	d = SPI_getbinval(tuple, desc, 9, &isnull);
	msg->claimed_at = isnull ? GetCurrentTimestamp() : DatumGetTimestampTz(d);

	MemoryContextSwitchTo(oldcxt);
	return msg;
}

static SPIPlanPtr
claim_plan(GbnClaim *c, GbnSqlArgs *a)
{
	bool		paced = c->interval_ms > 0 || c->hourly_cap > 0;

	gbn_arg(a, INT4OID, Int32GetDatum(c->limit), false);
	gbn_arg(a, INT4OID, Int32GetDatum(c->lease_seconds), false);
	if (!paced)
	{
		if (unpaced_plan == NULL)
			unpaced_plan = gbn_prepare_kept("SELECT " CLAIM_COLUMNS
											" FROM guestbook_notify._claim_unpaced($1, $2)",
											a->n, a->types);
		return unpaced_plan;
	}
	gbn_arg(a, INT4OID, Int32GetDatum(c->interval_ms), false);
	gbn_arg(a, INT4OID, Int32GetDatum(c->hourly_cap), false);
	if (paced_plan == NULL)
		paced_plan = gbn_prepare_kept("SELECT " CLAIM_COLUMNS
									  " FROM guestbook_notify._claim_paced($1, $2, $3, $4)",
									  a->n, a->types);
	return paced_plan;
}

static void
next_due(GbnClaim *c)
{
	bool		isnull;
	Datum		d;

	if (next_due_plan == NULL)
		next_due_plan = gbn_prepare_kept("SELECT guestbook_notify._next_due()", 0, NULL);
	/* a new command: it sees the leases just taken */
	gbn_spi_run(next_due_plan, NULL, NULL, SPI_OK_SELECT, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	c->have_next_due = !isnull;
	c->next_due = isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * A WAHA session that cannot send (FAILED, logged out: provider_sessions,
 * kept by the webhook receiver): nothing is claimed meanwhile, and the
 * reason is in c->blocked.  The Cloud API has no such state.
 */
static bool
sending_blocked(GbnClaim *c)
{
	char	   *reason;

	c->blocked[0] = '\0';
	if (gbn_provider != GBN_PROVIDER_WAHA)
		return false;
	if (blocked_plan == NULL)
		blocked_plan = gbn_prepare_kept("SELECT guestbook_notify._sending_blocked()", 0, NULL);
	gbn_spi_run(blocked_plan, NULL, NULL, SPI_OK_SELECT, 1);
	reason = SPI_processed > 0 ? gbn_spi_text(0, 1) : NULL;
	if (reason == NULL)
		return false;
	strlcpy(c->blocked, reason, sizeof(c->blocked));
	return true;
}

typedef struct ClaimArgs
{
	GbnClaim   *c;
	MemoryContext rows_cxt;		/* temporary parent of the row contexts */
} ClaimArgs;

static void
claim_body(void *arg)
{
	ClaimArgs  *a = (ClaimArgs *) arg;
	GbnClaim   *c = a->c;
	GbnSqlArgs	args = {0};
	SPIPlanPtr	plan;
	uint64		i;

	c->status = check_extension();
	if (c->status != GBN_CLAIM_OK)
		return;
	if (c->events_limit > 0)
		c->events_done = gbn_process_events(c->events_limit, true, &c->events_deferred);
	if (c->limit <= 0 || sending_blocked(c))
		return;

	plan = claim_plan(c, &args);
	gbn_spi_run(plan, args.values, args.nulls, SPI_OK_SELECT, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		GbnMessage *msg = copy_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
								   a->rows_cxt);
		MemoryContext oldcxt = MemoryContextSwitchTo(a->rows_cxt);

		c->messages = lappend(c->messages, msg);
		MemoryContextSwitchTo(oldcxt);
	}
	if ((int) list_length(c->messages) < c->limit)
		next_due(c);
}

void
gbn_queue_claim(GbnClaim *c, MemoryContext parent)
{
	ClaimArgs	a;
	List	   *rows;
	ListCell   *lc;

	a.c = c;
	a.rows_cxt = AllocSetContextCreate(parent, "guestbook_notify claim",
									   ALLOCSET_SMALL_SIZES);
	c->status = GBN_CLAIM_ERROR;
	c->messages = NIL;
	c->events_done = c->events_deferred = 0;
	c->have_next_due = false;

	if (!gbn_run_in_transaction("guestbook_notify: claim", claim_body, &a))
	{
		/* rolled back: forget the copies */
		MemoryContextDelete(a.rows_cxt);
		c->status = GBN_CLAIM_ERROR;
		c->messages = NIL;
		return;
	}

	/* committed: each message's context now belongs to the caller */
	rows = c->messages;
	c->messages = NIL;
	foreach(lc, rows)
	{
		GbnMessage *msg = (GbnMessage *) lfirst(lc);

		MemoryContextSetParent(msg->cxt, parent);
		c->messages = lappend(c->messages, msg);
	}
	MemoryContextDelete(a.rows_cxt);
}

/* ----------------------------------------------------------------
 * Record
 * ----------------------------------------------------------------
 */

typedef struct RecordArgs
{
	GbnResult  *r;
	int			interval_ms;
} RecordArgs;

static void
record_one(void *arg)
{
	RecordArgs *ra = (RecordArgs *) arg;
	GbnResult  *r = ra->r;
	GbnSqlArgs	a = {0};
	char	   *error = r->error_text ?
		gbn_clean_text(r->error_text, strlen(r->error_text), ERROR_TEXT_BYTES) : NULL;
	char	   *status;

	gbn_arg(&a, UUIDOID, UUIDPGetDatum(&r->id), false);
	gbn_arg_text(&a, gbn_outcome_name(r->outcome));
	gbn_arg_text(&a, r->provider);
	gbn_arg(&a, INT4OID, Int32GetDatum(r->http_status), r->http_status <= 0);
	gbn_arg(&a, INT4OID, Int32GetDatum(r->error_code), !r->has_error_code);
	gbn_arg_text(&a, error);
	gbn_arg_text(&a, r->provider_message_id);
	gbn_arg(&a, TIMESTAMPTZOID, TimestampTzGetDatum(r->started_at), false);
	gbn_arg(&a, FLOAT8OID, Float8GetDatum(r->duration_ms), false);
	gbn_arg(&a, INT4OID, Int32GetDatum(r->outcome == GBN_OUTCOME_RETRY ?
									   r->retry_delay_ms : 0), false);
	gbn_arg(&a, INT4OID, Int32GetDatum(r->max_attempts), false);
	gbn_arg(&a, INT4OID, Int32GetDatum(ra->interval_ms), false);
	if (record_plan == NULL)
		record_plan = gbn_prepare_kept("SELECT guestbook_notify._record_result"
									   "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
									   a.n, a.types);
	gbn_spi_run(record_plan, a.values, a.nulls, SPI_OK_SELECT, 1);
	status = gbn_spi_text(0, 1);
	r->new_status = gbn_status_from_name(status, status ? strlen(status) : 0);
}

typedef struct RecordBatch
{
	GbnResult **results;
	int			n;
	int			interval_ms;
} RecordBatch;

static void
record_body(void *arg)
{
	RecordBatch *b = (RecordBatch *) arg;
	int			i;

	if (check_extension() != GBN_CLAIM_OK)
		return;
	for (i = 0; i < b->n; i++)
	{
		RecordArgs	ra = {b->results[i], b->interval_ms};
		ErrorData  *e = gbn_try_subxact(record_one, &ra);

		if (e == NULL)
		{
			b->results[i]->recorded = true;
			continue;
		}
		/* our own tables refused: an expected error waits, others end us */
		if (!gbn_error_is_expected(e->sqlerrcode))
			ReThrowError(e);
		ereport(WARNING,
				(errcode(e->sqlerrcode),
				 errmsg("guestbook_notify: could not record the result of notification %s yet: %s",
						b->results[i]->id_text, e->message),
				 errdetail("The result is kept and recorded later; the row stays leased to this worker.")));
	}
}

static int
by_recipient(const void *a, const void *b)
{
	const char *x = (*(GbnResult *const *) a)->to_number;
	const char *y = (*(GbnResult *const *) b)->to_number;

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	return strcmp(x, y);
}

void
gbn_queue_record(GbnResult **results, int n, int interval_ms)
{
	RecordBatch b = {results, n, interval_ms};
	int			i;

	for (i = 0; i < n; i++)
	{
		results[i]->recorded = false;
		results[i]->new_status = GBN_STATUS_UNKNOWN;
	}
	qsort(results, n, sizeof(GbnResult *), by_recipient);
	if (!gbn_run_in_transaction("guestbook_notify: record results", record_body, &b))
	{
		/* the transaction failed (commit?): nothing was recorded */
		for (i = 0; i < n; i++)
			results[i]->recorded = false;
	}
}

/* ----------------------------------------------------------------
 * Release, renew
 * ----------------------------------------------------------------
 */

typedef struct IdsArgs
{
	SPIPlanPtr *plan;
	const char *sql;
	List	   *ids;
	int			lease_seconds;	/* renew only */
	int			count;
} IdsArgs;

static void
ids_body(void *arg)
{
	IdsArgs    *a = (IdsArgs *) arg;
	GbnSqlArgs	args = {0};
	Datum	   *ids = palloc(sizeof(Datum) * Max(list_length(a->ids), 1));
	ListCell   *lc;
	int			n = 0;
	bool		isnull;

	if (check_extension() != GBN_CLAIM_OK)
		return;
	foreach(lc, a->ids)
		ids[n++] = UUIDPGetDatum((pg_uuid_t *) lfirst(lc));
	gbn_arg(&args, UUIDARRAYOID,
			PointerGetDatum(construct_array(ids, n, UUIDOID, UUID_LEN, false,
											TYPALIGN_CHAR)), false);
	if (a->lease_seconds > 0)
		gbn_arg(&args, INT4OID, Int32GetDatum(a->lease_seconds), false);
	if (*a->plan == NULL)
		*a->plan = gbn_prepare_kept(a->sql, args.n, args.types);
	gbn_spi_run(*a->plan, args.values, args.nulls, SPI_OK_SELECT, 1);
	a->count = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
}

/* Give back the leases of rows ids (pg_uuid_t *): the try is not counted. */
int
gbn_queue_release(List *ids)
{
	IdsArgs		a = {&release_plan, "SELECT guestbook_notify._release($1)", ids, 0, 0};

	if (ids == NIL ||
		!gbn_run_in_transaction("guestbook_notify: release", ids_body, &a))
		return 0;
	return a.count;
}

/* A live worker keeps its rows: their leases move on. */
int
gbn_queue_renew(List *ids, int lease_seconds)
{
	IdsArgs		a = {&renew_plan, "SELECT guestbook_notify._renew_leases($1, $2)",
	ids, lease_seconds, 0};

	if (ids == NIL ||
		!gbn_run_in_transaction("guestbook_notify: renew leases", ids_body, &a))
		return 0;
	return a.count;
}

/* ----------------------------------------------------------------
 * Archive (retention), audit
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
	GbnSqlArgs	args = {0};
	bool		isnull;

	a->moved = -1;
	if (check_extension() != GBN_CLAIM_OK)
		return;
	gbn_arg(&args, INT4OID, Int32GetDatum(a->older_than_s), false);
	gbn_arg(&args, INT4OID, Int32GetDatum(a->batch_size), false);
	if (archive_plan == NULL)
		archive_plan = gbn_prepare_kept("SELECT guestbook_notify.archive_finished"
										"(pg_catalog.make_interval(secs => $1), $2)",
										args.n, args.types);
	gbn_spi_run(archive_plan, args.values, args.nulls, SPI_OK_SELECT, 1);
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
	ArchiveArgs a = {older_than_s, batch_size, -1};

	if (!gbn_run_in_transaction("guestbook_notify: archive", archive_body, &a))
		return -1;
	return a.moved;
}

typedef struct AuditArgs
{
	int			max_rows;
	int			written;
	int64		pending;
} AuditArgs;

static void
audit_body(void *arg)
{
	AuditArgs  *a = (AuditArgs *) arg;
	int			failed;
	bool		isnull;

	a->written = -1;
	if (check_extension() != GBN_CLAIM_OK)
		return;
	a->written = gbn_audit_write(a->max_rows, true, &failed);
	if (audit_count_plan == NULL)
		audit_count_plan = gbn_prepare_kept("SELECT pg_catalog.count(*) FROM guestbook_notify.audit_outbox",
											0, NULL);
	gbn_spi_run(audit_count_plan, NULL, NULL, SPI_OK_SELECT, 1);
	a->pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
}

int
gbn_queue_audit(int max_rows, int64 *still_pending)
{
	AuditArgs	a = {max_rows, -1, 0};

	if (!gbn_run_in_transaction("guestbook_notify: write audit rows", audit_body, &a))
		return -1;
	*still_pending = a.pending;
	return a.written;
}

/* ----------------------------------------------------------------
 * SLA reminders
 * ----------------------------------------------------------------
 */

typedef struct SlaArgs
{
	const char *time_zone;
	MemoryContext cxt;			/* the caller's, for problem */
	int			fired;			/* -1: did not run */
	char	   *problem;
	int			sqlerrcode;
} SlaArgs;

static void
sla_call(void *arg)
{
	SlaArgs    *a = (SlaArgs *) arg;
	GbnSqlArgs	args = {0};
	bool		isnull;
	Datum		d;
	char		buf[32];

	/*
	 * The tick reads the app's tables (as their owners): a LOCK TABLE of the
	 * app's holds it back at most app_lock_timeout, not the worker's
	 * lock_timeout -- that schema is skipped until the next tick.  Local to
	 * this subtransaction.
	 */
	snprintf(buf, sizeof(buf), "%d", gbn_app_lock_timeout);
	(void) set_config_option("lock_timeout", buf, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	gbn_arg_text(&args, a->time_zone);
	if (sla_plan == NULL)
		sla_plan = gbn_prepare_kept("SELECT guestbook_notify.sla_tick($1)",
									args.n, args.types);
	gbn_spi_run(sla_plan, args.values, args.nulls, SPI_OK_SELECT, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	a->fired = isnull ? 0 : DatumGetInt32(d);	/* NULL: another tick ran */
}

/*
 * The tick runs in a subtransaction: whatever it raises (an unknown time
 * zone, the app's tables refusing...) is the SLA step's problem, reported,
 * and never stops the worker or its sending.
 */
static void
sla_body(void *arg)
{
	SlaArgs    *a = (SlaArgs *) arg;
	ErrorData  *e;

	a->fired = -1;
	if (check_extension() != GBN_CLAIM_OK)
		return;
	e = gbn_try_subxact(sla_call, a);
	if (e != NULL)
	{
		a->fired = -1;
		a->problem = MemoryContextStrdup(a->cxt, e->message);
		a->sqlerrcode = e->sqlerrcode;
	}
}

int
gbn_queue_sla_tick(const char *time_zone, char **problem, int *sqlerrcode)
{
	SlaArgs		a = {time_zone, CurrentMemoryContext, -1, NULL, 0};

	*problem = NULL;
	if (!gbn_run_in_transaction("guestbook_notify: SLA reminders", sla_body, &a))
		return -1;
	*problem = a.problem;
	*sqlerrcode = a.sqlerrcode;
	return a.fired;
}
