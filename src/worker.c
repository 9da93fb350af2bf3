/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The delivery worker's main loop: one per database and worker slot,
 *		started by the launcher (launcher.c).
 *
 * Each turn of the loop:
 *	 1. lets libcurl work on the sockets that are ready and records every
 *		request that finished (worker_send.c), before claiming anything
 *		new: so at most max_in_flight rows are ever sent without a
 *		committed result, which bounds the duplicates a crash can cause;
 *	 2. in one short transaction, turns new trigger events into queue rows
 *		(events.c) and, if there is room (max_in_flight), sending is not
 *		paused, the settings are valid and the sender's rate allows,
 *		claims due rows; then starts their requests;
 *	 3. writes queued case_events rows into the app's tables (audit.c),
 *		renews the leases of the rows it holds, archives finished rows,
 *		runs the SLA reminders (sla_tick) -- each when due, each in a
 *		short transaction of its own;
 *	 4. waits on the latch (a commit that called wake(), SIGHUP, SIGTERM),
 *		libcurl's sockets and the earliest deadline.
 * No transaction is open while requests are in flight, a commit wakes the
 * worker at once, and nothing sleeps while work is due.
 *
 * SIGTERM (or the launcher asking, before DROP or RENAME DATABASE) aborts
 * the requests in flight, gives their rows back (the try is not counted)
 * and exits.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http.h"
#include "queue.h"
#include "tx.h"
#include "worker.h"

#define EVENTS_BATCH		1000
#define AUDIT_BATCH			500
#define AUDIT_RETRY_MS		1000

static MemoryContext requests_cxt = NULL;	/* parent of the messages' contexts */
static MemoryContext loop_cxt = NULL;	/* reset every turn */

/* settings */
static char *settings_problem = NULL;	/* in TopMemoryContext */
static bool settings_checked = false;

/* this worker's database, by name (for log lines) */
static char *dbname = NULL;

/* what the last claim said about the database */
static GbnClaimStatus db_status = GBN_CLAIM_OK;

/* when to do what next (monotonic ms; 0 = now, -1 = not wanted) */
static int64 next_claim_ms = 0;
static int64 throttle_until_ms = 0;
static int	claim_error_delay_ms = 0;
static bool events_due = true;
static int64 claim_retry_ms = 0;	/* no claim at all before (busy, error) */
static bool queue_busy = false; /* the last claim found the queue locked */
static int64 audit_at_ms = 0;
static int64 renew_at_ms = 0;
static int64 archive_at_ms = 0;
static int64 sla_at_ms = 0;
static bool session_blocked = false;	/* the provider's session cannot send */

/*
 * this database's own settings: its access token (set_access_token,
 * access_token.c) and its ALTER DATABASE ... SET values
 */
static bool token_loaded = false;	/* read since the last change/reload */
static uint32 settings_seen_gen = 0;	/* the generation they were read at */
static int64 token_retry_at_ms = 0; /* after a failed read */
static bool was_in_recovery = false;

/* the SLA tick's last error, logged once (in TopMemoryContext) */
static char *sla_problem = NULL;

/* statistics not yet flushed: retry after this many ms */
static long stats_retry_ms = 0;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	ShutdownRequestPending = true;

	/*
	 * Inside a transaction (say, waiting on a lock) stop as die() would: a
	 * shutdown must not wait on the database.  Elsewhere the loop notices
	 * the flag, aborts the requests and gives their rows back.
	 */
	if (gbn_in_database && !proc_exit_inprogress)
	{
		InterruptPending = true;
		ProcDiePending = true;
	}
	SetLatch(MyLatch);
	errno = save_errno;
}

/* ----------------------------------------------------------------
 * Settings
 * ----------------------------------------------------------------
 */

/* which sender this worker sends as, for sharing max_send_rate */
static uint32
sender_hash(void)
{
	char	   *key = psprintf("%d|%s|%s", gbn_provider, gbn_api_url ? gbn_api_url : "",
							   gbn_phone_number_id ? gbn_phone_number_id : "");

	return hash_bytes((const unsigned char *) key, strlen(key));
}

