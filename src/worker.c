/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The delivery worker's main loop.
 *
 * Each turn of the loop:
 *	 1. lets libcurl work on the sockets that are ready, and records every
 *		request that finished, together, in one short transaction (each row
 *		in a subtransaction), before claiming anything new: so at most
 *		max_in_flight rows are ever sent without a committed result, which
 *		bounds the duplicates a crash can cause;
 *	 2. if there is room (max_in_flight), sending is not paused, the
 *		settings are valid, the server is not a standby and the sender's
 *		pacing allows, claims due rows in a short transaction and starts
 *		their requests;
 *	 3. waits on the latch (a commit that called wake(), SIGHUP, SIGTERM),
 *		libcurl's sockets and the earliest deadline: libcurl's timer, the
 *		next due row, the next pacing token, naptime.
 * No transaction is open while requests are in flight, a commit wakes the
 * worker at once, and nothing sleeps while work is due.
 *
 * SIGTERM aborts the requests in flight, gives their rows back (the try
 * is not counted) and exits with code 1, so that pg_terminate_backend()
 * restarts the worker after bgw_restart_time.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xlog.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "classify.h"
#include "http.h"
#include "provider.h"
#include "queue.h"

/* a row whose request is in flight */
typedef struct Inflight
{
	MemoryContext cxt;			/* holds all of the below */
	GbnMessage *msg;
	GbnHttpRequest *req;
	const GbnProviderOps *ops;
	dlist_node node;
} Inflight;

volatile sig_atomic_t gbn_in_database = false;

static dlist_head inflight = DLIST_STATIC_INIT(inflight);
static int	n_inflight = 0;

static MemoryContext requests_cxt = NULL;	/* parent of the rows' contexts */
static MemoryContext loop_cxt = NULL;	/* reset every turn */

/* settings */
static char *settings_problem = NULL;	/* in TopMemoryContext */
static bool settings_checked = false;

/* when to claim next (monotonic ms) */
static int64 next_claim_ms = 0;
static int64 throttle_until_ms = 0;
static int	claim_error_delay_ms = 0;
static bool extension_missing = false;
static int64 next_archive_ms = 0;

/* sender pacing: token bucket */
static double tokens = 1.0;
static int64 tokens_at_us = 0;

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
					 errhint("Fix the setting in postgresql.conf and reload the configuration.")));
		if (settings_problem)
			pfree(settings_problem);
		settings_problem = MemoryContextStrdup(TopMemoryContext, problem);
		gbn_status_set_last_error(problem);
	}
	else
	{
		if (settings_problem != NULL)
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
	}
	settings_checked = true;
}

static void
reload_settings(void)
{
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	check_settings();
	gbn_http_configure(gbn_max_in_flight);

	if (gbn_is_paused(NULL))
	{
		gbn_unpause();
		ereport(LOG,
				(errmsg("guestbook_notify: configuration reloaded, resuming sending")));
	}
	next_claim_ms = 0;
	next_archive_ms = 0;
	claim_error_delay_ms = 0;
}

/* Lease length: long enough to cover a whole request. */
static int
lease_seconds(void)
{
	return Max(gbn_lease_timeout, (gbn_http_timeout + 999) / 1000 + 10);
}

/* ----------------------------------------------------------------
 * Pacing
 * ----------------------------------------------------------------
 */

/* messages per second for this worker; 0 when pacing is off */
static double
worker_rate(void)
{
	if (gbn_max_send_rate >= GBN_SEND_RATE_OFF)
		return 0;
	return (double) gbn_max_send_rate / gbn_workers;
}

/*
 * No bursts: at most 10 ms worth of messages at once, and at least one.
 * The bucket keeps the fraction of a token above that, so that waking up a
 * little late (waits are in whole milliseconds) does not lower the rate.
 */
static double
bucket_size(double rate)
{
	return floor(Max(1.0, rate * 0.010)) + 0.999;
}

static void
refill_tokens(void)
{
	double		rate = worker_rate();
	int64		now_us = gbn_now_us();

	if (rate > 0)
	{
		tokens += (now_us - tokens_at_us) / 1000000.0 * rate;
		tokens = Min(tokens, bucket_size(rate));
	}
	tokens_at_us = now_us;
}

