/*-------------------------------------------------------------------------
 *
 * admin_pages.c
 *		The page's GETs: the login form, the list (tabs with counts,
 *		filters, search, keyset pagination, the worker banner), the
 *		confirmation of an action on all matching rows, the detail, the
 *		"Terlambat" tab and the opt-out list.
 *
 * Every statement runs on the session's connection as the logged-in
 * role: the SQL functions (src/sql/67_admin_page.sql) and their grants
 * decide what it sees.  Every value from the database is written with
 * buf_html().
 *
 * src/web/admin_pages.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>
#include <microhttpd.h>

#include "admin.h"

/* ----------------------------------------------------------------
 * Login
 * ----------------------------------------------------------------
 */

int
admin_page_login(AdminCtx *c, const char *message, unsigned int status)
{
	Buf			b;
	const char *role = c->post ? admin_form_get(&c->form, "role") : NULL;

	buf_init(&b);
	if (message == NULL && admin_form_get(&c->q, "expired") != NULL)
		message = T(c->lang, "session_expired");
	admin_page_start(c, &b, T(c->lang, "login"));
	buf_add(&b, "<h1>");
	buf_html(&b, T(c->lang, "login_title"));
	buf_add(&b, "</h1>\n");
	if (message)
	{
		buf_add(&b, "<p id=\"login-error\" role=\"alert\">");
		buf_html(&b, message);
		buf_add(&b, "</p>\n");
	}
	buf_add(&b, "<p>");
	buf_html(&b, T(c->lang, "login_help"));
	buf_add(&b, "</p>\n<form id=\"login-form\" method=\"post\" action=\"/login\">\n"
			"<p><label for=\"role\">");
	buf_html(&b, T(c->lang, "role"));
	buf_add(&b, "</label><br><input id=\"role\" name=\"role\" autocomplete=\"username\" required value=\"");
	buf_html(&b, role ? role : "");
	buf_add(&b, "\"></p>\n<p><label for=\"password\">");
	buf_html(&b, T(c->lang, "password"));
	buf_add(&b, "</label><br><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\n"
			"<p><button type=\"submit\" id=\"login-button\">");
	buf_html(&b, T(c->lang, "login"));
	buf_add(&b, "</button></p>\n</form>\n");
	admin_page_end(c, &b);
	return admin_send_html(c, status, &b);
}

/* ----------------------------------------------------------------
 * The list
 * ----------------------------------------------------------------
 */

