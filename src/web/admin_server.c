/*-------------------------------------------------------------------------
 *
 * admin_server.c
 *		The Notifications page's listener (admin_listen): requests, forms,
 *		the session cookie, the checks of every POST, routing and the
 *		security headers of every answer.
 *
 *	 GET  /						 -> /notifications (or /login)
 *	 GET  /login, POST /login	 the form; a PostgreSQL role and its password
 *	 POST /logout
 *	 GET  /notifications		 the list (tab, filters, search, after)
 *	 GET  /n/<uuid>				 the detail
 *	 POST /act					 requeue, cancel, resend (ids or scope=filter)
 *	 GET  /export.csv			 the list's filter as CSV
 *	 GET  /optouts, POST /optouts/optin
 *	 GET  /static/page.css, /static/refresh.js
 *
 * Every POST needs a same-origin Origin (or, without one, Referer) header
 * whose host is the request's Host, and -- but for /login -- the session's
 * CSRF token in the form field csrf (constant-time comparison).  A POST
 * body is urlencoded, at most ADMIN_FORM_MAX bytes, parsed here (not by
 * libmicrohttpd's PostProcessor).
 *
 * Every answer: Content-Security-Policy "default-src 'self'; frame-ancestors
 * 'none'; form-action 'self'; base-uri 'none'", X-Content-Type-Options nosniff,
 * Referrer-Policy same-origin, X-Frame-Options DENY, Cache-Control no-store.
 *
 * src/web/admin_server.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "admin.h"

typedef struct AdminRequest
{
	bool		started;
	bool		too_big;
	char	   *query;			/* raw, after '?' */
	char	   *body;
	size_t		len;
	size_t		cap;
} AdminRequest;

static struct MHD_Daemon *admin_mhd = NULL;
static const GbnwConfig *acfg;

/* ----------------------------------------------------------------
 * Forms
 * ----------------------------------------------------------------
 */

static int
hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode [s, s+n) into a new string; NULL for a bad escape or a NUL byte */
static char *
decode(const char *s, size_t n)
{
	char	   *out = malloc(n + 1);
	size_t		i,
				o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i++)
	{
		int			c = (unsigned char) s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= n)
			{
				free(out);
				return NULL;
			}
			hi = hexv((unsigned char) s[i + 1]);
			lo = hexv((unsigned char) s[i + 2]);
			if (hi < 0 || lo < 0)
			{
				free(out);
				return NULL;
			}
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == 0)
		{
			free(out);
			return NULL;
		}
		out[o++] = (char) c;
	}
	out[o] = '\0';
	return out;
}

bool
admin_form_parse(const char *s, size_t len, Form *f)
{
	size_t		pos = 0;

	f->p = NULL;
	f->n = 0;
	if (len == 0)
		return true;
	f->p = calloc(ADMIN_FORM_PARAMS, sizeof(FormParam));
	if (f->p == NULL)
		return false;
	while (pos <= len)
	{
		const char *start = s + pos;
		const char *amp = memchr(start, '&', len - pos);
		size_t		n = amp ? (size_t) (amp - start) : len - pos;
		const char *eq = memchr(start, '=', n);

		if (n > 0)
		{
			if (f->n >= ADMIN_FORM_PARAMS)
				return false;
			f->p[f->n].key = decode(start, eq ? (size_t) (eq - start) : n);
			f->p[f->n].value = eq ? decode(eq + 1, n - (size_t) (eq - start) - 1) : strdup("");
			if (f->p[f->n].key == NULL || f->p[f->n].value == NULL)
			{
				free(f->p[f->n].key);
				free(f->p[f->n].value);
				return false;
			}
			f->n++;
		}
		pos += n + 1;
		if (amp == NULL)
			break;
	}
	return true;
}

void
admin_form_free(Form *f)
{
	int			i;

	for (i = 0; i < f->n; i++)
	{
		free(f->p[i].key);
		free(f->p[i].value);
	}
	free(f->p);
	f->p = NULL;
	f->n = 0;
}

