/*-------------------------------------------------------------------------
 *
 * gbnw.h
 *		guestbook_notify_web: the webhook receiver of guestbook_notify.
 *
 * A small daemon (libmicrohttpd, libpq, json-c, OpenSSL) that checks the
 * signatures of Meta's and WAHA's webhooks and hands the raw bodies to the
 * extension (guestbook_notify.webhook_receive()).  It is the only part of
 * guestbook_notify that listens on a network; the extension stays an
 * extension.  See README.md, "Webhook receiver".
 *
 * src/web/gbnw.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBNW_H
#define GBNW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GBNW_NAME "guestbook_notify_web"

#ifndef GBN_VERSION
#define GBN_VERSION "unknown"
#endif

/* limits that are not settings */
#define GBNW_SECRET_MAX		4096	/* bytes in a secret file */
#define GBNW_CONFIG_MAX		(1024 * 1024)	/* bytes in the config file */
#define GBNW_QUERY_MAX		4096	/* bytes of a query string we parse */
#define GBNW_QUERY_PARAMS	32		/* parameters in a query string */
#define GBNW_QUERY_VALUE	512		/* bytes of one decoded parameter */
#define GBNW_EVENT_ID_MAX	256		/* bytes of a WAHA event id */
#define GBNW_JSON_DEPTH		64		/* json-c nesting limit (WAHA event id) */

/* ----------------------------------------------------------------
 * Configuration (config.c)
 * ----------------------------------------------------------------
 */
typedef struct GbnwConfig
{
	char		listen[128];	/* as written: host:port */
	struct sockaddr_storage addr;	/* parsed */
	socklen_t	addrlen;
	bool		ipv6;
	bool		loopback;
	char	   *conninfo;
	char	   *meta_app_secret_file;
	char	   *meta_verify_token_file;
	char	   *waha_hmac_key_file;
	size_t		max_body_size;	/* bytes */
	size_t		max_body_memory;	/* bytes of bodies held at once */
	size_t		header_memory_limit;	/* libmicrohttpd's per-connection pool */
	unsigned int max_connections;
	unsigned int per_ip_connection_limit;	/* 0 = none */
	unsigned int threads;
	unsigned int client_timeout_s;	/* idle connection */
	int			request_timeout_ms; /* a whole request, body included */
	long		inbox_retention_s;	/* 0 = keep forever */
	int			maintenance_interval_ms;
	int			retry_batch;
	int			db_connect_timeout_s;
	int			db_lock_timeout_ms;
	bool		log_requests;
	/* the Notifications page (admin_*.c): on when admin_conninfo is set */
	char		admin_listen[128];
	struct sockaddr_storage admin_addr;
	socklen_t	admin_addrlen;
	bool		admin_ipv6;
	bool		admin_loopback;
	char	   *admin_conninfo;	/* no user, no password: the login gives them */
	int			admin_session_idle_s;
	int			admin_session_max_s;
	int			admin_login_lockout_s;
	bool		admin_secure_cookie;	/* behind https: __Host- cookie, Secure */
	char	   *time_zone;
	char	   *app_case_url;	/* {case_id} is replaced */
	char	   *admin_trusted_header;	/* the role, set by the proxy (loopback only) */
	bool		set[40];		/* which keys the file set (index: key number) */
} GbnwConfig;

extern void gbnw_config_defaults(GbnwConfig *cfg);
extern bool gbnw_config_parse(const char *text, size_t len, const char *name,
							  GbnwConfig *cfg, char *err, size_t errlen);
extern bool gbnw_config_load(const char *path, GbnwConfig *cfg,
							 char *err, size_t errlen);
extern void gbnw_config_free(GbnwConfig *cfg);

/* value parsers, exported for the unit checks */
extern bool gbnw_parse_time_ms(const char *v, const char *default_unit, int64_t *out);
extern bool gbnw_parse_size(const char *v, int64_t *out);
extern bool gbnw_parse_bool(const char *v, bool *out);
extern bool gbnw_parse_listen(const char *v, GbnwConfig *cfg, char *err, size_t errlen);

/* ----------------------------------------------------------------
 * Secrets (config.c): from files only, never logged
 * ----------------------------------------------------------------
 */
typedef struct GbnwSecret
{
	unsigned char *data;
	size_t		len;
} GbnwSecret;

extern bool gbnw_secret_load(const char *spec, GbnwSecret *out,
							 char *err, size_t errlen);
extern void gbnw_secret_free(GbnwSecret *s);

