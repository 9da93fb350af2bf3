/*-------------------------------------------------------------------------
 *
 * queue.h
 *		The worker's short transactions on the queue (queue.c).
 *
 * src/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_QUEUE_H
#define GBN_QUEUE_H

#include "nodes/pg_list.h"

#include "guestbook_notify.h"

typedef enum GbnClaimStatus
{
	GBN_CLAIM_OK,
	GBN_CLAIM_NO_EXTENSION,		/* not installed in this database */
	GBN_CLAIM_OLD_EXTENSION,	/* its SQL is older than this library */
	GBN_CLAIM_BUSY,				/* the queue is locked (DROP, TRUNCATE, ...) */
	GBN_CLAIM_ERROR				/* the transaction failed; logged */
} GbnClaimStatus;

/* One turn of the claim transaction: events first, then due rows. */
typedef struct GbnClaim
{
	/* in */
	int			events_limit;	/* > 0: turn trigger events into rows first */
	int			limit;			/* rows to lease; 0: events only */
	int			lease_seconds;
	int			interval_ms;	/* recipient_interval; 0 and hourly_cap 0: */
	int			hourly_cap;		/* no recipient pacing */

	/* out */
	GbnClaimStatus status;
	List	   *messages;		/* GbnMessage *, each in its own context */
	int			events_done;
	int			events_deferred;
	bool		have_next_due;
	TimestampTz next_due;
	char		blocked[512];	/* the provider's session cannot send: why */
} GbnClaim;

/*
 * Run the claim; each message gets its own memory context, a child of
 * parent (GbnMessage.cxt).
 */
extern void gbn_queue_claim(GbnClaim *claim, MemoryContext parent);

/*
 * Record results (each gets new_status and recorded), sorted by recipient
 * so that pacing rows are locked in one order.  A result that could not be
 * recorded now (recorded = false) is to be tried again.
 */
extern void gbn_queue_record(GbnResult **results, int n, int interval_ms);

/* give back (untried) or renew the leases of rows ids (pg_uuid_t *) */
extern int	gbn_queue_release(List *ids);
extern int	gbn_queue_renew(List *ids, int lease_seconds);

extern int	gbn_queue_archive(int older_than_s, int batch_size);

/* the audit step: write queued case_events rows; -1 if it could not run */
extern int	gbn_queue_audit(int max_rows, int64 *still_pending);

/*
 * The SLA step: sla_tick(time_zone).  Returns the reminders fired, or -1 if
 * it did not run; *problem (in the caller's memory context) and
 * *sqlerrcode are the tick's error, if it raised one.
 */
extern int	gbn_queue_sla_tick(const char *time_zone, char **problem, int *sqlerrcode);

#endif							/* GBN_QUEUE_H */
