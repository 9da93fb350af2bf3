/*-------------------------------------------------------------------------
 *
 * guestbook_notify.c
 *		Module entry point: settings, shared-memory hooks, the launcher's
 *		registration and the hook that lets a served database be dropped
 *		or renamed.
 *
 * The workers' settings are defined whenever the library is loaded, so
 * that CREATE EXTENSION works without preloading it (wake() is then a
 * no-op).  The launcher and its workers, and their shared memory, exist
 * only when the library is in shared_preload_libraries.
 *
 * src/guestbook_notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "guestbook_notify.h"
#include "launcher.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
gbn_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	gbn_shmem_request();
}

static void
gbn_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	gbn_shmem_startup();
}

static void
register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;

	/*
	 * Start once the database is consistent, so a standby runs the workers
	 * too: they wait there (RecoveryInProgress) and send after promotion.
	 */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "guestbook_notify");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "gbn_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, GBN_LAUNCHER_TYPE);
	snprintf(worker.bgw_type, BGW_MAXLEN, GBN_LAUNCHER_TYPE);
	RegisterBackgroundWorker(&worker);
}

void
_PG_init(void)
{
	/* nothing to do (and no worker to start) in pg_upgrade's server */
	if (IsBinaryUpgrade)
		return;

	gbn_define_settings();
	gbn_install_log_redaction();

	/*
	 * Without shared_preload_libraries there is no worker: the SQL side still
	 * works (events queue up) and wake() does nothing.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	gbn_define_launcher_settings();
	MarkGUCPrefixReserved("guestbook_notify");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = gbn_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = gbn_shmem_startup_hook;
	gbn_install_database_hook();

	register_launcher();
}
