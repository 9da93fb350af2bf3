/*-------------------------------------------------------------------------
 *
 * admin_detail.c
 *		GET /n/<uuid>: one notification -- the message as sent, every
 *		attempt, the delivery statuses with the provider's code, title and
 *		details, the case's events, the resends, the page's actions on it,
 *		the link to the case in the app, the click-to-chat link of a failed
 *		one, and the buttons of the actions that apply.
 *
 * page_detail_unmasked() for a role granted it (each view is logged by
 * the function), else page_detail(), masked.  Every value is escaped.
 *
 * src/web/admin_detail.c
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
 * The detail
 * ----------------------------------------------------------------
 */

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) || json_object_get_type(v) == json_type_null)
		return NULL;
	return json_object_get_string(v);
}

static void
dl_item(Buf *b, const char *label, const char *value)
{
	buf_add(b, "<dt>");
	buf_html(b, label);
	buf_add(b, "</dt><dd>");
	buf_html(b, value ? value : "-");
	buf_add(b, "</dd>\n");
}

static void
detail_form(AdminCtx *c, Buf *b, const char *id, const char *action, const char *label_key)
{
	buf_add(b, "<form method=\"post\" action=\"/act\" class=\"action\">");
	admin_hidden(b, "csrf", c->s->csrf);
	admin_hidden(b, "id", id);
	{
		char		ret[64];

		snprintf(ret, sizeof(ret), "/n/%s", id);
		admin_hidden(b, "return", ret);
	}
	admin_action_button(c, b, "action", action, label_key);
	buf_add(b, "</form>\n");
}

static void
case_url(AdminCtx *c, Buf *b, json_object *d)
{
	const char *url = jstr(d, "case_url");
	const char *case_id = jstr(d, "case_id");
	Buf			u;

	buf_init(&u);
	if (c->cfg->app_case_url != NULL && case_id != NULL)
	{
		const char *tpl = c->cfg->app_case_url;
		const char *p = strstr(tpl, "{case_id}");

		if (p)
		{
			buf_addn(&u, tpl, (size_t) (p - tpl));
			buf_url(&u, case_id);
			buf_add(&u, p + 9);
		}
		else
			buf_add(&u, tpl);
	}
	else if (url != NULL && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0))
		buf_add(&u, url);
	if (u.len > 0)
	{
		buf_add(b, "<p><a id=\"case-link\" rel=\"noopener noreferrer\" href=\"");
		buf_html(b, u.data);
		buf_add(b, "\">");
		buf_html(b, T(c->lang, "open_case"));
		buf_add(b, "</a></p>\n");
	}
	buf_free(&u);
}

