/*-------------------------------------------------------------------------
 *
 * http.c
 *		The HTTP side (libmicrohttpd): routes, limits, signatures.
 *
 *	 GET  /webhooks/meta   Meta's verification: hub.mode=subscribe and
 *						   hub.verify_token (constant time) -> 200 with
 *						   hub.challenge as text/plain, else 403
 *	 POST /webhooks/meta   X-Hub-Signature-256 (HMAC-SHA256 of the raw body)
 *	 POST /webhooks/waha   X-Webhook-Hmac (HMAC-SHA512 of the raw body)
 *	 GET  /healthz         200 when the database answers, else 503
 *
 * A POST with a good signature is stored (db.c) before it is answered 200;
 * a bad or missing signature is 401 and nothing is stored; 503 only when
 * the database cannot be reached.  An endpoint whose secret is not
 * configured answers 404.
 *
 * Limits (README, "Webhook receiver"): max_body_size (413 when the
 * Content-Length says more; a chunked body that grows past it is cut
 * off), max_body_memory (bodies held at once: 503 beyond), request_timeout
 * (a whole request; a slow client is cut off), client_timeout (an idle
 * connection), max_connections, per_ip_connection_limit, and
 * header_memory_limit (libmicrohttpd's per-connection memory: request
 * line and headers beyond it are refused by libmicrohttpd).
 *
 * src/web/http.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "gbnw.h"

#if MHD_VERSION < 0x00097500
#error "libmicrohttpd 0.9.75 or later is needed"
#endif

#define URI_MAX 8192

typedef enum Route
{
	ROUTE_NONE,
	ROUTE_META,
	ROUTE_WAHA,
	ROUTE_HEALTH
} Route;

typedef struct Request
{
	char	   *uri;			/* as received, query string included */
	Route		route;
	bool		started;
	bool		responded;		/* a response is queued */
	bool		is_post;
	unsigned char *body;
	size_t		len;
	size_t		cap;
	size_t		reserved;		/* bytes counted in body_memory */
	size_t		discarded;		/* body bytes of a GET, thrown away */
	struct timespec t0;
} Request;

static struct MHD_Daemon *mhd = NULL;
static const GbnwConfig *cfg;
static const GbnwEndpoints *ep;
static size_t body_memory = 0;	/* atomic: bytes reserved by all requests */

/* ----------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------
 */

static double
elapsed_ms(const Request *r)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double) (now.tv_sec - r->t0.tv_sec) * 1000.0 +
		(double) (now.tv_nsec - r->t0.tv_nsec) / 1e6;
}

static const char *
peer(struct MHD_Connection *con, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(buf, len, "?");
	if (ci == NULL || ci->client_addr == NULL)
		return buf;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) ci->client_addr)->sin_addr, buf, (socklen_t) len);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ci->client_addr)->sin6_addr, buf, (socklen_t) len);
	return buf;
}

/* reserve bytes of body memory for r, up to total; false if over budget */
static bool
reserve(Request *r, size_t total)
{
	size_t		add;
	size_t		before;

	if (total <= r->reserved)
		return true;
	add = total - r->reserved;
	before = __atomic_fetch_add(&body_memory, add, __ATOMIC_SEQ_CST);
	if (before + add > cfg->max_body_memory)
	{
		__atomic_fetch_sub(&body_memory, add, __ATOMIC_SEQ_CST);
		return false;
	}
	r->reserved += add;
	return true;
}

static enum MHD_Result
respond(struct MHD_Connection *con, Request *r, unsigned int status,
		const char *ctype, const char *body, bool close, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
	if (close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES && r != NULL)
		r->responded = true;
	return ret;
}

static enum MHD_Result
respond_text(struct MHD_Connection *con, Request *r, unsigned int status, const char *text,
			 bool close)
{
	return respond(con, r, status, "text/plain; charset=utf-8", text, close, NULL);
}

