/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The launcher: a background worker that connects to no database,
 *		reads the shared catalog pg_database (as logical replication's and
 *		TimescaleDB's launchers do) and keeps one set of delivery workers
 *		running for each database guestbook_notify.database_name names --
 *		a comma-separated list, or '*' for every database where the
 *		extension is installed.
 *
 * Once a second, and at once when signalled (a reload, a worker stopping,
 * CREATE EXTENSION, a DROP or RENAME DATABASE finishing), it compares what
 * should run with what runs:
 *	 - a database listed (or, with '*', any that accepts connections and is
 *	   not a template) gets guestbook_notify.workers dynamic workers; one
 *	   log line when it starts being served;
 *	 - a database no longer listed, dropped or renamed away loses its
 *	   workers; one log line; they are asked to leave (they give back the
 *	   rows they hold, as on shutdown) and terminated only if still there
 *	   after 10 s;
 *	 - a worker that stopped is started again after 5 s -- unless it found
 *	   no extension in its database (then only CREATE EXTENSION, which calls
 *	   _extension_installed(), brings it back) or its database is being
 *	   dropped or renamed;
 *	 - a worker that cannot start (no background worker slot left under
 *	   max_worker_processes) is logged once and shown in worker_status();
 *	   the sender's rate is split between the workers that do run.
 * The workers are registered never to be restarted by the postmaster: the
 * launcher decides, so nothing restarts into a dropped database.
 *
 * src/launcher.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "launcher.h"
#include "shmem.h"

#define LAUNCHER_NAPTIME_MS		1000
#define RESTART_DELAY_MS		5000
#define LEAVE_WAIT_MS			10000	/* then SIGTERM */

/* one database that should be served */
typedef struct Target
{
	Oid			dboid;
	NameData	datname;
} Target;

/* the launcher's own view of each slot */
static BackgroundWorkerHandle *handles[GBN_MAX_SLOTS];
static TimestampTz stopped_at[GBN_MAX_SLOTS];
static TimestampTz leaving_since[GBN_MAX_SLOTS];	/* asked to leave; 0: not */
static bool terminated[GBN_MAX_SLOTS];	/* and sent SIGTERM */

static void
clear_launcher_latch(int code, Datum arg)
{
	gbn_shared->launcher_latch = NULL;
}

/* ----------------------------------------------------------------
 * What should run
 * ----------------------------------------------------------------
 */

/* Is datname named by guestbook_notify.database_name? */
static bool
listed(List *names, bool all, const char *datname)
{
	ListCell   *lc;

	if (all)
		return true;
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), datname) == 0)
			return true;
	return false;
}

/*
 * The databases to serve, from pg_database: listed, accepting connections,
 * not templates.  A List of Target, in the caller's memory context.
 */
static List *
targets(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *raw = pstrdup(gbn_database_name ? gbn_database_name : "");
	List	   *names = NIL;
	List	   *result = NIL;
	bool		all = false;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	if (!SplitIdentifierString(raw, ',', &names))
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("guestbook_notify: guestbook_notify.database_name is not a valid list: \"%s\"",
						gbn_database_name)));
	all = (list_length(names) == 1 && strcmp(linitial(names), "*") == 0);

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;
		Target	   *t;

		if (!db->datallowconn || db->datistemplate ||
			!listed(names, all, NameStr(db->datname)))
			continue;
		old = MemoryContextSwitchTo(cxt);
		t = palloc(sizeof(Target));
		t->dboid = db->oid;
		t->datname = db->datname;
		result = lappend(result, t);
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return result;
}

static Target *
find_target(List *ts, Oid dboid)
{
	ListCell   *lc;

	foreach(lc, ts)
		if (((Target *) lfirst(lc))->dboid == dboid)
			return (Target *) lfirst(lc);
	return NULL;
}

/* ----------------------------------------------------------------
 * Workers
 * ----------------------------------------------------------------
 */

static bool
slot_running(int i)
{
	pid_t		pid;

	return handles[i] != NULL &&
		GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED;
}

/*
 * The worker of slot i is to leave (its database no longer served, or
 * guestbook_notify.workers lowered).  It is asked, not killed: at its next
 * turn it gives back the rows it holds and exits, with one log line.  A
 * SIGTERM in the middle of one of its transactions would end it with a
 * FATAL and an exit code 1 (and the statement's context) in the log.
 * reap_leaving() keeps the handle until it is gone, and sends SIGTERM if it
 * is still there after LEAVE_WAIT_MS.  The slot is not reused before.
 */
