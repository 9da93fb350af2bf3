/*-------------------------------------------------------------------------
 *
 * config.c
 *		The configuration file (postgresql.conf syntax) and the secret files.
 *
 * Syntax, as PostgreSQL's guc-file.l: one "key = value" per line (the "="
 * may be left out), a value is a single-quoted string ('' or \' for a
 * quote, \\ \n \t \r \b \f and \ooo escapes) or a run of characters up to
 * white space or "#"; "#" starts a comment; keys are case-insensitive; a
 * key given twice keeps the last value.  An unknown key, a syntax error, a
 * bad value or an include directive is an error naming the file and line:
 * the daemon does not start on a configuration it does not understand.
 *
 * Secrets come from files (or systemd credentials, "credential:NAME"),
 * never from the configuration file, the command line or the environment.
 * A secret file must be a regular file of at most 4 kB that others cannot
 * read or write; one trailing newline is dropped.  Their contents are
 * never logged.
 *
 * src/web/config.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "gbnw.h"

typedef enum KeyType
{
	KEY_LISTEN,
	KEY_STRING,
	KEY_PATH,
	KEY_SIZE,
	KEY_UINT,
	KEY_TIME,
	KEY_BOOL
} KeyType;

typedef struct KeyDef
{
	const char *name;
	KeyType		type;
	const char *unit;			/* KEY_TIME: unit of a bare number */
	int64_t		min;			/* KEY_SIZE: bytes, KEY_TIME: ms, KEY_UINT */
	int64_t		max;
} KeyDef;

/* the keys; keep README.md's table in step */
static const KeyDef keys[] = {
	{"listen", KEY_LISTEN, NULL, 0, 0},
	{"conninfo", KEY_STRING, NULL, 0, 0},
	{"meta_app_secret_file", KEY_PATH, NULL, 0, 0},
	{"meta_verify_token_file", KEY_PATH, NULL, 0, 0},
	{"waha_hmac_key_file", KEY_PATH, NULL, 0, 0},
	{"max_body_size", KEY_SIZE, NULL, 1024, 64 * 1024 * 1024},
	{"max_body_memory", KEY_SIZE, NULL, 1024, (int64_t) 4 * 1024 * 1024 * 1024},
	{"header_memory_limit", KEY_SIZE, NULL, 8 * 1024, 1024 * 1024},
	{"max_connections", KEY_UINT, NULL, 1, 10000},
	{"per_ip_connection_limit", KEY_UINT, NULL, 0, 10000},
	{"threads", KEY_UINT, NULL, 1, 64},
	{"client_timeout", KEY_TIME, "s", 1000, 3600 * 1000},
	{"request_timeout", KEY_TIME, "s", 1000, 3600 * 1000},
	{"inbox_retention", KEY_TIME, "d", 0, (int64_t) 3650 * 86400 * 1000},
	{"maintenance_interval", KEY_TIME, "s", 100, 3600 * 1000},
	{"retry_batch", KEY_UINT, NULL, 1, 10000},
	{"db_connect_timeout", KEY_TIME, "s", 1000, 60 * 1000},
	{"db_lock_timeout", KEY_TIME, "ms", 0, 600 * 1000},
	{"log_requests", KEY_BOOL, NULL, 0, 0},
	{"debug", KEY_BOOL, NULL, 0, 0},
	{"admin_listen", KEY_LISTEN, NULL, 0, 0},
	{"admin_conninfo", KEY_STRING, NULL, 0, 0},
	{"admin_session_idle", KEY_TIME, "min", 1000, (int64_t) 24 * 3600 * 1000},
	{"admin_session_max", KEY_TIME, "h", 1000, (int64_t) 7 * 24 * 3600 * 1000},
	{"admin_login_lockout", KEY_TIME, "min", 1000, (int64_t) 24 * 3600 * 1000},
	{"admin_secure_cookie", KEY_BOOL, NULL, 0, 0},
	{"time_zone", KEY_STRING, NULL, 0, 0},
	{"app_case_url", KEY_STRING, NULL, 0, 0},
	{"admin_trusted_header", KEY_STRING, NULL, 0, 0},
};
#define NKEYS ((int) (sizeof(keys) / sizeof(keys[0])))

