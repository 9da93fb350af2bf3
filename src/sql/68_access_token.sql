/*
 * guestbook_notify install script, part: a database's own access token
 * (issue 16), for a server whose guestbook databases each send as their
 * own WhatsApp number.  The Makefile concatenates the parts in src/sql, in
 * name order, into guestbook_notify--<version>.sql.
 *
 * What is not secret goes per database with ALTER DATABASE ... SET
 * (api_url, phone_number_id, the rates).  The token cannot: ALTER
 * DATABASE keeps its values in pg_db_role_setting, which every role can
 * read.  So a superuser calls, in the database,
 *
 *     SELECT guestbook_notify.set_access_token('EAAG...');  -- NULL removes it
 *
 * and the database's workers send with it instead of
 * guestbook_notify.access_token from the commit on (src/access_token.c).
 *
 * database_token is readable by its owner only (the superuser who created
 * the extension; 90_privileges.sql revokes everything from PUBLIC and no
 * grant is ever given; row security hides its row from pg_read_all_data).
 * It is deliberately NOT a configuration table (pg_extension_config_dump):
 * pg_dump never writes the token out, and
 * after a restore a superuser sets it again.  The server log masks the
 * argument of set_access_token(...) (src/log_redact.c).
 */

-- One row at most: the database's token, when and by whom it was set.
CREATE TABLE guestbook_notify.database_token (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	token text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now(),
	set_by name NOT NULL DEFAULT CURRENT_USER
);
-- Row security on, with no policy: a role that may read every table
-- (pg_read_all_data) still sees no row; the owner and superusers (the
-- worker, set_access_token()) are not subject to it.
ALTER TABLE guestbook_notify.database_token ENABLE ROW LEVEL SECURITY;

-- Superusers only (checked inside, whatever EXECUTE is granted); NULL
-- removes the database's token.  Errors never quote the token.
CREATE FUNCTION guestbook_notify.set_access_token(p_token text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_set_access_token_sql';
