/*-------------------------------------------------------------------------
 *
 * log_redact.c
 *		Keep the access token out of the server log.
 *
 * PostgreSQL itself logs a changed setting with its raw value when the
 * configuration is reloaded ("parameter ... changed to ..."), and
 * log_statement may log an ALTER SYSTEM that sets it, or a call of
 * guestbook_notify.set_access_token('...').  This emit_log_hook masks, in
 * every message of every process that loaded the library:
 *	 - the current value of guestbook_notify.access_token wherever it
 *	   appears, and in a worker its database's own token too;
 *	 - whatever follows the name guestbook_notify.access_token;
 *	 - whatever follows "set_access_token(" (its argument, and the rest of
 *	   the statement: cutting there needs no SQL parser that could be
 *	   fooled by quoting), and the "parameters: ..." detail or context of
 *	   a statement that calls it (a token passed as a bind parameter);
 * and drops the STATEMENT line of an error raised by a statement that
 * names the setting or calls set_access_token.  The hook never raises an
 * error itself.
 *
 * src/log_redact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"

#include "guestbook_notify.h"

#define TOKEN_SETTING	"guestbook_notify.access_token"
#define TOKEN_FUNCTION	"set_access_token"
#define MASK			"********"

/* tokens shorter than this are not searched for (too many false hits) */
#define MIN_TOKEN_LEN	6

static emit_log_hook_type prev_emit_log_hook = NULL;

/* s with every occurrence of token replaced by the mask; NULL if none */
static char *
mask_token(const char *s, const char *token)
{
	StringInfoData buf;
	const char *p;
	size_t		tlen = strlen(token);

	if (strstr(s, token) == NULL)
		return NULL;
	initStringInfo(&buf);
	while ((p = strstr(s, token)) != NULL)
	{
		appendBinaryStringInfo(&buf, s, p - s);
		appendStringInfoString(&buf, MASK);
		s = p + tlen;
	}
	appendStringInfoString(&buf, s);
	return buf.data;
}

/*
 * s cut after the setting's name and the value hidden, if a value follows
 * the name ("= ...", "TO ...", "changed to ...", "', '...'" as in
 * set_config(), or ": ..."); NULL otherwise.  Mentions such as "... is not
 * set" or current_setting('...') are left alone.
 */
static char *
mask_after_name(const char *s)
{
	const char *p = strstr(s, TOKEN_SETTING);
	const char *rest;
	const char *v;
	StringInfoData buf;

	if (p == NULL)
		return NULL;
	rest = p + strlen(TOKEN_SETTING);
	v = rest;
	while (*v == '"' || *v == '\'' || *v == ' ' || *v == '\t' || *v == '\n')
		v++;
	if (!(*v == '=' || *v == ',' || *v == ':' ||
		  pg_strncasecmp(v, "to ", 3) == 0 ||
		  pg_strncasecmp(v, "to\t", 3) == 0 ||
		  pg_strncasecmp(v, "to\n", 3) == 0 ||
		  strncmp(v, "changed to", 10) == 0))
		return NULL;

	initStringInfo(&buf);
	if (*rest == '"')
		rest++;
	appendBinaryStringInfo(&buf, s, rest - s);
	if (strncmp(v, "changed to", 10) == 0)
		appendStringInfoString(&buf, " changed to \"" MASK "\"");
	else
		appendStringInfoString(&buf, " ... (value hidden)");
	return buf.data;
}

/* case-insensitive strstr (identifiers are folded: SET_ACCESS_TOKEN calls it) */
static const char *
find_nocase(const char *s, const char *what)
{
	size_t		n = strlen(what);

	for (; *s; s++)
		if (pg_strncasecmp(s, what, n) == 0)
			return s;
	return NULL;
}

/*
 * The position just after "set_access_token(" in s -- the argument of a
 * call -- or NULL when s holds no call with an argument ("()" and a
 * mention without parentheses are left alone).  A quoted name and spaces
 * before the parenthesis count as a call.
 */
