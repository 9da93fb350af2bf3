/*-------------------------------------------------------------------------
 *
 * worker_send.c
 *		The worker's sending side: the requests in flight, their results
 *		until they are recorded, and the sender's rate.
 *
 * Each claimed message owns a memory context (GbnMessage.cxt) that holds
 * it, its request and, through http.c's reset callback, whatever libcurl
 * holds for it; deleting the context ends all of it.  A finished request
 * becomes a GbnResult in results_cxt, recorded with the others of its turn
 * (queue.c); a result the database could not take now (a lock timeout, say)
 * is kept and recorded at the next turn, and its row keeps its lease
 * meanwhile (the main loop renews the leases of every row held here).
 *
 * Sender pacing (guestbook_notify.max_send_rate) is a token bucket per
 * worker, the rate split between the workers that run for the same sender
 * number, in any database (shmem.c).
 *
 * src/worker_send.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "lib/ilist.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "classify.h"
#include "http.h"
#include "provider.h"
#include "queue.h"
#include "worker.h"

/* a row whose request is in flight */
typedef struct Inflight
{
	GbnMessage *msg;			/* owns the context of all of this */
	GbnHttpRequest *req;
	const GbnProviderOps *ops;
	dlist_node node;
} Inflight;

static dlist_head inflight = DLIST_STATIC_INIT(inflight);
static int	n_inflight = 0;

/* results not recorded yet (GbnResult *), in results_cxt */
static List *unrecorded = NIL;
static MemoryContext results_cxt = NULL;

/* sender pacing: token bucket */
static double tokens = 1.0;
static int64 tokens_at_us = 0;

GbnPacing
gbn_pacing(void)
{
	GbnPacing	p;

	p.interval_ms = Max(gbn_recipient_interval, 0);
	p.hourly_cap = Max(gbn_recipient_hourly_cap, 0);
	return p;
}

int
gbn_send_held(void)
{
	return n_inflight + list_length(unrecorded);
}

List *
gbn_send_held_ids(void)
{
	List	   *ids = NIL;
	dlist_iter	iter;
	ListCell   *lc;

	dlist_foreach(iter, &inflight)
	{
		Inflight   *inf = dlist_container(Inflight, node, iter.cur);

		ids = lappend(ids, &inf->msg->id);
	}
	foreach(lc, unrecorded)
		ids = lappend(ids, &((GbnResult *) lfirst(lc))->id);
	return ids;
}

/* ----------------------------------------------------------------
 * Starting
 * ----------------------------------------------------------------
 */

static GbnResult *
new_result(const GbnMessage *msg, const GbnProviderOps *ops)
{
	MemoryContext old = MemoryContextSwitchTo(results_cxt);
	GbnResult  *r = palloc0(sizeof(GbnResult));

	r->id = msg->id;
	r->id_text = pstrdup(msg->id_text);
	r->to_number = msg->to_number ? pstrdup(msg->to_number) : NULL;
	r->provider = ops->name;
	r->max_attempts = gbn_max_attempts;
	MemoryContextSwitchTo(old);
	return r;
}

/*
 * A paced message must leave soon after its slot was taken: its number's
 * next slot is t + interval + a margin (a twentieth of the interval, at
 * least 20 ms, at most 250 ms: _claim_paced), so a message that leaves
 * within the margin keeps the interval to the next.  It must start within
 * half the margin: the other half is slack for what lies between our
 * clock and the provider's (the write itself, a receiver that reads a
 * little late), so that two messages to a number arrive at least the
 * interval apart, not just leave so.  Later than that (the worker was held
 * up), it goes back untried and is paced again.
 */
static bool
is_paced(const GbnMessage *msg, GbnPacing pacing)
{
	return pacing.interval_ms > 0 && msg->to_number != NULL;
}

/* the time by which msg must have left */
static TimestampTz
leave_by(const GbnMessage *msg, GbnPacing pacing)
{
	int64		margin_us;

	margin_us = Min(Max((int64) pacing.interval_ms * 1000 / 20, 20000), 250000);
	return msg->claimed_at + margin_us / 2;
}

static bool
too_late(const GbnMessage *msg, GbnPacing pacing)
{
	return is_paced(msg, pacing) && GetCurrentTimestamp() > leave_by(msg, pacing);
}

/*
 * Start the request of msg; a row that cannot be sent gets a result now.
 * Returns the request started, or NULL.
 */
