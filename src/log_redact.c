/*-------------------------------------------------------------------------
 *
 * log_redact.c
 *		Keep the access token out of the server log.
 *
 * PostgreSQL itself logs a changed setting with its raw value when the
 * configuration is reloaded ("parameter ... changed to ..."), and
 * log_statement may log an ALTER SYSTEM that sets it.  This emit_log_hook
 * masks, in every message of every process that loaded the library:
 *	 - the current value of guestbook_notify.access_token wherever it
 *	   appears, and
 *	 - whatever follows the name guestbook_notify.access_token;
 * and drops the STATEMENT line of an error raised by a statement that
 * names the setting.  The hook never raises an error itself.
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

static void
redact_field(char **field)
{
	char	   *masked;

	if (*field == NULL)
		return;
	if (gbn_access_token != NULL && strlen(gbn_access_token) >= MIN_TOKEN_LEN &&
		(masked = mask_token(*field, gbn_access_token)) != NULL)
		*field = masked;
	if ((masked = mask_after_name(*field)) != NULL)
		*field = masked;
}

static void
redact_log_hook(ErrorData *edata)
{
	/* palloc'd in ErrorContext, which the hook runs in; freed with it */
	redact_field(&edata->message);
	redact_field(&edata->detail);
	redact_field(&edata->detail_log);
	redact_field(&edata->hint);
	redact_field(&edata->context);
	redact_field(&edata->internalquery);

	if (debug_query_string != NULL &&
		(strstr(debug_query_string, TOKEN_SETTING) != NULL ||
		 (gbn_access_token != NULL && strlen(gbn_access_token) >= MIN_TOKEN_LEN &&
		  strstr(debug_query_string, gbn_access_token) != NULL)))
		edata->hide_stmt = true;

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/* s, or a copy with the access token masked if it contains it */
char *
gbn_mask_secret(char *s)
{
	char	   *masked;

	if (s != NULL && gbn_access_token != NULL &&
		strlen(gbn_access_token) >= MIN_TOKEN_LEN &&
		(masked = mask_token(s, gbn_access_token)) != NULL)
		return masked;
	return s;
}

void
gbn_install_log_redaction(void)
{
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = redact_log_hook;
}
