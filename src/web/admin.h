/*-------------------------------------------------------------------------
 *
 * admin.h
 *		The Notifications page of guestbook_notify_web (README,
 *		"Notifications page"): its own listener (admin_listen), login as a
 *		PostgreSQL role, server-rendered HTML.
 *
 *	 admin_server.c		the listener, requests, forms, routing, headers
 *	 admin_session.c	sessions (cookie, CSRF token, timeouts, the role's
 *						libpq connection) and login throttling
 *	 admin_render.c		the growing buffer, HTML/URL/CSV escaping, the frame
 *	 admin_i18n.c		the page's words, Indonesian and English
 *	 admin_time.c		"25 Nov 2026 16.15 WIB"
 *	 admin_filter.c		the list's tabs and filter, checked and written back
 *	 admin_pages.c		login, list, confirmation, opt-outs (GET)
 *	 admin_detail.c		the detail of one notification (GET)
 *	 admin_actions.c	login, logout, actions, opt-in (POST)
 *	 admin_csv.c		the CSV export
 *	 admin_static.c		the style sheet and the refresh script
 *
 * src/web/admin.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBNW_ADMIN_H
#define GBNW_ADMIN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <libpq-fe.h>

#include "gbnw.h"

#define ADMIN_TOKEN_LEN		43		/* base64url of 32 random bytes */
#define ADMIN_ROLE_MAX		63		/* NAMEDATALEN - 1 */
#define ADMIN_MAX_SESSIONS	256
#define ADMIN_FORM_MAX		(256 * 1024)	/* bytes of a POST body */
#define ADMIN_FORM_PARAMS	1200
#define ADMIN_PAGE_ROWS		50
#define ADMIN_LOGIN_FAILS	5		/* per role, then locked out */
#define ADMIN_LOGIN_FAILS_IP 20		/* per client address */

/* ----------------------------------------------------------------
 * A growing buffer (admin_render.c)
 * ----------------------------------------------------------------
 */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		oom;
} Buf;

extern void buf_init(Buf *b);
extern void buf_free(Buf *b);
extern void buf_add(Buf *b, const char *s);
extern void buf_addn(Buf *b, const char *s, size_t n);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_html(Buf *b, const char *s);	/* text and attribute values */
extern void buf_url(Buf *b, const char *s); /* a query-string value */
extern void buf_csv_cell(Buf *b, const char *s);	/* quoted, formulas made inert */

/* ----------------------------------------------------------------
 * Words (admin_i18n.c)
 * ----------------------------------------------------------------
 */
typedef enum Lang
{
	LANG_ID = 0,
	LANG_EN = 1
} Lang;

extern const char *T(Lang lang, const char *key);

/* ----------------------------------------------------------------
 * Times (admin_time.c)
 * ----------------------------------------------------------------
 */
extern bool admin_format_time(const char *pgtime, const char *time_zone, Lang lang,
							  char *out, size_t outlen);

/* ----------------------------------------------------------------
 * Forms and query strings (admin_server.c)
 * ----------------------------------------------------------------
 */
typedef struct FormParam
{
	char	   *key;
	char	   *value;
} FormParam;

typedef struct Form
{
	FormParam  *p;
	int			n;
} Form;

extern bool admin_form_parse(const char *s, size_t len, Form *f);
extern void admin_form_free(Form *f);
extern const char *admin_form_get(const Form *f, const char *key);

/* ----------------------------------------------------------------
 * Sessions (admin_session.c)
 * ----------------------------------------------------------------
 */
typedef struct AdminSession
{
	bool		used;
	bool		dead;			/* ended: freed when no request holds it */
	bool		expired;		/* timed out: connection closed, id kept a while */
	int			refs;
	pthread_mutex_t lock;		/* held by the request using conn */
	char		id[ADMIN_TOKEN_LEN + 1];
	char		csrf[ADMIN_TOKEN_LEN + 1];
	char		role[ADMIN_ROLE_MAX + 1];
	PGconn	   *conn;
	time_t		created;		/* CLOCK_MONOTONIC seconds */
	time_t		last_seen;
	bool		can_act;
	bool		can_unmask;
	char		flash[512];		/* shown once, after an action */
	bool		trusted;		/* logged in by admin_trusted_header */
} AdminSession;