static GbnHttpRequest *
start_one(GbnMessage *msg)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(msg->cxt);
	Inflight   *inf = palloc0(sizeof(Inflight));
	GbnBuildStatus status;
	char	   *problem = NULL;

	inf->msg = msg;
	inf->ops = gbn_provider_ops(gbn_provider);
	inf->req = gbn_http_request_create(msg->cxt);
	inf->req->owner = inf;
	status = inf->ops->build(msg, inf->req, &problem);
	if (status == GBN_BUILD_OK && !gbn_http_start(inf->req, &problem))
		status = GBN_BUILD_ERROR;
	MemoryContextSwitchTo(oldcxt);

	if (status != GBN_BUILD_OK)
	{
		GbnResult  *r = new_result(msg, inf->ops);
		MemoryContext old = MemoryContextSwitchTo(results_cxt);

		gbn_classify_unsent(msg, status == GBN_BUILD_BAD_ROW, problem, r);
		unrecorded = lappend(unrecorded, r);
		MemoryContextSwitchTo(old);
		MemoryContextDelete(msg->cxt);
		return NULL;
	}
	dlist_push_tail(&inflight, &inf->node);
	n_inflight++;
	return inf->req;
}

/*
 * Let the paced requests just started leave before the worker turns to its
 * next transaction: each must be written within the margin of its slot.
 */
static void
await_paced(GbnHttpRequest **reqs, int n, TimestampTz by)
{
	int64		wait_ms;
	int			late;

	if (n == 0)
		return;
	wait_ms = Max((by - GetCurrentTimestamp()) / 1000, 0);
	late = gbn_http_await_sent(reqs, n, gbn_now_ms() + wait_ms);
	if (late > 0)
		ereport(DEBUG1,
				(errmsg_internal("guestbook_notify: %d paced request(s) not written within the margin of their slot",
								 late)));
}

void
gbn_send_start(List *messages, GbnPacing pacing)
{
	List	   *late = NIL;
	ListCell   *lc;
	GbnHttpRequest **paced;
	int			n_paced = 0;
	TimestampTz by = DT_NOEND;

	if (results_cxt == NULL)
		results_cxt = AllocSetContextCreate(TopMemoryContext,
											"guestbook_notify results",
											ALLOCSET_DEFAULT_SIZES);
	paced = palloc(sizeof(GbnHttpRequest *) * Max(list_length(messages), 1));
	foreach(lc, messages)
	{
		GbnMessage *msg = (GbnMessage *) lfirst(lc);
		GbnHttpRequest *req;

		if (too_late(msg, pacing))
			late = lappend(late, &msg->id);
		else if ((req = start_one(msg)) != NULL && is_paced(msg, pacing))
		{
			paced[n_paced++] = req;
			by = Min(by, leave_by(msg, pacing));
		}
	}
	if (late != NIL)
	{
		int			n = gbn_queue_release(late);

		ereport(DEBUG1,
				(errmsg_internal("guestbook_notify: %d paced notification(s) given back: their slot was %s",
								 n, "too old by the time they could leave")));
		foreach(lc, messages)
		{
			GbnMessage *msg = (GbnMessage *) lfirst(lc);

			if (list_member_ptr(late, &msg->id))
				MemoryContextDelete(msg->cxt);
		}
	}
	/* get the new transfers going before we wait */
	gbn_http_drive();
	await_paced(paced, n_paced, by);
	pfree(paced);
}

/* ----------------------------------------------------------------
 * Finishing
 * ----------------------------------------------------------------
 */

static void
collect_finished(void)
{
	GbnHttpRequest *req;

	while ((req = gbn_http_next_done()) != NULL)
	{
		Inflight   *inf = (Inflight *) req->owner;
		GbnResult  *r = new_result(inf->msg, inf->ops);
		MemoryContext old = MemoryContextSwitchTo(results_cxt);

		gbn_classify(inf->ops, inf->msg, req, r);
		unrecorded = lappend(unrecorded, r);
		MemoryContextSwitchTo(old);

		dlist_delete(&inf->node);
		n_inflight--;
		MemoryContextDelete(inf->msg->cxt);
	}
}

static void
pause_for(GbnResult *r)
{
	if (!gbn_pause(r->error_text))
		return;
	ereport(WARNING,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("guestbook_notify: sending paused: %s", r->error_text),
			 errdetail("The provider reported an account-level problem. Queued notifications wait; this try is not counted."),
			 gbn_pause_retry_interval > 0 ?
			 errhint("Fix the problem and reload the configuration (SELECT pg_reload_conf()) to resume; sending is also tried again every %d s.",
					 gbn_pause_retry_interval) :
			 errhint("Fix the problem and reload the configuration (SELECT pg_reload_conf()) to resume.")));
}