static void
check_settings(void)
{
	char	   *problem = gbn_settings_problem();

	if (problem != NULL)
	{
		if (settings_problem == NULL || strcmp(problem, settings_problem) != 0)
			ereport(LOG,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("guestbook_notify: not sending: %s", problem),
					 errhint("Fix the setting (postgresql.conf or ALTER SYSTEM, ALTER DATABASE ... SET for this database, set_access_token() for its token) and reload the configuration.")));
		if (settings_problem)
			pfree(settings_problem);
		settings_problem = MemoryContextStrdup(TopMemoryContext, problem);
		gbn_status_set_last_error(problem);
	}
	else if (settings_problem != NULL)
	{
		ereport(LOG,
				(errmsg("guestbook_notify: settings are valid, sending through %s",
						gbn_provider_name(gbn_provider))));
		pfree(settings_problem);
		settings_problem = NULL;
	}
	else if (!settings_checked)
		ereport(DEBUG1,
				(errmsg_internal("guestbook_notify: sending through %s at %s",
								 gbn_provider_name(gbn_provider), gbn_api_url)));
	settings_checked = true;
	gbn_status_set_sender(sender_hash());
	gbn_http_configure(gbn_max_in_flight);
	gbn_apply_session_limits();
}

/*
 * Read this database's own settings again when they changed: the access
 * token at start, after a reload, at promotion and whenever
 * set_access_token() committed here; the ALTER DATABASE ... SET values too
 * when ALTER DATABASE ... SET guestbook_notify.* committed (the generation
 * moved: database_hook.c, access_token.c) -- no reload needed.  A change is
 * logged (never the token), the settings are checked again and a pause
 * (say, an expired token) ends.
 */
static void
db_settings_step(void)
{
	uint32		gen = gbn_settings_generation();
	int64		now_ms = gbn_now_ms();
	bool		had = gbn_database_token != NULL;
	bool		moved = token_loaded && gen != settings_seen_gen;
	bool		read_ok;
	bool		changed = false;

	if (token_loaded && !moved)
		return;
	if (!token_loaded && token_retry_at_ms > now_ms)
		return;
	settings_seen_gen = gen;
	/* ALTER DATABASE ... SET or set_access_token() committed: both again */
	if (moved)
		gbn_reapply_database_settings();
	read_ok = gbn_read_database_token(&changed);
	token_loaded = read_ok;
	if (!read_ok)
		token_retry_at_ms = now_ms + 1000;
	if (!changed && !moved)
		return;

	if (changed && gbn_database_token != NULL)
		ereport(LOG,
				(errmsg("guestbook_notify: database \"%s\" has its own access token (set_access_token()); the worker sends with it",
						dbname)));
	else if (changed && had)
		ereport(LOG,
				(errmsg("guestbook_notify: database \"%s\"'s own access token was removed; the worker sends with guestbook_notify.access_token",
						dbname)));
	else
		ereport(LOG,
				(errmsg("guestbook_notify: database \"%s\"'s settings changed (ALTER DATABASE ... SET, or set_access_token()); the worker applies them",
						dbname)));
	if (settings_checked)
		check_settings();
	if (gbn_is_paused(NULL))
	{
		gbn_unpause();
		ereport(LOG,
				(errmsg("guestbook_notify: the database's settings changed, resuming sending")));
	}
	next_claim_ms = 0;
}

static void
reload_settings(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	gbn_reapply_database_settings();
	/* a token changed by hand in database_token is read again too */
	token_loaded = false;
	token_retry_at_ms = 0;
	db_settings_step();
	check_settings();
	if (gbn_is_paused(NULL))
	{
		gbn_unpause();
		ereport(LOG,
				(errmsg("guestbook_notify: configuration reloaded, resuming sending")));
	}
	next_claim_ms = archive_at_ms = audit_at_ms = 0;
	sla_at_ms = 0;				/* a new time zone or interval: tick now */
	claim_error_delay_ms = 0;
	events_due = true;
}

/* Lease length: long enough to cover a whole request. */
static int
lease_seconds(void)
{
	return Max(gbn_lease_timeout, (gbn_http_timeout + 999) / 1000 + 10);
}

/* ----------------------------------------------------------------
 * Pause
 * ----------------------------------------------------------------
 */

static bool
sending_paused(void)
{
	TimestampTz since;

	if (!gbn_is_paused(&since))
		return false;
	if (gbn_pause_retry_interval > 0 &&
		GetCurrentTimestamp() >= since + (int64) gbn_pause_retry_interval * USECS_PER_SEC)
	{
		gbn_unpause();
		ereport(LOG,
				(errmsg("guestbook_notify: paused for %d s, trying to send again",
						gbn_pause_retry_interval)));
		return false;
	}
	return true;
}

