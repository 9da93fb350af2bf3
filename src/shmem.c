/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Shared memory of guestbook_notify: one slot per worker process (its
 *		latch, wake flag and status), one entry per database served (its
 *		sender's pause, what the launcher knows of it).
 *
 * wake() marks the calling transaction; at COMMIT the transaction callback
 * sets the latch of every worker of the committing database -- only of
 * that database: a commit elsewhere costs the workers nothing.  As in
 * pg_net, a compare-and-swap on a per-worker flag makes many concurrent
 * commits cost one SetLatch: only the committer that flips the flag from 0
 * to 1 sets the latch, and the worker flips it back before it looks at the
 * queue -- only once it can claim (a send token, room under
 * max_in_flight): until then commits skip SetLatch.
 *
 * src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "shmem.h"

GbnShared  *gbn_shared = NULL;

/* this worker's slot and database entry, in worker processes */
static GbnWorkerSlot *my_slot = NULL;
static GbnDatabase *my_db = NULL;

/* backends: a wake is due at commit of the current transaction */
static bool wake_at_commit = false;
static bool installed_at_commit = false;

/*
 * backends: databases whose settings changed in the current transaction
 * (set_access_token(), ALTER DATABASE ... SET guestbook_notify.*)
 */
#define MAX_CHANGED_DBS 8
static Oid	changed_dbs[MAX_CHANGED_DBS];
static int	n_changed_dbs = 0;
static bool changed_all = false;	/* more than that: every database */
static bool xact_callback_registered = false;

void
gbn_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(GbnShared)));
}