int
admin_page_detail(AdminCtx *c, const char *id)
{
	const char *params[1] = {id};
	PGresult   *res;
	json_object *d;
	json_object *arr;
	Buf			b;
	const char *tab;
	const char *status;
	bool		has_resend = false;
	size_t		i;
	char		title[128];

	if (!admin_valid_uuid(id))
	{
		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, "not_found"), T(c->lang, "not_found_text"));
		return admin_send_html(c, MHD_HTTP_NOT_FOUND, &b);
	}
	res = admin_exec(c, c->s->can_unmask ?
					 "SELECT guestbook_notify.page_detail_unmasked($1::uuid)::text" :
					 "SELECT guestbook_notify.page_detail($1::uuid)::text", 1, params);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		return admin_sql_error_page(c, res);
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		PQclear(res);
		buf_init(&b);
		admin_error_page(c, &b, T(c->lang, "not_found"), T(c->lang, "not_found_text"));
		return admin_send_html(c, MHD_HTTP_NOT_FOUND, &b);
	}
	d = json_tokener_parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (d == NULL)
		return MHD_NO;
	tab = jstr(d, "tab");
	status = jstr(d, "status");
	if (json_object_object_get_ex(d, "resends", &arr))
		has_resend = json_object_array_length(arr) > 0;

	buf_init(&b);
	snprintf(title, sizeof(title), "%s %s", T(c->lang, "detail"),
			 jstr(d, "case_code") ? jstr(d, "case_code") : "");
	admin_page_start(c, &b, title);
	buf_add(&b, "<p><a href=\"/notifications\">");
	buf_html(&b, T(c->lang, "back_list"));
	buf_add(&b, "</a></p>\n<h1>");
	buf_html(&b, title);
	buf_add(&b, "</h1>\n<p id=\"detail-status\" data-id=\"");
	buf_html(&b, id);
	buf_add(&b, "\" data-status=\"");
	buf_html(&b, tab);
	buf_add(&b, "\" class=\"status status-");
	buf_html(&b, tab);
	buf_add(&b, "\"><strong>");
	buf_html(&b, T(c->lang, admin_tab_label_key(tab ? tab : "all")));
	buf_add(&b, "</strong>");
	if (json_object_object_get_ex(d, "opted_out", &arr) && json_object_get_boolean(arr))
	{
		buf_add(&b, " &middot; <strong class=\"optout\">");
		buf_html(&b, T(c->lang, "opted_out"));
		buf_add(&b, "</strong>");
	}
	if (json_object_object_get_ex(d, "archived", &arr) && json_object_get_boolean(arr))
	{
		buf_add(&b, " &middot; ");
		buf_html(&b, T(c->lang, "archived"));
	}
	buf_add(&b, "</p>\n<p class=\"note\">");
	buf_html(&b, T(c->lang, json_object_object_get_ex(d, "masked", &arr) &&
				   json_object_get_boolean(arr) ? "masked_note" : "unmasked_note"));
	buf_add(&b, "</p>\n");

	/* actions */
	if (c->s->can_act && tab != NULL)
	{
		buf_add(&b, "<div id=\"actions\">");
		if (strcmp(tab, "failed") == 0 && !has_resend)
			detail_form(c, &b, id, "resend", "a_resend");
		if (status != NULL && (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0))
			detail_form(c, &b, id, "requeue", "a_requeue");
		if (strcmp(tab, "pending") == 0 || strcmp(tab, "held") == 0 ||
			(status != NULL && strcmp(status, "failed") == 0))
			detail_form(c, &b, id, "cancel", "a_cancel");
		buf_add(&b, "</div>\n");
	}
	if (jstr(d, "wa_link"))
	{
		buf_add(&b, "<p><a class=\"wa-link\" rel=\"noopener noreferrer\" target=\"_blank\" href=\"");
		buf_html(&b, jstr(d, "wa_link"));
		buf_add(&b, "\">");
		buf_html(&b, T(c->lang, "wa_link"));
		buf_add(&b, "</a></p>\n");
	}
	case_url(c, &b, d);

	buf_add(&b, "<section id=\"fields\"><h2>");
	buf_html(&b, T(c->lang, "fields"));
	buf_add(&b, "</h2>\n<dl>\n");
	dl_item(&b, "ID", id);
	dl_item(&b, T(c->lang, "c_case"), jstr(d, "case_code"));
	dl_item(&b, T(c->lang, "c_template"), jstr(d, "template_key"));
	dl_item(&b, T(c->lang, "c_recipient"), jstr(d, "recipient_name"));
	dl_item(&b, T(c->lang, "f_role"), jstr(d, "recipient_role"));
	buf_add(&b, "<dt>");
	buf_html(&b, T(c->lang, "c_number"));
	buf_add(&b, "</dt><dd id=\"number\">");
	buf_html(&b, jstr(d, "to_number") ? jstr(d, "to_number") : "-");
	buf_add(&b, "</dd>\n");
	dl_item(&b, T(c->lang, "c_attempts"), jstr(d, "attempt_count"));
	dl_item(&b, T(c->lang, "c_error"), jstr(d, "last_error"));
	dl_item(&b, "Provider", jstr(d, "provider"));
	dl_item(&b, "Provider message id", jstr(d, "provider_message_id"));
	if (jstr(d, "resent_from"))
	{
		buf_add(&b, "<dt>");
		buf_html(&b, T(c->lang, "resent_from"));
		buf_add(&b, "</dt><dd><a href=\"/n/");
		buf_html(&b, jstr(d, "resent_from"));
		buf_add(&b, "\">");
		buf_html(&b, jstr(d, "resent_from"));
		buf_add(&b, "</a></dd>\n");
	}
	if (json_object_object_get_ex(d, "resends", &arr) && json_object_array_length(arr) > 0)
	{
		buf_add(&b, "<dt>");
		buf_html(&b, T(c->lang, "resends"));
		buf_add(&b, "</dt><dd id=\"resends\">");
		for (i = 0; i < json_object_array_length(arr); i++)
		{
			json_object *r = json_object_array_get_idx(arr, i);

			buf_add(&b, "<a class=\"resend\" href=\"/n/");
			buf_html(&b, jstr(r, "id"));
			buf_add(&b, "\">");
			buf_html(&b, jstr(r, "id"));
			buf_add(&b, "</a> (");
			buf_html(&b, jstr(r, "delivery_status") ? jstr(r, "delivery_status") : jstr(r, "status"));
			buf_add(&b, ") ");
		}
		buf_add(&b, "</dd>\n");
	}
	buf_add(&b, "</dl></section>\n");

	buf_add(&b, "<section id=\"message\"><h2>");
	buf_html(&b, T(c->lang, "message"));
	buf_add(&b, "</h2>\n<pre>");
	buf_html(&b, jstr(d, "message_text"));
	buf_add(&b, "</pre></section>\n");

	/* attempts */
	buf_add(&b, "<section id=\"attempts\"><h2>");
	buf_html(&b, T(c->lang, "attempts"));
	buf_add(&b, "</h2>\n");
	if (json_object_object_get_ex(d, "attempts", &arr) && json_object_array_length(arr) > 0)
	{
		static const char *const cols[] = {"#", "c_time", "c_duration", "c_outcome", "c_http",
			"c_code", "c_error"};
		int			k;

		buf_add(&b, "<table><caption>");
		buf_html(&b, T(c->lang, "attempts"));
		buf_add(&b, "</caption><thead><tr>");
		for (k = 0; k < 7; k++)
		{
			buf_add(&b, "<th scope=\"col\">");
			buf_html(&b, T(c->lang, cols[k]));
			buf_add(&b, "</th>");
		}
		buf_add(&b, "</tr></thead><tbody>\n");
		for (i = 0; i < json_object_array_length(arr); i++)
		{
			json_object *a = json_object_array_get_idx(arr, i);

			buf_add(&b, "<tr><th scope=\"row\">");
			buf_html(&b, jstr(a, "attempt_no"));
			buf_add(&b, "</th><td>");
			admin_fmt_time(c, &b, jstr(a, "started_at"));
			buf_add(&b, "</td><td>");
			buf_html(&b, jstr(a, "duration_ms") ? jstr(a, "duration_ms") : "-");
			buf_add(&b, "</td><td>");
			buf_html(&b, jstr(a, "outcome"));
			buf_add(&b, "</td><td>");
			buf_html(&b, jstr(a, "http_status") ? jstr(a, "http_status") : "-");
			buf_add(&b, "</td><td>");
			buf_html(&b, jstr(a, "error_code") ? jstr(a, "error_code") : "-");
			buf_add(&b, "</td><td>");
			buf_html(&b, jstr(a, "error_text") ? jstr(a, "error_text") : "-");
			buf_add(&b, "</td></tr>\n");
		}
		buf_add(&b, "</tbody></table>\n");
	}
	else
	{
		buf_add(&b, "<p>");
		buf_html(&b, T(c->lang, "no_attempts"));
		buf_add(&b, "</p>\n");
	}
	buf_add(&b, "</section>\n");

	/* delivery statuses, in order */
	buf_add(&b, "<section id=\"statuses\"><h2>");
	buf_html(&b, T(c->lang, "statuses"));
	buf_add(&b, "</h2>\n<ol>\n");
	{
		static const char *const st[][2] = {
			{"created_at", "st_created"}, {"sent_at", "st_sent"},
			{"delivered_at", "st_delivered"}, {"read_at", "st_read"}
		};
		int			k;

		for (k = 0; k < 4; k++)
		{
			if (jstr(d, st[k][0]) == NULL)
				continue;
			buf_add(&b, "<li>");
			admin_fmt_time(c, &b, jstr(d, st[k][0]));
			buf_add(&b, " &mdash; ");
			buf_html(&b, T(c->lang, st[k][1]));
			buf_add(&b, "</li>\n");
		}
		if (jstr(d, "delivery_status") && strcmp(jstr(d, "delivery_status"), "failed") == 0)
		{
			json_object *e;

			buf_add(&b, "<li class=\"failed\">");
			admin_fmt_time(c, &b, jstr(d, "delivery_status_at"));
			buf_add(&b, " &mdash; <strong>");
			buf_html(&b, T(c->lang, "st_failed"));
			buf_add(&b, "</strong>");
			if (json_object_object_get_ex(d, "delivery_error", &e) && e != NULL &&
				json_object_is_type(e, json_type_array))
				e = json_object_array_length(e) > 0 ? json_object_array_get_idx(e, 0) : NULL;
			if (e != NULL && json_object_is_type(e, json_type_object))
			{
				json_object *data;
				const char *details = jstr(e, "details");

				/* Meta's errors[]: {code, title, message, error_data: {details}} */
				if (details == NULL &&
					json_object_object_get_ex(e, "error_data", &data) && data != NULL &&
					json_object_is_type(data, json_type_object))
					details = jstr(data, "details");
				buf_add(&b, ": <span class=\"code\">");
				buf_html(&b, jstr(e, "code"));
				buf_add(&b, "</span> ");
				buf_html(&b, jstr(e, "title"));
				if (details)
				{
					buf_add(&b, " &mdash; ");
					buf_html(&b, details);
				}
				else if (jstr(e, "message"))
				{
					buf_add(&b, " &mdash; ");
					buf_html(&b, jstr(e, "message"));
				}
			}
			buf_add(&b, "</li>\n");
		}
	}
	buf_add(&b, "</ol></section>\n");

	/* the case's events */
	buf_add(&b, "<section id=\"case-events\"><h2>");
	buf_html(&b, T(c->lang, "case_events"));
	buf_add(&b, "</h2>\n");
	if (json_object_object_get_ex(d, "case_events", &arr) && json_object_array_length(arr) > 0)
	{
		buf_add(&b, "<ol>\n");
		for (i = 0; i < json_object_array_length(arr); i++)
		{
			json_object *e = json_object_array_get_idx(arr, i);
			json_object *det;

			buf_add(&b, "<li>");
			if (jstr(e, "error"))
				buf_html(&b, jstr(e, "error"));
			else
			{
				admin_fmt_time(c, &b, jstr(e, "created_at"));
				buf_add(&b, " &mdash; <strong>");
				buf_html(&b, jstr(e, "event_type"));
				buf_add(&b, "</strong> <code>");
				if (json_object_object_get_ex(e, "details", &det))
					buf_html(&b, json_object_to_json_string_ext(det, JSON_C_TO_STRING_PLAIN));
				buf_add(&b, "</code>");
			}
			buf_add(&b, "</li>\n");
		}
		buf_add(&b, "</ol>\n");
	}
	else
	{
		buf_add(&b, "<p>");
		buf_html(&b, T(c->lang, "no_events"));
		buf_add(&b, "</p>\n");
	}
	buf_add(&b, "</section>\n");

	/* the page's actions on it */
	buf_add(&b, "<section id=\"actions-log\"><h2>");
	buf_html(&b, T(c->lang, "actions_log"));
	buf_add(&b, "</h2>\n");
	if (json_object_object_get_ex(d, "actions", &arr) && json_object_array_length(arr) > 0)
	{
		buf_add(&b, "<table><caption>");
		buf_html(&b, T(c->lang, "actions_log"));
		buf_add(&b, "</caption><thead><tr><th scope=\"col\">");
		buf_html(&b, T(c->lang, "c_time"));
		buf_add(&b, "</th><th scope=\"col\">");
		buf_html(&b, T(c->lang, "c_who"));
		buf_add(&b, "</th><th scope=\"col\">");
		buf_html(&b, T(c->lang, "c_action"));
		buf_add(&b, "</th></tr></thead><tbody>\n");
		for (i = 0; i < json_object_array_length(arr); i++)
		{
			json_object *a = json_object_array_get_idx(arr, i);
			char		key[48];

			snprintf(key, sizeof(key), "view_%s", jstr(a, "action") ? jstr(a, "action") : "");
			buf_add(&b, "<tr><td>");
			admin_fmt_time(c, &b, jstr(a, "at"));
			buf_add(&b, "</td><td class=\"actor\">");
			buf_html(&b, jstr(a, "actor"));
			buf_add(&b, "</td><td data-action=\"");
			buf_html(&b, jstr(a, "action"));
			buf_add(&b, "\">");
			buf_html(&b, T(c->lang, key));
			buf_add(&b, "</td></tr>\n");
		}
		buf_add(&b, "</tbody></table>\n");
	}
	else
	{
		buf_add(&b, "<p>");
		buf_html(&b, T(c->lang, "no_actions"));
		buf_add(&b, "</p>\n");
	}
	buf_add(&b, "</section>\n");
	json_object_put(d);
	admin_page_end(c, &b);
	return admin_send_html(c, MHD_HTTP_OK, &b);
}

