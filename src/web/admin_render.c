/*-------------------------------------------------------------------------
 *
 * admin_render.c
 *		The page's output: a growing buffer, escaping (HTML text and
 *		attributes, query-string values, CSV cells) and the frame of every
 *		page (head, navigation, language switch, logout).
 *
 * Everything that did not come from this file's literals goes through
 * buf_html(): message texts hold what visitors typed.
 *
 * src/web/admin_render.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

void
buf_init(Buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

void
buf_free(Buf *b)
{
	free(b->data);
	buf_init(b);
}

static bool
buf_reserve(Buf *b, size_t more)
{
	size_t		need;
	char	   *nd;
	size_t		ncap;

	if (b->oom)
		return false;
	need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	ncap = b->cap ? b->cap * 2 : 8192;
	while (ncap < need)
		ncap *= 2;
	nd = realloc(b->data, ncap);
	if (nd == NULL)
	{
		b->oom = true;
		return false;
	}
	b->data = nd;
	b->cap = ncap;
	return true;
}

void
buf_addn(Buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_add(Buf *b, const char *s)
{
	if (s != NULL)
		buf_addn(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !buf_reserve(b, (size_t) n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/* & < > " ' escaped: safe in text and in double- or single-quoted attributes */
void
buf_html(Buf *b, const char *s)
{
	const char *p;
	const char *run;

	if (s == NULL)
		return;
	run = s;
	for (p = s; *p; p++)
	{
		const char *rep = NULL;

		switch (*p)
		{
			case '&':
				rep = "&amp;";
				break;
			case '<':
				rep = "&lt;";
				break;
			case '>':
				rep = "&gt;";
				break;
			case '"':
				rep = "&quot;";
				break;
			case '\'':
				rep = "&#39;";
				break;
			default:
				break;
		}
		if (rep)
		{
			buf_addn(b, run, (size_t) (p - run));
			buf_add(b, rep);
			run = p + 1;
		}
	}
	buf_addn(b, run, (size_t) (p - run));
}

/* percent-encoded but for the unreserved characters (RFC 3986) */
void
buf_url(Buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	if (s == NULL)
		return;
	for (p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			*p == '-' || *p == '.' || *p == '_' || *p == '~')
			buf_addn(b, (const char *) p, 1);
		else
		{
			char		e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			buf_addn(b, e, 3);
		}
	}
}

/*
 * A CSV cell, always quoted ("" for a quote).  A cell that a spreadsheet
 * would read as a formula -- it starts with = + - @, a tab or a carriage
 * return (OWASP, "CSV injection") -- gets a leading apostrophe.
 */
void
buf_csv_cell(Buf *b, const char *s)
{
	const char *p;

	buf_add(b, "\"");
	if (s != NULL)
	{
		if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' ||
			s[0] == '\r')
			buf_add(b, "'");
		for (p = s; *p; p++)
		{
			if (*p == '"')
				buf_add(b, "\"\"");
			else
				buf_addn(b, p, 1);
		}
	}
	buf_add(b, "\"");
}

/* ----------------------------------------------------------------
 * The frame
 * ----------------------------------------------------------------
 */

