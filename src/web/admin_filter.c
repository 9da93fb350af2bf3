/*-------------------------------------------------------------------------
 *
 * admin_filter.c
 *		The list's tabs and filter, read from a query string or a form,
 *		checked (known tab and role, dates as YYYY-MM-DD, a search of at most
 *		100 bytes), and written back: as the jsonb the SQL functions take,
 *		as a query string, as hidden form fields.
 *
 * src/web/admin_filter.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "admin.h"

const char *const admin_tabs[ADMIN_NTABS] = {
	"attention", "pending", "sending", "held", "sent", "delivered", "read", "failed",
	"cancelled", "all", "overdue"
};

const char *const admin_roles[ADMIN_NROLES] = {"operator", "lead", "kadis", "manual"};

/* ----------------------------------------------------------------
 * The filter
 * ----------------------------------------------------------------
 */

static void
copy_param(const Form *f, const char *key, char *dst, size_t len)
{
	const char *v = admin_form_get(f, key);

	dst[0] = '\0';
	if (v != NULL && strlen(v) < len)
		snprintf(dst, len, "%s", v);
}

static bool
valid_date(const char *d)
{
	int			i;

	if (strlen(d) != 10)
		return false;
	for (i = 0; i < 10; i++)
	{
		if (i == 4 || i == 7)
		{
			if (d[i] != '-')
				return false;
		}
		else if (d[i] < '0' || d[i] > '9')
			return false;
	}
	return true;
}

void
admin_filter_read(const Form *f, ListFilter *lf)
{
	int			i;
	bool		known = false;

	copy_param(f, "tab", lf->tab, sizeof(lf->tab));
	for (i = 0; i < ADMIN_NTABS; i++)
		if (strcmp(lf->tab, admin_tabs[i]) == 0)
			known = true;
	if (!known)
		snprintf(lf->tab, sizeof(lf->tab), "attention");
	copy_param(f, "template", lf->template_key, sizeof(lf->template_key));
	copy_param(f, "role", lf->role, sizeof(lf->role));
	known = false;
	for (i = 0; i < ADMIN_NROLES; i++)
		if (strcmp(lf->role, admin_roles[i]) == 0)
			known = true;
	if (!known)
		lf->role[0] = '\0';
	copy_param(f, "from", lf->from, sizeof(lf->from));
	if (!valid_date(lf->from))
		lf->from[0] = '\0';
	copy_param(f, "to", lf->to, sizeof(lf->to));
	if (!valid_date(lf->to))
		lf->to[0] = '\0';
	copy_param(f, "q", lf->q, sizeof(lf->q));
}

/* the filter as the SQL functions take it (malloc'd) */
char *
admin_filter_json(const ListFilter *lf)
{
	json_object *o = json_object_new_object();
	char	   *out;

	if (o == NULL)
		return NULL;
	if (lf->template_key[0])
		json_object_object_add(o, "template", json_object_new_string(lf->template_key));
	if (lf->role[0])
		json_object_object_add(o, "role", json_object_new_string(lf->role));
	if (lf->from[0])
		json_object_object_add(o, "from", json_object_new_string(lf->from));
	if (lf->to[0])
		json_object_object_add(o, "to", json_object_new_string(lf->to));
	if (lf->q[0])
		json_object_object_add(o, "q", json_object_new_string(lf->q));
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

/* "template=..&role=..&from=..&to=..&q=.." (without the tab), URL-encoded */
void
admin_filter_query(Buf *b, const ListFilter *lf)
{
	buf_add(b, "template=");
	buf_url(b, lf->template_key);
	buf_add(b, "&role=");
	buf_url(b, lf->role);
	buf_add(b, "&from=");
	buf_url(b, lf->from);
	buf_add(b, "&to=");
	buf_url(b, lf->to);
	buf_add(b, "&q=");
	buf_url(b, lf->q);
}

void
admin_hidden(Buf *b, const char *name, const char *value)
{
	buf_add(b, "<input type=\"hidden\" name=\"");
	buf_html(b, name);
	buf_add(b, "\" value=\"");
	buf_html(b, value);
	buf_add(b, "\">");
}

void
admin_filter_hidden(Buf *b, const ListFilter *lf)
{
	admin_hidden(b, "tab", lf->tab);
	admin_hidden(b, "template", lf->template_key);
	admin_hidden(b, "role", lf->role);
	admin_hidden(b, "from", lf->from);
	admin_hidden(b, "to", lf->to);
	admin_hidden(b, "q", lf->q);
}

/* the i18n key of a tab's label: "tab_<tab>" (tabs are known words) */
const char *
admin_tab_label_key(const char *tab)
{
	int			i;
	static const char *const keys[ADMIN_NTABS] = {
		"tab_attention", "tab_pending", "tab_sending", "tab_held", "tab_sent", "tab_delivered",
		"tab_read", "tab_failed", "tab_cancelled", "tab_all", "tab_overdue"
	};

	for (i = 0; i < ADMIN_NTABS; i++)
		if (tab != NULL && strcmp(tab, admin_tabs[i]) == 0)
			return keys[i];
	return "tab_all";
}

