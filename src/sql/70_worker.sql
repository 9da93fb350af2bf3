/*
 * guestbook_notify install script, part: the worker interface (called by
 * the background worker only).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * Plans of the worker's statements.  A queue's statistics are always stale:
 * the worker's PL/pgSQL functions keep the plans made when the queue (or
 * recipient_pacing) was nearly empty, and a plan made then reads the table
 * sequentially -- the cheapest way through a few rows -- until autovacuum's
 * next ANALYZE, on every call, however large the backlog has grown
 * (tests/bench/README.md, profiling notes 4: two sequential scans of a
 * 100,000-row backlog per claim took a whole core).  Every statement of the
 * claims and of _record_result finds its rows through an index (a primary
 * key or the due index), so these functions run with enable_seqscan = off:
 * the index plan is the only one, whatever the estimates.  The
 * SQL-language worker functions are planned at each call and need no such
 * setting.
 *
 * Settings reach these functions as arguments from the worker (the C side
 * defines and checks them); nothing here reads a setting.
 *
 * A row is free to claim when it is pending and due, and not leased, or its
 * lease ran out, or the backend that leased it is gone (a crashed or killed
 * worker: its requests died with it), so a restarted worker takes over at
 * once.  A live worker renews the leases of the rows it holds
 * (_renew_leases), so a lease never runs out under it.
 */

/*
 * _lease_is_free: the lease predicate, in one place.  live: the pids of
 * the backends alive now (_live_pids()).  No SET clause, so that it is
 * inlined into the callers' scans (a SET would cost a GUC save and restore
 * per row); every caller pins search_path itself, and the body names only
 * pg_catalog objects.
 */
CREATE FUNCTION guestbook_notify._lease_is_free(
	p_lease_until timestamptz, p_leased_by integer, p_live integer[])
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT p_lease_until IS NULL
		   OR p_lease_until OPERATOR(pg_catalog.<) pg_catalog.now()
		   OR p_leased_by OPERATOR(pg_catalog.<>) ALL (p_live)
$$;