/* what a recorded result means for the worker: counters, pause, log */
static void
after_record(GbnResult *r, int64 *throttle_until_ms)
{
	gbn_status_count(r->outcome, r->new_status);
	if (r->outcome != GBN_OUTCOME_SENT && r->error_text)
		gbn_status_set_last_error(r->error_text);
	if (r->outcome == GBN_OUTCOME_PAUSED)
		pause_for(r);
	if (r->throttle_ms > 0)
		*throttle_until_ms = Max(*throttle_until_ms, gbn_now_ms() + r->throttle_ms);

	if (r->new_status == GBN_STATUS_FAILED)
		ereport(LOG,
				(errmsg("guestbook_notify: notification %s failed: %s",
						r->id_text, r->error_text ? r->error_text : "unknown error")));
	else if (r->new_status == GBN_STATUS_UNKNOWN)
		ereport(LOG,
				(errmsg("guestbook_notify: notification %s was no longer leased by this worker; its result (%s) was not applied",
						r->id_text, gbn_outcome_name(r->outcome))));
	else
		ereport(DEBUG1,
				(errmsg_internal("guestbook_notify: notification %s: %s -> %s (%.1f ms)%s%s",
								 r->id_text, gbn_outcome_name(r->outcome),
								 gbn_status_name(r->new_status), r->duration_ms,
								 r->error_text ? ": " : "",
								 r->error_text ? r->error_text : "")));
}

int
gbn_send_finish(GbnPacing pacing, int64 *throttle_until_ms)
{
	GbnResult **array;
	List	   *left = NIL;
	ListCell   *lc;
	int			n;
	int			i = 0;
	int			recorded = 0;
	char	   *warning;

	if (results_cxt == NULL)
		return 0;
	gbn_http_drive();
	collect_finished();
	if ((warning = gbn_http_take_warning()) != NULL)
		ereport(LOG, (errmsg("guestbook_notify: %s", warning)));
	n = list_length(unrecorded);
	if (n == 0)
		return 0;

	array = palloc(sizeof(GbnResult *) * n);
	foreach(lc, unrecorded)
		array[i++] = (GbnResult *) lfirst(lc);
	gbn_queue_record(array, n, pacing.interval_ms);

	for (i = 0; i < n; i++)
	{
		if (!array[i]->recorded)
		{
			left = lappend(left, array[i]);
			continue;
		}
		after_record(array[i], throttle_until_ms);
		recorded++;
	}
	list_free(unrecorded);
	unrecorded = NIL;
	if (left == NIL)
		MemoryContextReset(results_cxt);	/* the recorded ones go */
	else
	{
		MemoryContext old = MemoryContextSwitchTo(results_cxt);

		unrecorded = list_copy(left);
		MemoryContextSwitchTo(old);
	}
	return recorded;
}

List *
gbn_send_abort_all(void)
{
	List	   *ids = NIL;
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &inflight)
	{
		Inflight   *inf = dlist_container(Inflight, node, iter.cur);
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		*id = inf->msg->id;
		ids = lappend(ids, id);
		dlist_delete(&inf->node);
		MemoryContextDelete(inf->msg->cxt);
	}
	n_inflight = 0;
	return ids;
}

/* ----------------------------------------------------------------
 * Sender pacing: token bucket
 * ----------------------------------------------------------------
 */

/* messages per second for this worker; 0 when pacing is off */
static double
worker_rate(void)
{
	if (gbn_max_send_rate >= GBN_SEND_RATE_OFF || gbn_max_send_rate <= 0)
		return 0;
	return (double) gbn_max_send_rate / gbn_workers_sharing_sender();
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

void
gbn_rate_refill(void)
{
	double		rate = worker_rate();
	int64		now_us = gbn_now_us();

	if (tokens_at_us == 0)
		tokens_at_us = now_us;
	if (rate > 0)
	{
		tokens += (now_us - tokens_at_us) / 1000000.0 * rate;
		tokens = Min(tokens, bucket_size(rate));
	}
	tokens_at_us = now_us;
}

/* how many messages may be claimed now (INT_MAX when pacing is off) */
int
gbn_rate_tokens(void)
{
	if (worker_rate() <= 0)
		return PG_INT32_MAX;
	return (int) floor(tokens);
}

void
gbn_rate_take(int n)
{
	if (worker_rate() > 0)
		tokens -= n;
}

/* ms until a whole token is there */
int64
gbn_rate_wait_ms(void)
{
	double		rate = worker_rate();

	if (rate <= 0 || tokens >= 1.0)
		return 0;
	return (int64) ceil((1.0 - tokens) / rate * 1000.0);
}