void
gbn_shmem_startup(void)
{
	bool		found;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	gbn_shared = ShmemInitStruct("guestbook_notify", sizeof(GbnShared), &found);
	if (!found)
	{
		memset(gbn_shared, 0, sizeof(GbnShared));
		SpinLockInit(&gbn_shared->mutex);
		for (i = 0; i < GBN_MAX_SLOTS; i++)
		{
			GbnWorkerSlot *slot = &gbn_shared->slots[i];

			pg_atomic_init_u32(&slot->wake_pending, 0);
			slot->latch = NULL;
			slot->dboid = InvalidOid;
			SpinLockInit(&slot->mutex);
			strlcpy(slot->state, "not started", GBN_STATE_LEN);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

bool
gbn_shmem_present(void)
{
	return gbn_shared != NULL;
}

GbnDatabase *
gbn_database_entry(Oid dboid)
{
	int			i;

	for (i = 0; i < GBN_MAX_DATABASES; i++)
		if (OidIsValid(dboid) && gbn_shared->databases[i].dboid == dboid)
			return &gbn_shared->databases[i];
	return NULL;
}

/* ----------------------------------------------------------------
 * Worker side
 * ----------------------------------------------------------------
 */

static void
slot_detach(int code, Datum arg)
{
	if (my_slot == NULL)
		return;
	my_slot->latch = NULL;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = 0;
	my_slot->in_flight = 0;
	strlcpy(my_slot->state, "stopped", GBN_STATE_LEN);
	SpinLockRelease(&my_slot->mutex);
	my_slot = NULL;
	gbn_wake_launcher();
}

/* The database the launcher gave slot to (InvalidOid if none). */
Oid
gbn_slot_database(int slot)
{
	Oid			dboid;

	if (gbn_shared == NULL || slot < 0 || slot >= GBN_MAX_SLOTS)
		return InvalidOid;
	SpinLockAcquire(&gbn_shared->mutex);
	dboid = gbn_shared->slots[slot].dboid;
	SpinLockRelease(&gbn_shared->mutex);
	return dboid;
}

/* Take slot number "slot" for this worker process, serving dboid. */
void
gbn_slot_attach(int slot, Oid dboid)
{
	if (gbn_shared == NULL || slot < 0 || slot >= GBN_MAX_SLOTS)
		elog(FATAL, "guestbook_notify shared memory is not initialised");

	my_slot = &gbn_shared->slots[slot];
	SpinLockAcquire(&gbn_shared->mutex);
	my_db = gbn_database_entry(dboid);
	SpinLockRelease(&gbn_shared->mutex);

	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = MyProcPid;
	my_slot->in_flight = 0;
	my_slot->sender_hash = 0;
	strlcpy(my_slot->state, "starting", GBN_STATE_LEN);
	SpinLockRelease(&my_slot->mutex);

	/* a wake that arrived before we were here is not lost: look once now */
	pg_atomic_write_u32(&my_slot->wake_pending, 1);
	pg_write_barrier();
	my_slot->latch = MyLatch;

	before_shmem_exit(slot_detach, (Datum) 0);
}

void
gbn_status_set_state(const char *state)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	if (strcmp(my_slot->state, state) != 0)
		strlcpy(my_slot->state, state, GBN_STATE_LEN);
	SpinLockRelease(&my_slot->mutex);
}

void
gbn_status_set_in_flight(int n)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->in_flight = n;
	SpinLockRelease(&my_slot->mutex);
}

/* Count one recorded result. */
void
gbn_status_count(GbnOutcome outcome, GbnStatus new_status)
{
	if (my_slot == NULL || new_status == GBN_STATUS_UNKNOWN)
		return;
	SpinLockAcquire(&my_slot->mutex);
	if (new_status == GBN_STATUS_SENT)
		my_slot->sent++;
	else if (new_status == GBN_STATUS_FAILED)
		my_slot->failed++;
	else if (outcome == GBN_OUTCOME_RETRY)
		my_slot->retried++;
	SpinLockRelease(&my_slot->mutex);
}

void
gbn_status_set_last_error(const char *text)
{
	if (my_slot == NULL || text == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	strlcpy(my_slot->last_error, text, GBN_ERROR_LEN);
	SpinLockRelease(&my_slot->mutex);
}

void
gbn_status_set_backlogs(int64 audit_pending, int64 events_pending)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	if (audit_pending >= 0)
		my_slot->audit_pending = audit_pending;
	if (events_pending >= 0)
		my_slot->events_pending = events_pending;
	SpinLockRelease(&my_slot->mutex);
}

void
gbn_status_set_sender(uint32 sender_hash)
{
	if (my_slot == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	my_slot->sender_hash = sender_hash;
	SpinLockRelease(&my_slot->mutex);
}

/*
 * How many running workers, in any database, send as this worker's sender
 * (at least 1): max_send_rate is a budget per sender number, split between
 * the workers that really run.
 */
int
gbn_workers_sharing_sender(void)
{
	uint32		mine;
	int			n = 0;
	int			i;

	if (my_slot == NULL)
		return 1;
	SpinLockAcquire(&my_slot->mutex);
	mine = my_slot->sender_hash;
	SpinLockRelease(&my_slot->mutex);
	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		GbnWorkerSlot *s = &gbn_shared->slots[i];

		SpinLockAcquire(&s->mutex);
		if (s->pid != 0 && s->sender_hash == mine)
			n++;
		SpinLockRelease(&s->mutex);
	}
	return Max(n, 1);
}

bool
gbn_exit_requested(void)
{
	bool		exit;

	if (my_slot == NULL)
		return false;
	SpinLockAcquire(&gbn_shared->mutex);
	exit = my_slot->exit_requested || (my_db != NULL && my_db->leaving);
	SpinLockRelease(&gbn_shared->mutex);
	return exit;
}

/* True if a commit asked this worker to look at the queue (not cleared). */
bool
gbn_wake_is_pending(void)
{
	if (my_slot == NULL)
		return false;
	return pg_atomic_read_u32(&my_slot->wake_pending) != 0;
}

/* True if a commit asked this worker to look at the queue; clears it. */
bool
gbn_consume_wake(void)
{
	if (my_slot == NULL)
		return false;
	if (pg_atomic_read_u32(&my_slot->wake_pending) == 0)
		return false;
	return pg_atomic_exchange_u32(&my_slot->wake_pending, 0) != 0;
}

/* How many CREATE or ALTER EXTENSION of this database have committed. */
uint32
gbn_installed_generation(void)
{
	uint32		gen;

	if (my_db == NULL)
		return 0;
	SpinLockAcquire(&gbn_shared->mutex);
	gen = my_db->installed_generation;
	SpinLockRelease(&gbn_shared->mutex);
	return gen;
}

/*
 * The worker found no extension in its database: wait for CREATE EXTENSION.
 * Unless one committed since the worker read generation seen (before it
 * looked): then the launcher starts it again.
 */
void
gbn_database_no_extension(uint32 seen)
{
	if (my_db == NULL)
		return;
	SpinLockAcquire(&gbn_shared->mutex);
	if (my_db->installed_generation == seen)
		my_db->no_extension = true;
	SpinLockRelease(&gbn_shared->mutex);
}

void
gbn_wake_launcher(void)
{
	Latch	   *latch;

	if (gbn_shared == NULL)
		return;
	latch = gbn_shared->launcher_latch;
	if (latch != NULL)
		SetLatch(latch);
}

/* ----------------------------------------------------------------
 * The account-level pause of this database's sender
 * ----------------------------------------------------------------
 */

/*
 * Pause sending for every worker of this database.  Returns true if this
 * call paused it (the caller then logs the reason once).
 */
bool
gbn_pause(const char *reason)
{
	bool		newly = false;

	if (my_db == NULL)
		return false;
	SpinLockAcquire(&gbn_shared->mutex);
	if (!my_db->paused)
	{
		my_db->paused = true;
		my_db->paused_at = GetCurrentTimestamp();
		strlcpy(my_db->paused_reason, reason, GBN_ERROR_LEN);
		newly = true;
	}
	SpinLockRelease(&gbn_shared->mutex);
	return newly;
}

bool
gbn_is_paused(TimestampTz *since)
{
	bool		paused;

	if (my_db == NULL)
		return false;
	SpinLockAcquire(&gbn_shared->mutex);
	paused = my_db->paused;
	if (since)
		*since = my_db->paused_at;
	SpinLockRelease(&gbn_shared->mutex);
	return paused;
}

void
gbn_unpause(void)
{
	if (my_db == NULL)
		return;
	SpinLockAcquire(&gbn_shared->mutex);
	my_db->paused = false;
	my_db->paused_reason[0] = '\0';
	SpinLockRelease(&gbn_shared->mutex);
}

/*
 * The provider's session cannot send now (reason), or can again (NULL or
 * ""): shown in worker_status().paused_reason while no pause is.
 */
void
gbn_set_blocked(const char *reason)
{
	if (my_db == NULL)
		return;
	SpinLockAcquire(&gbn_shared->mutex);
	strlcpy(my_db->blocked_reason, reason ? reason : "", GBN_ERROR_LEN);
	SpinLockRelease(&gbn_shared->mutex);
}

/*
 * This database's settings generation, as the worker sees it: a change
 * means set_access_token() or ALTER DATABASE ... SET guestbook_notify.*
 * committed, and the worker reads the token and the settings again.
 */
uint32
gbn_settings_generation(void)
{
	uint32		gen;

	if (my_db == NULL)
		return 0;
	SpinLockAcquire(&gbn_shared->mutex);
	gen = my_db->settings_generation;
	SpinLockRelease(&gbn_shared->mutex);
	return gen;
}

/* ----------------------------------------------------------------
 * Backend side: wake at commit
 * ----------------------------------------------------------------
 */

/*
 * A committed change of dboid's settings: bump its generation and set its
 * workers' latches (not through wake_pending: the worker looks at the
 * generation every turn, whatever woke it).  The commit is visible to new
 * snapshots by now, so a worker that sees the new generation reads the new
 * values.  A database not served has no entry: its workers, when they
 * start, read them anyway.
 */
static void
settings_changed(Oid dboid)
{
	GbnDatabase *db;
	int			i;

	SpinLockAcquire(&gbn_shared->mutex);
	db = gbn_database_entry(dboid);
	if (db != NULL)
		db->settings_generation++;
	SpinLockRelease(&gbn_shared->mutex);
	if (db == NULL)
		return;
	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		Latch	   *latch = gbn_shared->slots[i].latch;

		if (latch != NULL && gbn_shared->slots[i].dboid == dboid)
			SetLatch(latch);
	}
}

