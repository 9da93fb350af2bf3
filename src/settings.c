/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The settings (GUCs) of guestbook_notify.
 *
 * The workers' settings are PGC_SUSET, so that each database can have its
 * own sender (ALTER DATABASE ... SET guestbook_notify.phone_number_id =
 * ..., then pg_reload_conf()); postgresql.conf and ALTER SYSTEM set them for
 * every database.  The access token is never taken from ALTER DATABASE or
 * ALTER ROLE (pg_db_role_setting is readable by every role): it comes from
 * the configuration file, or per database from set_access_token().  The
 * launcher's settings (database_name, workers) are PGC_SIGHUP.
 *
 * Values PostgreSQL cannot check by type (provider, URL, rates) are checked
 * by the worker (settings_check.c), which refuses to send until they are
 * fixed, with one clear log line, instead of PostgreSQL keeping the old
 * value or, at start, the default.
 *
 * src/settings.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "guestbook_notify.h"

/* the launcher's (PGC_SIGHUP) */
char	   *gbn_database_name = NULL;
int			gbn_workers = 1;

/* the workers' (PGC_SUSET) */
int			gbn_provider = GBN_PROVIDER_CLOUD_API;	/* -1: invalid */
char	   *gbn_api_url = NULL;
char	   *gbn_phone_number_id = NULL;
char	   *gbn_access_token = NULL;
char	   *gbn_database_token = NULL;	/* worker: set_access_token()'s, or NULL */
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
int			gbn_statement_timeout = 30000;
int			gbn_lock_timeout = 5000;
int			gbn_app_lock_timeout = 200;
int			gbn_sla_interval = 60;
char	   *gbn_sla_time_zone = NULL;

/*
 * provider and message_mode are strings, not enums: a value PostgreSQL
 * would reject (or, at server start, silently replace by the default) is
 * kept, and the worker refuses to send until it is fixed, with one clear
 * log line (settings_check.c).
 */
char	   *gbn_provider_setting = NULL;
char	   *gbn_message_mode_setting = NULL;


const char *
gbn_provider_name(int provider)
{
	return provider == GBN_PROVIDER_WAHA ? "waha" : "cloud_api";
}

/*
 * The token the worker sends with: its database's own (set_access_token(),
 * read by the worker into gbn_database_token), else
 * guestbook_notify.access_token.  Never NULL.
 */