static void
banner(AdminCtx *c, Buf *b)
{
	PGresult   *res = admin_exec(c, "SELECT guestbook_notify.page_status()::text", 0, NULL);
	json_object *o = NULL;
	json_object *v;
	bool		standby = false;
	int			i,
				n = 0;

	if (res == NULL)
		return;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		o = json_tokener_parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (o == NULL)
		return;
	buf_add(b, "<div id=\"worker-banner\" role=\"status\"");
	if (json_object_object_get_ex(o, "standby", &v) && json_object_get_boolean(v))
		standby = true;
	if (json_object_object_get_ex(o, "workers", &v))
		n = (int) json_object_array_length(v);
	{
		bool		problem = standby || n == 0;
		json_object *oc;

		if (json_object_object_get_ex(o, "opted_out_contacts", &oc) && json_object_get_int64(oc) > 0)
			problem = true;

		for (i = 0; i < n; i++)
		{
			json_object *w = json_object_array_get_idx(v, (size_t) i);
			json_object *x;

			if ((json_object_object_get_ex(w, "paused_reason", &x) && json_object_get_type(x) == json_type_string) ||
				(json_object_object_get_ex(w, "state", &x) && json_object_get_string(x) &&
				 strstr(json_object_get_string(x), "invalid") != NULL))
				problem = true;
		}
		buf_add(b, problem ? " class=\"banner problem\">" : " class=\"banner ok\">");
	}
	if (standby)
	{
		buf_add(b, "<p>");
		buf_html(b, T(c->lang, "worker_standby"));
		buf_add(b, "</p>");
	}
	else if (n == 0)
	{
		buf_add(b, "<p>");
		buf_html(b, T(c->lang, "worker_none"));
		buf_add(b, "</p>");
	}
	for (i = 0; i < n; i++)
	{
		json_object *w = json_object_array_get_idx(v, (size_t) i);
		json_object *x;
		const char *state = json_object_object_get_ex(w, "state", &x) ? json_object_get_string(x) : NULL;
		const char *paused = json_object_object_get_ex(w, "paused_reason", &x) ? json_object_get_string(x) : NULL;
		const char *lasterr = json_object_object_get_ex(w, "last_error", &x) ? json_object_get_string(x) : NULL;

		buf_add(b, "<p>");
		if (paused != NULL)
		{
			buf_add(b, "<strong>");
			buf_html(b, T(c->lang, "worker_paused"));
			buf_add(b, ":</strong> ");
			buf_html(b, paused);
		}
		else if (state != NULL && strstr(state, "invalid") != NULL)
		{
			buf_add(b, "<strong>");
			buf_html(b, T(c->lang, "worker_invalid"));
			buf_add(b, ":</strong> ");
			buf_html(b, lasterr ? lasterr : state);
		}
		else
		{
			buf_html(b, T(c->lang, "worker_ok"));
			buf_add(b, " (");
			buf_html(b, state ? state : "-");
			buf_add(b, ")");
		}
		buf_add(b, "</p>");
	}
	if (json_object_object_get_ex(o, "opted_out_contacts", &v) && json_object_get_int64(v) > 0)
	{
		buf_add(b, "<p id=\"optout-warning\"><strong>");
		buf_html(b, T(c->lang, "opted_out"));
		buf_printf(b, ":</strong> %lld ", (long long) json_object_get_int64(v));
		buf_html(b, T(c->lang, "opted_out_contacts"));
		buf_add(b, " <a href=\"/optouts\">");
		buf_html(b, T(c->lang, "optouts"));
		buf_add(b, "</a></p>");
	}
	buf_add(b, "</div>\n<p id=\"queue-stats\">");
	buf_html(b, T(c->lang, "queue_length"));
	buf_add(b, ": <strong>");
	if (json_object_object_get_ex(o, "queue_length", &v))
		buf_printf(b, "%lld", (long long) json_object_get_int64(v));
	buf_add(b, "</strong> &middot; ");
	buf_html(b, T(c->lang, "oldest_pending"));
	buf_add(b, ": <strong>");
	if (json_object_object_get_ex(o, "oldest_pending_s", &v) && json_object_get_type(v) != json_type_null)
	{
		long long	s = json_object_get_int64(v);

		if (s < 120)
			buf_printf(b, "%lld %s", s, c->lang == LANG_EN ? "s" : "detik");
		else if (s < 7200)
			buf_printf(b, "%lld %s", s / 60, c->lang == LANG_EN ? "min" : "menit");
		else
			buf_printf(b, "%lld %s", s / 3600, c->lang == LANG_EN ? "h" : "jam");
	}
	else
		buf_add(b, "-");
	buf_add(b, "</strong></p>\n");
	json_object_put(o);
}

static void
tab_links(AdminCtx *c, Buf *b, const ListFilter *lf, const char *filter_json)
{
	/* counted up to 1,000; with a search, among its newest 200 matches */
	const char *p[2] = {filter_json, lf->q[0] ? "200" : "1000"};
	PGresult   *res = admin_exec(c, "SELECT tab, n, exact FROM guestbook_notify.page_counts($1::jsonb, $2::integer)", 2, p);
	int			i,
				r;

	buf_add(b, "<nav aria-label=\"");
	buf_html(b, T(c->lang, "tabs"));
	buf_add(b, "\" id=\"tabs\"><ul aria-live=\"polite\">\n");
	for (i = 0; i < ADMIN_NTABS; i++)
	{
		long		count = -1;
		bool		exact = true;

		if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
			for (r = 0; r < PQntuples(res); r++)
				if (strcmp(PQgetvalue(res, r, 0), admin_tabs[i]) == 0)
				{
					count = atol(PQgetvalue(res, r, 1));
					exact = strcmp(PQgetvalue(res, r, 2), "t") == 0;
				}
		buf_add(b, "<li><a data-tab=\"");
		buf_add(b, admin_tabs[i]);
		buf_add(b, "\" href=\"/notifications?tab=");
		buf_add(b, admin_tabs[i]);
		if (strcmp(admin_tabs[i], "overdue") != 0)
		{
			Buf			q;

			buf_add(b, "&amp;");
			buf_init(&q);
			admin_filter_query(&q, lf);
			buf_html(b, q.data);
			buf_free(&q);
		}
		buf_add(b, "\"");
		if (strcmp(admin_tabs[i], lf->tab) == 0)
			buf_add(b, " aria-current=\"page\" class=\"current\"");
		buf_add(b, ">");
		buf_html(b, T(c->lang, admin_tab_label_key(admin_tabs[i])));
		if (count >= 0)
		{
			buf_add(b, " <span class=\"count\">");
			if (count > 1000)
				buf_add(b, c->lang == LANG_EN ? "1,000+" : "1.000+");
			else
				buf_printf(b, "%ld%s", count, exact ? "" : "+");
			buf_add(b, "</span>");
		}
		buf_add(b, "</a></li>\n");
	}
	buf_add(b, "</ul></nav>\n");
	PQclear(res);
}

