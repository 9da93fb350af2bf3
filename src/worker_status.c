/*-------------------------------------------------------------------------
 *
 * worker_status.c
 *		The SQL functions that talk to the workers through shared memory:
 *		wake(), worker_status() and _extension_installed().
 *
 * src/worker_status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "shmem.h"

PG_FUNCTION_INFO_V1(guestbook_notify_wake);
PG_FUNCTION_INFO_V1(guestbook_notify_worker_status);
PG_FUNCTION_INFO_V1(gbn_extension_installed);

#define STATUS_COLS 11		/* 1.1 */
#define STATUS_COLS_1_0 8		/* 1.0: no database, audit or events columns */

/* guestbook_notify.wake(): wake this database's workers at commit */
Datum
guestbook_notify_wake(PG_FUNCTION_ARGS)
{
	gbn_wake_at_commit();
	PG_RETURN_VOID();
}

/*
 * guestbook_notify._extension_installed(): run by the install and upgrade
 * scripts, so that the launcher starts this database's workers as soon as
 * the script commits (in database_name = '*' mode, or when they had found
 * no extension).
 */
Datum
gbn_extension_installed(PG_FUNCTION_ARGS)
{
	gbn_extension_installed_at_commit();
	PG_RETURN_VOID();
}

/* one row of worker_status() for the worker in slot (NULL: not started) */
static void
put_row(ReturnSetInfo *rsinfo, GbnDatabase *db, GbnWorkerSlot *slot)
{
	Datum		values[STATUS_COLS];
	bool		nulls[STATUS_COLS];
	GbnWorkerSlot copy;

	memset(nulls, 0, sizeof(nulls));
	memset(&copy, 0, sizeof(copy));
	if (slot != NULL)
	{
		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(copy));
		SpinLockRelease(&slot->mutex);
	}
	nulls[0] = (copy.pid == 0);
	values[0] = Int32GetDatum((int32) copy.pid);
	values[1] = NameGetDatum(&db->datname);
	if (copy.pid != 0)
		values[2] = CStringGetTextDatum(copy.state);
	else if (db->no_extension)
		values[2] = CStringGetTextDatum("waiting for CREATE EXTENSION");
	else if (db->problem[0] != '\0')
		values[2] = CStringGetTextDatum(psprintf("not started: %s", db->problem));
	else
		values[2] = CStringGetTextDatum("stopped");
	if (db->paused)
		values[3] = CStringGetTextDatum(db->paused_reason);
	else if (db->blocked_reason[0] != '\0')
		values[3] = CStringGetTextDatum(db->blocked_reason);
	nulls[3] = !db->paused && db->blocked_reason[0] == '\0';
	values[4] = Int32GetDatum(copy.in_flight);
	values[5] = Int64GetDatum((int64) copy.sent);
	values[6] = Int64GetDatum((int64) copy.failed);
	values[7] = Int64GetDatum((int64) copy.retried);
	values[8] = Int64GetDatum(copy.audit_pending);
	values[9] = Int64GetDatum(copy.events_pending);
	nulls[10] = (copy.last_error[0] == '\0');
	values[10] = nulls[10] ? (Datum) 0 : CStringGetTextDatum(copy.last_error);
	if (rsinfo->setDesc->natts == STATUS_COLS_1_0)
	{
		/* 1.0's SQL, before ALTER EXTENSION UPDATE: its eight columns */
		static const int cols_1_0[STATUS_COLS_1_0] = {0, 2, 3, 4, 5, 6, 7, 10};
		Datum		v[STATUS_COLS_1_0];
		bool		n[STATUS_COLS_1_0];
		int			i;

		for (i = 0; i < STATUS_COLS_1_0; i++)
		{
			v[i] = values[cols_1_0[i]];
			n[i] = nulls[cols_1_0[i]];
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
		return;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * guestbook_notify.worker_status(): one row per worker the launcher wants,
 * in every database it serves; a worker that could not start is a row
 * with no pid and the reason in state.
 */
Datum
guestbook_notify_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GbnDatabase dbs[GBN_MAX_DATABASES];
	Oid			owners[GBN_MAX_SLOTS];
	int			index[GBN_MAX_SLOTS];
	int			d;
	int			i;
	int			w;

	if (gbn_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("guestbook_notify workers are not running"),
				 errhint("Add guestbook_notify to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts != STATUS_COLS &&
		rsinfo->setDesc->natts != STATUS_COLS_1_0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("worker_status() is declared with %d columns, the library returns %d",
						rsinfo->setDesc->natts, STATUS_COLS),
				 errhint("Run ALTER EXTENSION guestbook_notify UPDATE.")));

	SpinLockAcquire(&gbn_shared->mutex);
	memcpy(dbs, gbn_shared->databases, sizeof(dbs));
	for (i = 0; i < GBN_MAX_SLOTS; i++)
	{
		owners[i] = gbn_shared->slots[i].dboid;
		index[i] = gbn_shared->slots[i].index;
	}
	SpinLockRelease(&gbn_shared->mutex);

	for (d = 0; d < GBN_MAX_DATABASES; d++)
	{
		if (!OidIsValid(dbs[d].dboid))
			continue;
		for (w = 0; w < Max(dbs[d].wanted, 1); w++)
		{
			GbnWorkerSlot *slot = NULL;

			for (i = 0; i < GBN_MAX_SLOTS; i++)
				if (owners[i] == dbs[d].dboid && index[i] == w)
					slot = &gbn_shared->slots[i];
			put_row(rsinfo, &dbs[d], slot);
		}
	}
	return (Datum) 0;
}
