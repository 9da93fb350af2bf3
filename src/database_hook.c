/*-------------------------------------------------------------------------
 *
 * database_hook.c
 *		Let a served database be dropped or renamed without a step of the
 *		admin's: DROP DATABASE and ALTER DATABASE ... RENAME refuse while
 *		other sessions are connected, and the workers are.
 *
 * A ProcessUtility hook, in every backend (the library is preloaded): before
 * DROP DATABASE (with or without FORCE) or ALTER DATABASE ... RENAME of a
 * database the workers serve, it marks the database as leaving -- the
 * launcher starts no worker there -- asks its workers to leave (they give
 * their leases back, as on SIGTERM) and waits for them, at most
 * DATABASE_WAIT_MS; then the command runs.  Whether it succeeds or not,
 * the mark is cleared and the launcher looks again: a database still there
 * and still listed is served again, a dropped or renamed-away one is not.
 *
 * The same hook sees ALTER DATABASE ... SET guestbook_notify.* (and RESET
 * ALL): when it commits, that database's workers apply its settings again
 * (shmem.c's settings generation), without a pg_reload_conf().
 *
 * src/database_hook.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "launcher.h"
#include "shmem.h"

#define DATABASE_WAIT_MS	10000

static ProcessUtility_hook_type prev_utility_hook = NULL;

/* the database a DROP or RENAME DATABASE statement is about, or InvalidOid */
static Oid
database_of(Node *stmt)
{
	if (IsA(stmt, DropdbStmt))
		return get_database_oid(((DropdbStmt *) stmt)->dbname, true);
	if (IsA(stmt, RenameStmt) &&
		((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
		return get_database_oid(((RenameStmt *) stmt)->subname, true);
	return InvalidOid;
}

/*
 * Mark dboid leaving; false if it is not served.  done: the statement ended
 * (or failed): leaving for 2 s more, so that the launcher looks only once
 * the statement's transaction has committed -- or rolled back, and then the
 * workers come back.
 */
static bool
set_leaving(Oid dboid, bool done)
{
	GbnDatabase *db;
	int			i;

	SpinLockAcquire(&gbn_shared->mutex);
	db = gbn_database_entry(dboid);
	if (db != NULL)
	{
		db->leaving = true;
		db->leaving_until = done ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 2000) : 0;
	}
	SpinLockRelease(&gbn_shared->mutex);
	if (db == NULL)
		return false;
	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		Latch	   *latch = gbn_shared->slots[i].latch;

		if (gbn_shared->slots[i].dboid == dboid && latch != NULL)
			SetLatch(latch);
	}
	gbn_wake_launcher();
	return true;
}

static int
workers_of(Oid dboid)
{
	int			n = 0;
	int			i;

	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		GbnWorkerSlot *s = &gbn_shared->slots[i];

		SpinLockAcquire(&s->mutex);
		if (s->pid != 0 && s->dboid == dboid)
			n++;
		SpinLockRelease(&s->mutex);
	}
	return n;
}

static void
wait_for_workers(Oid dboid)
{
	TimestampTz start = GetCurrentTimestamp();

	while (workers_of(dboid) > 0 &&
		   !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), DATABASE_WAIT_MS))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The database whose guestbook_notify.* settings ALTER DATABASE ... SET
 * changes, or InvalidOid.
 */
static Oid
settings_database_of(Node *stmt)
{
	AlterDatabaseSetStmt *s;

	if (!IsA(stmt, AlterDatabaseSetStmt))
		return InvalidOid;
	s = (AlterDatabaseSetStmt *) stmt;
	if (s->setstmt == NULL ||
		!(s->setstmt->kind == VAR_RESET_ALL ||
		  (s->setstmt->name != NULL &&
		   strncmp(s->setstmt->name, "guestbook_notify.", 17) == 0)))
		return InvalidOid;
	return get_database_oid(s->dbname, true);
}

static void
gbn_utility_hook(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				 ProcessUtilityContext context, ParamListInfo params,
				 QueryEnvironment *queryEnv, DestReceiver *dest,
				 QueryCompletion *qc)
{
	volatile Oid dboid = InvalidOid;

	if (gbn_shared != NULL)
		dboid = database_of(pstmt->utilityStmt);
	if (OidIsValid(dboid) && set_leaving(dboid, false))
	{
		wait_for_workers(dboid);
		PG_TRY();
		{
			if (prev_utility_hook)
				prev_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
			else
				standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
										params, queryEnv, dest, qc);
		}
		PG_FINALLY();
		{
			(void) set_leaving(dboid, true);
		}
		PG_END_TRY();
		return;
	}

	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context,
						  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/* it succeeded: the workers of that database look again at commit */
	if (gbn_shared != NULL)
		gbn_settings_changed_at_commit(settings_database_of(pstmt->utilityStmt));
}

void
gbn_install_database_hook(void)
{
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = gbn_utility_hook;
}
