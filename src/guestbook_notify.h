/*-------------------------------------------------------------------------
 *
 * guestbook_notify.h
 *		Declarations shared by the files of the guestbook_notify module:
 *		settings (GUCs), the message and result types the worker passes
 *		between its parts, and the shared-memory interface.
 *
 * src/guestbook_notify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GUESTBOOK_NOTIFY_H
#define GUESTBOOK_NOTIFY_H

#include "datatype/timestamp.h"
#include "utils/palloc.h"
#include "utils/uuid.h"

#include "status.h"

/* GBN_VERSION comes from the control file, through the Makefile */
#ifndef GBN_VERSION
#error "GBN_VERSION must be defined (the Makefile passes the control file's default_version)"
#endif

/*
 * User-Agent: Meta's OpenAPI spec (parameter UserAgent) wants name/X.Y.Z:
 * the Makefile makes GBN_UA_VERSION of the control file's version (a
 * two-part 1.1 becomes 1.1.0).
 */
#define GBN_USER_AGENT		"guestbook_notify/" GBN_UA_VERSION
#define GBN_WORKER_TYPE		"guestbook_notify worker"
#define GBN_LAUNCHER_TYPE	"guestbook_notify launcher"

#define GBN_MAX_WORKERS		8	/* per database */
#define GBN_MAX_DATABASES	32
#define GBN_MAX_SLOTS		64	/* worker processes on the server */

/* Largest response body kept; the rest is dropped and flagged. */
#define GBN_MAX_RESPONSE_BYTES	(64 * 1024)

/* guestbook_notify.max_send_rate at this value means "no pacing" */
#define GBN_SEND_RATE_OFF	100000
#define GBN_MAX_IN_FLIGHT	1024

/* ----------------------------------------------------------------
 * Settings (settings.c)
 * ----------------------------------------------------------------
 */
typedef enum GbnProvider
{
	GBN_PROVIDER_CLOUD_API,
	GBN_PROVIDER_WAHA
} GbnProvider;

typedef enum GbnMessageMode
{
	GBN_MODE_TEMPLATE,
	GBN_MODE_TEXT
} GbnMessageMode;

/* the launcher's (PGC_SIGHUP) */
extern char *gbn_database_name;
extern int	gbn_workers;

/* the workers' (PGC_SUSET: per database with ALTER DATABASE ... SET) */
extern char *gbn_provider_setting;
extern char *gbn_message_mode_setting;
extern int	gbn_provider;			/* GbnProvider, or -1 if invalid */
extern char *gbn_api_url;
extern char *gbn_phone_number_id;
extern char *gbn_access_token;
extern char *gbn_database_token;	/* worker: this database's, or NULL */
extern char *gbn_app_base_url;
extern int	gbn_message_mode;		/* GbnMessageMode, or -1 if invalid */
extern int	gbn_max_send_rate;
extern int	gbn_max_in_flight;
extern int	gbn_batch_size;
extern int	gbn_http_timeout;
extern int	gbn_connect_timeout;
extern int	gbn_max_attempts;
extern int	gbn_retry_base_delay;
extern int	gbn_retry_max_delay;
extern int	gbn_lease_timeout;
extern int	gbn_naptime;
extern int	gbn_pause_retry_interval;
extern int	gbn_recipient_interval;
extern int	gbn_recipient_hourly_cap;
extern int	gbn_retention;
extern int	gbn_archive_interval;
extern int	gbn_archive_batch_size;
extern int	gbn_statement_timeout;
extern int	gbn_lock_timeout;
extern int	gbn_app_lock_timeout;
extern int	gbn_sla_interval;
extern char *gbn_sla_time_zone;

extern void gbn_define_settings(void);
extern void gbn_define_launcher_settings(void);
extern void gbn_reapply_database_settings(void);
extern const char *gbn_provider_name(int provider);

/* the token the worker sends with: the database's own, else access_token */
extern const char *gbn_effective_token(void);

/* settings_check.c: NULL when the settings allow sending, else why not */
extern char *gbn_settings_problem(void);
/* NULL when token can go into an HTTP header, else why not (never quoted) */
extern const char *gbn_token_problem(const char *token);

