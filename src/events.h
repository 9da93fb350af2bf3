/*-------------------------------------------------------------------------
 *
 * events.h
 *		Turn the triggers' events into queue rows (events.c).
 *
 * src/events.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_EVENTS_H
#define GBN_EVENTS_H

/* the advisory lock that makes one processor at a time (per database) */
#define GBN_EVENTS_LOCK_KEY		INT64CONST(0x67626e6576656e74)	/* "gbnevent" */

/*
 * Resolve up to limit trigger events, oldest first, into queue rows, and
 * delete them.  Caller is in a transaction and connected to SPI.  nowait
 * (the worker): if another session is processing, return 0 at once, and
 * take the app's table locks without waiting (a lock not free: those
 * events stay for the next round, *deferred counts them).  Returns how
 * many events were processed.
 */
extern int	gbn_process_events(int limit, bool nowait, int *deferred);

#endif							/* GBN_EVENTS_H */
