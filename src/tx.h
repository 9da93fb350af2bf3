/*-------------------------------------------------------------------------
 *
 * tx.h
 *		The worker's transactions and subtransactions (tx.c): the
 *		worker_spi bracket, time limits, and which errors the worker lives
 *		with.
 *
 * src/tx.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_TX_H
#define GBN_TX_H

#include <signal.h>

#include "utils/elog.h"

typedef void (*GbnTxBody) (void *arg);

/* true while the worker is inside one of its transactions (for SIGTERM) */
extern volatile sig_atomic_t gbn_in_database;

/*
 * Run body(arg) in a transaction of its own, connected to SPI, with a
 * snapshot and guestbook_notify.statement_timeout.  An expected error (see
 * gbn_error_is_expected) is logged as a WARNING and false is returned; any
 * other error is re-thrown, which ends the worker (the postmaster starts it
 * again).
 */
extern bool gbn_run_in_transaction(const char *activity, GbnTxBody body,
								   void *arg);

/*
 * Run body(arg) in a subtransaction.  On an error the subtransaction is
 * rolled back (the user and GUC changes made inside with it) and the error
 * returned, copied into the caller's memory context; NULL on success.  A
 * statement timeout inside counts as body's error (the worker's time limit
 * is armed again for the rest of the transaction); a shutdown is re-thrown.
 */
extern ErrorData *gbn_try_subxact(GbnTxBody body, void *arg);

/*
 * Errors the worker carries on after: lock and statement timeouts,
 * serialization failures and deadlocks, constraint violations, and the
 * extension's objects changing under it (dropped, being updated).
 */
extern bool gbn_error_is_expected(int sqlerrcode);

/* the worker's session settings: lock_timeout (applied at start, reload) */
extern void gbn_apply_session_limits(void);

#endif							/* GBN_TX_H */
