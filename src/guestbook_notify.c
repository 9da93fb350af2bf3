/*-------------------------------------------------------------------------
 *
 * guestbook_notify.c
 *		Module entry point: settings (GUCs), shared-memory hooks and the
 *		registration of the delivery workers.
 *
 * The PGC_SIGHUP settings are defined whenever the library is loaded, so
 * that CREATE EXTENSION works without preloading it (wake() is then a
 * no-op).  The workers and their shared memory exist only when the library
 * is in shared_preload_libraries.
 *
 * src/guestbook_notify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "guestbook_notify.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* PGC_POSTMASTER */
char	   *gbn_database_name = NULL;
int			gbn_workers = 1;

/* PGC_SIGHUP */
int			gbn_provider = GBN_PROVIDER_CLOUD_API;	/* -1: invalid */
char	   *gbn_api_url = NULL;
char	   *gbn_phone_number_id = NULL;
char	   *gbn_access_token = NULL;
char	   *gbn_app_base_url = NULL;
int			gbn_message_mode = GBN_MODE_TEMPLATE;	/* -1: invalid */
int			gbn_max_send_rate = 80;
int			gbn_max_in_flight = 16;
int			gbn_batch_size = 100;
int			gbn_http_timeout = 10000;
int			gbn_connect_timeout = 5000;
int			gbn_max_attempts = 8;
int			gbn_retry_base_delay = 5000;
int			gbn_retry_max_delay = 600000;
int			gbn_lease_timeout = 60;
int			gbn_naptime = 5000;
int			gbn_pause_retry_interval = 300;
int			gbn_recipient_interval = 6000;
int			gbn_recipient_hourly_cap = 60;
int			gbn_retention = 90 * 86400;
int			gbn_archive_interval = 60;
int			gbn_archive_batch_size = 1000;

/*
 * provider and message_mode are strings, not enums: a value PostgreSQL
 * would reject (or, at server start, silently replace by the default) is
 * kept, and the worker refuses to send until it is fixed, with one clear
 * log line (settings_check.c).
 */
char	   *gbn_provider_setting = NULL;
char	   *gbn_message_mode_setting = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

const char *
gbn_provider_name(int provider)
{
	return provider == GBN_PROVIDER_WAHA ? "waha" : "cloud_api";
}

static void
assign_provider(const char *newval, void *extra)
{
	if (newval != NULL && pg_strcasecmp(newval, "cloud_api") == 0)
		gbn_provider = GBN_PROVIDER_CLOUD_API;
	else if (newval != NULL && pg_strcasecmp(newval, "waha") == 0)
		gbn_provider = GBN_PROVIDER_WAHA;
	else
		gbn_provider = -1;
}

static void
assign_message_mode(const char *newval, void *extra)
{
	if (newval != NULL && pg_strcasecmp(newval, "template") == 0)
		gbn_message_mode = GBN_MODE_TEMPLATE;
	else if (newval != NULL && pg_strcasecmp(newval, "text") == 0)
		gbn_message_mode = GBN_MODE_TEXT;
	else
		gbn_message_mode = -1;
}

/*
 * The access token is never shown, not even to superusers: SHOW and
 * current_setting() go through this hook.  The setting is also
 * GUC_NO_SHOW_ALL, because pg_settings.reset_val would show the raw value.
 */
