--
-- 016_access_token: a database's own access token.  set_access_token() is
-- for superusers only, checks the token without ever quoting it, keeps it
-- in a table no other role can read (not even pg_read_all_data) and that
-- pg_dump does not dump; NULL removes it.
--
\set SHOW_CONTEXT never
CREATE EXTENSION IF NOT EXISTS guestbook_notify;

-- the table: an extension member, not a configuration table (never dumped),
-- no privilege for anyone but its owner, row security on
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
	   pg_get_userbyid(c.relowner) = current_user AS owned_by_installer,
	   array_length(c.relacl, 1) AS acl_entries,
	   c.oid = ANY (e.extconfig) AS dumped
  FROM pg_class c, pg_extension e
 WHERE c.oid = 'guestbook_notify.database_token'::regclass AND e.extname = 'guestbook_notify';
SELECT a.grantee::regrole::text AS grantee, a.privilege_type
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.oid = 'guestbook_notify.database_token'::regclass
   AND a.grantee <> c.relowner;

-- a superuser sets it; nothing of it is in pg_db_role_setting
SELECT guestbook_notify.set_access_token('EAAG-regress-016-first');
SELECT token = 'EAAG-regress-016-first' AS stored, set_by = current_user AS set_by_me,
	   set_at <= now() AS set_at_ok
  FROM guestbook_notify.database_token;
-- setting it again replaces it (one row)
SELECT guestbook_notify.set_access_token('EAAG-regress-016-second');
SELECT count(*) AS rows, bool_and(token = 'EAAG-regress-016-second') AS replaced
  FROM guestbook_notify.database_token;
SELECT count(*) AS in_db_role_setting FROM pg_db_role_setting s, unnest(s.setconfig) c
 WHERE c LIKE '%EAAG-regress-016%';
-- a rolled back call changes nothing
BEGIN;
SELECT guestbook_notify.set_access_token('EAAG-regress-016-rolled-back');
ROLLBACK;
SELECT token = 'EAAG-regress-016-second' AS unchanged FROM guestbook_notify.database_token;

-- bad tokens: refused, and the error never quotes the token
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token('')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token('EAAG regress 016 with spaces')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token(E'EAAG-regress-016-\nnewline')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token('EAAG-regress-016-' || repeat('x', 5000))$$);
SELECT token = 'EAAG-regress-016-second' AS unchanged FROM guestbook_notify.database_token;

-- not a superuser: refused (no EXECUTE right; and with one, the function's
-- own check), and the table cannot be read, not even with pg_read_all_data
CREATE ROLE regress_gbn_tokenless;
CREATE ROLE regress_gbn_reader IN ROLE pg_read_all_data;
GRANT USAGE ON SCHEMA guestbook_notify TO regress_gbn_tokenless;
SET ROLE regress_gbn_tokenless;
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token('EAAG-regress-016-evil')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token(NULL)$$);
SELECT * FROM show_error($$SELECT token FROM guestbook_notify.database_token$$);
RESET ROLE;
GRANT EXECUTE ON FUNCTION guestbook_notify.set_access_token(text) TO regress_gbn_tokenless;
SET ROLE regress_gbn_tokenless;
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token('EAAG-regress-016-evil')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.set_access_token(NULL)$$);
RESET ROLE;
SET ROLE regress_gbn_reader;
SELECT count(*) AS rows_seen_by_pg_read_all_data FROM guestbook_notify.database_token;
RESET ROLE;
SELECT token = 'EAAG-regress-016-second' AS unchanged FROM guestbook_notify.database_token;

-- NULL removes it
SELECT guestbook_notify.set_access_token(NULL);
SELECT count(*) AS rows FROM guestbook_notify.database_token;
-- and removing what is not there is no error
SELECT guestbook_notify.set_access_token(NULL);

REVOKE ALL ON FUNCTION guestbook_notify.set_access_token(text) FROM regress_gbn_tokenless;
REVOKE ALL ON SCHEMA guestbook_notify FROM regress_gbn_tokenless;
DROP ROLE regress_gbn_tokenless;
DROP ROLE regress_gbn_reader;