static void
filter_form(AdminCtx *c, Buf *b, const ListFilter *lf)
{
	PGresult   *res = admin_exec(c, "SELECT guestbook_notify.page_templates()", 0, NULL);
	int			i;

	buf_add(b, "<form id=\"filter-form\" method=\"get\" action=\"/notifications\" role=\"search\">\n"
			"<fieldset><legend>");
	buf_html(b, T(c->lang, "filters"));
	buf_add(b, "</legend>\n");
	admin_hidden(b, "tab", lf->tab);
	buf_add(b, "<label for=\"f-template\">");
	buf_html(b, T(c->lang, "f_template"));
	buf_add(b, "</label> <select id=\"f-template\" name=\"template\"><option value=\"\">");
	buf_html(b, T(c->lang, "any"));
	buf_add(b, "</option>");
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
		for (i = 0; i < PQntuples(res); i++)
		{
			buf_add(b, "<option");
			if (strcmp(PQgetvalue(res, i, 0), lf->template_key) == 0)
				buf_add(b, " selected");
			buf_add(b, ">");
			buf_html(b, PQgetvalue(res, i, 0));
			buf_add(b, "</option>");
		}
	PQclear(res);
	buf_add(b, "</select>\n<label for=\"f-role\">");
	buf_html(b, T(c->lang, "f_role"));
	buf_add(b, "</label> <select id=\"f-role\" name=\"role\"><option value=\"\">");
	buf_html(b, T(c->lang, "any"));
	buf_add(b, "</option>");
	for (i = 0; i < ADMIN_NROLES; i++)
	{
		char		key[32];

		snprintf(key, sizeof(key), "role_%s", admin_roles[i]);
		buf_printf(b, "<option value=\"%s\"%s>", admin_roles[i],
				   strcmp(lf->role, admin_roles[i]) == 0 ? " selected" : "");
		buf_html(b, T(c->lang, key));
		buf_add(b, "</option>");
	}
	buf_add(b, "</select>\n<label for=\"f-from\">");
	buf_html(b, T(c->lang, "f_from"));
	buf_add(b, "</label> <input type=\"date\" id=\"f-from\" name=\"from\" value=\"");
	buf_html(b, lf->from);
	buf_add(b, "\">\n<label for=\"f-to\">");
	buf_html(b, T(c->lang, "f_to"));
	buf_add(b, "</label> <input type=\"date\" id=\"f-to\" name=\"to\" value=\"");
	buf_html(b, lf->to);
	buf_add(b, "\">\n<label for=\"f-q\">");
	buf_html(b, T(c->lang, "f_q"));
	buf_add(b, "</label> <input type=\"search\" id=\"f-q\" name=\"q\" maxlength=\"100\" value=\"");
	buf_html(b, lf->q);
	buf_add(b, "\">\n<button type=\"submit\" id=\"filter-apply\">");
	buf_html(b, T(c->lang, "apply"));
	buf_add(b, "</button> <a href=\"/notifications?tab=");
	buf_add(b, lf->tab);
	buf_add(b, "\">");
	buf_html(b, T(c->lang, "reset"));
	buf_add(b, "</a> <a id=\"csv-link\" href=\"/export.csv?tab=");
	buf_add(b, lf->tab);
	buf_add(b, "&amp;");
	{
		Buf			q;

		buf_init(&q);
		admin_filter_query(&q, lf);
		buf_html(b, q.data);
		buf_free(&q);
	}
	buf_add(b, "\">");
	buf_html(b, T(c->lang, "csv"));
	buf_add(b, "</a>\n</fieldset></form>\n");
}