const char *
admin_form_get(const Form *f, const char *key)
{
	int			i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->p[i].key, key) == 0)
			return f->p[i].value;
	return NULL;
}

bool
admin_valid_uuid(const char *s)
{
	int			i;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++)
	{
		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
		}
		else if (hexv((unsigned char) s[i]) < 0)
			return false;
	}
	return true;
}

/* ----------------------------------------------------------------
 * Answers
 * ----------------------------------------------------------------
 */

const char *
admin_cookie_name(const GbnwConfig *cfg)
{
	return cfg->admin_secure_cookie ? "__Host-gbn_session" : "gbn_session";
}

static void
security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy",
							"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
}

static void
lang_cookie(AdminCtx *c, struct MHD_Response *resp)
{
	char		v[128];

	if (!c->set_lang_cookie)
		return;
	snprintf(v, sizeof(v), "gbn_lang=%s; Path=/; Max-Age=31536000; SameSite=Strict%s",
			 c->lang == LANG_EN ? "en" : "id", acfg->admin_secure_cookie ? "; Secure" : "");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, v);
}

int
admin_send(AdminCtx *c, unsigned int status, const char *ctype, const char *body, size_t len,
		   const char *extra_header, const char *extra_value)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *) body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	security_headers(resp);
	lang_cookie(c, resp);
	if (extra_header)
		MHD_add_response_header(resp, extra_header, extra_value);
	ret = MHD_queue_response(c->con, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int
admin_send_html(AdminCtx *c, unsigned int status, Buf *body)
{
	int			ret;

	if (body->oom)
	{
		buf_free(body);
		return admin_send(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
						  "out of memory\n", 14, NULL, NULL);
	}
	ret = admin_send(c, status, "text/html; charset=utf-8", body->data ? body->data : "",
					 body->len, NULL, NULL);
	buf_free(body);
	return ret;
}

int
admin_redirect(AdminCtx *c, const char *location, const char *set_cookie)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, (void *) "", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	security_headers(resp);
	lang_cookie(c, resp);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
	if (set_cookie)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, set_cookie);
	ret = MHD_queue_response(c->con, MHD_HTTP_SEE_OTHER, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * A statement on the session's connection, as the logged-in role.  A
 * broken connection ends the session (NULL); an SQL error is a result the
 * caller reports.
 */
PGresult *
admin_exec(AdminCtx *c, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res;

	if (c->s == NULL || c->s->conn == NULL)
		return NULL;
	res = PQexecParams(c->s->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQstatus(c->s->conn) != CONNECTION_OK)
	{
		PQclear(res);
		gbnw_log_limited(GBNW_LOG, "page: the connection of role \"%s\" broke: session ended",
						 c->s->role);
		admin_session_end(c->s);
		return NULL;
	}
	return res;
}

/* an SQL error as a page: 403 for permission denied; a broken connection: to the login */
int
admin_sql_error_page(AdminCtx *c, PGresult *res)
{
	Buf			b;
	const char *state;
	bool		denied;

	buf_init(&b);
	if (res == NULL)
	{
		/* the connection broke: the session is over */
		return admin_redirect(c, "/login?expired=1", NULL);
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	denied = state != NULL && strcmp(state, "42501") == 0;
	admin_page_start(c, &b, T(c->lang, denied ? "forbidden" : "error"));
	buf_add(&b, "<h1>");
	buf_html(&b, T(c->lang, denied ? "forbidden" : "error"));
	buf_add(&b, "</h1>\n<p id=\"error\">");
	buf_html(&b, denied ? T(c->lang, "no_permission") : PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	buf_add(&b, "</p>\n");
	admin_page_end(c, &b);
	PQclear(res);
	return admin_send_html(c, denied ? MHD_HTTP_FORBIDDEN : MHD_HTTP_INTERNAL_SERVER_ERROR, &b);
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

static void
client_ip(struct MHD_Connection *con, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(buf, len, "?");
	if (ci == NULL || ci->client_addr == NULL)
		return;
	if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) ci->client_addr)->sin_addr, buf, (socklen_t) len);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ci->client_addr)->sin6_addr, buf, (socklen_t) len);
}