static void
copy_admin_listen(GbnwConfig *cfg, const GbnwConfig *tmp)
{
	memcpy(cfg->admin_listen, tmp->listen, sizeof(cfg->admin_listen));
	cfg->admin_addr = tmp->addr;
	cfg->admin_addrlen = tmp->addrlen;
	cfg->admin_ipv6 = tmp->ipv6;
	cfg->admin_loopback = tmp->loopback;
}

void
gbnw_config_defaults(GbnwConfig *cfg)
{
	char		err[64];

	memset(cfg, 0, sizeof(*cfg));
	(void) gbnw_parse_listen("127.0.0.1:8088", cfg, err, sizeof(err));
	cfg->max_body_size = 4 * 1024 * 1024;
	cfg->max_body_memory = 64 * 1024 * 1024;
	cfg->header_memory_limit = 32 * 1024;
	cfg->max_connections = 64;
	cfg->per_ip_connection_limit = 0;
	cfg->threads = 4;
	cfg->client_timeout_s = 10;
	cfg->request_timeout_ms = 30 * 1000;
	cfg->inbox_retention_s = 30L * 86400;
	cfg->maintenance_interval_ms = 10 * 1000;
	cfg->retry_batch = 100;
	cfg->db_connect_timeout_s = 5;
	cfg->db_lock_timeout_ms = 5000;
	cfg->log_requests = false;
	{
		GbnwConfig	tmp;

		memset(&tmp, 0, sizeof(tmp));
		(void) gbnw_parse_listen("127.0.0.1:8089", &tmp, err, sizeof(err));
		copy_admin_listen(cfg, &tmp);
	}
	cfg->admin_session_idle_s = 30 * 60;
	cfg->admin_session_max_s = 12 * 3600;
	cfg->admin_login_lockout_s = 15 * 60;
	cfg->time_zone = strdup("Asia/Jakarta");
}

void
gbnw_config_free(GbnwConfig *cfg)
{
	free(cfg->conninfo);
	free(cfg->meta_app_secret_file);
	free(cfg->meta_verify_token_file);
	free(cfg->waha_hmac_key_file);
	free(cfg->admin_conninfo);
	free(cfg->time_zone);
	free(cfg->app_case_url);
	free(cfg->admin_trusted_header);
	cfg->admin_conninfo = cfg->time_zone = cfg->app_case_url = cfg->admin_trusted_header = NULL;
	cfg->conninfo = cfg->meta_app_secret_file = NULL;
	cfg->meta_verify_token_file = cfg->waha_hmac_key_file = NULL;
}

static void
seterr(char *err, size_t errlen, const char *fmt,...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ----------------------------------------------------------------
 * Value parsers
 * ----------------------------------------------------------------
 */

/* a whole non-negative decimal number (no sign, no spaces), then the rest */
static bool
parse_number(const char *v, int64_t *num, const char **rest)
{
	int64_t		n = 0;
	const char *p = v;

	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
	{
		if (n > (INT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (*p - '0');
		p++;
	}
	*num = n;
	*rest = p;
	return true;
}

/*
 * A time as PostgreSQL writes it: an integer and a unit (ms, s, min, h, d),
 * white space allowed between them; a bare number is in default_unit.
 */
bool
gbnw_parse_time_ms(const char *v, const char *default_unit, int64_t *out)
{
	static const struct
	{
		const char *unit;
		int64_t		ms;
	}			units[] = {
		{"ms", 1}, {"s", 1000}, {"min", 60 * 1000}, {"h", 3600 * 1000},
		{"d", 86400 * 1000}
	};
	int64_t		n;
	const char *rest;
	const char *unit;
	size_t		i;

	if (!parse_number(v, &n, &rest))
		return false;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	unit = *rest ? rest : default_unit;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		if (strcmp(unit, units[i].unit) == 0)
		{
			if (n > INT64_MAX / units[i].ms)
				return false;
			*out = n * units[i].ms;
			return true;
		}
	}
	return false;
}

/* a size: an integer and B, kB, MB or GB (1024s); a bare number is bytes */
bool
gbnw_parse_size(const char *v, int64_t *out)
{
	static const struct
	{
		const char *unit;
		int64_t		bytes;
	}			units[] = {
		{"", 1}, {"B", 1}, {"kB", 1024}, {"MB", 1024 * 1024},
		{"GB", (int64_t) 1024 * 1024 * 1024}
	};
	int64_t		n;
	const char *rest;
	size_t		i;

	if (!parse_number(v, &n, &rest))
		return false;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		if (strcmp(rest, units[i].unit) == 0)
		{
			if (n > INT64_MAX / units[i].bytes)
				return false;
			*out = n * units[i].bytes;
			return true;
		}
	}
	return false;
}

bool
gbnw_parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	size_t		i;

	for (i = 0; i < 4; i++)
	{
		if (strcasecmp(v, yes[i]) == 0)
		{
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0)
		{
			*out = false;
			return true;
		}
	}
	return false;
}