static void
stop_slot(int i)
{
	Latch	   *latch;

	SpinLockAcquire(&gbn_shared->mutex);
	gbn_shared->slots[i].exit_requested = true;
	gbn_shared->slots[i].dboid = InvalidOid;
	SpinLockRelease(&gbn_shared->mutex);
	stopped_at[i] = 0;
	if (handles[i] == NULL)
		return;
	if (!slot_running(i))
	{
		pfree(handles[i]);
		handles[i] = NULL;
		return;
	}
	latch = gbn_shared->slots[i].latch;
	if (latch != NULL)
		SetLatch(latch);
	if (leaving_since[i] == 0)
	{
		leaving_since[i] = GetCurrentTimestamp();
		terminated[i] = false;
	}
}

/* workers asked to leave: forget those gone, SIGTERM those that stay */
static void
reap_leaving(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		if (leaving_since[i] == 0)
			continue;
		if (handles[i] == NULL || !slot_running(i))
		{
			if (handles[i] != NULL)
				pfree(handles[i]);
			handles[i] = NULL;
			leaving_since[i] = 0;
			terminated[i] = false;
		}
		else if (!terminated[i] &&
				 TimestampDifferenceExceeds(leaving_since[i], now, LEAVE_WAIT_MS))
		{
			ereport(LOG,
					(errmsg("guestbook_notify: a worker asked to leave is still running after %d s; terminating it",
							LEAVE_WAIT_MS / 1000)));
			TerminateBackgroundWorker(handles[i]);
			terminated[i] = true;
		}
	}
}

/* the slot of worker w of dboid, or -1 */
static int
find_slot(Oid dboid, int w)
{
	int			i;

	for (i = 0; i < GBN_MAX_SLOTS; i++)
		if (gbn_shared->slots[i].dboid == dboid && gbn_shared->slots[i].index == w)
			return i;
	return -1;
}

/* a slot no worker uses, reserved for worker w of dboid, or -1 */
static int
reserve_slot(Oid dboid, int w)
{
	int			i;

	SpinLockAcquire(&gbn_shared->mutex);
	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		GbnWorkerSlot *s = &gbn_shared->slots[i];

		if (!OidIsValid(s->dboid) && handles[i] == NULL && s->pid == 0)
		{
			s->dboid = dboid;
			s->index = w;
			s->exit_requested = false;
			break;
		}
	}
	SpinLockRelease(&gbn_shared->mutex);
	return i < GBN_MAX_SLOTS ? i : -1;
}

/* start the worker of slot i; false (and why, in problem) if it cannot */
static bool
start_slot(int i, Oid dboid, const char *datname, char *problem)
{
	BackgroundWorker worker;
	MemoryContext old;
	bool		registered;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;	/* the launcher decides */
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "guestbook_notify");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "gbn_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, GBN_WORKER_TYPE " %d for %s",
			 gbn_shared->slots[i].index + 1, datname);
	snprintf(worker.bgw_type, BGW_MAXLEN, GBN_WORKER_TYPE);
	worker.bgw_main_arg = Int32GetDatum(i);
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);	/* handles[] outlives the scan */
	registered = RegisterDynamicBackgroundWorker(&worker, &handles[i]);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		handles[i] = NULL;
		snprintf(problem, GBN_ERROR_LEN,
				 "no background worker slot free (max_worker_processes = %d)",
				 max_worker_processes);
		return false;
	}
	stopped_at[i] = 0;
	return true;
}

/*
 * Keep worker w of database t running.  Returns false when it is not
 * running and could not be started (problem says why).
 */
static bool
keep_worker(Target *t, int w, char *problem)
{
	int			i = find_slot(t->dboid, w);
	TimestampTz now = GetCurrentTimestamp();

	if (i >= 0 && slot_running(i))
		return true;
	if (i >= 0 && stopped_at[i] == 0)
	{
		stopped_at[i] = now;	/* it stopped: start it again after a delay */
		if (handles[i] != NULL)
		{
			pfree(handles[i]);
			handles[i] = NULL;
		}
	}
	if (i >= 0 && !TimestampDifferenceExceeds(stopped_at[i], now, RESTART_DELAY_MS))
		return true;
	if (i < 0 && (i = reserve_slot(t->dboid, w)) < 0)
	{
		snprintf(problem, GBN_ERROR_LEN, "no guestbook_notify worker slot free (%d in all)",
				 GBN_MAX_SLOTS);
		return false;
	}
	if (!start_slot(i, t->dboid, NameStr(t->datname), problem))
	{
		SpinLockAcquire(&gbn_shared->mutex);
		gbn_shared->slots[i].dboid = InvalidOid;
		SpinLockRelease(&gbn_shared->mutex);
		return false;
	}
	return true;
}

/* ----------------------------------------------------------------
 * Databases
 * ----------------------------------------------------------------
 */