/* When the next pause retry is due (monotonic ms), or -1. */
static int64
pause_end_ms(int64 now_ms)
{
	TimestampTz since;
	int64		left_us;

	if (gbn_pause_retry_interval <= 0 || !gbn_is_paused(&since))
		return -1;
	left_us = since + (int64) gbn_pause_retry_interval * USECS_PER_SEC - GetCurrentTimestamp();
	return now_ms + Max(left_us / 1000, 0) + 1;
}

/* ----------------------------------------------------------------
 * Claim
 * ----------------------------------------------------------------
 */

/* may the worker send at all now (settings, database, pause, room)? */
static bool
can_send(void)
{
	return settings_problem == NULL && db_status == GBN_CLAIM_OK &&
		gbn_send_held() < gbn_max_in_flight && !sending_paused();
}

/*
 * When the worker wants to claim rows (monotonic ms), or -1 when it cannot
 * claim at all right now (waiting only for an event).
 */
static int64
claim_wanted_at(int64 now_ms)
{
	if (!can_send())
		return -1;
	return Max(Max(next_claim_ms, throttle_until_ms), now_ms + gbn_rate_wait_ms());
}

/*
 * When a commit's wake could start a claim (monotonic ms), or -1 while it
 * cannot.  The wake flag is consumed only once it can: while it stays set,
 * committers skip SetLatch, so a worker held back by max_send_rate or
 * max_in_flight is not woken by every commit of a busy app (figure 5 in
 * tests/bench).  Its own deadlines bring it back, and the pending wake then
 * claims at once.
 */
static int64
wake_claim_at(int64 now_ms)
{
	if (!can_send())
		return now_ms;			/* only the events step: at once */
	return Max(throttle_until_ms, now_ms + gbn_rate_wait_ms());
}

static void
log_database_status(GbnClaimStatus status)
{
	if (status == db_status)
		return;
	if (status == GBN_CLAIM_OLD_EXTENSION)
		ereport(LOG,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guestbook_notify: not sending: the extension's SQL is older than its library (%s)",
						GBN_VERSION),
				 errhint("Run ALTER EXTENSION guestbook_notify UPDATE in database \"%s\"; queued notifications wait until then.",
						 dbname)));
}

/* the claim transaction's size: rows to lease now */
static int
claim_limit(int64 now_ms)
{
	int64		at = claim_wanted_at(now_ms);

	if (at < 0 || at > now_ms)
		return 0;
	return Min(Min(gbn_batch_size, gbn_max_in_flight - gbn_send_held()),
			   gbn_rate_tokens());
}

static void
schedule_next_claim(GbnClaim *c, int64 now_ms)
{
	queue_busy = (c->status == GBN_CLAIM_BUSY);
	switch (c->status)
	{
		case GBN_CLAIM_OK:
			claim_error_delay_ms = 0;
			claim_retry_ms = 0;
			break;
		case GBN_CLAIM_BUSY:

			/*
			 * DROP EXTENSION, TRUNCATE or VACUUM FULL holds the queue: look
			 * again soon, events included, whatever else is due (the next
			 * look may find the extension gone).
			 */
			claim_retry_ms = now_ms + Min(gbn_naptime, 1000);
			next_claim_ms = claim_retry_ms;
			events_due = true;
			return;
		case GBN_CLAIM_ERROR:
			claim_error_delay_ms = claim_error_delay_ms == 0 ? 1000 :
				Min(claim_error_delay_ms * 2, 60000);
			claim_retry_ms = now_ms + claim_error_delay_ms;
			next_claim_ms = claim_retry_ms;
			events_due = true;
			return;
		default:
			/* an older SQL: look again every naptime for the update */
			claim_retry_ms = now_ms + gbn_naptime;
			next_claim_ms = claim_retry_ms;
			events_due = true;
			return;
	}
	events_due = (c->events_done >= c->events_limit && c->events_limit > 0);
	if (c->events_done > 0)
		audit_at_ms = now_ms;	/* failed rows queue case_events rows */
	if (c->limit <= 0)
		return;
	if (list_length(c->messages) >= c->limit)
		next_claim_ms = now_ms;	/* there may be more */
	else if (c->have_next_due)
	{
		int64		due_in_ms = (c->next_due - GetCurrentTimestamp()) / 1000 + 1;

		/* due now but skipped (locked by someone else): look again soon */
		if (due_in_ms <= 0)
			due_in_ms = 250;
		next_claim_ms = now_ms + Min(due_in_ms, (int64) gbn_naptime);
	}
	else
		next_claim_ms = now_ms + gbn_naptime;
}