/*
 * listen: "IPv4:port" or "[IPv6]:port", literal addresses only (no name
 * lookups); port 0 lets the system choose (the log line says which).
 */
bool
gbnw_parse_listen(const char *v, GbnwConfig *cfg, char *err, size_t errlen)
{
	char		host[64];
	const char *colon;
	const char *portstr;
	int64_t		port;
	const char *rest;
	size_t		hlen;

	if (v[0] == '[')
	{
		const char *close = strchr(v, ']');

		if (close == NULL || close[1] != ':')
		{
			seterr(err, errlen, "listen \"%s\": write an IPv6 address as [address]:port", v);
			return false;
		}
		hlen = (size_t) (close - v - 1);
		if (hlen == 0 || hlen >= sizeof(host))
		{
			seterr(err, errlen, "listen \"%s\": bad address", v);
			return false;
		}
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		portstr = close + 2;
	}
	else
	{
		colon = strrchr(v, ':');
		if (colon == NULL)
		{
			seterr(err, errlen, "listen \"%s\": expected address:port, e.g. 127.0.0.1:8088", v);
			return false;
		}
		hlen = (size_t) (colon - v);
		if (hlen == 0 || hlen >= sizeof(host))
		{
			seterr(err, errlen, "listen \"%s\": bad address", v);
			return false;
		}
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		portstr = colon + 1;
	}
	if (!parse_number(portstr, &port, &rest) || *rest != '\0' || port > 65535)
	{
		seterr(err, errlen, "listen \"%s\": the port must be a number from 0 to 65535", v);
		return false;
	}

	memset(&cfg->addr, 0, sizeof(cfg->addr));
	if (v[0] == '[')
	{
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &cfg->addr;

		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
		{
			seterr(err, errlen, "listen \"%s\": \"%s\" is not an IPv6 address", v, host);
			return false;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t) port);
		cfg->addrlen = sizeof(*a6);
		cfg->ipv6 = true;
		cfg->loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
	}
	else
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *) &cfg->addr;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		{
			seterr(err, errlen, "listen \"%s\": \"%s\" is not an IPv4 address (host names are not looked up)",
				   v, host);
			return false;
		}
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t) port);
		cfg->addrlen = sizeof(*a4);
		cfg->ipv6 = false;
		cfg->loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	}
	snprintf(cfg->listen, sizeof(cfg->listen), "%s", v);
	return true;
}

/* ----------------------------------------------------------------
 * The file
 * ----------------------------------------------------------------
 */