static const char *
route_name(Route route)
{
	switch (route)
	{
		case ROUTE_META:
			return "meta";
		case ROUTE_WAHA:
			return "waha";
		case ROUTE_HEALTH:
			return "healthz";
		case ROUTE_NONE:
			break;
	}
	return "-";
}

/* ----------------------------------------------------------------
 * libmicrohttpd callbacks
 * ----------------------------------------------------------------
 */

/* called with the request line's URI, before the headers: keep it raw */
static void *
uri_logger(void *cls, const char *uri, struct MHD_Connection *con)
{
	Request    *r = calloc(1, sizeof(Request));
	size_t		n;

	if (r == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	if (uri != NULL)
	{
		n = strnlen(uri, URI_MAX + 1);
		if (n <= URI_MAX)
		{
			r->uri = malloc(n + 1);
			if (r->uri != NULL)
			{
				memcpy(r->uri, uri, n);
				r->uri[n] = '\0';
			}
		}
	}
	return r;
}

static void
request_completed(void *cls, struct MHD_Connection *con, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	Request    *r = *con_cls;
	char		ip[64];

	if (r == NULL)
		return;
	if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED && !r->responded)
		gbnw_log_limited(GBNW_LOG, "%s: connection from %s closed: idle longer than client_timeout (%u s)",
						 route_name(r->route), peer(con, ip, sizeof(ip)), cfg->client_timeout_s);
	if (r->reserved > 0)
		__atomic_fetch_sub(&body_memory, r->reserved, __ATOMIC_SEQ_CST);
	free(r->body);
	free(r->uri);
	free(r);
	*con_cls = NULL;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char		msg[512];
	char		esc[600];
	size_t		n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	gbnw_escape_for_log(esc, sizeof(esc), msg, n);
	gbnw_log_limited(GBNW_LOG, "libmicrohttpd: %s", esc);
}

/* ----------------------------------------------------------------
 * The endpoints
 * ----------------------------------------------------------------
 */

static enum MHD_Result
healthz(struct MHD_Connection *con, Request *r)
{
	json_object *o = json_object_new_object();
	char		why[256];
	bool		ok = gbnw_db_ping(why, sizeof(why));
	enum MHD_Result ret;

	if (o == NULL)
		return MHD_NO;
	json_object_object_add(o, "status", json_object_new_string(ok ? "ok" : "unavailable"));
	json_object_object_add(o, "database", json_object_new_string(ok ? "ok" : "unreachable"));
	json_object_object_add(o, "version", json_object_new_string(GBN_VERSION));
	ret = respond(con, r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json",
				  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), false, NULL);
	json_object_put(o);
	return ret;
}

static bool
challenge_ok(const GbnwQueryParam *p)
{
	size_t		i;

	if (p->value_len == 0 || p->value_len > 256)
		return false;
	for (i = 0; i < p->value_len; i++)
	{
		unsigned char c = (unsigned char) p->value[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  c == '-' || c == '_' || c == '.' || c == '~'))
			return false;
	}
	return true;
}

/* GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=...&hub.challenge=... */
static enum MHD_Result
meta_verify(struct MHD_Connection *con, Request *r)
{
	GbnwQueryParam *params;
	const char *q = r->uri ? strchr(r->uri, '?') : NULL;
	const GbnwQueryParam *mode = NULL,
			   *token = NULL,
			   *challenge = NULL;
	int			n,
				c1 = 0,
				c2 = 0,
				c3 = 0;
	const char *why = NULL;
	char		ip[64];
	enum MHD_Result ret;

	params = calloc(GBNW_QUERY_PARAMS, sizeof(GbnwQueryParam));
	if (params == NULL)
		return MHD_NO;
	n = q ? gbnw_parse_query(q + 1, strlen(q + 1), params, GBNW_QUERY_PARAMS) : 0;
	if (n < 0)
		why = "the query string is too long or badly encoded";
	else
	{
		mode = gbnw_query_get(params, n, "hub.mode", &c1);
		token = gbnw_query_get(params, n, "hub.verify_token", &c2);
		challenge = gbnw_query_get(params, n, "hub.challenge", &c3);
		if (c1 != 1 || c2 != 1 || c3 != 1)
			why = "hub.mode, hub.verify_token and hub.challenge must each be given once";
		else if (strcmp(mode->value, "subscribe") != 0)
			why = "hub.mode is not \"subscribe\"";
		else if (!gbnw_token_equal((const unsigned char *) token->value, token->value_len,
								   ep->meta_verify_token.data, ep->meta_verify_token.len))
			why = "hub.verify_token does not match";
		else if (!challenge_ok(challenge))
			why = "hub.challenge is empty, longer than 256 or not [A-Za-z0-9._~-]";
	}
	if (why != NULL)
	{
		gbnw_log_limited(GBNW_LOG, "meta: verification from %s refused (403): %s",
						 peer(con, ip, sizeof(ip)), why);
		ret = respond_text(con, r, MHD_HTTP_FORBIDDEN, "verification failed\n", true);
	}
	else
	{
		gbnw_log(GBNW_LOG, "meta: verification from %s accepted (hub.mode=subscribe)",
				 peer(con, ip, sizeof(ip)));
		ret = respond_text(con, r, MHD_HTTP_OK, challenge->value, false);
	}
	OPENSSL_cleanse(params, GBNW_QUERY_PARAMS * sizeof(GbnwQueryParam));
	free(params);
	return ret;
}

