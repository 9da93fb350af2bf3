/*
 * guestbook_notify install script, part wake() and worker_status().
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

-- Nudge the worker: it wakes when the calling transaction commits.
CREATE FUNCTION guestbook_notify.wake()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'guestbook_notify_wake';

-- One row per configured worker: the database it serves, what it is
-- doing and what it has done since the server started.  paused_reason is
-- set while sending is paused by an account-level provider error (the
-- workers of a database share it).  audit_pending: case_events rows waiting
-- in audit_outbox to be written into the app's table (as last seen by the
-- worker); events_pending: trigger events not yet turned into queue rows.
CREATE FUNCTION guestbook_notify.worker_status()
RETURNS TABLE (
	pid integer,
	database name,
	state text,
	paused_reason text,
	in_flight integer,
	sent bigint,
	failed bigint,
	retried bigint,
	audit_pending bigint,
	events_pending bigint,
	last_error text
)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'guestbook_notify_worker_status';

-- Tell the launcher the extension is here, so this database's workers start
-- at once (called at the end of the install and upgrade scripts).
CREATE FUNCTION guestbook_notify._extension_installed()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_extension_installed';