static bool
set_key(GbnwConfig *cfg, int k, const char *value, char *err, size_t errlen)
{
	const KeyDef *d = &keys[k];
	int64_t		n;
	bool		b;
	char	  **str = NULL;

	switch (d->type)
	{
		case KEY_LISTEN:
			if (strcmp(d->name, "admin_listen") == 0)
			{
				GbnwConfig	tmp;

				memset(&tmp, 0, sizeof(tmp));
				if (!gbnw_parse_listen(value, &tmp, err, errlen))
					return false;
				copy_admin_listen(cfg, &tmp);
			}
			else if (!gbnw_parse_listen(value, cfg, err, errlen))
				return false;
			break;
		case KEY_STRING:
		case KEY_PATH:
			if (strcmp(d->name, "conninfo") == 0)
				str = &cfg->conninfo;
			else if (strcmp(d->name, "admin_conninfo") == 0)
				str = &cfg->admin_conninfo;
			else if (strcmp(d->name, "time_zone") == 0)
				str = &cfg->time_zone;
			else if (strcmp(d->name, "app_case_url") == 0)
				str = &cfg->app_case_url;
			else if (strcmp(d->name, "admin_trusted_header") == 0)
				str = &cfg->admin_trusted_header;
			else if (strcmp(d->name, "meta_app_secret_file") == 0)
				str = &cfg->meta_app_secret_file;
			else if (strcmp(d->name, "meta_verify_token_file") == 0)
				str = &cfg->meta_verify_token_file;
			else
				str = &cfg->waha_hmac_key_file;
			if ((d->type == KEY_PATH || strcmp(d->name, "admin_conninfo") == 0 ||
				 strcmp(d->name, "app_case_url") == 0 ||
				 strcmp(d->name, "admin_trusted_header") == 0) && value[0] == '\0')
			{
				free(*str);
				*str = NULL;	/* empty: endpoint off */
				break;
			}
			free(*str);
			*str = strdup(value);
			if (*str == NULL)
			{
				seterr(err, errlen, "out of memory");
				return false;
			}
			break;
		case KEY_SIZE:
			if (!gbnw_parse_size(value, &n))
			{
				seterr(err, errlen, "%s: \"%s\" is not a size (a number with B, kB, MB or GB)",
					   d->name, value);
				return false;
			}
			if (n < d->min || n > d->max)
			{
				seterr(err, errlen, "%s: %s is outside the range %lld to %lld bytes",
					   d->name, value, (long long) d->min, (long long) d->max);
				return false;
			}
			if (strcmp(d->name, "max_body_size") == 0)
				cfg->max_body_size = (size_t) n;
			else if (strcmp(d->name, "max_body_memory") == 0)
				cfg->max_body_memory = (size_t) n;
			else
				cfg->header_memory_limit = (size_t) n;
			break;
		case KEY_UINT:
			{
				const char *rest;

				if (!parse_number(value, &n, &rest) || *rest != '\0')
				{
					seterr(err, errlen, "%s: \"%s\" is not a whole number", d->name, value);
					return false;
				}
				if (n < d->min || n > d->max)
				{
					seterr(err, errlen, "%s: %s is outside the range %lld to %lld",
						   d->name, value, (long long) d->min, (long long) d->max);
					return false;
				}
				if (strcmp(d->name, "max_connections") == 0)
					cfg->max_connections = (unsigned int) n;
				else if (strcmp(d->name, "per_ip_connection_limit") == 0)
					cfg->per_ip_connection_limit = (unsigned int) n;
				else if (strcmp(d->name, "threads") == 0)
					cfg->threads = (unsigned int) n;
				else
					cfg->retry_batch = (int) n;
			}
			break;
		case KEY_TIME:
			if (!gbnw_parse_time_ms(value, d->unit, &n))
			{
				seterr(err, errlen, "%s: \"%s\" is not a time (a number with ms, s, min, h or d)",
					   d->name, value);
				return false;
			}
			if (n < d->min || n > d->max)
			{
				seterr(err, errlen, "%s: %s is outside the range %lld ms to %lld ms",
					   d->name, value, (long long) d->min, (long long) d->max);
				return false;
			}
			if (strcmp(d->name, "client_timeout") == 0)
				cfg->client_timeout_s = (unsigned int) ((n + 999) / 1000);	/* whole seconds */
			else if (strcmp(d->name, "request_timeout") == 0)
				cfg->request_timeout_ms = (int) n;
			else if (strcmp(d->name, "inbox_retention") == 0)
				cfg->inbox_retention_s = (long) (n / 1000);
			else if (strcmp(d->name, "maintenance_interval") == 0)
				cfg->maintenance_interval_ms = (int) n;
			else if (strcmp(d->name, "db_connect_timeout") == 0)
				cfg->db_connect_timeout_s = (int) ((n + 999) / 1000);
			else if (strcmp(d->name, "admin_session_idle") == 0)
				cfg->admin_session_idle_s = (int) ((n + 999) / 1000);
			else if (strcmp(d->name, "admin_session_max") == 0)
				cfg->admin_session_max_s = (int) ((n + 999) / 1000);
			else if (strcmp(d->name, "admin_login_lockout") == 0)
				cfg->admin_login_lockout_s = (int) ((n + 999) / 1000);
			else
				cfg->db_lock_timeout_ms = (int) n;
			break;
		case KEY_BOOL:
			if (!gbnw_parse_bool(value, &b))
			{
				seterr(err, errlen, "%s: \"%s\" is not a boolean (on, off, true, false, yes, no, 1, 0)",
					   d->name, value);
				return false;
			}
			if (strcmp(d->name, "log_requests") == 0)
				cfg->log_requests = b;
			else if (strcmp(d->name, "admin_secure_cookie") == 0)
				cfg->admin_secure_cookie = b;
			else
				gbnw_log_debug = b;
			break;
	}
	if (k < (int) (sizeof(cfg->set) / sizeof(cfg->set[0])))
		cfg->set[k] = true;
	return true;
}