/* POST /webhooks/meta and /webhooks/waha */
static enum MHD_Result
receive(struct MHD_Connection *con, Request *r)
{
	static const unsigned char empty[1] = {0};
	const unsigned char *body = r->body ? r->body : empty;
	bool		meta = r->route == ROUTE_META;
	const char *source = meta ? "meta" : "waha";
	GbnwSigResult sig;
	GbnwDbOutcome out;
	GbnwDbStatus st;
	char	   *event_id = NULL;
	char		event[64] = "";
	char		ip[64];
	enum MHD_Result ret;

	if (meta)
		sig = gbnw_check_meta_signature(
			MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Hub-Signature-256"),
			ep->meta_app_secret.data, ep->meta_app_secret.len, body, r->len);
	else
		sig = gbnw_check_waha_signature(
			MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Webhook-Hmac"),
			MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Webhook-Hmac-Algorithm"),
			ep->waha_hmac_key.data, ep->waha_hmac_key.len, body, r->len);
	if (sig != GBNW_SIG_OK)
	{
		gbnw_log_limited(GBNW_LOG, "%s: webhook from %s refused (401): signature %s (%s, %zu bytes); nothing stored",
						 source, peer(con, ip, sizeof(ip)), gbnw_sig_result_name(sig),
						 meta ? "X-Hub-Signature-256" : "X-Webhook-Hmac", r->len);
		return respond_text(con, r, MHD_HTTP_UNAUTHORIZED, "invalid signature\n", true);
	}

	if (!meta)
		event_id = gbnw_waha_event_id(body, r->len, event, sizeof(event));
	st = gbnw_db_receive(source, body, r->len, event_id, &out);
	if (st != GBNW_DB_STORED)
	{
		gbnw_log_limited(GBNW_WARNING, "%s: webhook (%zu bytes) not stored: database unreachable; answered 503 (the sender retries)",
						 source, r->len);
		free(event_id);
		return respond_text(con, r, MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable\n", false);
	}

	if (strcmp(out.state, "malformed") == 0 || strcmp(out.state, "error") == 0 || out.fallback)
		gbnw_log(GBNW_WARNING, "%s: webhook%s%s stored as inbox %lld, %s: %s",
				 source, event[0] ? " " : "", event, out.inbox_id,
				 out.fallback ? "to be applied later" : out.state, out.detail);
	else if (cfg->log_requests)
		gbnw_log(GBNW_LOG, "%s: webhook%s%s (%zu bytes) inbox %lld %s %s (%.1f ms)",
				 source, event[0] ? " " : "", event, r->len, out.inbox_id, out.state,
				 out.detail, elapsed_ms(r));
	free(event_id);
	ret = respond_text(con, r, MHD_HTTP_OK, "ok\n", false);
	return ret;
}

/* ----------------------------------------------------------------
 * The access handler
 * ----------------------------------------------------------------
 */

static enum MHD_Result
start(struct MHD_Connection *con, Request *r, const char *url, const char *method)
{
	bool		get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	bool		head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool		post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	const char *cl;
	uint64_t	length = 0;
	char		ip[64];

	r->started = true;
	if (strcmp(url, "/webhooks/meta") == 0)
		r->route = ROUTE_META;
	else if (strcmp(url, "/webhooks/waha") == 0)
		r->route = ROUTE_WAHA;
	else if (strcmp(url, "/healthz") == 0)
		r->route = ROUTE_HEALTH;
	else
		return respond_text(con, r, MHD_HTTP_NOT_FOUND, "not found\n", true);

	switch (r->route)
	{
		case ROUTE_META:
			if (!get && !post)
				return respond(con, r, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
							   "method not allowed\n", true, "GET, POST");
			if ((get && ep->meta_verify_token.data == NULL) ||
				(post && ep->meta_app_secret.data == NULL))
				return respond_text(con, r, MHD_HTTP_NOT_FOUND, "not configured\n", true);
			break;
		case ROUTE_WAHA:
			if (!post)
				return respond(con, r, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
							   "method not allowed\n", true, "POST");
			if (ep->waha_hmac_key.data == NULL)
				return respond_text(con, r, MHD_HTTP_NOT_FOUND, "not configured\n", true);
			break;
		case ROUTE_HEALTH:
			if (!get && !head)
				return respond(con, r, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
							   "method not allowed\n", true, "GET, HEAD");
			break;
		case ROUTE_NONE:
			break;
	}

	r->is_post = post;
	cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && !gbnw_parse_content_length(cl, &length))
		return respond_text(con, r, MHD_HTTP_BAD_REQUEST, "bad Content-Length\n", true);
	if (length > cfg->max_body_size)
	{
		gbnw_log_limited(GBNW_LOG, "%s: request from %s refused (413): Content-Length %llu is over max_body_size (%zu bytes)",
						 route_name(r->route), peer(con, ip, sizeof(ip)),
						 (unsigned long long) length, cfg->max_body_size);
		return respond_text(con, r, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", true);
	}
	if (post && !reserve(r, cl != NULL ? (size_t) length : 0))
	{
		gbnw_log_limited(GBNW_WARNING, "%s: request from %s refused (503): max_body_memory (%zu bytes) is in use by other requests",
						 route_name(r->route), peer(con, ip, sizeof(ip)), cfg->max_body_memory);
		return respond_text(con, r, MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n", true);
	}
	return MHD_YES;
}

static enum MHD_Result
upload(struct MHD_Connection *con, Request *r, const char *data, size_t *size)
{
	size_t		n = *size;
	char		ip[64];

	if (r->responded)
	{
		*size = 0;				/* an early answer is queued: drop the rest */
		return MHD_YES;
	}
	if (elapsed_ms(r) > cfg->request_timeout_ms)
	{
		gbnw_log_limited(GBNW_LOG, "%s: request from %s cut off: not complete after request_timeout (%d ms, %zu bytes read)",
						 route_name(r->route), peer(con, ip, sizeof(ip)),
						 cfg->request_timeout_ms, r->len + r->discarded);
		return MHD_NO;			/* close the connection */
	}
	if (!r->is_post)
	{
		r->discarded += n;
		*size = 0;
		return r->discarded > cfg->max_body_size ? MHD_NO : MHD_YES;
	}
	if (n > cfg->max_body_size - r->len)
	{
		/* chunked (no Content-Length) and now over the limit */
		gbnw_log_limited(GBNW_LOG, "%s: request from %s cut off: body over max_body_size (%zu bytes)",
						 route_name(r->route), peer(con, ip, sizeof(ip)), cfg->max_body_size);
		return MHD_NO;
	}
	if (r->len + n > r->cap)
	{
		size_t		newcap = r->cap ? r->cap * 2 : 16384;
		unsigned char *nb;

		if (newcap < r->len + n)
			newcap = r->len + n;
		if (r->reserved > newcap && r->reserved <= cfg->max_body_size)
			newcap = r->reserved;	/* the Content-Length, at once */
		if (newcap > cfg->max_body_size)
			newcap = cfg->max_body_size;
		if (!reserve(r, newcap))
		{
			gbnw_log_limited(GBNW_WARNING, "%s: request from %s cut off: max_body_memory (%zu bytes) is in use",
							 route_name(r->route), peer(con, ip, sizeof(ip)), cfg->max_body_memory);
			return MHD_NO;
		}
		nb = realloc(r->body, newcap);
		if (nb == NULL)
		{
			gbnw_log_limited(GBNW_ERROR, "out of memory for a body of %zu bytes", newcap);
			return MHD_NO;
		}
		r->body = nb;
		r->cap = newcap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	*size = 0;
	return MHD_YES;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
		const char *version, const char *upload_data, size_t *upload_data_size,
		void **con_cls)
{
	Request    *r = *con_cls;
	char		ip[64];

	if (r == NULL)
	{
		r = uri_logger(NULL, NULL, con);
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
	}
	if (!r->started)
		return start(con, r, url, method);
	if (*upload_data_size > 0)
		return upload(con, r, upload_data, upload_data_size);
	if (r->responded)
		return MHD_YES;

	/* the whole request is in */
	if (elapsed_ms(r) > cfg->request_timeout_ms)
	{
		gbnw_log_limited(GBNW_LOG, "%s: request from %s refused (408): took longer than request_timeout (%d ms)",
						 route_name(r->route), peer(con, ip, sizeof(ip)), cfg->request_timeout_ms);
		return respond_text(con, r, MHD_HTTP_REQUEST_TIMEOUT, "request timeout\n", true);
	}
	switch (r->route)
	{
		case ROUTE_HEALTH:
			return healthz(con, r);
		case ROUTE_META:
			if (!r->is_post)
				return meta_verify(con, r);
			return receive(con, r);
		case ROUTE_WAHA:
			return receive(con, r);
		case ROUTE_NONE:
			break;
	}
	return respond_text(con, r, MHD_HTTP_NOT_FOUND, "not found\n", true);
}

/* ----------------------------------------------------------------
 * Start and stop
 * ----------------------------------------------------------------
 */

bool
gbnw_http_start(const GbnwConfig *c, const GbnwEndpoints *e, char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	cfg = c;
	ep = e;
	if (cfg->ipv6)
		flags |= MHD_USE_IPv6;
	mhd = MHD_start_daemon(flags, 0, NULL, NULL, &handler, NULL,
						   MHD_OPTION_EXTERNAL_LOGGER, &mhd_logger, NULL,	/* first */
						   MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &cfg->addr,
						   MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) cfg->threads,
						   MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
						   MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) cfg->per_ip_connection_limit,
						   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->client_timeout_s,
						   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) cfg->header_memory_limit,
						   MHD_OPTION_URI_LOG_CALLBACK, &uri_logger, NULL,
						   MHD_OPTION_NOTIFY_COMPLETED, &request_completed, NULL,
						   MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
						   MHD_OPTION_STRICT_FOR_CLIENT, (int) 1,
						   MHD_OPTION_END);
	if (mhd == NULL)
	{
		snprintf(err, errlen, "could not listen on %s (address in use, or not an address of this machine?)",
				 cfg->listen);
		return false;
	}
	return true;
}

unsigned int
gbnw_http_port(void)
{
	const union MHD_DaemonInfo *di;

	if (mhd == NULL)
		return 0;
	di = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : 0;
}

void
gbnw_http_stop(void)
{
	if (mhd != NULL)
		MHD_stop_daemon(mhd);
	mhd = NULL;
}
