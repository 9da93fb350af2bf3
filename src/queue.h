/*-------------------------------------------------------------------------
 *
 * queue.h
 *		The worker's short transactions on the queue (SPI).
 *
 * src/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_QUEUE_H
#define GBN_QUEUE_H

#include <signal.h>

#include "nodes/pg_list.h"

#include "guestbook_notify.h"

typedef enum GbnClaimStatus
{
	GBN_CLAIM_OK,
	GBN_CLAIM_NO_EXTENSION,		/* not installed in this database (yet) */
	GBN_CLAIM_BUSY,				/* the queue is locked (DROP, TRUNCATE, ...) */
	GBN_CLAIM_ERROR				/* the transaction failed; logged */
} GbnClaimStatus;

/* set while the worker is inside a transaction (see worker.c, SIGTERM) */
extern volatile sig_atomic_t gbn_in_database;

extern GbnClaimStatus gbn_queue_claim(int limit, int lease_seconds,
									  MemoryContext parent, List **messages,
									  bool *have_next_due, TimestampTz *next_due);
extern void gbn_queue_record(GbnResult **results, int n);
extern int	gbn_queue_release(List *messages);
extern int	gbn_queue_archive(int older_than_s, int batch_size);
extern bool gbn_queue_database_is_template(void);

#endif							/* GBN_QUEUE_H */