/*
 * admin_conninfo: a libpq connection string without user and password
 * (the login gives them) and without a passfile (no stored password).
 */
static bool
admin_conninfo_ok(const char *ci, const char *name, char *err, size_t errlen)
{
	char	   *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(ci, &perr);
	PQconninfoOption *o;
	bool		ok = true;

	if (opts == NULL)
	{
		/* libpq's message may quote the string: not repeated */
		seterr(err, errlen, "%s: admin_conninfo is not a valid connection string", name);
		PQfreemem(perr);
		return false;
	}
	for (o = opts; o->keyword != NULL; o++)
	{
		if (o->val != NULL &&
			(strcmp(o->keyword, "user") == 0 || strcmp(o->keyword, "password") == 0 ||
			 strcmp(o->keyword, "passfile") == 0))
		{
			seterr(err, errlen, "%s: admin_conninfo must not set %s: the page logs in as the role and password the user gives",
				   name, o->keyword);
			ok = false;
			break;
		}
	}
	PQconninfoFree(opts);
	return ok;
}

/*
 * Parse the text of a configuration file (len bytes; name is for the
 * messages).  On error: false and a message "NAME:LINE: ...".
 */
bool
gbnw_config_parse(const char *text, size_t len, const char *name,
				  GbnwConfig *cfg, char *err, size_t errlen)
{
	size_t		pos = 0;
	int			lineno = 0;
	char	   *value = NULL;
	char		msg[512];

	if (memchr(text, '\0', len) != NULL)
	{
		seterr(err, errlen, "%s: the file contains a NUL byte", name);
		return false;
	}
	value = malloc(len + 1);
	if (value == NULL)
	{
		seterr(err, errlen, "out of memory");
		return false;
	}

	while (pos < len)
	{
		const char *line = text + pos;
		const char *eol = memchr(line, '\n', len - pos);
		size_t		linelen = eol ? (size_t) (eol - line) : len - pos;
		const char *p = line;
		const char *end = line + linelen;
		char		key[64];
		size_t		klen = 0;
		size_t		vlen = 0;
		int			k;

		pos += linelen + (eol ? 1 : 0);
		lineno++;
		if (linelen > 0 && end[-1] == '\r')
			end--;				/* CRLF files */

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '#')
			continue;

		/* the key */
		if (!(isalpha((unsigned char) *p) || *p == '_'))
		{
			seterr(err, errlen, "%s:%d: syntax error: a line starts with a key", name, lineno);
			goto fail;
		}
		while (p < end && (isalnum((unsigned char) *p) || *p == '_' || *p == '.'))
		{
			if (klen + 1 >= sizeof(key))
			{
				seterr(err, errlen, "%s:%d: key too long", name, lineno);
				goto fail;
			}
			key[klen++] = (char) tolower((unsigned char) *p);
			p++;
		}
		key[klen] = '\0';
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p == '=')
		{
			p++;
			while (p < end && (*p == ' ' || *p == '\t'))
				p++;
		}

		if (strcmp(key, "include") == 0 || strcmp(key, "include_dir") == 0 ||
			strcmp(key, "include_if_exists") == 0)
		{
			seterr(err, errlen, "%s:%d: \"%s\" is not supported: put every key in this file",
				   name, lineno, key);
			goto fail;
		}

		/* the value */
		if (p < end && *p == '\'')
		{
			p++;
			for (;;)
			{
				if (p >= end)
				{
					seterr(err, errlen, "%s:%d: unterminated quoted string", name, lineno);
					goto fail;
				}
				if (*p == '\'')
				{
					if (p + 1 < end && p[1] == '\'')
					{
						value[vlen++] = '\'';
						p += 2;
						continue;
					}
					p++;
					break;
				}
				if (*p == '\\' && p + 1 < end)
				{
					char		c = p[1];

					p += 2;
					switch (c)
					{
						case 'b':
							value[vlen++] = '\b';
							break;
						case 'f':
							value[vlen++] = '\f';
							break;
						case 'n':
							value[vlen++] = '\n';
							break;
						case 'r':
							value[vlen++] = '\r';
							break;
						case 't':
							value[vlen++] = '\t';
							break;
						case '0':
						case '1':
						case '2':
						case '3':
						case '4':
						case '5':
						case '6':
						case '7':
							{
								int			o = c - '0';
								int			i;

								for (i = 0; i < 2 && p < end && *p >= '0' && *p <= '7'; i++)
									o = o * 8 + (*p++ - '0');
								if (o == 0 || o > 255)
								{
									seterr(err, errlen, "%s:%d: bad octal escape", name, lineno);
									goto fail;
								}
								value[vlen++] = (char) o;
							}
							break;
						default:
							value[vlen++] = c;
							break;
					}
					continue;
				}
				value[vlen++] = *p++;
			}
		}
		else
		{
			while (p < end && *p != ' ' && *p != '\t' && *p != '#' && *p != '\'')
				value[vlen++] = *p++;
			if (vlen == 0)
			{
				seterr(err, errlen, "%s:%d: \"%s\" has no value", name, lineno, key);
				goto fail;
			}
		}
		value[vlen] = '\0';

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p < end && *p != '#')
		{
			seterr(err, errlen, "%s:%d: syntax error after the value of \"%s\" (quote values that contain spaces)",
				   name, lineno, key);
			goto fail;
		}

		for (k = 0; k < NKEYS; k++)
			if (strcmp(keys[k].name, key) == 0)
				break;
		if (k == NKEYS)
		{
			seterr(err, errlen, "%s:%d: unknown key \"%s\"", name, lineno, key);
			goto fail;
		}
		if (!set_key(cfg, k, value, msg, sizeof(msg)))
		{
			seterr(err, errlen, "%s:%d: %s", name, lineno, msg);
			goto fail;
		}
	}
	OPENSSL_cleanse(value, len + 1);	/* conninfo may carry a password */
	free(value);

	if (cfg->conninfo == NULL)
	{
		seterr(err, errlen, "%s: conninfo is not set (the database to store the webhooks in)", name);
		return false;
	}
	if (cfg->meta_app_secret_file == NULL && cfg->waha_hmac_key_file == NULL &&
		cfg->meta_verify_token_file == NULL && cfg->admin_conninfo == NULL)
	{
		seterr(err, errlen, "%s: nothing to serve: set meta_app_secret_file (and meta_verify_token_file) and/or waha_hmac_key_file, or admin_conninfo for the Notifications page",
			   name);
		return false;
	}
	if (cfg->admin_conninfo != NULL && !admin_conninfo_ok(cfg->admin_conninfo, name, err, errlen))
		return false;
	if (cfg->time_zone == NULL || cfg->time_zone[0] == '\0' || strlen(cfg->time_zone) > 64)
	{
		seterr(err, errlen, "%s: time_zone must be a time zone name such as Asia/Jakarta", name);
		return false;
	}
	if (cfg->app_case_url != NULL && strncmp(cfg->app_case_url, "https://", 8) != 0 &&
		strncmp(cfg->app_case_url, "http://", 7) != 0)
	{
		seterr(err, errlen, "%s: app_case_url must start with https:// or http://", name);
		return false;
	}
	if (cfg->admin_trusted_header != NULL)
	{
		const char *h;

		for (h = cfg->admin_trusted_header; *h; h++)
			if (!(isalnum((unsigned char) *h) || *h == '-' || *h == '_'))
				break;
		if (*h != '\0' || strlen(cfg->admin_trusted_header) > 64)
		{
			seterr(err, errlen, "%s: admin_trusted_header must be a header name (letters, digits, - and _)", name);
			return false;
		}
	}
	if (cfg->admin_conninfo != NULL && cfg->admin_session_idle_s > cfg->admin_session_max_s)
	{
		seterr(err, errlen, "%s: admin_session_idle is longer than admin_session_max", name);
		return false;
	}
	if (cfg->max_body_memory < cfg->max_body_size)
	{
		seterr(err, errlen, "%s: max_body_memory (%zu bytes) is less than max_body_size (%zu bytes)",
			   name, cfg->max_body_memory, cfg->max_body_size);
		return false;
	}
	return true;