/*
 * which actions apply to a row of this tab and queue status (a failure
 * reported after sending is in "failed" but is no longer the queue's to
 * requeue or cancel: only a resend applies)
 */
static void
row_actions(AdminCtx *c, Buf *b, const char *id, const char *tab,
			const char *status, bool has_resend)
{
	bool		unsent_failure = strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0;

	char		v[64];

	if (!c->s->can_act)
		return;
	if (strcmp(tab, "failed") == 0 && !has_resend)
	{
		snprintf(v, sizeof(v), "resend:%s", id);
		admin_action_button(c, b, "row_action", v, "a_resend");
	}
	if ((strcmp(tab, "failed") == 0 || strcmp(tab, "cancelled") == 0) && unsent_failure)
	{
		snprintf(v, sizeof(v), "requeue:%s", id);
		admin_action_button(c, b, "row_action", v, "a_requeue");
	}
	if (strcmp(tab, "pending") == 0 || strcmp(tab, "held") == 0 ||
		(strcmp(tab, "failed") == 0 && strcmp(status, "failed") == 0))
	{
		snprintf(v, sizeof(v), "cancel:%s", id);
		admin_action_button(c, b, "row_action", v, "a_cancel");
	}
}

static int
overdue_page(AdminCtx *c, Buf *b)
{
	PGresult   *res = admin_exec(c,
								 "SELECT case_id, case_code, case_type, stage, waiting_since::text,"
								 " overdue_since::text, reminders, last_notification_id, last_notification_status"
								 " FROM guestbook_notify.page_overdue(200)", 0, NULL);
	int			i;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		buf_free(b);
		return admin_sql_error_page(c, res);
	}
	buf_add(b, "<table id=\"overdue\">\n<caption>");
	buf_html(b, T(c->lang, "overdue_caption"));
	buf_add(b, "</caption>\n<thead><tr><th scope=\"col\">");
	buf_html(b, T(c->lang, "c_case"));
	buf_add(b, "</th><th scope=\"col\">");
	buf_html(b, T(c->lang, "c_stage"));
	buf_add(b, "</th><th scope=\"col\">");
	buf_html(b, T(c->lang, "c_waiting_since"));
	buf_add(b, "</th><th scope=\"col\">");
	buf_html(b, T(c->lang, "c_overdue_since"));
	buf_add(b, "</th><th scope=\"col\">");
	buf_html(b, T(c->lang, "c_reminders"));
	buf_add(b, "</th></tr></thead>\n<tbody>\n");
	for (i = 0; i < PQntuples(res); i++)
	{
		buf_add(b, "<tr data-case=\"");
		buf_html(b, PQgetvalue(res, i, 0));
		buf_add(b, "\"><th scope=\"row\">");
		buf_html(b, PQgetvalue(res, i, 1));
		buf_add(b, " <small>");
		buf_html(b, PQgetvalue(res, i, 2));
		buf_add(b, "</small></th><td>");
		buf_html(b, PQgetvalue(res, i, 3));
		buf_add(b, "</td><td>");
		admin_fmt_time(c, b, PQgetvalue(res, i, 4));
		buf_add(b, "</td><td>");
		admin_fmt_time(c, b, PQgetvalue(res, i, 5));
		buf_add(b, "</td><td>");
		buf_html(b, PQgetvalue(res, i, 6));
		if (!PQgetisnull(res, i, 7))
		{
			buf_add(b, " (<a href=\"/n/");
			buf_html(b, PQgetvalue(res, i, 7));
			buf_add(b, "\">");
			buf_html(b, PQgetvalue(res, i, 8));
			buf_add(b, "</a>)");
		}
		buf_add(b, "</td></tr>\n");
	}
	if (PQntuples(res) == 0)
	{
		buf_add(b, "<tr><td colspan=\"5\">");
		buf_html(b, T(c->lang, "no_overdue"));
		buf_add(b, "</td></tr>\n");
	}
	buf_add(b, "</tbody></table>\n");
	PQclear(res);
	admin_page_end(c, b);
	return admin_send_html(c, MHD_HTTP_OK, b);
}

