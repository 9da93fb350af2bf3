/*-------------------------------------------------------------------------
 *
 * guestbook_notify.h
 *		Declarations shared by the files of the guestbook_notify module:
 *		settings (GUCs), the row and result types the worker passes between
 *		its parts, and the shared-memory status interface.
 *
 * src/guestbook_notify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GUESTBOOK_NOTIFY_H
#define GUESTBOOK_NOTIFY_H

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* GBN_VERSION comes from the control file, through the Makefile */
#ifndef GBN_VERSION
#error "GBN_VERSION must be defined (the Makefile passes the control file's default_version)"
#endif

/*
 * User-Agent: Meta's OpenAPI spec (parameter UserAgent) wants name/X.Y.Z,
 * so a two-part extension version gets ".0".
 */
#define GBN_USER_AGENT		"guestbook_notify/" GBN_VERSION ".0"
#define GBN_WORKER_TYPE		"guestbook_notify worker"
#define GBN_MAX_WORKERS		8

/* Largest response body kept; the rest is dropped and flagged. */
#define GBN_MAX_RESPONSE_BYTES	(64 * 1024)

/* guestbook_notify.max_send_rate at this value means "no pacing" */
#define GBN_SEND_RATE_OFF	100000
#define GBN_MAX_IN_FLIGHT	1024

/* ----------------------------------------------------------------
 * Settings (guestbook_notify.c)
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

/* PGC_POSTMASTER */
extern char *gbn_database_name;
extern int	gbn_workers;

/* PGC_SIGHUP */
extern char *gbn_provider_setting;
extern char *gbn_message_mode_setting;
extern int	gbn_provider;			/* GbnProvider, or -1 if invalid */
extern char *gbn_api_url;
extern char *gbn_phone_number_id;
extern char *gbn_access_token;
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

extern const char *gbn_provider_name(int provider);

/* settings_check.c: NULL when the settings allow sending, else why not */
extern char *gbn_settings_problem(void);

/* log_redact.c: keep the access token out of the server log */
extern void gbn_install_log_redaction(void);
extern char *gbn_mask_secret(char *s);

/* ----------------------------------------------------------------
 * Rows and results (worker.c, queue.c, providers, classify.c)
 * ----------------------------------------------------------------
 */

/* One row returned by guestbook_notify._claim_batch(), text in UTF-8. */
typedef struct GbnMessage
{
	pg_uuid_t	id;
	char	   *id_text;		/* for log lines */
	char	   *to_number;		/* normalised digits 628..., or NULL */
	char	   *message_text;
	char	   *template_name;	/* may be NULL */
	char	   *template_language;	/* may be NULL */
	int			nargs;
	char	  **args;
	int			attempt_count;	/* this try, counted from 1 */
} GbnMessage;

typedef enum GbnOutcome
{
	GBN_OUTCOME_SENT,
	GBN_OUTCOME_RETRY,
	GBN_OUTCOME_FAILED,
	GBN_OUTCOME_PAUSED
} GbnOutcome;

/* The outcome of one try, as passed to guestbook_notify._record_result(). */
typedef struct GbnResult
{
	pg_uuid_t	id;
	const char *id_text;
	GbnOutcome	outcome;
	const char *provider;		/* "cloud_api" or "waha" */
	int			http_status;	/* 0: no HTTP response (stored as NULL) */
	bool		has_error_code;
	int			error_code;		/* Graph error.code */
	char	   *error_text;		/* NULL on success */
	char	   *provider_message_id;	/* NULL if none */
	TimestampTz started_at;
	double		duration_ms;
	int			retry_delay_ms;
	int			max_attempts;
	int			throttle_ms;	/* > 0: slow the sender down this long */

	/* filled in by the recording step */
	char	   *new_status;		/* sent|pending|failed, NULL: lease lost */
	bool		record_failed;	/* the database refused the result */
} GbnResult;

extern const char *gbn_outcome_name(GbnOutcome outcome);

/* ----------------------------------------------------------------
 * Shared memory (shmem.c)
 * ----------------------------------------------------------------
 */
extern void gbn_shmem_request(void);
extern void gbn_shmem_startup(void);
extern bool gbn_shmem_present(void);

extern void gbn_status_attach(int slot);
extern void gbn_status_set_state(const char *state);
extern void gbn_status_set_in_flight(int n);
extern void gbn_status_count(GbnOutcome outcome, const char *new_status);
extern void gbn_status_set_last_error(const char *text);
extern bool gbn_consume_wake(void);
extern bool gbn_wake_is_pending(void);
extern void gbn_wake_at_commit(void);

extern bool gbn_pause(const char *reason);
extern bool gbn_is_paused(TimestampTz *since);
extern void gbn_unpause(void);

/* worker.c */
extern PGDLLEXPORT void gbn_worker_main(Datum main_arg) pg_attribute_noreturn();

#endif							/* GUESTBOOK_NOTIFY_H */