/*
 * Origin (or Referer) must be http(s)://<Host>[/...]: a form posted from
 * another site is refused even before its (missing) CSRF token is looked
 * at.
 */
static bool
same_origin(struct MHD_Connection *con)
{
	const char *host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	const char *origin = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Origin");
	const char *v = origin;
	const char *p;
	size_t		hl;

	if (v == NULL)
		v = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_REFERER);
	if (host == NULL || v == NULL)
		return false;
	if (strncmp(v, "https://", 8) == 0)
		p = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		p = v + 7;
	else
		return false;
	hl = strlen(host);
	if (strncasecmp(p, host, hl) != 0)
		return false;
	p += hl;
	return *p == '\0' || (origin == NULL && *p == '/');
}

static const char *
cookie_value(struct MHD_Connection *con, const char *name)
{
	return MHD_lookup_connection_value(con, MHD_COOKIE_KIND, name);
}

/*
 * admin_trusted_header from a loopback client: log in as the role it names
 * (no password: pg_hba.conf decides) and come back to the same page with
 * the cookie.
 */
static int
trusted_login(AdminCtx *c, const char *who)
{
	AdminSession *s = NULL;
	LoginResult lr = admin_login(who, NULL, c->ip, &s);
	char		cookie[256];
	char		esc[200];
	Buf			b;
	Buf			back;
	int			ret;

	gbnw_escape_for_log(esc, sizeof(esc), who, strlen(who));
	if (lr != LOGIN_OK)
	{
		gbnw_log_limited(GBNW_LOG, "page: role \"%s\" named by %s refused (%d)", esc,
						 acfg->admin_trusted_header, (int) lr);
		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, "forbidden"),
						 T(c->lang, lr == LOGIN_NO_ACCESS ? "login_no_access" :
						   lr == LOGIN_SUPERUSER ? "login_superuser" :
						   lr == LOGIN_THROTTLED ? "login_throttled" : "login_bad"));
		return admin_send_html(c, MHD_HTTP_FORBIDDEN, &b);
	}
	s->trusted = true;
	gbnw_log(GBNW_LOG, "page: role \"%s\" logged in by %s from %s%s", esc,
			 acfg->admin_trusted_header, c->ip, s->can_act ? " (may act)" : " (read only)");
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
			 admin_cookie_name(acfg), s->id, acfg->admin_secure_cookie ? "; Secure" : "");
	admin_session_release(s);
	/* a POST is not replayed: back to the list */
	buf_init(&back);
	if (c->post || strncmp(c->path, "/", 1) != 0)
		buf_add(&back, "/notifications");
	else
	{
		buf_add(&back, c->path);
		if (c->query[0])
		{
			buf_add(&back, "?");
			buf_add(&back, c->query);
		}
	}
	ret = admin_redirect(c, back.oom ? "/notifications" : back.data, cookie);
	buf_free(&back);
	return ret;
}