static const char *
show_access_token(void)
{
	if (gbn_access_token == NULL || gbn_access_token[0] == '\0')
		return "";
	return "********";
}

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
define_sighup_settings(void)
{
	DefineCustomStringVariable("guestbook_notify.provider",
							   gettext_noop("WhatsApp provider the worker sends through: cloud_api or waha."),
							   gettext_noop("cloud_api: Meta WhatsApp Business Cloud API; "
											"waha: a WAHA gateway (WhatsApp Web, proof of concept)."),
							   &gbn_provider_setting,
							   "cloud_api",
							   PGC_SIGHUP, 0,
							   NULL, assign_provider, NULL);

	DefineCustomStringVariable("guestbook_notify.api_url",
							   gettext_noop("Base URL of the provider's API."),
							   gettext_noop("cloud_api: https://graph.facebook.com/v23.0; "
											"waha: http://host:3000. Plain http:// is "
											"accepted only for loopback hosts."),
							   &gbn_api_url,
							   "https://graph.facebook.com/v23.0",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.phone_number_id",
							   gettext_noop("Sender's phone-number ID (cloud_api) or session name (waha)."),
							   gettext_noop("For waha, empty means the session \"default\"."),
							   &gbn_phone_number_id,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.access_token",
							   gettext_noop("Access token (cloud_api) or API key (waha)."),
							   gettext_noop("Never shown: SHOW and current_setting() display ******** when it is set, and pg_settings does not list it."),
							   &gbn_access_token,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, show_access_token);

	DefineCustomStringVariable("guestbook_notify.app_base_url",
							   gettext_noop("Base URL of the guestbook application, for case detail links."),
							   NULL,
							   &gbn_app_base_url,
							   "",
							   PGC_SIGHUP, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.message_mode",
							   gettext_noop("Send Cloud API template messages or free-form text: template or text."),
							   gettext_noop("template works outside the 24-hour customer service "
											"window; waha always sends text."),
							   &gbn_message_mode_setting,
							   "template",
							   PGC_SIGHUP, 0,
							   NULL, assign_message_mode, NULL);

	/*
	 * The next four accept any integer: the worker checks the range and
	 * refuses to send while one is out of it (settings_check.c), instead of
	 * PostgreSQL keeping the previous value or, at start, the default.
	 */
	DefineCustomIntVariable("guestbook_notify.max_send_rate",
							gettext_noop("Messages per second sent, across all workers (1 to 100000)."),
							gettext_noop("100000 turns pacing off."),
							&gbn_max_send_rate,
							80, -INT_MAX, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.max_in_flight",
							gettext_noop("Concurrent HTTP requests per worker (1 to 1024)."),
							NULL,
							&gbn_max_in_flight,
							16, -INT_MAX, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.batch_size",
							gettext_noop("Most rows claimed by one claim transaction."),
							NULL,
							&gbn_batch_size,
							100, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.http_timeout",
							gettext_noop("Time limit of one HTTP request."),
							NULL,
							&gbn_http_timeout,
							10000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.connect_timeout",
							gettext_noop("Time limit for connecting to the provider."),
							NULL,
							&gbn_connect_timeout,
							5000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.max_attempts",
							gettext_noop("Tries of a notification before it is marked failed."),
							NULL,
							&gbn_max_attempts,
							8, 1, 100,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retry_base_delay",
							gettext_noop("Delay before the first retry; it doubles with each try."),
							NULL,
							&gbn_retry_base_delay,
							5000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retry_max_delay",
							gettext_noop("Longest delay between two tries."),
							NULL,
							&gbn_retry_max_delay,
							600000, 10, 86400000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.lease_timeout",
							gettext_noop("How long a claimed row stays reserved for the worker that claimed it."),
							gettext_noop("After a worker crash its rows are sent again once "
										 "this expires; it is at least http_timeout plus 10 s."),
							&gbn_lease_timeout,
							60, 10, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.naptime",
							gettext_noop("Longest sleep of an idle worker between two looks at the queue."),
							gettext_noop("Commits that call wake() and due retries wake the worker sooner."),
							&gbn_naptime,
							5000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Per-recipient pacing is applied when rows are claimed, by the SQL side,
	 * which reads these with current_setting(): they are defined here
	 * because the guestbook_notify prefix is reserved.
	 */
	DefineCustomIntVariable("guestbook_notify.recipient_interval",
							gettext_noop("Shortest time between two messages to the same recipient (0 to 1 h)."),
							gettext_noop("Meta allows about one message every 6 s to the same user "
										 "(error 131056). 0 turns it off."),
							&gbn_recipient_interval,
							6000, -INT_MAX, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.recipient_hourly_cap",
							gettext_noop("Most messages to one recipient per hour (0 to 100000); more are held until the next hour."),
							gettext_noop("0 means no cap."),
							&gbn_recipient_hourly_cap,
							60, -INT_MAX, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retention",
							gettext_noop("Age after which finished notifications move to notification_queue_archive."),
							gettext_noop("Sent, failed and cancelled rows not changed for this long leave the "
										 "live queue; attempts and case events stay. 0 keeps them forever."),
							&gbn_retention,
							90 * 86400, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.archive_interval",
							gettext_noop("How often the worker archives finished notifications."),
							NULL,
							&gbn_archive_interval,
							60, 1, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.archive_batch_size",
							gettext_noop("Most rows archived by one transaction."),
							NULL,
							&gbn_archive_batch_size,
							1000, 1, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.pause_retry_interval",
							gettext_noop("How long sending stays paused after an account-level error before one more try."),
							gettext_noop("0 means only a configuration reload resumes sending."),
							&gbn_pause_retry_interval,
							300, 0, 86400,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

void
_PG_init(void)
{
	BackgroundWorker worker;
	int			i;

	/* nothing to do (and no worker to start) in pg_upgrade's server */
	if (IsBinaryUpgrade)
		return;

	define_sighup_settings();
	gbn_install_log_redaction();

	/*
	 * Without shared_preload_libraries there is no worker: the SQL side still
	 * works (rows queue up) and wake() does nothing.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	DefineCustomStringVariable("guestbook_notify.database_name",
							   gettext_noop("Database the workers serve."),
							   gettext_noop("The extension must be installed in it; the workers "
											"stay idle until it is."),
							   &gbn_database_name,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.workers",
							gettext_noop("Number of delivery worker processes."),
							NULL,
							&gbn_workers,
							1, 1, GBN_MAX_WORKERS,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("guestbook_notify");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = gbn_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = gbn_shmem_startup_hook;

	for (i = 0; i < gbn_workers; i++)
	{
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;

		/*
		 * Start once the database is consistent, so a standby runs the worker
		 * too: it waits there (RecoveryInProgress) and sends after promotion.
		 */
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "guestbook_notify");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "gbn_worker_main");
		if (gbn_workers == 1)
			snprintf(worker.bgw_name, BGW_MAXLEN, GBN_WORKER_TYPE);
		else
			snprintf(worker.bgw_name, BGW_MAXLEN, GBN_WORKER_TYPE " %d", i + 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, GBN_WORKER_TYPE);
		worker.bgw_main_arg = Int32GetDatum(i);
		worker.bgw_notify_pid = 0;

		RegisterBackgroundWorker(&worker);
	}
}