int
admin_page_list(AdminCtx *c)
{
	ListFilter	lf;
	char	   *fj;
	const char *after = admin_form_get(&c->q, "after");
	char		after_us[24] = "";
	char		after_id[37] = "";
	const char *params[4];
	PGresult   *res;
	Buf			b;
	Buf			self;
	int			i,
				n;

	admin_filter_read(&c->q, &lf);
	if (after != NULL)
	{
		/* <microseconds since the epoch>_<uuid> */
		const char *us = strchr(after, '_');

		if (us != NULL && us - after > 0 && us - after < 20 && admin_valid_uuid(us + 1))
		{
			memcpy(after_us, after, (size_t) (us - after));
			after_us[us - after] = '\0';
			snprintf(after_id, sizeof(after_id), "%s", us + 1);
			for (i = 0; after_us[i]; i++)
				if ((after_us[i] < '0' || after_us[i] > '9') && !(i == 0 && after_us[i] == '-'))
					after_us[0] = after_id[0] = '\0';
		}
	}
	fj = admin_filter_json(&lf);
	if (fj == NULL)
		return MHD_NO;

	buf_init(&b);
	admin_page_start(c, &b, T(c->lang, admin_tab_label_key(lf.tab)));
	buf_add(&b, "<h1>");
	buf_html(&b, T(c->lang, "notifications"));
	buf_add(&b, "</h1>\n");
	banner(c, &b);
	if (c->s == NULL || c->s->dead)
	{
		free(fj);
		buf_free(&b);
		return admin_redirect(c, "/login?expired=1", NULL);
	}
	buf_add(&b, "<p class=\"refresh\"><button type=\"button\" id=\"refresh-toggle\" aria-pressed=\"false\" hidden>");
	buf_html(&b, T(c->lang, "pause_refresh"));
	buf_add(&b, "</button> <span id=\"refresh-note\">");
	buf_html(&b, T(c->lang, "auto_refresh"));
	buf_add(&b, "</span></p>\n");
	tab_links(c, &b, &lf, fj);
	if (strcmp(lf.tab, "overdue") == 0)
	{
		free(fj);
		return overdue_page(c, &b);
	}
	filter_form(c, &b, &lf);

	params[0] = lf.tab;
	params[1] = fj;
	params[2] = after_us;
	params[3] = after_id;
	res = admin_exec(c,
					 "SELECT id, created_at::text, row_tab, status, delivery_status, template_key,"
					 " recipient_role, recipient_name, to_number, case_code, subject, attempt_count,"
					 " last_error, in_flight, resent_as, wa_link,"
					 " (extract(epoch FROM created_at) * 1000000)::bigint"
					 " FROM guestbook_notify.page_list($1, $2::jsonb,"
					 "  CASE WHEN $3 = '' THEN NULL"
					 "       ELSE 'epoch'::timestamptz + $3::bigint * interval '1 microsecond' END,"
					 "  nullif($4, '')::uuid, 51)",
					 4, params);
	free(fj);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		buf_free(&b);
		return admin_sql_error_page(c, res);
	}
	n = PQntuples(res);

	/* where an action returns to */
	buf_init(&self);
	buf_add(&self, "/notifications?tab=");
	buf_add(&self, lf.tab);
	buf_add(&self, "&");
	admin_filter_query(&self, &lf);

	buf_add(&b, "<form id=\"bulk-form\" method=\"post\" action=\"/act\">\n");
	admin_hidden(&b, "csrf", c->s->csrf);
	admin_hidden(&b, "return", self.data ? self.data : "/notifications");
	if (c->s->can_act)
	{
		buf_add(&b, "<fieldset class=\"bulk\"><legend>");
		buf_html(&b, T(c->lang, "bulk"));
		buf_add(&b, " (");
		buf_html(&b, T(c->lang, "bulk_selected"));
		buf_add(&b, ")</legend>");
		admin_action_button(c, &b, "action", "resend", "a_resend");
		buf_add(&b, " ");
		admin_action_button(c, &b, "action", "requeue", "a_requeue");
		buf_add(&b, " ");
		admin_action_button(c, &b, "action", "cancel", "a_cancel");
		buf_add(&b, "</fieldset>\n");
	}
	buf_add(&b, "<table id=\"notifications\">\n<caption>");
	buf_html(&b, T(c->lang, "caption"));
	buf_add(&b, ": ");
	buf_html(&b, T(c->lang, admin_tab_label_key(lf.tab)));
	buf_add(&b, "</caption>\n<thead><tr>");
	if (c->s->can_act)
	{
		buf_add(&b, "<th scope=\"col\">");
		buf_html(&b, T(c->lang, "c_select"));
		buf_add(&b, "</th>");
	}
	{
		static const char *const cols[] = {"c_created", "c_status", "c_case", "c_template",
			"c_recipient", "c_number", "c_subject", "c_attempts", "c_error", "c_actions"};

		for (i = 0; i < 10; i++)
		{
			buf_add(&b, "<th scope=\"col\">");
			buf_html(&b, T(c->lang, cols[i]));
			buf_add(&b, "</th>");
		}
	}
	buf_add(&b, "</tr></thead>\n<tbody>\n");
	for (i = 0; i < n && i < ADMIN_PAGE_ROWS; i++)
	{
		const char *id = PQgetvalue(res, i, 0);
		const char *tab = PQgetvalue(res, i, 2);

		buf_add(&b, "<tr data-id=\"");
		buf_html(&b, id);
		buf_add(&b, "\" data-status=\"");
		buf_html(&b, tab);
		buf_add(&b, "\">");
		if (c->s->can_act)
		{
			buf_add(&b, "<td><input type=\"checkbox\" name=\"id\" id=\"sel-");
			buf_html(&b, id);
			buf_add(&b, "\" value=\"");
			buf_html(&b, id);
			buf_add(&b, "\"><label class=\"vh\" for=\"sel-");
			buf_html(&b, id);
			buf_add(&b, "\">");
			buf_html(&b, T(c->lang, "select_row"));
			buf_add(&b, "</label></td>");
		}
		buf_add(&b, "<td>");
		admin_fmt_time(c, &b, PQgetvalue(res, i, 1));
		buf_add(&b, "</td><td class=\"status status-");
		buf_html(&b, tab);
		buf_add(&b, "\">");
		buf_html(&b, T(c->lang, admin_tab_label_key(tab)));
		if (strcmp(tab, "cancelled") == 0 && strcmp(PQgetvalue(res, i, 12), "recipient opted out") == 0)
		{
			buf_add(&b, " <strong class=\"optout\">");
			buf_html(&b, T(c->lang, "opted_out"));
			buf_add(&b, "</strong>");
		}
		if (!PQgetisnull(res, i, 14))
		{
			buf_add(&b, " <small>(");
			buf_html(&b, T(c->lang, "resent_as"));
			buf_add(&b, ")</small>");
		}
		buf_add(&b, "</td><th scope=\"row\"><a href=\"/n/");
		buf_html(&b, id);
		buf_add(&b, "\">");
		buf_html(&b, PQgetisnull(res, i, 9) ? T(c->lang, "open") : PQgetvalue(res, i, 9));
		buf_add(&b, "</a></th><td>");
		buf_html(&b, PQgetvalue(res, i, 5));
		buf_add(&b, "</td><td>");
		buf_html(&b, PQgetvalue(res, i, 7));
		buf_add(&b, " <small>");
		buf_html(&b, PQgetvalue(res, i, 6));
		buf_add(&b, "</small></td><td>");
		buf_html(&b, PQgetvalue(res, i, 8));
		buf_add(&b, "</td><td>");
		buf_html(&b, PQgetvalue(res, i, 10));
		buf_add(&b, "</td><td>");
		buf_html(&b, PQgetvalue(res, i, 11));
		buf_add(&b, "</td><td>");
		buf_html(&b, PQgetvalue(res, i, 12));
		buf_add(&b, "</td><td>");
		row_actions(c, &b, id, tab, PQgetvalue(res, i, 3), !PQgetisnull(res, i, 14));
		if (!PQgetisnull(res, i, 15))
		{
			buf_add(&b, " <a class=\"wa-link\" rel=\"noopener noreferrer\" target=\"_blank\" href=\"");
			buf_html(&b, PQgetvalue(res, i, 15));
			buf_add(&b, "\">");
			buf_html(&b, T(c->lang, "wa_link"));
			buf_add(&b, "</a>");
		}
		buf_add(&b, "</td></tr>\n");
	}
	if (n == 0)
	{
		buf_printf(&b, "<tr><td colspan=\"%d\" id=\"empty\">", c->s->can_act ? 11 : 10);
		buf_html(&b, T(c->lang, "empty"));
		buf_add(&b, "</td></tr>\n");
	}
	buf_add(&b, "</tbody></table>\n</form>\n<p class=\"pages\">");
	if (after_us[0])
	{
		buf_add(&b, "<a id=\"first-page\" href=\"");
		buf_html(&b, self.data);
		buf_add(&b, "\">");
		buf_html(&b, T(c->lang, "first_page"));
		buf_add(&b, "</a> ");
	}
	if (n > ADMIN_PAGE_ROWS)
	{
		buf_add(&b, "<a id=\"next-page\" rel=\"next\" href=\"");
		buf_html(&b, self.data);
		buf_add(&b, "&amp;after=");
		buf_html(&b, PQgetvalue(res, ADMIN_PAGE_ROWS - 1, 16));
		buf_add(&b, "_");
		buf_html(&b, PQgetvalue(res, ADMIN_PAGE_ROWS - 1, 0));
		buf_add(&b, "\">");
		buf_html(&b, T(c->lang, "next_page"));
		buf_add(&b, "</a>");
	}
	buf_add(&b, "</p>\n");
	PQclear(res);

	/* all matching: a confirmation page first */
	if (c->s->can_act && n > 0)
	{
		buf_add(&b, "<form id=\"bulk-all-form\" method=\"get\" action=\"/confirm\">\n<fieldset><legend>");
		buf_html(&b, T(c->lang, "bulk_all"));
		buf_add(&b, "</legend>");
		admin_filter_hidden(&b, &lf);
		admin_action_button(c, &b, "action", "resend", "a_resend");
		buf_add(&b, " ");
		admin_action_button(c, &b, "action", "requeue", "a_requeue");
		buf_add(&b, " ");
		admin_action_button(c, &b, "action", "cancel", "a_cancel");
		buf_add(&b, "</fieldset></form>\n");
	}
	buf_free(&self);
	admin_page_end(c, &b);
	return admin_send_html(c, MHD_HTTP_OK, &b);
}