/*
 * The provider's session cannot send (reason), or "" when it can: logged
 * when it changes, shown in worker_status().
 */
static void
note_blocked(const char *reason)
{
	static char last[512] = "";

	if (strcmp(last, reason) == 0)
		return;
	if (reason[0] != '\0')
		ereport(LOG,
				(errmsg("guestbook_notify: sending held: %s", reason)));
	else
		ereport(LOG,
				(errmsg("guestbook_notify: the provider's session can send again, resuming")));
	strlcpy(last, reason, sizeof(last));
	session_blocked = reason[0] != '\0';
	gbn_set_blocked(reason);
}

/* Turn events into rows, and claim due rows if the worker may. */
static void
claim_and_start(int64 now_ms)
{
	GbnClaim	c;
	GbnPacing	pacing = gbn_pacing();

	if (claim_retry_ms > now_ms)
		return;					/* backing off: busy queue, error, old SQL */
	memset(&c, 0, sizeof(c));
	c.events_limit = events_due ? EVENTS_BATCH : 0;
	c.limit = claim_limit(now_ms);
	c.lease_seconds = lease_seconds();
	c.interval_ms = pacing.interval_ms;
	c.hourly_cap = pacing.hourly_cap;
	if (c.events_limit == 0 && c.limit == 0)
		return;

	gbn_queue_claim(&c, requests_cxt);
	stats_retry_ms = 1;
	log_database_status(c.status);
	if (c.status != GBN_CLAIM_ERROR && c.status != GBN_CLAIM_BUSY)
		db_status = c.status;
	schedule_next_claim(&c, now_ms);
	if (c.status == GBN_CLAIM_NO_EXTENSION)
		return;

	if (c.limit > 0 && c.status == GBN_CLAIM_OK)
		note_blocked(c.blocked);

	ereport(DEBUG2,
			(errmsg_internal("guestbook_notify: %d event(s), claimed %d of %d (held %d)",
							 c.events_done, list_length(c.messages), c.limit,
							 gbn_send_held())));
	gbn_rate_take(list_length(c.messages));
	gbn_send_start(c.messages, pacing);
}

/* ----------------------------------------------------------------
 * Audit, leases, retention
 * ----------------------------------------------------------------
 */

static void
audit_step(int64 now_ms)
{
	int64		pending = 0;
	int			written;

	if (audit_at_ms < 0 || audit_at_ms > now_ms || db_status != GBN_CLAIM_OK)
		return;
	written = gbn_queue_audit(AUDIT_BATCH, &pending);
	stats_retry_ms = 1;
	if (written >= 0)
		gbn_status_set_backlogs(pending, -1);
	if (written >= AUDIT_BATCH)
		audit_at_ms = now_ms;	/* more to write */
	else if (pending > 0 || written < 0)
		audit_at_ms = now_ms + AUDIT_RETRY_MS;	/* rows waiting out a backoff */
	else
		audit_at_ms = -1;
}

/* a live worker keeps what it holds: renew every quarter of the lease */
static void
renew_step(int64 now_ms)
{
	List	   *ids;

	if (renew_at_ms > now_ms || gbn_send_held() == 0)
		return;
	ids = gbn_send_held_ids();
	(void) gbn_queue_renew(ids, lease_seconds());
	renew_at_ms = now_ms + Max(lease_seconds() * 1000 / 4, 1000);
	stats_retry_ms = 1;
}

/* Every archive_interval, move finished rows older than retention. */
static void
archive_step(int64 now_ms)
{
	int			moved;

	if (gbn_retention <= 0 || archive_at_ms > now_ms || db_status != GBN_CLAIM_OK)
		return;
	moved = gbn_queue_archive(gbn_retention, gbn_archive_batch_size);
	stats_retry_ms = 1;
	if (moved > 0)
		ereport(LOG,
				(errmsg("guestbook_notify: archived %d finished notification(s) older than %d s",
						moved, gbn_retention)));
	/* a full batch: there may be more, take the next one soon */
	if (moved >= gbn_archive_batch_size)
		archive_at_ms = now_ms;
	else
		archive_at_ms = now_ms + (int64) gbn_archive_interval * 1000;
}