static void
wake_workers(void)
{
	int			i;

	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		GbnWorkerSlot *slot = &gbn_shared->slots[i];
		Latch	   *latch = slot->latch;
		uint32		expected = 0;

		if (latch == NULL || slot->dboid != MyDatabaseId)
			continue;
		if (pg_atomic_compare_exchange_u32(&slot->wake_pending, &expected, 1))
			SetLatch(latch);
	}
}

/*
 * This database has the extension now: its entry no longer says it has
 * none, and the launcher starts its workers.
 */
static void
extension_installed(void)
{
	GbnDatabase *db;

	SpinLockAcquire(&gbn_shared->mutex);
	db = gbn_database_entry(MyDatabaseId);
	if (db != NULL)
	{
		db->no_extension = false;
		db->installed_generation++;
	}
	SpinLockRelease(&gbn_shared->mutex);
	gbn_wake_launcher();
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (gbn_shared != NULL)
			{
				int			i;

				for (i = 0; i < n_changed_dbs; i++)
					settings_changed(changed_dbs[i]);
				for (i = 0; changed_all && i < GBN_MAX_DATABASES; i++)
					settings_changed(gbn_shared->databases[i].dboid);
			}
			if (wake_at_commit && gbn_shared != NULL)
				wake_workers();
			if (installed_at_commit && gbn_shared != NULL)
				extension_installed();
			wake_at_commit = installed_at_commit = false;
			n_changed_dbs = 0;
			changed_all = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_ABORT:
			/* nothing was committed (or not yet: COMMIT PREPARED) */
			wake_at_commit = installed_at_commit = false;
			n_changed_dbs = 0;
			changed_all = false;
			break;
		default:
			break;
	}
}

/*
 * gbn_wake_at_commit: wake the workers of this database when the current
 * transaction commits.  A no-op when the library is not preloaded.
 */
static void
register_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

void
gbn_wake_at_commit(void)
{
	if (gbn_shared == NULL)
		return;
	register_callback();
	wake_at_commit = true;
}

/*
 * gbn_extension_installed_at_commit: CREATE EXTENSION or ALTER EXTENSION
 * UPDATE in this database; when it commits (not before: a worker started
 * earlier would find no extension and leave), the launcher starts the
 * database's workers.
 */
void
gbn_extension_installed_at_commit(void)
{
	if (gbn_shared == NULL)
		return;
	register_callback();
	installed_at_commit = true;
}

/*
 * gbn_settings_changed_at_commit: dboid's workers read its access token
 * and its ALTER DATABASE settings again when the current transaction
 * commits.  A no-op when the library is not preloaded (no worker runs).
 */
void
gbn_settings_changed_at_commit(Oid dboid)
{
	int			i;

	if (gbn_shared == NULL || !OidIsValid(dboid))
		return;
	register_callback();
	for (i = 0; i < n_changed_dbs; i++)
		if (changed_dbs[i] == dboid)
			return;
	if (n_changed_dbs < MAX_CHANGED_DBS)
		changed_dbs[n_changed_dbs++] = dboid;
	else
		changed_all = true;
}
