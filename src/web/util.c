/*-------------------------------------------------------------------------
 *
 * util.c
 *		Small parsers with hard limits: the query string of Meta's
 *		verification request (urlencoded, parsed here rather than by
 *		libmicrohttpd's PostProcessor), Content-Length, WAHA's event id
 *		(json-c, with a nesting limit), and escaping for log lines.
 *
 * src/web/util.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <string.h>

#include <json.h>

#include "gbnw.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode [s, s+len) ("+" is a space) into out (at most max bytes,
 * NUL-terminated).  Returns the decoded length, or -1 if it does not fit,
 * has a bad escape or decodes to a NUL byte.
 */
static long
url_decode(const char *s, size_t len, char *out, size_t max)
{
	size_t		i = 0;
	size_t		o = 0;

	while (i < len)
	{
		int			c = (unsigned char) s[i];

		if (c == '%')
		{
			int			hi,
						lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char) s[i + 1]);
			lo = hexval((unsigned char) s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi << 4 | lo;
			i += 3;
		}
		else
		{
			if (c == '+')
				c = ' ';
			i++;
		}
		if (c == 0 || o >= max)
			return -1;
		out[o++] = (char) c;
	}
	out[o] = '\0';
	return (long) o;
}

/*
 * Parse "a=1&b=2" (no leading "?") into at most max_params parameters.
 * Returns the number parsed, or -1 when the string is too long, has too
 * many parameters, or a key or value that is too long or badly escaped.
 * An empty string has 0 parameters; empty pieces ("a=1&&b=2") are skipped.
 */
int
gbnw_parse_query(const char *query, size_t len, GbnwQueryParam *params, int max_params)
{
	size_t		pos = 0;
	int			n = 0;

	if (len > GBNW_QUERY_MAX)
		return -1;
	while (pos < len)
	{
		const char *piece = query + pos;
		const char *amp = memchr(piece, '&', len - pos);
		size_t		plen = amp ? (size_t) (amp - piece) : len - pos;
		const char *eq;
		size_t		klen;
		long		vlen;

		pos += plen + (amp ? 1 : 0);
		if (plen == 0)
			continue;
		if (n >= max_params)
			return -1;
		eq = memchr(piece, '=', plen);
		klen = eq ? (size_t) (eq - piece) : plen;
		if (url_decode(piece, klen, params[n].key, sizeof(params[n].key) - 1) < 0)
			return -1;
		if (eq)
			vlen = url_decode(eq + 1, plen - klen - 1, params[n].value, GBNW_QUERY_VALUE);
		else
		{
			params[n].value[0] = '\0';
			vlen = 0;
		}
		if (vlen < 0)
			return -1;
		params[n].value_len = (size_t) vlen;
		n++;
	}
	return n;
}

/* the parameter named key (and how many there are: *count) */
const GbnwQueryParam *
gbnw_query_get(const GbnwQueryParam *params, int n, const char *key, int *count)
{
	const GbnwQueryParam *found = NULL;
	int			i;
	int			c = 0;

	for (i = 0; i < n; i++)
	{
		if (strcmp(params[i].key, key) == 0)
		{
			if (found == NULL)
				found = &params[i];
			c++;
		}
	}
	if (count)
		*count = c;
	return found;
}

/*
 * Copy src (srclen bytes, any content) into dst for a log line: printable
 * ASCII as it is, anything else as \xNN, cut with "..." to fit dstlen.
 * Returns the length written.
 */
size_t
gbnw_escape_for_log(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char digits[] = "0123456789abcdef";
	size_t		o = 0;
	size_t		i;

	if (dstlen == 0)
		return 0;
	for (i = 0; i < srclen; i++)
	{
		unsigned char c = (unsigned char) src[i];
		size_t		need = (c >= 0x20 && c < 0x7f && c != '\\') ? 1 : 4;

		if (o + need + 4 > dstlen)
		{
			if (o + 4 <= dstlen)
			{
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 1)
			dst[o++] = (char) c;
		else
		{
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = digits[c >> 4];
			dst[o++] = digits[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

/* Content-Length: digits only (at most 19), else false */
bool
gbnw_parse_content_length(const char *v, uint64_t *out)
{
	uint64_t	n = 0;
	int			digits = 0;

	if (v == NULL)
		return false;
	while (*v == ' ' || *v == '\t')
		v++;
	while (isdigit((unsigned char) *v))
	{
		if (++digits > 19)
			return false;
		n = n * 10 + (uint64_t) (*v - '0');
		v++;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	if (digits == 0 || *v != '\0')
		return false;
	*out = n;
	return true;
}

/*
 * WAHA's event id: the top-level "id" of the body (a string of at most
 * 256 bytes), as a malloc'd string, or NULL if the body is not a JSON
 * object (json-c, at most GBNW_JSON_DEPTH levels deep) or has no such id.
 * The "event" name goes to event (cut to eventlen), "" if none.  The
 * database parses the body again when applying it: this is only for
 * dropping repeats before they are stored, and for the log.
 */
char *
gbnw_waha_event_id(const unsigned char *body, size_t len, char *event, size_t eventlen)
{
	json_tokener *tok;
	json_object *root;
	json_object *v;
	char	   *id = NULL;

	if (eventlen > 0)
		event[0] = '\0';
	if (len == 0 || len > (size_t) INT32_MAX || memchr(body, '\0', len) != NULL)
		return NULL;
	tok = json_tokener_new_ex(GBNW_JSON_DEPTH);
	if (tok == NULL)
		return NULL;
	root = json_tokener_parse_ex(tok, (const char *) body, (int) len);
	if (root == NULL || json_tokener_get_error(tok) != json_tokener_success)
	{
		if (root)
			json_object_put(root);
		json_tokener_free(tok);
		return NULL;
	}
	if (json_object_is_type(root, json_type_object))
	{
		if (json_object_object_get_ex(root, "id", &v) && json_object_is_type(v, json_type_string) &&
			json_object_get_string_len(v) > 0 && json_object_get_string_len(v) <= GBNW_EVENT_ID_MAX)
		{
			const char *s = json_object_get_string(v);

			if (strlen(s) == (size_t) json_object_get_string_len(v))
				id = strdup(s);
		}
		if (eventlen > 0 && json_object_object_get_ex(root, "event", &v) &&
			json_object_is_type(v, json_type_string))
			gbnw_escape_for_log(event, eventlen, json_object_get_string(v),
								(size_t) json_object_get_string_len(v));
	}
	json_object_put(root);
	json_tokener_free(tok);
	return id;
}