const char *
gbn_effective_token(void)
{
	if (gbn_database_token != NULL)
		return gbn_database_token;
	return gbn_access_token ? gbn_access_token : "";
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
/*
 * Not from ALTER DATABASE / ALTER ROLE ... SET: pg_db_role_setting, where
 * those are kept, is readable by every role.
 */
static bool
check_access_token(char **newval, void **extra, GucSource source)
{
	if ((source == PGC_S_DATABASE || source == PGC_S_USER ||
		 source == PGC_S_DATABASE_USER) && *newval != NULL && (*newval)[0] != '\0')
	{
		GUC_check_errmsg("guestbook_notify.access_token cannot be set per database or role");
		GUC_check_errdetail("pg_db_role_setting, where ALTER DATABASE and ALTER ROLE keep settings, is readable by every role.");
		GUC_check_errhint("Set it in postgresql.conf (ALTER SYSTEM), or for one database with guestbook_notify.set_access_token().");
		return false;
	}
	return true;
}

static const char *
show_access_token(void)
{
	if (gbn_access_token == NULL || gbn_access_token[0] == '\0')
		return "";
	return "********";
}

/*
 * Every guestbook_notify.* setting, defined once here (_PG_init).  Long
 * for a reason: one DefineCustom*Variable call per setting, a list to read
 * top to bottom, with no logic in between (the checks are above, the
 * cross-setting checks in settings_check.c).
 */
void
gbn_define_settings(void)
{
	DefineCustomStringVariable("guestbook_notify.provider",
							   gettext_noop("WhatsApp provider the worker sends through: cloud_api or waha."),
							   gettext_noop("cloud_api: Meta WhatsApp Business Cloud API; "
											"waha: a WAHA gateway (WhatsApp Web, proof of concept)."),
							   &gbn_provider_setting,
							   "cloud_api",
							   PGC_SUSET, 0,
							   NULL, assign_provider, NULL);

	DefineCustomStringVariable("guestbook_notify.api_url",
							   gettext_noop("Base URL of the provider's API."),
							   gettext_noop("cloud_api: https://graph.facebook.com/v23.0; "
											"waha: http://host:3000. Plain http:// is "
											"accepted only for loopback hosts."),
							   &gbn_api_url,
							   "https://graph.facebook.com/v23.0",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.phone_number_id",
							   gettext_noop("Sender's phone-number ID (cloud_api) or session name (waha)."),
							   gettext_noop("For waha, empty means the session \"default\"."),
							   &gbn_phone_number_id,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.access_token",
							   gettext_noop("Access token (cloud_api) or API key (waha)."),
							   gettext_noop("Never shown: SHOW and current_setting() display ******** when it is set, and pg_settings does not list it."),
							   &gbn_access_token,
							   "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   check_access_token, NULL, show_access_token);

	DefineCustomStringVariable("guestbook_notify.app_base_url",
							   gettext_noop("Base URL of the guestbook application, for case detail links."),
							   NULL,
							   &gbn_app_base_url,
							   "",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.message_mode",
							   gettext_noop("Send Cloud API template messages or free-form text: template or text."),
							   gettext_noop("template works outside the 24-hour customer service "
											"window; waha always sends text."),
							   &gbn_message_mode_setting,
							   "template",
							   PGC_SUSET, 0,
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
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.max_in_flight",
							gettext_noop("Concurrent HTTP requests per worker (1 to 1024)."),
							NULL,
							&gbn_max_in_flight,
							16, -INT_MAX, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.batch_size",
							gettext_noop("Most rows claimed by one claim transaction."),
							NULL,
							&gbn_batch_size,
							100, 1, 10000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.http_timeout",
							gettext_noop("Time limit of one HTTP request."),
							NULL,
							&gbn_http_timeout,
							10000, 100, 300000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.connect_timeout",
							gettext_noop("Time limit for connecting to the provider."),
							NULL,
							&gbn_connect_timeout,
							5000, 100, 300000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.max_attempts",
							gettext_noop("Tries of a notification before it is marked failed."),
							NULL,
							&gbn_max_attempts,
							8, 1, 100,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retry_base_delay",
							gettext_noop("Delay before the first retry; it doubles with each try."),
							NULL,
							&gbn_retry_base_delay,
							5000, 10, 3600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retry_max_delay",
							gettext_noop("Longest delay between two tries."),
							NULL,
							&gbn_retry_max_delay,
							600000, 10, 86400000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.lease_timeout",
							gettext_noop("How long a claimed row stays reserved for the worker that claimed it."),
							gettext_noop("After a worker crash its rows are sent again once "
										 "this expires; it is at least http_timeout plus 10 s."),
							&gbn_lease_timeout,
							60, 10, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.naptime",
							gettext_noop("Longest sleep of an idle worker between two looks at the queue."),
							gettext_noop("Commits that call wake() and due retries wake the worker sooner."),
							&gbn_naptime,
							5000, 10, 3600000,
							PGC_SUSET, GUC_UNIT_MS,
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
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.recipient_hourly_cap",
							gettext_noop("Most messages to one recipient per hour (0 to 100000); more are held until the next hour."),
							gettext_noop("0 means no cap."),
							&gbn_recipient_hourly_cap,
							60, -INT_MAX, INT_MAX,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.retention",
							gettext_noop("Age after which finished notifications move to notification_queue_archive."),
							gettext_noop("Sent, failed and cancelled rows not changed for this long leave the "
										 "live queue; attempts and case events stay. 0 keeps them forever."),
							&gbn_retention,
							90 * 86400, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.archive_interval",
							gettext_noop("How often the worker archives finished notifications."),
							NULL,
							&gbn_archive_interval,
							60, 1, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.archive_batch_size",
							gettext_noop("Most rows archived by one transaction."),
							NULL,
							&gbn_archive_batch_size,
							1000, 1, 100000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	/*
	 * SLA reminders (src/sql/75_sla.sql): the worker runs sla_tick() every
	 * sla_interval and passes it sla_time_zone; an unknown zone is reported
	 * by the tick (a WARNING), and sending goes on.
	 */
	DefineCustomIntVariable("guestbook_notify.sla_interval",
							gettext_noop("How often the worker runs the SLA reminders (sla_tick)."),
							gettext_noop("0 turns them off in the worker (pg_cron can still call sla_tick())."),
							&gbn_sla_interval,
							60, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("guestbook_notify.sla_time_zone",
							   gettext_noop("Time zone of the business hours and holidays of the SLA reminders."),
							   gettext_noop("A zone name: Asia/Jakarta (WIB), Asia/Makassar (WITA), Asia/Jayapura (WIT)."),
							   &gbn_sla_time_zone,
							   "Asia/Jakarta",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.pause_retry_interval",
							gettext_noop("How long sending stays paused after an account-level error before one more try."),
							gettext_noop("0 means only a configuration reload resumes sending."),
							&gbn_pause_retry_interval,
							300, 0, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.statement_timeout",
							gettext_noop("Time limit of each transaction of the worker."),
							gettext_noop("A worker transaction that runs longer is cancelled and tried again later."),
							&gbn_statement_timeout,
							30000, 100, 3600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.lock_timeout",
							gettext_noop("Longest wait of the worker for a lock on the extension's tables."),
							NULL,
							&gbn_lock_timeout,
							5000, 1, 3600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.app_lock_timeout",
							gettext_noop("Longest wait of the worker for a lock on the app's tables."),
							gettext_noop("The app's table locks are taken without waiting; this bounds the rest "
										 "(row locks, index entries). A wait that runs out is tried again later."),
							&gbn_app_lock_timeout,
							200, 1, 600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}

void
gbn_define_launcher_settings(void)
{
	DefineCustomStringVariable("guestbook_notify.database_name",
							   gettext_noop("Databases served: a comma-separated list, or * for every database with the extension."),
							   gettext_noop("One set of workers per database, started by the launcher; "
											"takes effect on reload."),
							   &gbn_database_name,
							   "postgres",
							   PGC_SIGHUP, GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("guestbook_notify.workers",
							gettext_noop("Delivery worker processes per database."),
							gettext_noop("They share the queue (SKIP LOCKED) and the sender's max_send_rate."),
							&gbn_workers,
							1, 1, GBN_MAX_WORKERS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
}

/*
 * After a reload, apply this database's ALTER DATABASE ... SET values
 * again (a worker reads them at connection only otherwise), so that a
 * database's own sender settings follow pg_reload_conf().  A value RESET
 * there keeps its last value until the worker starts again.
 */
void
gbn_reapply_database_settings(void)
{
	Relation	rel;

	StartTransactionCommand();
	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	ApplySetting(GetCatalogSnapshot(DbRoleSettingRelationId), MyDatabaseId,
				 InvalidOid, rel, PGC_S_DATABASE);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}