/*
 * Every sla_interval, the SLA reminders: sla_tick(sla_time_zone).  Its
 * reminders are queue rows (woken at commit) and case_events rows for the
 * audit step.  An error of the tick is logged once until it changes.
 */
static void
sla_step(int64 now_ms)
{
	char	   *problem = NULL;
	int			sqlerrcode = 0;
	int			fired;

	if (gbn_sla_interval <= 0 || sla_at_ms > now_ms || db_status != GBN_CLAIM_OK)
		return;
	fired = gbn_queue_sla_tick(gbn_sla_time_zone, &problem, &sqlerrcode);
	stats_retry_ms = 1;
	sla_at_ms = now_ms + (int64) gbn_sla_interval * 1000;
	if (problem != NULL)
	{
		if (sla_problem == NULL || strcmp(problem, sla_problem) != 0)
			ereport(WARNING,
					(errcode(sqlerrcode),
					 errmsg("guestbook_notify: SLA reminders did not run: %s", problem),
					 errhint("Check guestbook_notify.sla_time_zone and the SLA tables; the worker tries again every sla_interval.")));
		if (sla_problem)
			pfree(sla_problem);
		sla_problem = MemoryContextStrdup(TopMemoryContext, problem);
		return;
	}
	if (fired >= 0 && sla_problem != NULL)
	{
		ereport(LOG, (errmsg("guestbook_notify: SLA reminders run again")));
		pfree(sla_problem);
		sla_problem = NULL;
	}
	if (fired > 0)
	{
		audit_at_ms = now_ms;	/* their case_events rows */
		ereport(LOG,
				(errmsg("guestbook_notify: %d SLA reminder(s) queued", fired)));
	}
}

/* ----------------------------------------------------------------
 * Shutdown
 * ----------------------------------------------------------------
 */

static void
shutdown_worker(void)
{
	List	   *ids;
	int			released = 0;
	int			n;

	gbn_status_set_state("stopping");
	MemoryContextSwitchTo(loop_cxt);

	/* what finished is recorded; what is still in flight is given back */
	if (!RecoveryInProgress())
		(void) gbn_send_finish(gbn_pacing(), &throttle_until_ms);
	ids = gbn_send_abort_all();
	n = list_length(ids);
	gbn_status_set_in_flight(0);
	if (ids != NIL && !RecoveryInProgress())
		released = gbn_queue_release(ids);

	ereport(LOG,
			(errmsg("guestbook_notify worker shutting down"),
			 n > 0 ? errdetail("%d request(s) in flight were aborted; %d notification(s) were put back in the queue.",
							   n, released) : 0));
	proc_exit(0);
}

/* ----------------------------------------------------------------
 * Main
 * ----------------------------------------------------------------
 */

static void
set_state(void)
{
	const char *state;

	if (RecoveryInProgress())
		state = "standby";
	else if (db_status == GBN_CLAIM_OLD_EXTENSION)
		state = "waiting for ALTER EXTENSION UPDATE";
	else if (settings_problem != NULL)
		state = "invalid settings";
	else if (gbn_is_paused(NULL))
		state = gbn_send_held() > 0 ? "paused, finishing" : "paused";
	else if (session_blocked)
		state = "held: the provider's session cannot send";
	else if (queue_busy)
		state = "waiting: the queue table is locked";
	else if (gbn_send_held() > 0)
		state = "sending";
	else
		state = "idle";
	gbn_status_set_state(state);
	gbn_status_set_in_flight(gbn_send_held());
}

/* the earliest deadline of every step, as a wait in ms */
static long
wait_ms(int64 now_ms)
{
	int64		wake_at = now_ms + (RecoveryInProgress() ? Min(gbn_naptime, 1000) : gbn_naptime);
	int64		at;

	if ((at = gbn_http_timer_deadline_ms()) >= 0)
		wake_at = Min(wake_at, at);
	if (!token_loaded)
		wake_at = Min(wake_at, Max(token_retry_at_ms, now_ms));
	if (!RecoveryInProgress())
	{
		if ((at = claim_wanted_at(now_ms)) >= 0)
			wake_at = Min(wake_at, at);
		/* a wake left pending (see wake_claim_at): as soon as it can claim */
		if (gbn_wake_is_pending())
			wake_at = Min(wake_at, wake_claim_at(now_ms));
		if (events_due)
			wake_at = Max(now_ms, claim_retry_ms);
		if (audit_at_ms >= 0)
			wake_at = Min(wake_at, audit_at_ms);
		if (gbn_send_held() > 0)
			wake_at = Min(wake_at, renew_at_ms);
		if ((at = pause_end_ms(now_ms)) >= 0)
			wake_at = Min(wake_at, at);
		if (gbn_retention > 0)
			wake_at = Min(wake_at, archive_at_ms);
		if (gbn_sla_interval > 0)
			wake_at = Min(wake_at, sla_at_ms);
	}
	if (stats_retry_ms > 0)
		wake_at = Min(wake_at, now_ms + stats_retry_ms);
	return (long) Max(wake_at - now_ms, 0);
}