static const char *
token_call_argument(const char *s)
{
	const char *p = s;

	while ((p = find_nocase(p, TOKEN_FUNCTION)) != NULL)
	{
		const char *v = p + strlen(TOKEN_FUNCTION);

		while (*v == '"' || *v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
			v++;
		if (*v == '(')
		{
			const char *a = v + 1;

			while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
				a++;
			if (*a != ')')
				return v + 1;
		}
		p = v;
	}
	return NULL;
}

/* s cut after "set_access_token(", the rest hidden; NULL if no call */
static char *
mask_token_call(const char *s)
{
	const char *arg = token_call_argument(s);
	StringInfoData buf;

	if (arg == NULL)
		return NULL;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, s, arg - s);
	appendStringInfoString(&buf, "... (value hidden)");
	return buf.data;
}

/* s cut after "parameters:" (bind parameters logged), NULL if none */
static char *
mask_parameters(const char *s)
{
	const char *p = strstr(s, "parameters:");
	StringInfoData buf;

	if (p == NULL)
		return NULL;
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, s, p - s);
	appendStringInfoString(&buf, "parameters: (hidden)");
	return buf.data;
}

/* a token long enough to search for, or NULL */
static const char *
searchable(const char *token)
{
	if (token != NULL && strlen(token) >= MIN_TOKEN_LEN)
		return token;
	return NULL;
}

/* s with both tokens masked; NULL if it holds neither */
static char *
mask_tokens(const char *s)
{
	char	   *masked = NULL;
	char	   *m;

	if (searchable(gbn_access_token) &&
		(m = mask_token(s, gbn_access_token)) != NULL)
		masked = m;
	if (searchable(gbn_database_token) &&
		(m = mask_token(masked ? masked : s, gbn_database_token)) != NULL)
		masked = m;
	return masked;
}

static void
redact_field(char **field, bool token_call)
{
	char	   *masked;

	if (*field == NULL)
		return;
	if ((masked = mask_tokens(*field)) != NULL)
		*field = masked;
	if ((masked = mask_after_name(*field)) != NULL)
		*field = masked;
	if ((masked = mask_token_call(*field)) != NULL)
		*field = masked;
	if (token_call && (masked = mask_parameters(*field)) != NULL)
		*field = masked;
}

/* does s hold a secret, or a statement that names one? */
static bool
names_secret(const char *s)
{
	return s != NULL &&
		(strstr(s, TOKEN_SETTING) != NULL ||
		 find_nocase(s, TOKEN_FUNCTION) != NULL ||
		 (searchable(gbn_access_token) && strstr(s, gbn_access_token) != NULL) ||
		 (searchable(gbn_database_token) && strstr(s, gbn_database_token) != NULL));
}

static void
redact_log_hook(ErrorData *edata)
{
	/*
	 * A statement calling set_access_token: its logged bind parameters
	 * ("parameters: $1 = '...'", in the detail of log_statement's line or
	 * the context of an error) are hidden too.
	 */
	bool		token_call = (debug_query_string != NULL &&
							  find_nocase(debug_query_string, TOKEN_FUNCTION) != NULL) ||
		(edata->message != NULL && find_nocase(edata->message, TOKEN_FUNCTION) != NULL);

	/* palloc'd in ErrorContext, which the hook runs in; freed with it */
	redact_field(&edata->message, false);
	redact_field(&edata->detail, token_call);
	redact_field(&edata->detail_log, token_call);
	redact_field(&edata->hint, false);
	redact_field(&edata->context, token_call);
	redact_field(&edata->internalquery, false);

	if (names_secret(debug_query_string))
		edata->hide_stmt = true;

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* s, or a copy with the access tokens masked if it contains one */
char *
gbn_mask_secret(char *s)
{
	char	   *masked;

	if (s != NULL && (masked = mask_tokens(s)) != NULL)
		return masked;
	return s;
}

void
gbn_install_log_redaction(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_log_hook;
}