static int
dispatch(AdminCtx *c, const char *method)
{
	bool		get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	const char *path = c->path;
	bool		expired = false;
	const char *lang;
	int			ret;

	/* the language: ?lang= (kept in a cookie), else the cookie, else Indonesian */
	lang = admin_form_get(&c->q, "lang");
	if (lang != NULL && (strcmp(lang, "en") == 0 || strcmp(lang, "id") == 0))
	{
		c->lang = strcmp(lang, "en") == 0 ? LANG_EN : LANG_ID;
		c->set_lang_cookie = true;
	}
	else
	{
		const char *cl = cookie_value(c->con, "gbn_lang");

		c->lang = (cl != NULL && strcmp(cl, "en") == 0) ? LANG_EN : LANG_ID;
	}

	if (strncmp(path, "/static/", 8) == 0 && get)
		return admin_static(c, path + 8);

	if (c->post && !same_origin(c->con))
	{
		Buf			b;

		buf_init(&b);
		gbnw_log_limited(GBNW_LOG, "page: POST %s from %s refused (403): no same-origin Origin or Referer",
						 strcmp(path, "/login") == 0 ? "/login" : "(a page path)", c->ip);
		admin_error_page(c, &b, T(c->lang, "forbidden"), T(c->lang, "origin_bad"));
		return admin_send_html(c, MHD_HTTP_FORBIDDEN, &b);
	}

	if (strcmp(path, "/login") == 0)
	{
		if (c->post)
			return admin_post_login(c);
		if (get)
			return admin_page_login(c, NULL, MHD_HTTP_OK);
		return admin_send(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
						  "method not allowed\n", 19, MHD_HTTP_HEADER_ALLOW, "GET, POST");
	}

	c->s = admin_session_get(cookie_value(c->con, admin_cookie_name(acfg)), &expired);
	if (acfg->admin_trusted_header != NULL && c->loopback)
	{
		const char *who = MHD_lookup_connection_value(c->con, MHD_HEADER_KIND,
													  acfg->admin_trusted_header);

		/* the proxy names another user than the session's: a new session */
		if (c->s != NULL && who != NULL && (!c->s->trusted || strcmp(who, c->s->role) != 0))
		{
			admin_session_end(c->s);
			admin_session_release(c->s);
			c->s = NULL;
		}
		if (c->s == NULL && who != NULL)
			return trusted_login(c, who);
	}
	if (c->s == NULL)
	{
		if (c->post || strcmp(path, "/export.csv") == 0)
		{
			Buf			b;

			buf_init(&b);
			admin_error_page(c, &b, T(c->lang, "forbidden"),
							 T(c->lang, expired ? "session_expired" : "login_title"));
			return admin_send_html(c, MHD_HTTP_FORBIDDEN, &b);
		}
		return admin_redirect(c, expired ? "/login?expired=1" : "/login", NULL);
	}

	if (c->post)
	{
		const char *token = admin_form_get(&c->form, "csrf");

		if (!admin_token_equal(token, c->s->csrf))
		{
			Buf			b;

			buf_init(&b);
			gbnw_log_limited(GBNW_LOG, "page: POST from %s (role \"%s\") refused (403): CSRF token missing or wrong",
							 c->ip, c->s->role);
			admin_error_page(c, &b, T(c->lang, "forbidden"), T(c->lang, "csrf_bad"));
			ret = admin_send_html(c, MHD_HTTP_FORBIDDEN, &b);
		}
		else if (strcmp(path, "/logout") == 0)
			ret = admin_post_logout(c);
		else if (strcmp(path, "/act") == 0)
			ret = admin_post_act(c);
		else if (strcmp(path, "/optouts/optin") == 0)
			ret = admin_post_optin(c);
		else
			ret = admin_send(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10,
							 NULL, NULL);
	}
	else if (!get)
		ret = admin_send(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
						 "method not allowed\n", 19, MHD_HTTP_HEADER_ALLOW, "GET, POST");
	else if (strcmp(path, "/") == 0)
		ret = admin_redirect(c, "/notifications", NULL);
	else if (strcmp(path, "/notifications") == 0)
		ret = admin_page_list(c);
	else if (strncmp(path, "/n/", 3) == 0)
		ret = admin_page_detail(c, path + 3);
	else if (strcmp(path, "/export.csv") == 0)
		ret = admin_csv_export(c);
	else if (strcmp(path, "/optouts") == 0)
		ret = admin_page_optouts(c);
	else if (strcmp(path, "/confirm") == 0)
		ret = admin_page_confirm(c);
	else
	{
		Buf			b;

		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, "not_found"), T(c->lang, "not_found"));
		ret = admin_send_html(c, MHD_HTTP_NOT_FOUND, &b);
	}
	admin_session_release(c->s);
	c->s = NULL;
	return ret;
}