typedef enum LoginResult
{
	LOGIN_OK,
	LOGIN_BAD,					/* wrong role or password (one message for both) */
	LOGIN_THROTTLED,
	LOGIN_NO_ACCESS,			/* the role may not read the page */
	LOGIN_SUPERUSER,
	LOGIN_FULL,					/* too many sessions */
	LOGIN_UNAVAILABLE			/* the database cannot be reached */
} LoginResult;

extern void admin_sessions_init(const GbnwConfig *cfg);
extern LoginResult admin_login(const char *role, const char *password, const char *ip,
							   AdminSession **out);
extern AdminSession *admin_session_get(const char *cookie_value, bool *expired);
extern void admin_session_release(AdminSession *s);
extern void admin_session_end(AdminSession *s);
extern void admin_sessions_sweep(void);
extern void admin_sessions_close_all(void);
extern bool admin_token_equal(const char *a, const char *b);

/* ----------------------------------------------------------------
 * A request being answered (admin_server.c)
 * ----------------------------------------------------------------
 */
typedef struct AdminCtx
{
	struct MHD_Connection *con;
	const GbnwConfig *cfg;
	const char *path;
	const char *query;			/* after '?', or "" */
	Form		q;				/* the query string */
	Form		form;			/* a POST's urlencoded body */
	bool		post;
	Lang		lang;
	bool		set_lang_cookie;
	AdminSession *s;			/* NULL when not logged in */
	char		ip[64];
	bool		loopback;		/* the client is 127.0.0.0/8 or ::1 */
} AdminCtx;

extern const char *admin_cookie_name(const GbnwConfig *cfg);
extern int	admin_send_html(AdminCtx *c, unsigned int status, Buf *body);
extern int	admin_send(AdminCtx *c, unsigned int status, const char *ctype,
					   const char *body, size_t len, const char *extra_header,
					   const char *extra_value);
extern int	admin_redirect(AdminCtx *c, const char *location, const char *set_cookie);

/* the frame of every HTML page (admin_render.c) */
extern void admin_page_start(AdminCtx *c, Buf *b, const char *title);
extern void admin_page_end(AdminCtx *c, Buf *b);
extern void admin_error_page(AdminCtx *c, Buf *b, const char *title, const char *text);

/* the handlers */
extern int	admin_page_login(AdminCtx *c, const char *message, unsigned int status);
extern int	admin_page_list(AdminCtx *c);
extern int	admin_page_detail(AdminCtx *c, const char *id);
extern int	admin_page_optouts(AdminCtx *c);
extern int	admin_page_confirm(AdminCtx *c);
extern int	admin_post_login(AdminCtx *c);
extern int	admin_post_logout(AdminCtx *c);
extern int	admin_post_act(AdminCtx *c);
extern int	admin_post_optin(AdminCtx *c);
extern int	admin_csv_export(AdminCtx *c);
extern int	admin_static(AdminCtx *c, const char *name);

/* the tabs and recipient roles (admin_filter.c) */
#define ADMIN_NTABS 11
#define ADMIN_NROLES 4
extern const char *const admin_tabs[ADMIN_NTABS];
extern const char *const admin_roles[ADMIN_NROLES];
extern const char *admin_tab_label_key(const char *tab);

/* HTML pieces shared by the pages (admin_render.c, admin_filter.c) */
extern void admin_hidden(Buf *b, const char *name, const char *value);
extern void admin_fmt_time(AdminCtx *c, Buf *b, const char *pgtime);
extern void admin_action_button(AdminCtx *c, Buf *b, const char *name, const char *value,
								const char *label_key);
extern int	admin_sql_error_page(AdminCtx *c, PGresult *res);

/* the list's filter, shared by the list, the CSV and "all matching" */
typedef struct ListFilter
{
	char		tab[16];
	char		template_key[64];
	char		role[16];
	char		from[11];
	char		to[11];
	char		q[101];
} ListFilter;

extern void admin_filter_read(const Form *f, ListFilter *lf);
extern char *admin_filter_json(const ListFilter *lf);
extern void admin_filter_query(Buf *b, const ListFilter *lf);
extern void admin_filter_hidden(Buf *b, const ListFilter *lf);

/* a statement on the session's connection; NULL result: the session ended */
extern PGresult *admin_exec(AdminCtx *c, const char *sql, int nparams, const char *const *params);
extern bool admin_valid_uuid(const char *s);

/* the listener */
extern bool gbnw_admin_start(const GbnwConfig *cfg, char *err, size_t errlen);
extern unsigned int gbnw_admin_port(void);
extern void gbnw_admin_stop(void);

#endif							/* GBNW_ADMIN_H */
