/*-------------------------------------------------------------------------
 *
 * access_token.c
 *		A database's own access token: guestbook_notify.set_access_token()
 *		and the worker's reading of it.
 *
 * Each guestbook database can send as its own WhatsApp sender.  What is not
 * secret is set with ALTER DATABASE ... SET (api_url, phone_number_id, the
 * rates); the token cannot be, because pg_db_role_setting is readable by
 * every role.  Instead a superuser calls
 *
 *	   SELECT guestbook_notify.set_access_token('EAAG...');	-- NULL removes it
 *
 * in the database.  The token is kept in guestbook_notify.database_token,
 * one row, which no role but its owner (the superuser who created the
 * extension) may read, and which pg_dump does not dump (it is not a
 * configuration table of the extension: after a restore, set the token
 * again).  The server log never shows it (log_redact.c masks the argument
 * of set_access_token(...) in every logged statement), nor does
 * pg_stat_activity once the call is over (the statement's text is replaced
 * by a masked one), nor any error of the function.
 *
 * At commit, the database's workers are told (a generation in shared
 * memory, shmem.c) and read the token again: no reload, no restart.  The
 * worker sends with it instead of guestbook_notify.access_token while it is
 * set (gbn_effective_token()).
 *
 * src/access_token.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "guestbook_notify.h"
#include "spi_util.h"
#include "tx.h"

/* a Cloud API token is about 200-300 characters; this is ample */
#define MAX_TOKEN_LEN	4096

PG_FUNCTION_INFO_V1(gbn_set_access_token_sql);

/*
 * The text of the running statement as pg_stat_activity will keep showing
 * it: the argument of set_access_token(...) hidden.
 */
static void
mask_activity(void)
{
	const char *q = debug_query_string;
	const char *p;

	if (q == NULL)
		return;
	for (p = q; *p; p++)
		if (pg_strncasecmp(p, "set_access_token", 16) == 0)
			break;
	if (*p == '\0')
		pgstat_report_activity(STATE_RUNNING, "<a statement that set an access token>");
	else
	{
		char	   *masked = psprintf("%.*sset_access_token(...)", (int) (p - q), q);

		pgstat_report_activity(STATE_RUNNING, masked);
		pfree(masked);
	}
}

/*
 * guestbook_notify.set_access_token(p_token text) RETURNS void
 *
 * Superusers only (the function checks, whatever EXECUTE was granted).  A
 * token is checked as the worker would (printable ASCII, no spaces) and
 * stored; NULL removes the database's token (the worker then sends with
 * guestbook_notify.access_token).  The token is never quoted in an error.
 */
Datum
gbn_set_access_token_sql(PG_FUNCTION_ARGS)
{
	char	   *token = NULL;
	int			nestlevel;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			rc;

	/* first: even a refused call leaves no token in pg_stat_activity */
	mask_activity();

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set this database's access token"),
				 errdetail("Only a superuser may set or remove it."),
				 errhint("Ask a superuser to run guestbook_notify.set_access_token() in this database.")));

	if (!PG_ARGISNULL(0))
	{
		token = text_to_cstring(PG_GETARG_TEXT_PP(0));
		if (token[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the access token is empty"),
					 errhint("Pass NULL to remove this database's access token.")));
		if (strlen(token) > MAX_TOKEN_LEN)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the access token is longer than %d bytes", MAX_TOKEN_LEN)));
		if (gbn_token_problem(token) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the access token %s", gbn_token_problem(token)),
					 errdetail("It goes into an HTTP header as it is.")));
	}

	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (token != NULL)
	{
		values[0] = CStringGetTextDatum(token);
		rc = SPI_execute_with_args("INSERT INTO guestbook_notify.database_token AS t"
								   " (singleton, token, set_at, set_by)"
								   " VALUES (true, $1, pg_catalog.now(), CURRENT_USER)"
								   " ON CONFLICT (singleton) DO UPDATE"
								   " SET token = excluded.token, set_at = excluded.set_at,"
								   " set_by = excluded.set_by",
								   1, types, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "storing the access token failed: %s", SPI_result_code_string(rc));
		/* no copy of the token left in memory longer than needed */
		explicit_bzero(VARDATA_ANY(DatumGetPointer(values[0])),
					   VARSIZE_ANY_EXHDR(DatumGetPointer(values[0])));
		explicit_bzero(token, strlen(token));
	}
	else
	{
		rc = SPI_execute("DELETE FROM guestbook_notify.database_token", false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "removing the access token failed: %s", SPI_result_code_string(rc));
	}
	SPI_finish();
	gbn_unpin_search_path(nestlevel);

	/* the workers read it again when this commits */
	gbn_settings_changed_at_commit(MyDatabaseId);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The worker's side
 * ----------------------------------------------------------------
 */

typedef struct ReadToken
{
	char	   *token;			/* in TopMemoryContext, or NULL */
} ReadToken;

static void
read_token_body(void *arg)
{
	ReadToken  *r = (ReadToken *) arg;
	Oid			nsp;
	char	   *t;
	int			rc;

	r->token = NULL;
	if (!OidIsValid(get_extension_oid("guestbook_notify", true)))
		return;
	nsp = get_namespace_oid("guestbook_notify", true);
	/* 1.0's SQL has no such table (the worker waits for UPDATE anyway) */
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("database_token", nsp)))
		return;
	rc = SPI_execute("SELECT t.token FROM guestbook_notify.database_token t", true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the access token failed: %s", SPI_result_code_string(rc));
	t = gbn_spi_text(0, 1);
	if (t != NULL && t[0] != '\0')
		r->token = MemoryContextStrdup(TopMemoryContext, t);
	if (t != NULL)
		explicit_bzero(t, strlen(t));
}

/*
 * Read this database's token into gbn_database_token (NULL: none, the
 * worker uses guestbook_notify.access_token).  Returns false if the read
 * failed (logged); gbn_database_token is then unchanged.  *changed: the
 * token is not the one the worker had.
 */
bool
gbn_read_database_token(bool *changed)
{
	ReadToken	r = {NULL};
	char	   *old = gbn_database_token;

	*changed = false;
	if (!gbn_run_in_transaction("guestbook_notify: read the access token",
								read_token_body, &r))
		return false;
	*changed = (old == NULL) != (r.token == NULL) ||
		(old != NULL && strcmp(old, r.token) != 0);
	gbn_database_token = r.token;
	if (old != NULL)
	{
		explicit_bzero(old, strlen(old));
		pfree(old);
	}
	return true;
}
