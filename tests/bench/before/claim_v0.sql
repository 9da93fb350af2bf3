-- The claim as it was before tests/bench's profiling (issue 5): the due index on
-- (scheduled_at) only and the opt-out re-check over every pending row. For the
-- before/after drain figures:
--   BENCH_EXTRA_SQL="$(cat tests/bench/before/claim_v0.sql)" IN_FLIGHTS=16 bash tests/bench/bench_drain.sh fast
DROP INDEX guestbook_notify.notification_queue_due_idx;
CREATE INDEX notification_queue_due_idx ON guestbook_notify.notification_queue (scheduled_at) WHERE status = 'pending';
CREATE OR REPLACE FUNCTION guestbook_notify._claim_batch(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (id uuid, to_number text, message_text text, template_name text,
	template_language text, template_args text[], attempt_count integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- opt-out is checked again at send time
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled',
		   last_error = 'recipient opted out',
		   lease_until = NULL,
		   leased_by = NULL,
		   updated_at = now()
	  FROM guestbook_notify.opt_outs o
	 WHERE q.status = 'pending'
	   AND q.to_number = o.number
	   AND q.scheduled_at <= now()
	   AND (q.lease_until IS NULL OR q.lease_until < now());

	RETURN QUERY
	WITH due AS (
		SELECT d.id
		  FROM guestbook_notify.notification_queue d
		 WHERE d.status = 'pending'
		   AND d.scheduled_at <= now()
		   AND (d.lease_until IS NULL OR d.lease_until < now())
		 ORDER BY d.scheduled_at, d.id
		 LIMIT p_limit
		   FOR UPDATE SKIP LOCKED
	)
	UPDATE guestbook_notify.notification_queue q
	   SET lease_until = now() + make_interval(secs => p_lease_seconds),
		   leased_by = pg_backend_pid(),
		   attempt_count = q.attempt_count + 1,
		   updated_at = now()
	  FROM due
	 WHERE q.id = due.id
	RETURNING q.id, q.to_number, q.message_text, q.template_name,
			  q.template_language, q.template_args, q.attempt_count;
END;
$$;