/* one turn of the loop (see the file header) */
static void
worker_turn(void)
{
	int64		now_ms;

	if (RecoveryInProgress())
		return;
	if (gbn_send_finish(gbn_pacing(), &throttle_until_ms) > 0)
		audit_at_ms = 0;

	now_ms = gbn_now_ms();
	gbn_rate_refill();
	if (gbn_wake_is_pending() && wake_claim_at(now_ms) <= now_ms && gbn_consume_wake())
	{
		/* a commit: new events, rows or case_events rows to write */
		next_claim_ms = 0;
		events_due = true;
		audit_at_ms = 0;
	}
	claim_and_start(now_ms);

	/* rows that could not be sent, and fast answers, are recorded now */
	if (gbn_send_finish(gbn_pacing(), &throttle_until_ms) > 0)
		audit_at_ms = 0;

	now_ms = gbn_now_ms();
	audit_step(now_ms);
	renew_step(now_ms);
	archive_step(now_ms);
	sla_step(now_ms);
}

static WaitEventSet *
worker_start(int slot)
{
	Oid			dboid;
	WaitEventSet *wait_set;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	gbn_slot_attach(slot, dboid);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname(GBN_WORKER_TYPE);

	/*
	 * No name the worker's SQL uses resolves through a schema the app can
	 * write, whatever the database's default search_path (its owner may set
	 * it): every statement names things schema-qualified anyway.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	StartTransactionCommand();
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	ereport(LOG,
			(errmsg("guestbook_notify worker started for database \"%s\"", dbname)));

	requests_cxt = AllocSetContextCreate(TopMemoryContext, "guestbook_notify requests",
										 ALLOCSET_DEFAULT_SIZES);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "guestbook_notify loop",
									 ALLOCSET_DEFAULT_SIZES);
	gbn_http_init();
	was_in_recovery = RecoveryInProgress();
	db_settings_step();
	check_settings();

	wait_set = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, gbn_http_event_socket(), NULL, NULL);
	return wait_set;
}

void
gbn_worker_main(Datum main_arg)
{
	WaitEventSet *wait_set = worker_start(DatumGetInt32(main_arg));

	for (;;)
	{
		WaitEvent	events[3];
		int			nevents;
		int			i;
		uint32		installed_seen;

		MemoryContextSwitchTo(loop_cxt);
		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending || gbn_exit_requested())
			shutdown_worker();
		if (ConfigReloadPending)
			reload_settings();
		if (was_in_recovery && !RecoveryInProgress())
		{
			/* promoted: the token may have changed on the old primary */
			was_in_recovery = false;
			token_loaded = false;
			token_retry_at_ms = 0;
		}
		db_settings_step();

		installed_seen = gbn_installed_generation();
		worker_turn();
		if (db_status == GBN_CLAIM_NO_EXTENSION && gbn_send_held() == 0)
		{
			/* the launcher starts us again after CREATE EXTENSION */
			gbn_database_no_extension(installed_seen);
			ereport(LOG,
					(errmsg("guestbook_notify: extension not installed in database \"%s\"; the worker leaves until CREATE EXTENSION guestbook_notify",
							dbname)));
			proc_exit(0);
		}

		set_state();
		if (stats_retry_ms > 0)
			stats_retry_ms = pgstat_report_stat(false);
		gbn_rate_refill();
		nevents = WaitEventSetWait(wait_set, wait_ms(gbn_now_ms()), events,
								   lengthof(events), PG_WAIT_EXTENSION);
		for (i = 0; i < nevents; i++)
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);
		MemoryContextReset(loop_cxt);
	}
}