/* the pids of the backends alive now */
CREATE FUNCTION guestbook_notify._live_pids()
RETURNS integer[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT ARRAY(SELECT s.pid FROM pg_catalog.pg_stat_get_activity(NULL) s
				  WHERE s.pid IS NOT NULL)
$$;

/*
 * _lease: lease the rows p_ids (locked by the caller) for p_lease_seconds;
 * opted-out ones are cancelled instead (opt-out is checked again at send
 * time).  Returns what the worker needs to send them; attempt_count counts
 * the try now; claimed_at is when their pacing slots were taken.  Both
 * statements find the rows by id only: a status condition would let a plan
 * cached on a small queue pick a partial index of every pending row.
 */
CREATE FUNCTION guestbook_notify._lease(
	p_ids uuid[], p_lease_seconds integer, p_claimed_at timestamptz)
RETURNS TABLE (
	id uuid, to_number text, message_text text, template_name text,
	template_language text, template_args text[], attempt_count integer,
	send_as text, claimed_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
BEGIN
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled', last_error = 'recipient opted out',
		   lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE q.id = ANY (p_ids)
	   AND EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = q.to_number)
	   -- the confirmation of a STOP reply is queued just before the opt-out
	   AND NOT (q.template_key = 'opt_out_confirm' AND q.recipient_role = 'reply');

	RETURN QUERY
	UPDATE guestbook_notify.notification_queue q
	   SET lease_until = now() + make_interval(secs => p_lease_seconds),
		   leased_by = pg_backend_pid(),
		   attempt_count = q.attempt_count + 1,
		   updated_at = now()
	 WHERE q.id = ANY (p_ids)
	   AND q.status = 'pending'
	RETURNING q.id, q.to_number, q.message_text, q.template_name,
			  q.template_language, q.template_args, q.attempt_count,
			  q.send_as, p_claimed_at;
END;
$$;

/*
 * _claim_unpaced: lease up to p_limit due rows in queue order, with no
 * recipient pacing (recipient_interval and recipient_hourly_cap both 0):
 * one set-based statement, FOR UPDATE SKIP LOCKED.
 */
CREATE FUNCTION guestbook_notify._claim_unpaced(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (
	id uuid, to_number text, message_text text, template_name text,
	template_language text, template_args text[], attempt_count integer,
	send_as text, claimed_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	live integer[] := guestbook_notify._live_pids();
	ids uuid[];
BEGIN
	ids := ARRAY(SELECT d.id
				   FROM guestbook_notify.notification_queue d
				  WHERE d.status = 'pending'
					AND d.scheduled_at <= now()
					AND guestbook_notify._lease_is_free(d.lease_until, d.leased_by, live)
				  ORDER BY d.scheduled_at, d.id
				  LIMIT p_limit
					FOR UPDATE SKIP LOCKED);
	RETURN QUERY SELECT * FROM guestbook_notify._lease(ids, p_lease_seconds, clock_timestamp());
END;
$$;

/*
 * _pacing_rows_exist: make the pacing rows of p_numbers that do not exist
 * yet, in number order -- concurrent claims then wait for each other's new
 * rows in one order only and cannot deadlock.  Enqueueing makes them, so
 * this rarely inserts anything (only the missing ones are tried: ON
 * CONFLICT would wait for a claim that is updating an existing row).
 */
CREATE FUNCTION guestbook_notify._pacing_rows_exist(p_numbers text[])
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
	INSERT INTO guestbook_notify.recipient_pacing AS p
		(to_number, next_allowed_at, window_start, window_count)
	SELECT n, '-infinity', '-infinity', 0
	  FROM unnest(p_numbers) AS n
	 WHERE n IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.recipient_pacing e
						WHERE e.to_number = n)
	 ORDER BY n
	ON CONFLICT ON CONSTRAINT recipient_pacing_pkey DO NOTHING;
$$;

/*
 * _claim_paced: lease up to p_limit due rows, with recipient pacing: at
 * most one message per number per p_interval_ms, across all workers, and
 * at most p_hourly_cap per number per hour (0 = no cap).
 *
 * The due rows are looked at in queue order, a window of them, without
 * locking them.  Going through them, each new number's pacing row is
 * locked (SKIP LOCKED: a number another claim is deciding is left to the
 * next claim -- no claim ever waits for another, so none can deadlock);
 * then, against one moment t read from the clock -- not the transaction's
 * start, which may be long past -- a number whose slot is free gives its
 * first row to this claim and its next slot moves to t + gap; its other
 * rows, and the rows of a number not free yet, move to that number's next
 * slots, in order: deferred, never dropped.  Once the batch is full, no
 * new number is looked at.  Only the rows taken or deferred are locked
 * (SKIP LOCKED, re-checked), so other workers claim the rest meanwhile.  A
 * number over its hourly cap is held until its hour ends, and its rows say
 * so in last_error ('held: ...').  gap is the interval plus a margin (a
 * twentieth of it, at least 20 ms and at most 250 ms) for the time between
 * t and the request leaving; the worker sends a claimed row within that
 * margin or gives it back untried (src/worker_send.c), so two messages to
 * one number never leave less than the interval apart.
 */
CREATE FUNCTION guestbook_notify._claim_paced(
	p_limit integer, p_lease_seconds integer, p_interval_ms integer,
	p_hourly_cap integer)
RETURNS TABLE (
	id uuid, to_number text, message_text text, template_name text,
	template_language text, template_args text[], attempt_count integer,
	send_as text, claimed_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	iv interval := make_interval(secs => greatest(p_interval_ms, 0) / 1000.0);
	gap interval := iv + least(greatest(iv / 20, interval '20 ms'), interval '250 ms');
	live integer[] := guestbook_notify._live_pids();
	c_ids uuid[];
	c_numbers text[];
BEGIN
	SELECT array_agg(d.id ORDER BY d.scheduled_at, d.id),
		   array_agg(d.to_number ORDER BY d.scheduled_at, d.id)
	  INTO c_ids, c_numbers
	  FROM (SELECT d.id, d.to_number, d.scheduled_at
			  FROM guestbook_notify.notification_queue d
			 WHERE d.status = 'pending'
			   AND d.scheduled_at <= now()
			   AND guestbook_notify._lease_is_free(d.lease_until, d.leased_by, live)
			 ORDER BY d.scheduled_at, d.id
			 LIMIT p_limit * 2 + 16) d;
	IF c_ids IS NULL THEN
		RETURN;
	END IF;
	PERFORM guestbook_notify._pacing_rows_exist(c_numbers);
	RETURN QUERY
	SELECT * FROM guestbook_notify._pace_and_lease(
		c_ids, c_numbers, clock_timestamp(), gap, p_hourly_cap, p_limit,
		p_lease_seconds, live);
END;
$$;

/*
 * _pace_and_lease: the decisions of _claim_paced at time t, for the
 * candidates c_ids (with their numbers c_numbers, in queue order).  Rows
 * without a number are taken as they come (the worker fails them).
 *
 * Long for a reason: the pacing decisions for a batch are one pass over the
 * candidates in queue order against one moment t (a split would have to
 * carry the per-number state arrays between functions).
 */
CREATE FUNCTION guestbook_notify._pace_and_lease(
	c_ids uuid[], c_numbers text[], t timestamptz, gap interval,
	p_hourly_cap integer, p_limit integer, p_lease_seconds integer,
	live integer[])
RETURNS TABLE (
	id uuid, to_number text, message_text text, template_name text,
	template_language text, template_args text[], attempt_count integer,
	send_as text, claimed_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	numbers text[] := '{}';		-- the numbers met, in order
	slot timestamptz[] := '{}';	-- each one's next slot (NULL: leave it)
	held boolean[] := '{}';
	k integer[] := '{}';
	ids uuid[] := '{}';
	d_ids uuid[] := '{}';
	d_at timestamptz[] := '{}';
	d_held boolean[] := '{}';
	locked uuid[];
	p guestbook_notify.recipient_pacing;
	capped boolean;
	i integer;
	j integer;
BEGIN
	FOR i IN 1 .. cardinality(c_ids) LOOP
		IF c_numbers[i] IS NULL THEN
			IF cardinality(ids) < p_limit THEN
				ids := ids || c_ids[i];
			END IF;
			CONTINUE;
		END IF;
		j := array_position(numbers, c_numbers[i]);
		IF j IS NULL THEN
			CONTINUE WHEN cardinality(ids) >= p_limit;	-- full: no new number
			numbers := numbers || c_numbers[i];
			j := cardinality(numbers);
			k[j] := 0;
			held[j] := false;
			slot[j] := NULL;
			SELECT * INTO p FROM guestbook_notify.recipient_pacing r
			 WHERE r.to_number = c_numbers[i] FOR UPDATE SKIP LOCKED;
			CONTINUE WHEN NOT FOUND;	-- another claim is deciding this number
			capped := p_hourly_cap > 0 AND p.window_count >= p_hourly_cap
					  AND p.window_start > t - interval '1 hour';
			IF p.next_allowed_at <= t AND NOT capped THEN
				ids := ids || c_ids[i];
				slot[j] := t + gap;
				CONTINUE;
			END IF;
			slot[j] := CASE WHEN capped
							THEN greatest(p.window_start + interval '1 hour', p.next_allowed_at)
							ELSE p.next_allowed_at END;
			held[j] := capped;
		END IF;
		CONTINUE WHEN slot[j] IS NULL;
		-- a further row of a number whose slot is taken, or a paced number
		d_ids := d_ids || c_ids[i];
		d_at := d_at || (slot[j] + gap * k[j]);
		d_held := d_held || held[j];
		k[j] := k[j] + 1;
	END LOOP;

	-- lock what was decided; a row another worker took meanwhile is skipped
	locked := ARRAY(SELECT q.id FROM guestbook_notify.notification_queue q
					 WHERE q.id = ANY (ids || d_ids)
					   AND q.status = 'pending'
					   AND guestbook_notify._lease_is_free(q.lease_until, q.leased_by, live)
					 ORDER BY q.id
					   FOR UPDATE SKIP LOCKED);
	ids := ARRAY(SELECT x FROM unnest(ids) AS x WHERE x = ANY (locked));

	-- the slots taken: next message not before t + gap; the hourly window
	UPDATE guestbook_notify.recipient_pacing rp
	   SET next_allowed_at = t + gap,
		   window_start = CASE WHEN rp.window_start <= t - interval '1 hour'
							   THEN t ELSE rp.window_start END,
		   window_count = CASE WHEN rp.window_start <= t - interval '1 hour'
							   THEN 1 ELSE rp.window_count + 1 END
	 WHERE rp.to_number IN (SELECT q.to_number FROM guestbook_notify.notification_queue q
							 WHERE q.id = ANY (ids));

	-- the deferred rows: to their numbers' next slots
	UPDATE guestbook_notify.notification_queue q
	   SET scheduled_at = greatest(q.scheduled_at, d.at),
		   last_error = CASE WHEN d.held
							 THEN format('held: %s reached the hourly cap of %s messages; sending resumes at %s',
										 q.to_number, p_hourly_cap, d.at)
							 ELSE q.last_error END,
		   updated_at = now()
	  FROM unnest(d_ids, d_at, d_held) AS d(id, at, held)
	 WHERE q.id = d.id
	   AND d.id = ANY (locked);

	RETURN QUERY SELECT * FROM guestbook_notify._lease(ids, p_lease_seconds, t);
END;
$$;

/*
 * _record_result: the outcome of one HTTP try of a row this backend leased.
 *   sent    -> status sent, provider id, case_events 'contacted' queued
 *   retry   -> pending again after p_retry_delay_ms, or failed once
 *              attempt_count reached p_max_attempts
 *   failed  -> failed now (permanent error)
 *   paused  -> account-level problem: pending again, the try not counted
 * Every call writes one notification_attempts row.  Writes the extension's
 * tables only: the case_events rows go to audit_outbox, and the worker
 * writes them in a step of its own (src/audit.c), so recording never waits
 * on the app.  Recipient pacing: the interval (p_interval_ms) counts from
 * when the request really left; a 131056 answer (pair rate limit) pushes
 * the number's next slot back by 4^x s, x = such answers in a row (Meta's
 * advice), at least the interval; a success resets x.  This is the one
 * place that backoff is decided.  Returns the row's new status, or NULL if
 * the row is not leased by this backend any more.
 *
 * Long for a reason: the outcome's effects on the row, the attempt, the
 * audit outbox and the recipient's pacing are one decision, taken in one
 * statement order that keeps the row locked once.
 */
CREATE FUNCTION guestbook_notify._record_result(
	p_id uuid,
	p_outcome text,
	p_provider text,
	p_http_status integer,
	p_error_code integer,
	p_error_text text,
	p_provider_message_id text,
	p_started_at timestamptz,
	p_duration_ms double precision,
	p_retry_delay_ms integer,
	p_max_attempts integer,
	p_interval_ms integer)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
	err text := p_error_text;
BEGIN
	SELECT * INTO r
	  FROM guestbook_notify.notification_queue
	 WHERE notification_queue.id = p_id
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;

	INSERT INTO guestbook_notify.notification_attempts
		(notification_id, attempt_no, provider, started_at, duration_ms,
		 outcome, http_status, error_code, error_text, provider_message_id)
	VALUES (p_id, r.attempt_count, p_provider, p_started_at, p_duration_ms,
			p_outcome, p_http_status, p_error_code, p_error_text,
			p_provider_message_id);
	PERFORM guestbook_notify._record_pacing(r.to_number, p_outcome, p_error_code,
											p_started_at, p_interval_ms);

	-- only the holder of the lease decides the row's fate
	IF r.status <> 'pending' OR r.leased_by IS DISTINCT FROM pg_backend_pid() THEN
		RETURN NULL;
	END IF;

	IF p_outcome = 'sent' THEN
		UPDATE guestbook_notify.notification_queue
		   SET status = 'sent', sent_at = now(), provider = p_provider,
			   provider_message_id = p_provider_message_id,
			   delivery_status = coalesce(delivery_status, 'sent'),
			   delivery_status_at = coalesce(delivery_status_at, now()),
			   last_error = err, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		PERFORM guestbook_notify._audit_outcome(r, 'contacted', p_provider,
												p_provider_message_id, NULL);
		RETURN 'sent';
	ELSIF p_outcome = 'paused' THEN
		UPDATE guestbook_notify.notification_queue
		   SET attempt_count = greatest(attempt_count - 1, 0),
			   last_error = err, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		RETURN 'pending';
	ELSIF p_outcome = 'retry' AND r.attempt_count < p_max_attempts THEN
		UPDATE guestbook_notify.notification_queue
		   SET scheduled_at = now() + make_interval(secs => greatest(p_retry_delay_ms, 0) / 1000.0),
			   last_error = err, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		RETURN 'pending';
	END IF;

	IF p_outcome = 'retry' THEN
		err := format('gave up after %s attempts: %s', r.attempt_count, err);
	END IF;
	UPDATE guestbook_notify.notification_queue
	   SET status = 'failed', last_error = err, provider = p_provider,
		   lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE notification_queue.id = p_id;
	PERFORM guestbook_notify._audit_outcome(r, 'notification_failed', p_provider,
											NULL, err);
	RETURN 'failed';
END;
$$;

/* _record_result's pacing part (see there) */
CREATE FUNCTION guestbook_notify._record_pacing(
	p_number text, p_outcome text, p_error_code integer,
	p_started_at timestamptz, p_interval_ms integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	iv interval := make_interval(secs => greatest(p_interval_ms, 0) / 1000.0);
BEGIN
	IF p_number IS NULL THEN
		RETURN;
	ELSIF p_error_code = 131056 THEN
		UPDATE guestbook_notify.recipient_pacing p
		   SET throttle_level = p.throttle_level + 1,
			   next_allowed_at = greatest(p.next_allowed_at,
					now() + greatest(iv, make_interval(secs => power(4, least(p.throttle_level, 6))::integer)))
		 WHERE p.to_number = p_number;
	ELSIF iv > interval '0' OR p_outcome = 'sent' THEN
		UPDATE guestbook_notify.recipient_pacing p
		   SET next_allowed_at = greatest(p.next_allowed_at, p_started_at + iv),
			   throttle_level = CASE WHEN p_outcome = 'sent' THEN 0 ELSE p.throttle_level END
		 WHERE p.to_number = p_number
		   AND (p.next_allowed_at < p_started_at + iv
				OR (p_outcome = 'sent' AND p.throttle_level > 0));
	END IF;
END;
$$;

/*
 * _audit_outcome: the case_events row of a sent ('contacted') or failed
 * ('notification_failed') notification, queued in audit_outbox.
 */
CREATE FUNCTION guestbook_notify._audit_outcome(
	r guestbook_notify.notification_queue, p_event_type text, p_provider text,
	p_provider_message_id text, p_error text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	INSERT INTO guestbook_notify.audit_outbox
		(app_schema, case_id, event_type, details, notification_id)
	SELECT r.app_schema, r.case_id, p_event_type,
		   jsonb_strip_nulls(jsonb_build_object(
			   'notification_id', r.id,
			   'template', r.template_key,
			   'provider', p_provider,
			   'provider_message_id', p_provider_message_id,
			   'to_number', r.to_number,
			   'recipient_role', r.recipient_role,
			   'error', p_error)),
		   r.id
	 WHERE r.case_id IS NOT NULL AND r.app_schema IS NOT NULL;
$$;

/*
 * _renew_leases: a live worker keeps the rows it holds (requests in flight,
 * results not recorded yet): their leases move on by p_lease_seconds.
 * Returns how many rows were renewed.
 */
CREATE FUNCTION guestbook_notify._renew_leases(p_ids uuid[], p_lease_seconds integer)
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	WITH renewed AS (
		UPDATE guestbook_notify.notification_queue q
		   SET lease_until = now() + make_interval(secs => p_lease_seconds)
		 WHERE q.id = ANY (p_ids)
		   AND q.status = 'pending'
		   AND q.leased_by = pg_backend_pid()
		RETURNING 1)
	SELECT count(*)::integer FROM renewed;
$$;

/*
 * _next_due: when the next pending row is due (NULL: none); a row leased by
 * a backend that is gone counts as due now.  The worker sleeps until then
 * when the queue has nothing due now.
 */
CREATE FUNCTION guestbook_notify._next_due()
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT min(due) FROM (
		(SELECT q.scheduled_at AS due
		   FROM guestbook_notify.notification_queue q
		  WHERE q.status = 'pending'
			AND (q.lease_until IS NULL OR q.lease_until < now())
		  ORDER BY q.scheduled_at
		  LIMIT 1)
		UNION ALL
		(SELECT greatest(q.scheduled_at, now())
		   FROM guestbook_notify.notification_queue q
		  WHERE q.status = 'pending'
			AND q.lease_until >= now()
			AND guestbook_notify._lease_is_free(q.lease_until, q.leased_by,
												guestbook_notify._live_pids())
		  ORDER BY q.scheduled_at
		  LIMIT 1)) d;
$$;

/*
 * _release: give back rows this backend leased but did not finish (the
 * worker is shutting down and aborted their requests, or a paced row could
 * not leave within its slot's margin).  The try is not counted, and neither
 * is the recipient's hourly-cap slot the claim took for it (else rows given
 * back on a busy machine used up a number's cap and held the rest for an
 * hour).  Pacing rows are locked in number order, as claims take them.
 * Returns how many rows were released.
 */
CREATE FUNCTION guestbook_notify._release(p_ids uuid[])
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	numbers text[];
	released integer;
BEGIN
	WITH r AS (
		UPDATE guestbook_notify.notification_queue q
		   SET lease_until = NULL,
			   leased_by = NULL,
			   attempt_count = greatest(q.attempt_count - 1, 0),
			   updated_at = now()
		 WHERE q.id = ANY (p_ids)
		   AND q.status = 'pending'
		   AND q.leased_by = pg_backend_pid()
		RETURNING q.to_number)
	SELECT count(*)::integer, array_agg(r.to_number) FILTER (WHERE r.to_number IS NOT NULL)
	  INTO released, numbers
	  FROM r;
	IF numbers IS NOT NULL THEN
		PERFORM 1 FROM guestbook_notify.recipient_pacing p
		  WHERE p.to_number = ANY (numbers)
		  ORDER BY p.to_number
		  FOR UPDATE;
		UPDATE guestbook_notify.recipient_pacing p
		   SET window_count = greatest(p.window_count - n.taken, 0)
		  FROM (SELECT x AS to_number, count(*)::integer AS taken
				  FROM unnest(numbers) AS x GROUP BY x) n
		 WHERE p.to_number = n.to_number
		   AND p.window_start > now() - interval '1 hour';
	END IF;
	RETURN released;
END;
$$;

/*
 * archive_finished: move up to batch_size finished rows (sent, failed,
 * cancelled) not changed for older_than from the live queue to
 * notification_queue_archive, oldest first; returns how many moved.  The
 * worker calls it every guestbook_notify.archive_interval when
 * guestbook_notify.retention is set.  Rows in use elsewhere (locked) are
 * skipped and taken next time.  notification_attempts and case_events stay.
 * Also forgets the pacing state of numbers idle for an hour.
 */
CREATE FUNCTION guestbook_notify.archive_finished(older_than interval, batch_size integer DEFAULT 1000)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
BEGIN
	IF older_than IS NULL OR older_than < interval '0' THEN
		RAISE EXCEPTION 'older_than must not be negative or NULL: %', older_than
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the age of the finished rows to archive, e.g. interval ''90 days''.';
	END IF;
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch size must be at least 1: %', batch_size
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	WITH old AS (
		SELECT q.id
		  FROM guestbook_notify.notification_queue q
		 WHERE q.status IN ('sent', 'failed', 'cancelled')
		   AND q.updated_at < now() - older_than
		 ORDER BY q.updated_at
		 LIMIT batch_size
		   FOR UPDATE SKIP LOCKED
	), moved AS (
		DELETE FROM guestbook_notify.notification_queue q
		 USING old
		 WHERE q.id = old.id
		RETURNING q.*
	)
	-- by name: an updated extension has the columns in another order
	INSERT INTO guestbook_notify.notification_queue_archive
		(id, channel, to_number, to_number_raw, recipient_name, recipient_role,
		 template_key, template_name, template_language, template_params,
		 template_args, message_text, case_id, app_schema, status, attempt_count,
		 scheduled_at, lease_until, leased_by, sent_at, last_error, dedupe_key,
		 provider, provider_message_id, delivery_status, delivery_status_at,
		 delivered_at, read_at, delivery_error, send_as, resent_from,
		 created_at, updated_at,
		 archived_at)
	SELECT id, channel, to_number, to_number_raw, recipient_name, recipient_role,
		   template_key, template_name, template_language, template_params,
		   template_args, message_text, case_id, app_schema, status, attempt_count,
		   scheduled_at, lease_until, leased_by, sent_at, last_error, dedupe_key,
		   provider, provider_message_id, delivery_status, delivery_status_at,
		   delivered_at, read_at, delivery_error, send_as, resent_from,
		   created_at, updated_at,
		   now()
	  FROM moved;
	GET DIAGNOSTICS n = ROW_COUNT;

	DELETE FROM guestbook_notify.recipient_pacing p
	 WHERE p.next_allowed_at < now() - interval '1 hour'
	   AND p.window_start < now() - interval '1 hour';
	RETURN n;
END;
$$;
