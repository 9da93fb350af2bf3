/*-------------------------------------------------------------------------
 *
 * worker.h
 *		Between the worker's main loop (worker.c) and its sending side
 *		(worker_send.c).
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_WORKER_H
#define GBN_WORKER_H

#include "nodes/pg_list.h"

#include "guestbook_notify.h"

/* the recipient pacing of this turn (guestbook_notify.recipient_*) */
typedef struct GbnPacing
{
	int			interval_ms;
	int			hourly_cap;
} GbnPacing;

extern GbnPacing gbn_pacing(void);

/* rows this worker holds: requests in flight plus results not recorded */
extern int	gbn_send_held(void);
/* their ids (pg_uuid_t *), for renewing their leases */
extern List *gbn_send_held_ids(void);

/*
 * Start the requests of claimed messages; a paced message whose slot is
 * too old to keep (the claim was slow) is given back untried.
 */
extern void gbn_send_start(List *messages, GbnPacing pacing);

/*
 * Drive libcurl, classify what finished and record it, with the results
 * left from before.  Returns how many results were recorded (their audit
 * rows are then due); *throttle_until_ms and the pause are updated.
 */
extern int	gbn_send_finish(GbnPacing pacing, int64 *throttle_until_ms);

/* shutdown: abort every request; their ids (pg_uuid_t *) to give back */
extern List *gbn_send_abort_all(void);

/* sender pacing (max_send_rate): a token bucket shared out by the workers */
extern void gbn_rate_refill(void);
extern int	gbn_rate_tokens(void);
extern void gbn_rate_take(int n);
extern int64 gbn_rate_wait_ms(void);

#endif							/* GBN_WORKER_H */
