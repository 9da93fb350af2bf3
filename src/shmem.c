/*-------------------------------------------------------------------------
 *
 * shmem.c
 *		Shared memory of guestbook_notify: one slot per worker (its latch,
 *		wake flag and status counters) and the account-level pause.
 *
 * wake() marks the calling transaction; at COMMIT the transaction callback
 * sets the latch of every worker.  As in pg_net, a compare-and-swap on a
 * per-worker flag makes many concurrent commits cost one SetLatch: only the
 * committer that flips the flag from 0 to 1 sets the latch, and the worker
 * flips it back before it looks at the queue -- only once it can claim (a
 * send token, room under max_in_flight): until then commits skip SetLatch.
 *
 * src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "guestbook_notify.h"

#define GBN_STATE_LEN		64
#define GBN_ERROR_LEN		512

typedef struct GbnWorkerSlot
{
	pg_atomic_uint32 wake_pending;	/* 1: a commit asked for a look */
	Latch	   *latch;			/* NULL while no worker runs here */

	slock_t		mutex;			/* protects the fields below */
	pid_t		pid;
	int			in_flight;
	uint64		sent;
	uint64		failed;
	uint64		retried;
	char		state[GBN_STATE_LEN];
	char		last_error[GBN_ERROR_LEN];
} GbnWorkerSlot;

typedef struct GbnShared
{
	slock_t		mutex;			/* protects the pause fields */
	bool		paused;
	TimestampTz paused_at;
	char		paused_reason[GBN_ERROR_LEN];
	GbnWorkerSlot slots[GBN_MAX_WORKERS];
} GbnShared;

static GbnShared *gbn_shared = NULL;

/* this worker's slot, in worker processes */
static GbnWorkerSlot *my_slot = NULL;

/* backends: a wake is due at commit of the current transaction */
static bool wake_at_commit = false;
static bool xact_callback_registered = false;

PG_FUNCTION_INFO_V1(guestbook_notify_wake);
PG_FUNCTION_INFO_V1(guestbook_notify_worker_status);

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
		for (i = 0; i < GBN_MAX_WORKERS; i++)
		{
			GbnWorkerSlot *slot = &gbn_shared->slots[i];

			pg_atomic_init_u32(&slot->wake_pending, 0);
			slot->latch = NULL;
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

/* ----------------------------------------------------------------
 * Worker side
 * ----------------------------------------------------------------
 */

static void
gbn_status_detach(int code, Datum arg)
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
}