/* ms until a whole token is there */
static int64
token_wait_ms(void)
{
	double		rate = worker_rate();

	if (rate <= 0 || tokens >= 1.0)
		return 0;
	return (int64) ceil((1.0 - tokens) / rate * 1000.0);
}

/* ----------------------------------------------------------------
 * Scheduling
 * ----------------------------------------------------------------
 */

static bool
sending_paused(int64 now_ms)
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

/*
 * When the worker wants to claim rows (monotonic ms), or -1 when it
 * cannot claim at all right now (waiting only for an event).
 */
static int64
claim_wanted_at(int64 now_ms)
{
	int64		at;

	if (settings_problem != NULL || RecoveryInProgress())
		return -1;
	if (n_inflight >= gbn_max_in_flight)
		return -1;
	if (sending_paused(now_ms))
		return -1;
	at = Max(next_claim_ms, throttle_until_ms);
	at = Max(at, now_ms + token_wait_ms());
	return at;
}

/*
 * When a commit's wake could start a claim (monotonic ms), or -1 while it
 * cannot (settings, recovery, max_in_flight, paused: an event ends those).
 * The wake flag is consumed only once it can: while it stays set,
 * committers skip SetLatch (the compare-and-swap in wake_workers fails), so
 * a worker held back by max_send_rate or max_in_flight is not woken -- a
 * signal and a loop turn -- by every commit of a busy app (figure 5 in
 * tests/bench: one wake-up per assignment at ~3,000 commits/s).  Its own
 * deadlines (the next token, a finished request) bring it back, and the
 * pending wake then claims at once.
 */