/* ----------------------------------------------------------------
 * Crypto (crypto.c)
 * ----------------------------------------------------------------
 */
typedef enum GbnwSigResult
{
	GBNW_SIG_OK = 0,
	GBNW_SIG_MISSING,			/* no header */
	GBNW_SIG_WRONG_ALGORITHM,	/* sha1=..., or an algorithm header not ours */
	GBNW_SIG_MALFORMED,			/* not the right number of hex digits */
	GBNW_SIG_MISMATCH			/* well-formed, wrong */
} GbnwSigResult;

extern const char *gbnw_sig_result_name(GbnwSigResult r);
extern bool gbnw_hmac_hex(bool sha512, const unsigned char *key, size_t keylen,
						  const unsigned char *data, size_t len, char *hex_out);
extern GbnwSigResult gbnw_check_meta_signature(const char *header,
											   const unsigned char *key, size_t keylen,
											   const unsigned char *body, size_t len);
extern GbnwSigResult gbnw_check_waha_signature(const char *header, const char *algorithm,
											   const unsigned char *key, size_t keylen,
											   const unsigned char *body, size_t len);
extern bool gbnw_token_equal(const unsigned char *a, size_t alen,
							 const unsigned char *b, size_t blen);

/* ----------------------------------------------------------------
 * Small parsers (util.c)
 * ----------------------------------------------------------------
 */
typedef struct GbnwQueryParam
{
	char		key[64];
	char		value[GBNW_QUERY_VALUE + 1];
	size_t		value_len;
} GbnwQueryParam;

extern int	gbnw_parse_query(const char *query, size_t len,
							 GbnwQueryParam *params, int max_params);
extern const GbnwQueryParam *gbnw_query_get(const GbnwQueryParam *params, int n,
											const char *key, int *count);
extern size_t gbnw_escape_for_log(char *dst, size_t dstlen, const char *src, size_t srclen);
extern bool gbnw_parse_content_length(const char *v, uint64_t *out);
extern char *gbnw_waha_event_id(const unsigned char *body, size_t len, char *event, size_t eventlen);

/* ----------------------------------------------------------------
 * Logging (log.c): stderr, one line per message
 * ----------------------------------------------------------------
 */
typedef enum GbnwLogLevel
{
	GBNW_DEBUG,
	GBNW_LOG,
	GBNW_WARNING,
	GBNW_ERROR,
	GBNW_FATAL
} GbnwLogLevel;

extern void gbnw_log(GbnwLogLevel level, const char *fmt, ...)
			__attribute__((format(printf, 2, 3)));
/* the same, at most 50 lines a second */
extern void gbnw_log_limited(GbnwLogLevel level, const char *fmt, ...)
			__attribute__((format(printf, 2, 3)));
extern bool gbnw_log_debug;

/* ----------------------------------------------------------------
 * Database (db.c)
 * ----------------------------------------------------------------
 */
typedef enum GbnwDbStatus
{
	GBNW_DB_STORED,				/* committed: answer 200 */
	GBNW_DB_UNAVAILABLE			/* nothing stored: answer 503 */
} GbnwDbStatus;

typedef struct GbnwDbOutcome
{
	long long	inbox_id;
	char		state[16];		/* applied, error, malformed, received, duplicate */
	char		detail[512];
	bool		fallback;		/* stored by webhook_store() after webhook_receive() failed */
} GbnwDbOutcome;

extern void gbnw_db_init(const GbnwConfig *cfg);
extern GbnwDbStatus gbnw_db_receive(const char *source, const unsigned char *body, size_t len,
									const char *event_id, GbnwDbOutcome *out);
extern bool gbnw_db_ping(char *why, size_t whylen);
extern void gbnw_db_maintenance(void);
extern void gbnw_db_close_thread(void);

/* ----------------------------------------------------------------
 * HTTP (http.c)
 * ----------------------------------------------------------------
 */
typedef struct GbnwEndpoints
{
	GbnwSecret	meta_app_secret;	/* POST /webhooks/meta, when set */
	GbnwSecret	meta_verify_token;	/* GET /webhooks/meta, when set */
	GbnwSecret	waha_hmac_key;	/* POST /webhooks/waha, when set */
} GbnwEndpoints;

extern bool gbnw_http_start(const GbnwConfig *cfg, const GbnwEndpoints *ep,
							char *err, size_t errlen);
extern unsigned int gbnw_http_port(void);
extern void gbnw_http_stop(void);

#endif							/* GBNW_H */