/* Take slot number "slot" for this worker process. */
void
gbn_status_attach(int slot)
{
	if (gbn_shared == NULL || slot < 0 || slot >= GBN_MAX_WORKERS)
		elog(FATAL, "guestbook_notify shared memory is not initialised");

	my_slot = &gbn_shared->slots[slot];
	SpinLockAcquire(&my_slot->mutex);
	my_slot->pid = MyProcPid;
	my_slot->in_flight = 0;
	strlcpy(my_slot->state, "starting", GBN_STATE_LEN);
	SpinLockRelease(&my_slot->mutex);

	/* a wake that arrived before we were here is not lost: look once now */
	pg_atomic_write_u32(&my_slot->wake_pending, 1);
	pg_write_barrier();
	my_slot->latch = MyLatch;

	before_shmem_exit(gbn_status_detach, (Datum) 0);
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

/* Count one recorded result; new_status is what _record_result returned. */
void
gbn_status_count(GbnOutcome outcome, const char *new_status)
{
	if (my_slot == NULL || new_status == NULL)
		return;
	SpinLockAcquire(&my_slot->mutex);
	if (strcmp(new_status, "sent") == 0)
		my_slot->sent++;
	else if (strcmp(new_status, "failed") == 0)
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

/*
 * Pause sending for every worker.  Returns true if this call paused it (the
 * caller then logs the reason once), false if it was already paused.
 */
bool
gbn_pause(const char *reason)
{
	bool		newly = false;

	if (gbn_shared == NULL)
		return false;
	SpinLockAcquire(&gbn_shared->mutex);
	if (!gbn_shared->paused)
	{
		gbn_shared->paused = true;
		gbn_shared->paused_at = GetCurrentTimestamp();
		strlcpy(gbn_shared->paused_reason, reason, GBN_ERROR_LEN);
		newly = true;
	}
	SpinLockRelease(&gbn_shared->mutex);
	return newly;
}

bool
gbn_is_paused(TimestampTz *since)
{
	bool		paused;

	if (gbn_shared == NULL)
		return false;
	SpinLockAcquire(&gbn_shared->mutex);
	paused = gbn_shared->paused;
	if (since)
		*since = gbn_shared->paused_at;
	SpinLockRelease(&gbn_shared->mutex);
	return paused;
}

void
gbn_unpause(void)
{
	if (gbn_shared == NULL)
		return;
	SpinLockAcquire(&gbn_shared->mutex);
	gbn_shared->paused = false;
	gbn_shared->paused_reason[0] = '\0';
	SpinLockRelease(&gbn_shared->mutex);
}

/* ----------------------------------------------------------------
 * Backend side: wake()
 * ----------------------------------------------------------------
 */

static void
wake_workers(void)
{
	int			i;

	for (i = 0; i < GBN_MAX_WORKERS; i++)
	{
		GbnWorkerSlot *slot = &gbn_shared->slots[i];
		Latch	   *latch = slot->latch;
		uint32		expected = 0;

		if (latch == NULL)
			continue;
		if (pg_atomic_compare_exchange_u32(&slot->wake_pending, &expected, 1))
			SetLatch(latch);
	}
}

static void
wake_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (wake_at_commit && gbn_shared != NULL)
				wake_workers();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_ABORT:
			/* nothing was committed (or not yet: COMMIT PREPARED) */
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * gbn_wake_at_commit: wake the workers when the current transaction
 * commits.  A no-op when the library is not preloaded.
 */
void
gbn_wake_at_commit(void)
{
	if (gbn_shared == NULL)
		return;

	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * guestbook_notify.wake(): the same, for SQL.
 */
Datum
guestbook_notify_wake(PG_FUNCTION_ARGS)
{
	gbn_wake_at_commit();
	PG_RETURN_VOID();
}

/*
 * guestbook_notify.worker_status(): one row per configured worker.
 */
Datum
guestbook_notify_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char		paused_reason[GBN_ERROR_LEN];
	bool		paused;
	int			i;

	if (gbn_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guestbook_notify workers are not running"),
				 errhint("Add guestbook_notify to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);

	SpinLockAcquire(&gbn_shared->mutex);
	paused = gbn_shared->paused;
	strlcpy(paused_reason, gbn_shared->paused_reason, GBN_ERROR_LEN);
	SpinLockRelease(&gbn_shared->mutex);

	for (i = 0; i < gbn_workers; i++)
	{
		GbnWorkerSlot *slot = &gbn_shared->slots[i];
		GbnWorkerSlot copy;
		Datum		values[8];
		bool		nulls[8];

		SpinLockAcquire(&slot->mutex);
		copy.pid = slot->pid;
		copy.in_flight = slot->in_flight;
		copy.sent = slot->sent;
		copy.failed = slot->failed;
		copy.retried = slot->retried;
		strlcpy(copy.state, slot->state, GBN_STATE_LEN);
		strlcpy(copy.last_error, slot->last_error, GBN_ERROR_LEN);
		SpinLockRelease(&slot->mutex);

		memset(nulls, 0, sizeof(nulls));
		if (copy.pid != 0)
			values[0] = Int32GetDatum((int32) copy.pid);
		else
			nulls[0] = true;
		values[1] = CStringGetTextDatum(copy.pid != 0 ? copy.state : "stopped");
		if (paused)
			values[2] = CStringGetTextDatum(paused_reason);
		else
			nulls[2] = true;
		values[3] = Int32GetDatum(copy.in_flight);
		values[4] = Int64GetDatum((int64) copy.sent);
		values[5] = Int64GetDatum((int64) copy.failed);
		values[6] = Int64GetDatum((int64) copy.retried);
		if (copy.last_error[0] != '\0')
			values[7] = CStringGetTextDatum(copy.last_error);
		else
			nulls[7] = true;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}