/* the entry of t, made if needed (NULL when all are taken) */
static GbnDatabase *
entry_for(Target *t, bool *is_new)
{
	GbnDatabase *db;
	int			i;

	*is_new = false;
	SpinLockAcquire(&gbn_shared->mutex);
	db = gbn_database_entry(t->dboid);
	for (i = 0; db == NULL && i < GBN_MAX_DATABASES; i++)
	{
		if (!OidIsValid(gbn_shared->databases[i].dboid))
		{
			db = &gbn_shared->databases[i];
			memset(db, 0, sizeof(GbnDatabase));
			db->dboid = t->dboid;
			*is_new = true;
		}
	}
	if (db != NULL && strcmp(NameStr(db->datname), NameStr(t->datname)) != 0)
	{
		if (!*is_new)
			ereport(LOG,
					(errmsg("guestbook_notify: database \"%s\" is now called \"%s\"",
							NameStr(db->datname), NameStr(t->datname))));
		db->datname = t->datname;
	}
	SpinLockRelease(&gbn_shared->mutex);
	return db;
}

/* Stop serving entry db: its workers leave. */
static void
drop_database(GbnDatabase *db)
{
	int			i;

	ereport(LOG,
			(errmsg("guestbook_notify: database \"%s\" is no longer served (dropped, renamed, or removed from guestbook_notify.database_name); its workers leave",
					NameStr(db->datname))));
	for (i = 0; i < GBN_MAX_SLOTS; i++)
		if (gbn_shared->slots[i].dboid == db->dboid)
			stop_slot(i);
	SpinLockAcquire(&gbn_shared->mutex);
	db->dboid = InvalidOid;
	SpinLockRelease(&gbn_shared->mutex);
}

/* Keep database t's workers running, as many as guestbook_notify.workers. */
static void
serve_database(Target *t)
{
	bool		is_new;
	GbnDatabase *db = entry_for(t, &is_new);
	char		problem[GBN_ERROR_LEN] = "";
	int			running = 0;
	int			w;

	if (db == NULL)
	{
		ereport(LOG,
				(errmsg("guestbook_notify: cannot serve database \"%s\": %d databases are served already",
						NameStr(t->datname), GBN_MAX_DATABASES)));
		return;
	}
	if (is_new)
		ereport(LOG,
				(errmsg("guestbook_notify: serving database \"%s\" with %d worker(s)",
						NameStr(t->datname), gbn_workers)));
	if (db->leaving && db->leaving_until != 0 &&
		GetCurrentTimestamp() > db->leaving_until)
	{
		SpinLockAcquire(&gbn_shared->mutex);
		db->leaving = false;
		SpinLockRelease(&gbn_shared->mutex);
	}
	if (db->leaving)
		return;
	if (db->no_extension)
	{
		/* its worker found no extension: free the slots until CREATE */
		for (w = 0; w < GBN_MAX_WORKERS; w++)
		{
			int			i = find_slot(t->dboid, w);

			if (i >= 0 && !slot_running(i))
				stop_slot(i);
		}
		return;
	}

	for (w = 0; w < gbn_workers; w++)
		if (keep_worker(t, w, problem))
			running++;
	for (w = gbn_workers; w < GBN_MAX_WORKERS; w++)
	{
		int			i = find_slot(t->dboid, w);

		if (i >= 0)
			stop_slot(i);		/* guestbook_notify.workers was lowered */
	}

	if (running < gbn_workers && strcmp(db->problem, problem) != 0)
		ereport(LOG,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("guestbook_notify: only %d of %d worker(s) could start for database \"%s\": %s",
						running, gbn_workers, NameStr(t->datname), problem),
				 errhint("Raise max_worker_processes (a restart), or lower guestbook_notify.workers.")));
	SpinLockAcquire(&gbn_shared->mutex);
	db->wanted = gbn_workers;
	db->running = running;
	strlcpy(db->problem, running < gbn_workers ? problem : "", GBN_ERROR_LEN);
	SpinLockRelease(&gbn_shared->mutex);
}

static void
launcher_scan(void)
{
	List	   *ts = targets();
	ListCell   *lc;
	int			i;

	reap_leaving();
	for (i = 0; i < GBN_MAX_DATABASES; i++)
	{
		GbnDatabase *db = &gbn_shared->databases[i];

		if (OidIsValid(db->dboid) && find_target(ts, db->dboid) == NULL)
			drop_database(db);
	}
	foreach(lc, ts)
		serve_database((Target *) lfirst(lc));
	list_free_deep(ts);
}

void
gbn_launcher_main(Datum main_arg)
{
	MemoryContext scan_cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: the shared catalogs only */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(GBN_LAUNCHER_TYPE);
	gbn_shared->launcher_latch = MyLatch;
	before_shmem_exit(clear_launcher_latch, (Datum) 0);
	ereport(LOG,
			(errmsg("guestbook_notify launcher started (databases: %s, %d worker(s) each)",
					gbn_database_name, gbn_workers)));

	scan_cxt = AllocSetContextCreate(TopMemoryContext, "guestbook_notify launcher",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		MemoryContextSwitchTo(scan_cxt);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launcher_scan();
		MemoryContextReset(scan_cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAPTIME_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
