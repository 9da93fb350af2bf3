/*-------------------------------------------------------------------------
 *
 * tx.c
 *		The worker's transactions and subtransactions.
 *
 * Every transaction of the worker follows the worker_spi bracket
 * (statement start time, transaction, SPI, snapshot, activity) and has a
 * time limit: guestbook_notify.statement_timeout for the whole
 * transaction (a background worker gets no statement timeout of its own),
 * and guestbook_notify.lock_timeout for each lock wait, so no statement of
 * the worker waits without end.
 *
 * Errors, as timescaledb's job runner treats them: what the worker expects
 * under contention or while the extension changes (a lock or statement
 * timeout, a serialization failure or deadlock, a constraint violation, the
 * extension dropped or being updated) is logged and the worker carries on;
 * anything else is re-thrown and ends the worker, and the postmaster starts
 * it again after bgw_restart_time.  The app's code never reaches here with
 * an error: what runs as the app's owner runs in a subtransaction
 * (gbn_try_subxact) and its errors become data (a row's reason).
 *
 * src/tx.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"

#include "guestbook_notify.h"
#include "tx.h"

volatile sig_atomic_t gbn_in_database = false;

bool
gbn_error_is_expected(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_LOCK_NOT_AVAILABLE:
		case ERRCODE_QUERY_CANCELED:
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
		case ERRCODE_T_R_DEADLOCK_DETECTED:
		case ERRCODE_OBJECT_IN_USE:
		case ERRCODE_UNDEFINED_TABLE:
		case ERRCODE_UNDEFINED_FUNCTION:
		case ERRCODE_UNDEFINED_OBJECT:
		case ERRCODE_UNDEFINED_COLUMN:
		case ERRCODE_READ_ONLY_SQL_TRANSACTION:
			return true;
		default:
			return ERRCODE_TO_CATEGORY(sqlerrcode) ==
				ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
	}
}

void
gbn_apply_session_limits(void)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", gbn_lock_timeout);
	SetConfigOption("lock_timeout", buf, PGC_SUSET, PGC_S_OVERRIDE);
}

static void
arm_statement_timeout(void)
{
	if (gbn_statement_timeout > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, gbn_statement_timeout);
}

static void
disarm_statement_timeout(void)
{
	if (get_timeout_active(STATEMENT_TIMEOUT))
		disable_timeout(STATEMENT_TIMEOUT, false);
}

static void
report_expected(const char *activity, ErrorData *edata)
{
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("%s failed: %s", activity, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
			 edata->hint ? errhint("%s", edata->hint) : 0,
			 edata->context ? errcontext("%s", edata->context) : 0));
	gbn_status_set_last_error(edata->message);
}

bool
gbn_run_in_transaction(const char *activity, GbnTxBody body, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	gbn_in_database = true;
	arm_statement_timeout();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);

		body(arg);

		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		disarm_statement_timeout();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disarm_statement_timeout();
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (!gbn_error_is_expected(edata->sqlerrcode) || ProcDiePending)
		{
			gbn_in_database = false;
			PG_RE_THROW();
		}
		FlushErrorState();
		AbortCurrentTransaction();
		report_expected(activity, edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	gbn_in_database = false;
	MemoryContextSwitchTo(oldcxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

ErrorData *
gbn_try_subxact(GbnTxBody body, void *arg)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		body(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		/* a shutdown is not the statement's error */
		if (ProcDiePending)
			ReThrowError(edata);
		/* the statement timeout fired in there: the rest gets a new one */
		if (gbn_in_database && !get_timeout_active(STATEMENT_TIMEOUT))
			arm_statement_timeout();
	}
	PG_END_TRY();
	return edata;
}