void
admin_page_start(AdminCtx *c, Buf *b, const char *title)
{
	Lang		l = c->lang;

	buf_add(b, "<!DOCTYPE html>\n<html lang=\"");
	buf_add(b, l == LANG_EN ? "en" : "id");
	buf_add(b, "\">\n<head>\n<meta charset=\"utf-8\">\n"
			"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
			"<title>");
	buf_html(b, title);
	buf_add(b, " - ");
	buf_html(b, T(l, "app"));
	buf_add(b, "</title>\n<link rel=\"stylesheet\" href=\"/static/page.css\">\n");
	if (c->s != NULL)
		buf_add(b, "<script src=\"/static/refresh.js\" defer></script>\n");
	buf_add(b, "</head>\n<body>\n<a class=\"skip\" href=\"#main\">");
	buf_html(b, T(l, "skip"));
	buf_add(b, "</a>\n<header>\n<p class=\"app\"><a href=\"/notifications\">");
	buf_html(b, T(l, "app"));
	buf_add(b, "</a></p>\n<nav aria-label=\"");
	buf_html(b, T(l, "nav"));
	buf_add(b, "\"><ul>\n");
	if (c->s != NULL)
	{
		buf_add(b, "<li><a href=\"/notifications\">");
		buf_html(b, T(l, "notifications"));
		buf_add(b, "</a></li>\n<li><a href=\"/notifications?tab=overdue\">");
		buf_html(b, T(l, "tab_overdue"));
		buf_add(b, "</a></li>\n<li><a href=\"/optouts\">");
		buf_html(b, T(l, "optouts"));
		buf_add(b, "</a></li>\n");
	}
	/* the other language, on this page */
	buf_add(b, "<li><a id=\"lang-switch\" lang=\"");
	buf_add(b, l == LANG_EN ? "id" : "en");
	buf_add(b, "\" href=\"");
	buf_html(b, c->path);
	buf_add(b, "?lang=");
	buf_add(b, l == LANG_EN ? "id" : "en");
	buf_add(b, "\">");
	buf_add(b, l == LANG_EN ? "Bahasa Indonesia" : "English");
	buf_add(b, "</a></li>\n</ul></nav>\n");
	if (c->s != NULL)
	{
		buf_add(b, "<form method=\"post\" action=\"/logout\" class=\"logout\">"
				"<input type=\"hidden\" name=\"csrf\" value=\"");
		buf_html(b, c->s->csrf);
		buf_add(b, "\"><span class=\"who\">");
		buf_html(b, T(l, "logged_in_as"));
		buf_add(b, " <strong id=\"who\">");
		buf_html(b, c->s->role);
		buf_add(b, "</strong></span> <button type=\"submit\" id=\"logout-button\">");
		buf_html(b, T(l, "logout"));
		buf_add(b, "</button></form>\n");
	}
	buf_add(b, "</header>\n<main id=\"main\">\n");
	if (c->s != NULL && c->s->flash[0] != '\0')
	{
		buf_add(b, "<p id=\"flash\" role=\"status\">");
		buf_html(b, c->s->flash);
		buf_add(b, "</p>\n");
		c->s->flash[0] = '\0';
	}
}

void
admin_page_end(AdminCtx *c, Buf *b)
{
	buf_add(b, "</main>\n</body>\n</html>\n");
}

void
admin_error_page(AdminCtx *c, Buf *b, const char *title, const char *text)
{
	admin_page_start(c, b, title);
	buf_add(b, "<h1>");
	buf_html(b, title);
	buf_add(b, "</h1>\n<p id=\"error\">");
	buf_html(b, text);
	buf_add(b, "</p>\n");
	admin_page_end(c, b);
}

void
admin_fmt_time(AdminCtx *c, Buf *b, const char *pgtime)
{
	char		t[64];

	if (pgtime == NULL || pgtime[0] == '\0')
	{
		buf_add(b, "-");
		return;
	}
	if (!admin_format_time(pgtime, c->cfg->time_zone, c->lang, t, sizeof(t)))
	{
		buf_html(b, pgtime);
		return;
	}
	/* a valid datetime attribute: 2026-11-25T16:15:00+07:00 */
	{
		char		iso[40];
		size_t		n = strlen(pgtime);
		const char *off = pgtime + n;

		while (off > pgtime + 16 && off[-1] != '+' && off[-1] != '-')
			off--;
		if (off > pgtime + 16 && n < 40)
		{
			snprintf(iso, sizeof(iso), "%.10sT%.8s%s%s", pgtime, pgtime + 11, off - 1,
					 strlen(off) == 2 ? ":00" : "");
			buf_add(b, "<time datetime=\"");
			buf_html(b, iso);
			buf_add(b, "\">");
		}
		else
			buf_add(b, "<time>");
	}
	buf_html(b, t);
	buf_add(b, "</time>");
}

void
admin_action_button(AdminCtx *c, Buf *b, const char *name, const char *value, const char *label_key)
{
	buf_add(b, "<button type=\"submit\" name=\"");
	buf_add(b, name);
	buf_add(b, "\" value=\"");
	buf_html(b, value);
	buf_add(b, "\">");
	buf_html(b, T(c->lang, label_key));
	buf_add(b, "</button>");
}
