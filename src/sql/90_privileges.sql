/*
 * guestbook_notify install script, part: privileges, all in one place.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 *
 * Nothing that changes state, no table and no internal function is PUBLIC:
 * every object of the schema is revoked from PUBLIC here, whatever part
 * made it, and the few that PUBLIC may use are granted back by name.  The
 * README shows the GRANTs for the app's admin role and for the webhook
 * receiver's role.  The triggers need no grant: CREATE TRIGGER (attach(),
 * run by a superuser) checks EXECUTE, firing does not.
 */

GRANT USAGE ON SCHEMA guestbook_notify TO PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA guestbook_notify FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA guestbook_notify FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA guestbook_notify FROM PUBLIC;

-- pure, reads nothing: anyone may check a number
GRANT EXECUTE ON FUNCTION guestbook_notify.normalize_number(text) TO PUBLIC;
