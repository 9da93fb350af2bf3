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
REVOKE ALL ON FUNCTION guestbook_notify.wake() FROM PUBLIC;

-- One row per configured worker: what it is doing and what it has done
-- since the server started.  paused_reason is set while sending is paused
-- by an account-level provider error (all workers share it).
CREATE FUNCTION guestbook_notify.worker_status()
RETURNS TABLE (
	pid integer,
	state text,
	paused_reason text,
	in_flight integer,
	sent bigint,
	failed bigint,
	retried bigint,
	last_error text
)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'guestbook_notify_worker_status';
REVOKE ALL ON FUNCTION guestbook_notify.worker_status() FROM PUBLIC;