static int64
wake_claim_at(int64 now_ms)
{
	if (settings_problem != NULL || RecoveryInProgress())
		return -1;
	if (n_inflight >= gbn_max_in_flight)
		return -1;
	if (sending_paused(now_ms))
		return -1;
	return Max(throttle_until_ms, now_ms + token_wait_ms());
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

static GbnResult *
new_result(const GbnMessage *msg, const GbnProviderOps *ops)
{
	GbnResult  *r = palloc0(sizeof(GbnResult));

	r->id = msg->id;
	r->id_text = pstrdup(msg->id_text);
	r->provider = ops->name;
	r->max_attempts = gbn_max_attempts;
	return r;
}

/* Start the request of msg; a row that cannot be sent gets a result now. */
static void
start_request(GbnMessage *msg, List **results)
{
	MemoryContext cxt = GetMemoryChunkContext(msg);
	MemoryContext oldcxt;
	Inflight   *inf;
	GbnHttpRequest *req;
	GbnBuildStatus status;
	char	   *problem = NULL;

	oldcxt = MemoryContextSwitchTo(cxt);
	inf = palloc0(sizeof(Inflight));
	inf->cxt = cxt;
	inf->msg = msg;
	inf->ops = gbn_provider_ops(gbn_provider);
	req = gbn_http_request_create(cxt);
	req->owner = inf;
	inf->req = req;

	status = inf->ops->build(msg, req, &problem);
	if (status == GBN_BUILD_OK && !gbn_http_start(req, &problem))
		status = GBN_BUILD_ERROR;
	MemoryContextSwitchTo(oldcxt);

	if (status != GBN_BUILD_OK)
	{
		GbnResult  *r = new_result(msg, inf->ops);

		gbn_classify_unsent(msg, status == GBN_BUILD_BAD_ROW, problem, r);
		*results = lappend(*results, r);
		MemoryContextDelete(cxt);
		return;
	}

	dlist_push_tail(&inflight, &inf->node);
	n_inflight++;
}

/* Results of the requests that finished (in loop_cxt). */
static void
collect_finished(List **results)
{
	GbnHttpRequest *req;

	while ((req = gbn_http_next_done()) != NULL)
	{
		Inflight   *inf = (Inflight *) req->owner;
		GbnResult  *r = new_result(inf->msg, inf->ops);

		gbn_classify(inf->ops, inf->msg, req, r);
		*results = lappend(*results, r);

		dlist_delete(&inf->node);
		n_inflight--;
		MemoryContextDelete(inf->cxt);
	}
}

static void
record_results(List *results)
{
	GbnResult **array;
	int			n = list_length(results);
	int			i = 0;
	ListCell   *lc;
	int64		now_ms;

	if (n == 0)
		return;
	array = palloc(sizeof(GbnResult *) * n);
	foreach(lc, results)
		array[i++] = (GbnResult *) lfirst(lc);

	gbn_queue_record(array, n);
	stats_retry_ms = 1;

	now_ms = gbn_now_ms();
	for (i = 0; i < n; i++)
	{
		GbnResult  *r = array[i];

		gbn_status_count(r->outcome, r->new_status);
		if (r->outcome != GBN_OUTCOME_SENT && r->error_text)
			gbn_status_set_last_error(r->error_text);

		if (r->outcome == GBN_OUTCOME_PAUSED && gbn_pause(r->error_text))
			ereport(WARNING,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("guestbook_notify: sending paused: %s", r->error_text),
					 errdetail("The provider reported an account-level problem. Queued notifications wait; this try is not counted."),
					 gbn_pause_retry_interval > 0 ?
					 errhint("Fix the problem and reload the configuration (SELECT pg_reload_conf()) to resume; sending is also tried again every %d s.",
							 gbn_pause_retry_interval) :
					 errhint("Fix the problem and reload the configuration (SELECT pg_reload_conf()) to resume.")));

		if (r->throttle_ms > 0)
			throttle_until_ms = Max(throttle_until_ms, now_ms + r->throttle_ms);

		if (r->new_status != NULL && strcmp(r->new_status, "failed") == 0)
			ereport(LOG,
					(errmsg("guestbook_notify: notification %s failed: %s",
							r->id_text, r->error_text ? r->error_text : "unknown error")));
		else if (r->new_status == NULL && !r->record_failed)
			ereport(LOG,
					(errmsg("guestbook_notify: notification %s was no longer leased by this worker; its result (%s) was not applied",
							r->id_text, gbn_outcome_name(r->outcome))));
		else
			ereport(DEBUG1,
					(errmsg_internal("guestbook_notify: notification %s: %s -> %s (%.1f ms)%s%s",
									 r->id_text, gbn_outcome_name(r->outcome),
									 r->new_status ? r->new_status : "?",
									 r->duration_ms,
									 r->error_text ? ": " : "",
									 r->error_text ? r->error_text : "")));
	}
}

/* Claim due rows if the worker may, and start their requests. */
static void
claim_and_start(int64 now_ms, List **results)
{
	GbnClaimStatus status;
	List	   *messages = NIL;
	bool		have_next_due = false;
	TimestampTz next_due = 0;
	double		rate = worker_rate();
	int			limit;
	ListCell   *lc;

	limit = Min(gbn_batch_size, gbn_max_in_flight - n_inflight);
	if (rate > 0)
		limit = Min(limit, (int) floor(tokens));
	if (limit <= 0)
		return;

	status = gbn_queue_claim(limit, lease_seconds(), requests_cxt, &messages,
							 &have_next_due, &next_due);
	stats_retry_ms = 1;
	extension_missing = (status == GBN_CLAIM_NO_EXTENSION);

	switch (status)
	{
		case GBN_CLAIM_NO_EXTENSION:
			next_claim_ms = now_ms + gbn_naptime;
			return;
		case GBN_CLAIM_BUSY:
			next_claim_ms = now_ms + Min(gbn_naptime, 1000);
			return;
		case GBN_CLAIM_ERROR:
			claim_error_delay_ms = claim_error_delay_ms == 0 ? 1000 :
				Min(claim_error_delay_ms * 2, 60000);
			next_claim_ms = now_ms + claim_error_delay_ms;
			return;
		case GBN_CLAIM_OK:
			claim_error_delay_ms = 0;
			break;
	}

	ereport(DEBUG2,
			(errmsg_internal("guestbook_notify: claimed %d of %d (in flight %d)%s%s",
							 list_length(messages), limit, n_inflight,
							 have_next_due ? ", next due " : "",
							 have_next_due ? timestamptz_to_str(next_due) : "")));

	if (list_length(messages) >= limit)
		next_claim_ms = now_ms;	/* there may be more */
	else if (have_next_due)
	{
		int64		due_in_ms = (next_due - GetCurrentTimestamp()) / 1000 + 1;

		/* due now but skipped (locked by someone else): look again soon */
		if (due_in_ms <= 0)
			due_in_ms = 250;
		next_claim_ms = now_ms + Min(due_in_ms, (int64) gbn_naptime);
	}
	else
		next_claim_ms = now_ms + gbn_naptime;

	if (rate > 0)
		tokens -= list_length(messages);

	foreach(lc, messages)
		start_request((GbnMessage *) lfirst(lc), results);

	/* get the new transfers going before we wait */
	gbn_http_drive();
}