fail:
	OPENSSL_cleanse(value, len + 1);
	free(value);
	return false;
}

bool
gbnw_config_load(const char *path, GbnwConfig *cfg, char *err, size_t errlen)
{
	int			fd;
	struct stat st;
	char	   *buf;
	size_t		got = 0;
	bool		ok;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		seterr(err, errlen, "could not open configuration file \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		seterr(err, errlen, "configuration file \"%s\" is not a regular file", path);
		close(fd);
		return false;
	}
	if (st.st_size > GBNW_CONFIG_MAX)
	{
		seterr(err, errlen, "configuration file \"%s\" is larger than %d bytes", path, GBNW_CONFIG_MAX);
		close(fd);
		return false;
	}
	buf = malloc((size_t) st.st_size + 1);
	if (buf == NULL)
	{
		close(fd);
		seterr(err, errlen, "out of memory");
		return false;
	}
	while (got < (size_t) st.st_size)
	{
		ssize_t		n = read(fd, buf + got, (size_t) st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t) n;
	}
	close(fd);
	buf[got] = '\0';
	ok = gbnw_config_parse(buf, got, path, cfg, err, errlen);
	OPENSSL_cleanse(buf, got);
	free(buf);
	return ok;
}

/* ----------------------------------------------------------------
 * Secret files
 * ----------------------------------------------------------------
 */

