/*-------------------------------------------------------------------------
 *
 * admin_actions.c
 *		The page's POSTs (the Origin and CSRF checks are done before, in
 *		admin_server.c): login, logout, an action on rows, opt-in.
 *
 * An action is guestbook_notify.page_act() on the session's connection,
 * as the logged-in role: a role without EXECUTE on it gets "permission
 * denied" from PostgreSQL itself, and page_act() records who did what.
 * After an action the browser is sent back (303) to where it came from,
 * with a message shown once.
 *
 * src/web/admin_actions.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "admin.h"

/* a local path to go back to: "/..." but not "//..." (another host) */
static const char *
return_path(AdminCtx *c, const char *fallback)
{
	const char *r = admin_form_get(&c->form, "return");
	const char *p;

	if (r == NULL || r[0] != '/' || r[1] == '/' || r[1] == '\\' || strlen(r) > 2048)
		return fallback;
	for (p = r; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return fallback;
	return r;
}

int
admin_post_login(AdminCtx *c)
{
	const char *role = admin_form_get(&c->form, "role");
	const char *password = admin_form_get(&c->form, "password");
	AdminSession *s = NULL;
	LoginResult lr;
	char		cookie[256];
	char		esc[200];

	lr = admin_login(role, password, c->ip, &s);
	/* the password is not needed any more */
	if (password != NULL)
		OPENSSL_cleanse((void *) password, strlen(password));
	if (role != NULL)
		gbnw_escape_for_log(esc, sizeof(esc), role, strlen(role));
	else
		snprintf(esc, sizeof(esc), "-");
	switch (lr)
	{
		case LOGIN_OK:
			break;
		case LOGIN_BAD:
			gbnw_log_limited(GBNW_LOG, "page: login of role \"%s\" from %s failed", esc, c->ip);
			return admin_page_login(c, T(c->lang, "login_bad"), MHD_HTTP_UNAUTHORIZED);
		case LOGIN_THROTTLED:
			gbnw_log_limited(GBNW_LOG, "page: login of role \"%s\" from %s refused: too many failures (locked out)",
							 esc, c->ip);
			return admin_page_login(c, T(c->lang, "login_throttled"), MHD_HTTP_TOO_MANY_REQUESTS);
		case LOGIN_NO_ACCESS:
			gbnw_log_limited(GBNW_LOG, "page: role \"%s\" from %s has no access to the page", esc, c->ip);
			return admin_page_login(c, T(c->lang, "login_no_access"), MHD_HTTP_FORBIDDEN);
		case LOGIN_SUPERUSER:
			gbnw_log_limited(GBNW_LOG, "page: superuser \"%s\" refused", esc);
			return admin_page_login(c, T(c->lang, "login_superuser"), MHD_HTTP_FORBIDDEN);
		case LOGIN_FULL:
			return admin_page_login(c, T(c->lang, "login_full"), MHD_HTTP_SERVICE_UNAVAILABLE);
		case LOGIN_UNAVAILABLE:
			return admin_page_login(c, T(c->lang, "login_unavailable"), MHD_HTTP_SERVICE_UNAVAILABLE);
	}
	gbnw_log(GBNW_LOG, "page: role \"%s\" logged in from %s%s%s", esc, c->ip,
			 s->can_act ? " (may act)" : " (read only)",
			 s->can_unmask ? " (personal data in full)" : "");
	snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
			 admin_cookie_name(c->cfg), s->id, c->cfg->admin_secure_cookie ? "; Secure" : "");
	admin_session_release(s);
	return admin_redirect(c, "/notifications", cookie);
}

int
admin_post_logout(AdminCtx *c)
{
	char		cookie[160];

	gbnw_log(GBNW_LOG, "page: role \"%s\" logged out", c->s->role);
	admin_session_end(c->s);
	snprintf(cookie, sizeof(cookie), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
			 admin_cookie_name(c->cfg), c->cfg->admin_secure_cookie ? "; Secure" : "");
	return admin_redirect(c, "/login", cookie);
}

/* the result of page_act() as the message shown once; the counts for the log */
static void
flash_result(AdminCtx *c, const char *action, const char *json, char *logline, size_t loglen)
{
	json_object *o = json_tokener_parse(json);
	json_object *v;
	long long	done = 0,
				skipped = 0,
				errors = 0;
	char		label[32];
	const char *first_error = NULL;

	if (o != NULL)
	{
		if (json_object_object_get_ex(o, "done", &v))
			done = json_object_get_int64(v);
		if (json_object_object_get_ex(o, "skipped", &v))
			skipped = json_object_get_int64(v);
		if (json_object_object_get_ex(o, "errors", &v))
		{
			errors = (long long) json_object_array_length(v);
			if (errors > 0)
			{
				json_object *e;

				if (json_object_object_get_ex(json_object_array_get_idx(v, 0), "error", &e))
					first_error = json_object_get_string(e);
			}
		}
	}
	snprintf(label, sizeof(label), "a_%s", action);
	snprintf(c->s->flash, sizeof(c->s->flash), "%s: %lld %s, %lld %s, %lld %s%s%s",
			 T(c->lang, label), done, T(c->lang, "done_n"), skipped, T(c->lang, "skipped_n"),
			 errors, T(c->lang, "errors_n"), first_error ? " - " : "",
			 first_error ? first_error : "");
	/* the log gets counts only: an error text may hold a number */
	snprintf(logline, loglen, "%lld done, %lld skipped, %lld errors", done, skipped, errors);
	if (o != NULL)
		json_object_put(o);
}