/* GET /confirm: how many rows an action on "all matching" would touch */
int
admin_page_confirm(AdminCtx *c)
{
	ListFilter	lf;
	const char *action = admin_form_get(&c->q, "action");
	char	   *fj;
	const char *params[2];
	PGresult   *res;
	Buf			b;
	char		label[32];

	if (action == NULL || (strcmp(action, "resend") != 0 && strcmp(action, "requeue") != 0 &&
						   strcmp(action, "cancel") != 0))
		return admin_redirect(c, "/notifications", NULL);
	admin_filter_read(&c->q, &lf);
	if (strcmp(lf.tab, "overdue") == 0)
		return admin_redirect(c, "/notifications?tab=overdue", NULL);
	fj = admin_filter_json(&lf);
	if (fj == NULL)
		return MHD_NO;
	params[0] = lf.tab;
	params[1] = fj;
	res = admin_exec(c, "SELECT n FROM guestbook_notify.page_counts($2::jsonb, 10000, $1)",
					 2, params);
	free(fj);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return admin_sql_error_page(c, res);
	snprintf(label, sizeof(label), "a_%s", action);
	buf_init(&b);
	admin_page_start(c, &b, T(c->lang, "confirm_title"));
	buf_add(&b, "<h1>");
	buf_html(&b, T(c->lang, "confirm_title"));
	buf_add(&b, "</h1>\n<form id=\"confirm-form\" method=\"post\" action=\"/act\">\n<p>");
	buf_html(&b, T(c->lang, "confirm_text"));
	buf_add(&b, " <strong id=\"confirm-count\">");
	if (atol(PQgetvalue(res, 0, 0)) > 10000)
		buf_add(&b, "10.000+");
	else
		buf_html(&b, PQgetvalue(res, 0, 0));
	buf_add(&b, "</strong> (");
	buf_html(&b, T(c->lang, admin_tab_label_key(lf.tab)));
	buf_add(&b, "): <strong>");
	buf_html(&b, T(c->lang, label));
	buf_add(&b, "</strong></p>\n");
	PQclear(res);
	admin_hidden(&b, "csrf", c->s->csrf);
	admin_hidden(&b, "scope", "filter");
	admin_hidden(&b, "confirm", "yes");
	admin_filter_hidden(&b, &lf);
	{
		Buf			self;

		buf_init(&self);
		buf_add(&self, "/notifications?tab=");
		buf_add(&self, lf.tab);
		buf_add(&self, "&");
		admin_filter_query(&self, &lf);
		admin_hidden(&b, "return", self.data);
		buf_add(&b, "<p><button type=\"submit\" name=\"action\" value=\"");
		buf_html(&b, action);
		buf_add(&b, "\" id=\"confirm-yes\">");
		buf_html(&b, T(c->lang, "confirm_yes"));
		buf_add(&b, "</button> <a href=\"");
		buf_html(&b, self.data);
		buf_add(&b, "\">");
		buf_html(&b, T(c->lang, "cancel_back"));
		buf_add(&b, "</a></p>\n");
		buf_free(&self);
	}
	buf_add(&b, "</form>\n");
	admin_page_end(c, &b);
	return admin_send_html(c, MHD_HTTP_OK, &b);
}