/*
 * Load a secret from a file, or from a systemd credential
 * ("credential:NAME" = $CREDENTIALS_DIRECTORY/NAME).
 */
bool
gbnw_secret_load(const char *spec, GbnwSecret *out, char *err, size_t errlen)
{
	char		path[PATH_MAX];
	int			fd;
	struct stat st;
	unsigned char buf[GBNW_SECRET_MAX + 2];
	size_t		got = 0;

	out->data = NULL;
	out->len = 0;
	if (strncmp(spec, "credential:", 11) == 0)
	{
		const char *name = spec + 11;
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		const char *c;

		if (*name == '\0' || strlen(name) > 255)
		{
			seterr(err, errlen, "\"%s\": a credential name is expected after \"credential:\"", spec);
			return false;
		}
		for (c = name; *c; c++)
			if (!(isalnum((unsigned char) *c) || *c == '_' || *c == '-' || *c == '.') ||
				(c == name && *c == '.'))
			{
				seterr(err, errlen, "\"%s\": a credential name has only letters, digits, _ - and .", spec);
				return false;
			}
		if (dir == NULL || dir[0] == '\0')
		{
			seterr(err, errlen, "\"%s\": CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the systemd unit, or a file path)",
				   spec);
			return false;
		}
		if ((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		{
			seterr(err, errlen, "\"%s\": path too long", spec);
			return false;
		}
	}
	else
	{
		if (strlen(spec) >= sizeof(path))
		{
			seterr(err, errlen, "secret file path too long");
			return false;
		}
		strcpy(path, spec);
	}

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
	{
		seterr(err, errlen, "could not open secret file \"%s\": %s", path, strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		seterr(err, errlen, "secret file \"%s\" is not a regular file", path);
		close(fd);
		return false;
	}
	if ((st.st_mode & (S_IRWXO | S_IWGRP)) != 0)
	{
		seterr(err, errlen, "secret file \"%s\" can be read or written by others (mode %04o): chmod 0600 (or 0640 for a group of readers)",
			   path, (unsigned int) (st.st_mode & 07777));
		close(fd);
		return false;
	}
	for (;;)
	{
		ssize_t		n = read(fd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			seterr(err, errlen, "could not read secret file \"%s\": %s", path, strerror(errno));
			close(fd);
			OPENSSL_cleanse(buf, sizeof(buf));
			return false;
		}
		if (n == 0)
			break;
		got += (size_t) n;
		if (got == sizeof(buf))
			break;
	}
	close(fd);
	/* one trailing newline (echo > file) is not part of the secret */
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	if (got > GBNW_SECRET_MAX)
	{
		seterr(err, errlen, "secret file \"%s\" is larger than %d bytes", path, GBNW_SECRET_MAX);
		OPENSSL_cleanse(buf, sizeof(buf));
		return false;
	}
	if (got == 0)
	{
		seterr(err, errlen, "secret file \"%s\" is empty", path);
		return false;
	}
	out->data = malloc(got);
	if (out->data == NULL)
	{
		seterr(err, errlen, "out of memory");
		OPENSSL_cleanse(buf, sizeof(buf));
		return false;
	}
	memcpy(out->data, buf, got);
	out->len = got;
	OPENSSL_cleanse(buf, sizeof(buf));
	return true;
}

void
gbnw_secret_free(GbnwSecret *s)
{
	if (s->data != NULL)
	{
		OPENSSL_cleanse(s->data, s->len);
		free(s->data);
	}
	s->data = NULL;
	s->len = 0;
}