/*
 * POST /act: action + id (repeated), or row_action "<action>:<id>", or
 * scope=filter + confirm=yes + the list's filter fields.
 */
int
admin_post_act(AdminCtx *c)
{
	const char *action = admin_form_get(&c->form, "action");
	const char *row = admin_form_get(&c->form, "row_action");
	const char *scope = admin_form_get(&c->form, "scope");
	const char *back = return_path(c, "/notifications");
	char		one_action[16] = "";
	char		one_id[37] = "";
	PGresult   *res;
	Buf			ids;
	const char *params[4];
	char	   *fj = NULL;
	ListFilter	lf;
	int			i,
				n = 0;
	Buf			b;
	bool		by_filter;

	memset(&lf, 0, sizeof(lf));
	if (row != NULL)
	{
		const char *colon = strchr(row, ':');

		if (colon == NULL || colon - row >= (long) sizeof(one_action) || !admin_valid_uuid(colon + 1))
			goto bad;
		memcpy(one_action, row, (size_t) (colon - row));
		one_action[colon - row] = '\0';
		snprintf(one_id, sizeof(one_id), "%s", colon + 1);
		action = one_action;
	}
	if (action == NULL || (strcmp(action, "requeue") != 0 && strcmp(action, "cancel") != 0 &&
						   strcmp(action, "resend") != 0))
		goto bad;

	buf_init(&ids);
	buf_add(&ids, "{");
	if (one_id[0])
	{
		buf_add(&ids, one_id);
		n = 1;
	}
	else if (scope == NULL || strcmp(scope, "filter") != 0)
	{
		for (i = 0; i < c->form.n; i++)
		{
			if (strcmp(c->form.p[i].key, "id") != 0)
				continue;
			if (!admin_valid_uuid(c->form.p[i].value))
			{
				buf_free(&ids);
				goto bad;
			}
			if (n > 0)
				buf_add(&ids, ",");
			buf_add(&ids, c->form.p[i].value);
			n++;
		}
		if (n == 0)
		{
			buf_free(&ids);
			snprintf(c->s->flash, sizeof(c->s->flash), "%s", T(c->lang, "no_selection"));
			return admin_redirect(c, back, NULL);
		}
	}
	else
	{
		const char *confirm = admin_form_get(&c->form, "confirm");

		if (confirm == NULL || strcmp(confirm, "yes") != 0)
		{
			buf_free(&ids);
			goto bad;
		}
		admin_filter_read(&c->form, &lf);
		if (strcmp(lf.tab, "overdue") == 0)
		{
			buf_free(&ids);
			goto bad;
		}
		fj = admin_filter_json(&lf);
	}
	buf_add(&ids, "}");

	params[0] = action;
	params[1] = n > 0 ? ids.data : NULL;
	params[2] = fj ? lf.tab : NULL;
	params[3] = fj;
	res = admin_exec(c, "SELECT guestbook_notify.page_act($1, $2::uuid[], $3, $4::jsonb)::text",
					 4, params);
	by_filter = fj != NULL;
	buf_free(&ids);
	free(fj);
	if (res == NULL)
		return admin_redirect(c, "/login?expired=1", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool		denied = state != NULL && strcmp(state, "42501") == 0;

		gbnw_log_limited(GBNW_LOG, "page: %s by role \"%s\" refused: %s", action, c->s->role,
						 denied ? "permission denied" : "error");
		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, denied ? "forbidden" : "error"),
						 denied ? T(c->lang, "no_permission") :
						 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		PQclear(res);
		return admin_send_html(c, denied ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST, &b);
	}
	{
		char		logline[128];

		flash_result(c, action, PQgetvalue(res, 0, 0), logline, sizeof(logline));
		gbnw_log(GBNW_LOG, "page: role \"%s\" %s %s: %s", c->s->role, action,
				 by_filter ? "all matching a filter" : "by id", logline);
	}
	PQclear(res);
	return admin_redirect(c, back, NULL);

bad:
	buf_init(&b);
	admin_error_page(c, &b, T(c->lang, "error"), T(c->lang, "bad_request"));
	return admin_send_html(c, MHD_HTTP_BAD_REQUEST, &b);
}

int
admin_post_optin(AdminCtx *c)
{
	const char *number = admin_form_get(&c->form, "number");
	const char *params[1] = {number};
	PGresult   *res;
	Buf			b;

	if (number == NULL || strlen(number) > 64)
	{
		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, "error"), T(c->lang, "bad_request"));
		return admin_send_html(c, MHD_HTTP_BAD_REQUEST, &b);
	}
	res = admin_exec(c, "SELECT guestbook_notify.page_opt_in($1)", 1, params);
	if (res == NULL)
		return admin_redirect(c, "/login?expired=1", NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool		denied = state != NULL && strcmp(state, "42501") == 0;

		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, denied ? "forbidden" : "error"),
						 denied ? T(c->lang, "no_permission") :
						 PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		PQclear(res);
		return admin_send_html(c, denied ? MHD_HTTP_FORBIDDEN : MHD_HTTP_BAD_REQUEST, &b);
	}
	snprintf(c->s->flash, sizeof(c->s->flash), "%s",
			 T(c->lang, strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? "optin_done" : "optin_none"));
	PQclear(res);
	return admin_redirect(c, "/optouts", NULL);
}