/* log_redact.c: keep the access token out of the server log */
extern void gbn_install_log_redaction(void);
extern char *gbn_mask_secret(char *s);

/* ----------------------------------------------------------------
 * Messages and results (worker.c, queue.c, providers, classify.c)
 * ----------------------------------------------------------------
 */

/*
 * One claimed row, text in UTF-8.  Everything it points to is allocated in
 * cxt, which the message owns: deleting cxt frees the message, its request
 * and whatever libcurl holds for it (http.c's reset callback).
 */
typedef struct GbnMessage
{
	MemoryContext cxt;
	pg_uuid_t	id;
	char	   *id_text;		/* for log lines */
	char	   *to_number;		/* normalised digits 628..., or NULL */
	char	   *message_text;
	char	   *template_name;	/* may be NULL */
	char	   *template_language;	/* may be NULL */
	int			nargs;
	char	  **args;
	int			attempt_count;	/* this try, counted from 1 */
	bool		send_as_text;	/* the template says: free text */
	TimestampTz claimed_at;		/* when its pacing slot was taken */
} GbnMessage;

/* The outcome of one try, as passed to guestbook_notify._record_result(). */
typedef struct GbnResult
{
	pg_uuid_t	id;
	const char *id_text;
	const char *to_number;		/* for the pacing rows' lock order */
	GbnOutcome	outcome;
	const char *provider;		/* "cloud_api" or "waha" */
	int			http_status;	/* 0: no HTTP response (stored as NULL) */
	bool		has_error_code;
	int			error_code;		/* Graph error.code */
	char	   *error_text;		/* NULL on success (or a note on it) */
	char	   *provider_message_id;	/* NULL if none */
	TimestampTz started_at;
	double		duration_ms;
	int			retry_delay_ms;
	int			max_attempts;
	int			throttle_ms;	/* > 0: slow the sender down this long */

	/* filled in by the recording step */
	GbnStatus	new_status;		/* GBN_STATUS_UNKNOWN: lease lost */
	bool		recorded;		/* false: try again later */
} GbnResult;

/* ----------------------------------------------------------------
 * Shared memory (shmem.c)
 * ----------------------------------------------------------------
 */
extern void gbn_shmem_request(void);
extern void gbn_shmem_startup(void);
extern bool gbn_shmem_present(void);

/* workers: the slot given by the launcher */
extern void gbn_slot_attach(int slot, Oid dboid);
extern Oid	gbn_slot_database(int slot);
extern void gbn_status_set_state(const char *state);
extern void gbn_status_set_in_flight(int n);
extern void gbn_status_count(GbnOutcome outcome, GbnStatus new_status);
extern void gbn_status_set_last_error(const char *text);
extern void gbn_status_set_backlogs(int64 audit_pending, int64 events_pending);
extern void gbn_status_set_sender(uint32 sender_hash);
extern int	gbn_workers_sharing_sender(void);
extern bool gbn_exit_requested(void);
extern bool gbn_consume_wake(void);
extern bool gbn_wake_is_pending(void);
extern void gbn_wake_at_commit(void);

/*
 * A database's own settings: its access token (set_access_token,
 * access_token.c) and its ALTER DATABASE ... SET values; a change is
 * announced at commit (shmem.c)
 */
extern uint32 gbn_settings_generation(void);
extern void gbn_settings_changed_at_commit(Oid dboid);
extern void gbn_extension_installed_at_commit(void);
extern bool gbn_read_database_token(bool *changed);

/* the account-level pause, per database */
extern bool gbn_pause(const char *reason);
extern bool gbn_is_paused(TimestampTz *since);
extern void gbn_unpause(void);
extern void gbn_set_blocked(const char *reason);

/* the launcher's view of the databases (launcher.c, shmem.c) */
extern uint32 gbn_installed_generation(void);
extern void gbn_database_no_extension(uint32 seen);
extern void gbn_wake_launcher(void);

/* worker.c, launcher.c */
extern PGDLLEXPORT void gbn_worker_main(Datum main_arg) pg_attribute_noreturn();
extern PGDLLEXPORT void gbn_launcher_main(Datum main_arg) pg_attribute_noreturn();

#endif							/* GUESTBOOK_NOTIFY_H */