/* ----------------------------------------------------------------
 * Retention
 * ----------------------------------------------------------------
 */

/* When the worker wants to archive (monotonic ms), or -1 for never. */
static int64
archive_wanted_at(void)
{
	if (gbn_retention <= 0 || RecoveryInProgress())
		return -1;
	return next_archive_ms;
}

/* Every archive_interval, move finished rows older than retention. */
static void
archive_finished_rows(int64 now_ms)
{
	int			moved;

	moved = gbn_queue_archive(gbn_retention, gbn_archive_batch_size);
	stats_retry_ms = 1;
	if (moved > 0)
		ereport(LOG,
				(errmsg("guestbook_notify: archived %d finished notification(s) older than %d s",
						moved, gbn_retention)));

	/* a full batch: there may be more, take the next one soon */
	if (moved >= gbn_archive_batch_size)
		next_archive_ms = now_ms;
	else
		next_archive_ms = now_ms + (int64) gbn_archive_interval * 1000;
}

/* ----------------------------------------------------------------
 * Shutdown
 * ----------------------------------------------------------------
 */

static void
shutdown_worker(void)
{
	List	   *aborted = NIL;
	dlist_mutable_iter iter;
	int			released = 0;

	gbn_status_set_state("stopping");
	MemoryContextSwitchTo(loop_cxt);

	/* abort every transfer, keeping only the row ids */
	dlist_foreach_modify(iter, &inflight)
	{
		Inflight   *inf = dlist_container(Inflight, node, iter.cur);
		GbnMessage *copy = palloc0(sizeof(GbnMessage));

		copy->id = inf->msg->id;
		aborted = lappend(aborted, copy);
		dlist_delete(&inf->node);
		MemoryContextDelete(inf->cxt);
	}
	n_inflight = 0;
	gbn_status_set_in_flight(0);

	if (aborted != NIL && !RecoveryInProgress())
		released = gbn_queue_release(aborted);

	if (aborted != NIL)
		ereport(LOG,
				(errmsg("guestbook_notify worker shutting down"),
				 errdetail("%d request(s) in flight were aborted; %d notification(s) were put back in the queue.",
						   list_length(aborted), released)));
	else
		ereport(LOG, (errmsg("guestbook_notify worker shutting down")));

	/* exit code 1: pg_terminate_backend() restarts the worker */
	proc_exit(1);
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
	else if (settings_problem != NULL)
		state = "invalid settings";
	else if (gbn_is_paused(NULL))
		state = n_inflight > 0 ? "paused, finishing" : "paused";
	else if (n_inflight > 0)
		state = "sending";
	else if (extension_missing)
		state = "waiting for extension";
	else
		state = "idle";
	gbn_status_set_state(state);
	gbn_status_set_in_flight(n_inflight);
}