/* called with the request line's URI, before the headers: keep the raw query */
static void *
uri_logger(void *cls, const char *uri, struct MHD_Connection *con)
{
	AdminRequest *r = calloc(1, sizeof(AdminRequest));
	const char *qm;

	if (r == NULL)
		return NULL;
	if (uri != NULL && (qm = strchr(uri, '?')) != NULL && strlen(qm + 1) <= 8192)
		r->query = strdup(qm + 1);
	return r;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *con, const char *url, const char *method,
		const char *version, const char *upload_data, size_t *upload_data_size,
		void **con_cls)
{
	AdminRequest *r = *con_cls;
	AdminCtx	c;
	int			ret;

	if (r == NULL)
	{
		r = uri_logger(NULL, NULL, con);
		if (r == NULL)
			return MHD_NO;
		*con_cls = r;
	}
	if (!r->started)
	{
		r->started = true;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (r->too_big || n > ADMIN_FORM_MAX - r->len)
		{
			r->too_big = true;
			return MHD_YES;
		}
		if (r->len + n + 1 > r->cap)
		{
			size_t		nc = r->cap ? r->cap * 2 : 4096;
			char	   *nb;

			while (nc < r->len + n + 1)
				nc *= 2;
			nb = realloc(r->body, nc);
			if (nb == NULL)
				return MHD_NO;
			r->body = nb;
			r->cap = nc;
		}
		memcpy(r->body + r->len, upload_data, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}

	memset(&c, 0, sizeof(c));
	c.con = con;
	c.cfg = acfg;
	c.path = url;
	c.query = r->query ? r->query : "";
	c.post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	client_ip(con, c.ip, sizeof(c.ip));
	c.loopback = strncmp(c.ip, "127.", 4) == 0 || strcmp(c.ip, "::1") == 0;
	if (r->too_big)
		return (enum MHD_Result) admin_send(&c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain; charset=utf-8",
											"form too large\n", 15, NULL, NULL);
	if (!admin_form_parse(c.query, strlen(c.query), &c.q) ||
		(c.post && !admin_form_parse(r->body ? r->body : "", r->len, &c.form)))
	{
		admin_form_free(&c.q);
		admin_form_free(&c.form);
		return (enum MHD_Result) admin_send(&c, MHD_HTTP_BAD_REQUEST, "text/plain; charset=utf-8",
											"bad request\n", 12, NULL, NULL);
	}
	ret = dispatch(&c, method);
	admin_form_free(&c.q);
	admin_form_free(&c.form);
	return (enum MHD_Result) ret;
}

static void
completed(void *cls, struct MHD_Connection *con, void **con_cls,
		  enum MHD_RequestTerminationCode toe)
{
	AdminRequest *r = *con_cls;

	if (r == NULL)
		return;
	free(r->body);
	free(r->query);
	free(r);
	*con_cls = NULL;
}

bool
gbnw_admin_start(const GbnwConfig *cfg, char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;

	acfg = cfg;
	admin_sessions_init(cfg);
	if (cfg->admin_ipv6)
		flags |= MHD_USE_IPv6;
	admin_mhd = MHD_start_daemon(flags, 0, NULL, NULL, &handler, NULL,
								 MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &cfg->admin_addr,
								 MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) cfg->threads,
								 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) cfg->max_connections,
								 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) cfg->client_timeout_s,
								 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) cfg->header_memory_limit,
								 MHD_OPTION_URI_LOG_CALLBACK, &uri_logger, NULL,
								 MHD_OPTION_NOTIFY_COMPLETED, &completed, NULL,
								 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
								 MHD_OPTION_STRICT_FOR_CLIENT, (int) 1,
								 MHD_OPTION_END);
	if (admin_mhd == NULL)
	{
		snprintf(err, errlen, "could not listen on admin_listen %s (address in use, or not an address of this machine?)",
				 cfg->admin_listen);
		return false;
	}
	return true;
}

unsigned int
gbnw_admin_port(void)
{
	const union MHD_DaemonInfo *di;

	if (admin_mhd == NULL)
		return 0;
	di = MHD_get_daemon_info(admin_mhd, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : 0;
}

void
gbnw_admin_stop(void)
{
	if (admin_mhd != NULL)
		MHD_stop_daemon(admin_mhd);
	admin_mhd = NULL;
	admin_sessions_close_all();
}