/* ----------------------------------------------------------------
 * Opt-outs
 * ----------------------------------------------------------------
 */

int
admin_page_optouts(AdminCtx *c)
{
	PGresult   *res = admin_exec(c, "SELECT number, reason, opted_out_at::text FROM guestbook_notify.page_opt_outs()",
								 0, NULL);
	Buf			b;
	int			i;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return admin_sql_error_page(c, res);
	buf_init(&b);
	admin_page_start(c, &b, T(c->lang, "optouts"));
	buf_add(&b, "<h1>");
	buf_html(&b, T(c->lang, "optouts"));
	buf_add(&b, "</h1>\n<table id=\"optouts\"><caption>");
	buf_html(&b, T(c->lang, "optouts_caption"));
	buf_add(&b, "</caption><thead><tr><th scope=\"col\">");
	buf_html(&b, T(c->lang, "c_number"));
	buf_add(&b, "</th><th scope=\"col\">");
	buf_html(&b, T(c->lang, "c_reason"));
	buf_add(&b, "</th><th scope=\"col\">");
	buf_html(&b, T(c->lang, "c_since"));
	buf_add(&b, "</th><th scope=\"col\">");
	buf_html(&b, T(c->lang, "c_actions"));
	buf_add(&b, "</th></tr></thead><tbody>\n");
	for (i = 0; i < PQntuples(res); i++)
	{
		const char *num = PQgetvalue(res, i, 0);

		buf_add(&b, "<tr data-number=\"");
		buf_html(&b, num);
		buf_add(&b, "\"><th scope=\"row\">");
		buf_html(&b, num);
		buf_add(&b, "</th><td>");
		buf_html(&b, PQgetvalue(res, i, 1));
		buf_add(&b, "</td><td>");
		admin_fmt_time(c, &b, PQgetvalue(res, i, 2));
		buf_add(&b, "</td><td>");
		if (c->s->can_act && c->s->can_unmask)
		{
			buf_add(&b, "<form method=\"post\" action=\"/optouts/optin\">");
			admin_hidden(&b, "csrf", c->s->csrf);
			admin_hidden(&b, "number", num);
			buf_add(&b, "<button type=\"submit\">");
			buf_html(&b, T(c->lang, "optin"));
			buf_add(&b, "</button></form>");
		}
		buf_add(&b, "</td></tr>\n");
	}
	if (PQntuples(res) == 0)
	{
		buf_add(&b, "<tr><td colspan=\"4\">");
		buf_html(&b, T(c->lang, "no_optouts"));
		buf_add(&b, "</td></tr>\n");
	}
	buf_add(&b, "</tbody></table>\n");
	PQclear(res);
	admin_page_end(c, &b);
	return admin_send_html(c, MHD_HTTP_OK, &b);
}