void
gbn_worker_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	WaitEventSet *wait_set;
	char	   *warning;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();

	gbn_status_attach(slot);

	BackgroundWorkerInitializeConnection(gbn_database_name, NULL, 0);
	pgstat_report_appname(GBN_WORKER_TYPE);

	if (gbn_queue_database_is_template())
	{
		ereport(LOG,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guestbook_notify: database \"%s\" is a template database, the worker does not serve it",
						gbn_database_name),
				 errhint("Set guestbook_notify.database_name to the application's database and restart the server.")));
		gbn_status_set_state("refused: template database");
		proc_exit(0);			/* 0: do not restart */
	}

	ereport(LOG,
			(errmsg("guestbook_notify worker started for database \"%s\"",
					gbn_database_name)));

	requests_cxt = AllocSetContextCreate(TopMemoryContext,
										 "guestbook_notify requests",
										 ALLOCSET_DEFAULT_SIZES);
	loop_cxt = AllocSetContextCreate(TopMemoryContext,
									 "guestbook_notify loop",
									 ALLOCSET_DEFAULT_SIZES);

	gbn_http_init();
	check_settings();
	tokens_at_us = gbn_now_us();

	wait_set = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wait_set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wait_set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wait_set, WL_SOCKET_READABLE, gbn_http_event_socket(), NULL, NULL);

	for (;;)
	{
		List	   *results = NIL;
		int64		now_ms;
		int64		at;
		int64		wake_at;
		WaitEvent	events[3];
		int			nevents;
		int			i;

		MemoryContextSwitchTo(loop_cxt);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			shutdown_worker();
		if (ConfigReloadPending)
			reload_settings();

		/*
		 * 1. finished requests: classify and record them together, before
		 * claiming more, so that at any moment at most max_in_flight rows
		 * have been sent without their result being committed (the most a
		 * crash can duplicate).
		 */
		gbn_http_drive();
		collect_finished(&results);
		if ((warning = gbn_http_take_warning()) != NULL)
			ereport(LOG, (errmsg("guestbook_notify: %s", warning)));
		record_results(results);
		MemoryContextReset(loop_cxt);
		results = NIL;

		/* 2. claim and start, when allowed and due (or woken, and able to) */
		now_ms = gbn_now_ms();
		refill_tokens();
		if (gbn_wake_is_pending() && (at = wake_claim_at(now_ms)) >= 0 &&
			at <= now_ms && gbn_consume_wake())
			next_claim_ms = 0;
		at = claim_wanted_at(now_ms);
		if (at >= 0 && at <= now_ms)
			claim_and_start(now_ms, &results);

		/*
		 * Rows that could not be sent, and fast answers that came back while
		 * starting, are recorded now.
		 */
		collect_finished(&results);
		record_results(results);

		/* retention: a short transaction every archive_interval */
		now_ms = gbn_now_ms();
		at = archive_wanted_at();
		if (at >= 0 && at <= now_ms)
			archive_finished_rows(now_ms);

		/* 3. wait for the earliest of the events and deadlines */
		set_state();
		if (stats_retry_ms > 0)
			stats_retry_ms = pgstat_report_stat(false);

		now_ms = gbn_now_ms();
		refill_tokens();
		wake_at = now_ms + (RecoveryInProgress() ? Min(gbn_naptime, 1000) : gbn_naptime);
		if ((at = gbn_http_timer_deadline_ms()) >= 0)
			wake_at = Min(wake_at, at);
		if ((at = claim_wanted_at(now_ms)) >= 0)
			wake_at = Min(wake_at, at);
		/* a wake left pending (see wake_claim_at): as soon as it can claim */
		if (gbn_wake_is_pending() && (at = wake_claim_at(now_ms)) >= 0)
			wake_at = Min(wake_at, at);
		if ((at = pause_end_ms(now_ms)) >= 0)
			wake_at = Min(wake_at, at);
		if ((at = archive_wanted_at()) >= 0)
			wake_at = Min(wake_at, at);
		if (stats_retry_ms > 0)
			wake_at = Min(wake_at, now_ms + stats_retry_ms);

		MemoryContextReset(loop_cxt);

		nevents = WaitEventSetWait(wait_set, (long) Max(wake_at - now_ms, 0),
								   events, lengthof(events), PG_WAIT_EXTENSION);
		for (i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);
			/* socket readiness is handled by gbn_http_drive() */
		}
	}
}
