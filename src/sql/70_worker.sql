/*
 * guestbook_notify install script, part worker interface (called by the background worker only).
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
 * 100,000-row backlog per claim took a whole core).  Every statement of
 * _claim_batch and _record_result finds its rows through an index (a
 * primary key or the due index), so these two functions run with
 * enable_seqscan = off: the index plan is the only one, whatever the
 * estimates.  The SQL-language worker functions are planned at each call
 * and need no such setting.
 */

/*
 * _setting_interval: a time setting (SHOW format such as '6s', '500ms', or a
 * bare number of p_unit_ms when the library is not loaded in this session)
 * as an interval; NULL when it is not set.
 */
CREATE FUNCTION guestbook_notify._setting_interval(p_name text, p_unit_ms integer)
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v text := nullif(btrim(current_setting(p_name, true)), '');
BEGIN
	IF v IS NULL THEN
		RETURN NULL;
	ELSIF v ~ '^-?[0-9]+$' THEN
		RETURN make_interval(secs => v::numeric * p_unit_ms / 1000.0);
	END IF;
	RETURN v::interval;
END;
$$;

/*
 * _claim_batch: lease up to p_limit due rows for p_lease_seconds and return
 * what the worker needs to send them. attempt_count counts the try now.
 *
 * - A row is free when it is not leased, its lease ran out, or the backend
 *   that leased it is gone (a crashed or killed worker: its requests died
 *   with it), so a restarted worker takes over at once.
 * - Opt-out is checked again here: opted-out rows are cancelled instead.
 * - Recipient pacing (guestbook_notify.recipient_interval): at most one
 *   message per number per interval, across all workers (the upsert on
 *   recipient_pacing takes the number's slot under a row lock).  The other
 *   due rows of a paced number are moved to its next slots, in order:
 *   deferred, never dropped.
 * - Hourly cap (guestbook_notify.recipient_hourly_cap): a number that had
 *   that many messages in its current hour is held until the hour ends;
 *   its rows say so in last_error ('held: ...'), for the admins.
 * Both 0 turn pacing off (a plain set-based claim).
 */
CREATE FUNCTION guestbook_notify._claim_batch(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (
	id uuid,
	to_number text,
	message_text text,
	template_name text,
	template_language text,
	template_args text[],
	attempt_count integer
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	iv interval := greatest(coalesce(guestbook_notify._setting_interval('guestbook_notify.recipient_interval', 1),
									 interval '6 s'), interval '0');
	-- a slot starts a little after the interval: the request leaves after
	-- this transaction commits, a few ms after now()
	gap interval := iv + least(iv / 50, interval '100 ms');
	cap integer := greatest(coalesce(nullif(btrim(current_setting('guestbook_notify.recipient_hourly_cap', true)), '')::integer,
									 60), 0);
	lease interval := make_interval(secs => p_lease_seconds);
	live integer[];
	ids uuid[] := '{}';
	c record;
	cur_number text;
	decided boolean;
	taken boolean;
	slot timestamptz;
	held boolean;
	k integer;
	n_cand integer;
	n_moved integer;
	pass integer;
	v_free boolean;
BEGIN
	-- backends alive now: a lease held by any other pid is a dead worker's
	live := ARRAY(SELECT s.pid FROM pg_catalog.pg_stat_get_activity(NULL) s WHERE s.pid IS NOT NULL);

	/*
	 * Opt-out is checked again at send time, for the rows being leased only
	 * (a primary-key probe of opt_outs each): they are cancelled instead.
	 * An UPDATE of every due row joined to opt_outs ran on a plan cached
	 * while the queue was small and read the whole backlog on every claim
	 * (tests/bench/README.md: 3 ms a claim at 10,000 queued).
	 */
	IF iv <= interval '0' AND cap <= 0 THEN
		RETURN QUERY
		WITH due AS (
			SELECT d.id,
				   EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o
							WHERE o.number = d.to_number) AS opted_out
			  FROM guestbook_notify.notification_queue d
			 WHERE d.status = 'pending'
			   AND d.scheduled_at <= now()
			   AND (d.lease_until IS NULL OR d.lease_until < now() OR d.leased_by <> ALL (live))
			 ORDER BY d.scheduled_at, d.id
			 LIMIT p_limit
			   FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE guestbook_notify.notification_queue q
			   SET status = CASE WHEN due.opted_out THEN 'cancelled' ELSE q.status END,
				   last_error = CASE WHEN due.opted_out THEN 'recipient opted out'
								ELSE q.last_error END,
				   lease_until = CASE WHEN due.opted_out THEN NULL ELSE now() + lease END,
				   leased_by = CASE WHEN due.opted_out THEN NULL ELSE pg_backend_pid() END,
				   attempt_count = q.attempt_count + CASE WHEN due.opted_out THEN 0 ELSE 1 END,
				   updated_at = now()
			  FROM due
			 WHERE q.id = due.id
			RETURNING q.id, q.to_number, q.message_text, q.template_name,
					  q.template_language, q.template_args, q.attempt_count,
					  due.opted_out
		)
		SELECT cl.id, cl.to_number, cl.message_text, cl.template_name,
			   cl.template_language, cl.template_args, cl.attempt_count
		  FROM claimed cl
		 WHERE NOT cl.opted_out;
		RETURN;
	END IF;

	/*
	 * Look at the due rows in queue order, a window at a time, grouped by
	 * number: one slot per number; the other rows of a number go to its
	 * later slots.  A row is locked (SKIP LOCKED) only when it is taken or
	 * deferred, so rows left for lack of room stay free for another worker.
	 * A window whose rows were all deferred makes room for the next one, so
	 * a burst to one number does not hold up the others.
	 */
	FOR pass IN 1 .. 8 LOOP
		EXIT WHEN cardinality(ids) >= p_limit;
		n_cand := 0;
		n_moved := 0;
		cur_number := NULL;
		decided := false;
		FOR c IN
			SELECT cand.id, cand.to_number
			  FROM (SELECT d.id, d.to_number, d.scheduled_at
					  FROM guestbook_notify.notification_queue d
					 WHERE d.status = 'pending'
					   AND d.scheduled_at <= now()
					   AND (d.lease_until IS NULL OR d.lease_until < now() OR d.leased_by <> ALL (live))
					   AND d.id <> ALL (ids)
					 ORDER BY d.scheduled_at, d.id
					 LIMIT (p_limit - cardinality(ids)) * 2 + 16) cand
			 ORDER BY cand.to_number NULLS FIRST, cand.scheduled_at, cand.id
		LOOP
			n_cand := n_cand + 1;
			IF c.to_number IS NULL OR cur_number IS DISTINCT FROM c.to_number THEN
				cur_number := c.to_number;
				decided := false;
				slot := NULL;
				held := false;
				k := 0;
			END IF;
			IF decided AND slot IS NULL THEN
				CONTINUE;			-- its number is left for later
			END IF;
			IF NOT decided AND cardinality(ids) >= p_limit THEN
				decided := true;	-- batch full: leave the number's rows due
				CONTINUE;
			END IF;

			-- another worker is taking this number's slot right now (it
			-- holds its pacing row): leave the number to the next claim
			IF NOT decided AND c.to_number IS NOT NULL THEN
				PERFORM 1 FROM guestbook_notify.recipient_pacing p
				  WHERE p.to_number = c.to_number
					FOR UPDATE SKIP LOCKED;
				IF NOT FOUND AND EXISTS (SELECT 1 FROM guestbook_notify.recipient_pacing p
										  WHERE p.to_number = c.to_number) THEN
					decided := true;
					CONTINUE;
				END IF;
			END IF;

			-- lock the row; skip it if another worker has it or took it.
			-- Found by id alone, then checked: with the conditions in the
			-- WHERE clause, a plan cached while the queue was small read a
			-- partial index of every pending row for each candidate
			-- (tests/bench/README.md).
			v_free := NULL;
			SELECT d.status = 'pending'
				   AND d.scheduled_at <= now()
				   AND (d.lease_until IS NULL OR d.lease_until < now() OR d.leased_by <> ALL (live))
			  INTO v_free
			  FROM guestbook_notify.notification_queue d
			 WHERE d.id = c.id
			   FOR UPDATE SKIP LOCKED;
			CONTINUE WHEN NOT coalesce(v_free, false);

			n_moved := n_moved + 1;
			IF c.to_number IS NULL THEN
				ids := ids || c.id;	-- nothing to pace: the worker fails it
				CONTINUE;
			END IF;

			IF NOT decided THEN
				decided := true;
				taken := NULL;
				INSERT INTO guestbook_notify.recipient_pacing AS p
					(to_number, next_allowed_at, window_start, window_count)
				VALUES (c.to_number, now() + gap, now(), 1)
				ON CONFLICT ON CONSTRAINT recipient_pacing_pkey DO UPDATE
				   SET next_allowed_at = now() + gap,
					   window_start = CASE WHEN p.window_start <= now() - interval '1 hour'
										   THEN now() ELSE p.window_start END,
					   window_count = CASE WHEN p.window_start <= now() - interval '1 hour'
										   THEN 1 ELSE p.window_count + 1 END
				 WHERE p.next_allowed_at <= now()
				   AND (cap <= 0
						OR p.window_start <= now() - interval '1 hour'
						OR p.window_count < cap)
				RETURNING true INTO taken;
				IF coalesce(taken, false) THEN
					ids := ids || c.id;
					slot := now() + gap;
					CONTINUE;
				END IF;
				-- paced or held: when is its next slot?
				SELECT CASE WHEN cap > 0 AND p.window_count >= cap
							 AND p.window_start > now() - interval '1 hour'
							THEN greatest(p.window_start + interval '1 hour', p.next_allowed_at)
							ELSE p.next_allowed_at END,
					   cap > 0 AND p.window_count >= cap
							 AND p.window_start > now() - interval '1 hour'
				  INTO slot, held
				  FROM guestbook_notify.recipient_pacing p
				 WHERE p.to_number = c.to_number;
			END IF;

			-- a further row of a number whose slot is taken, or a paced number
			UPDATE guestbook_notify.notification_queue q
			   SET scheduled_at = greatest(q.scheduled_at, slot + gap * k),
				   last_error = CASE WHEN held
									 THEN format('held: %s reached the hourly cap of %s messages; sending resumes at %s',
												 c.to_number, cap, slot + gap * k)
									 ELSE q.last_error END,
				   updated_at = now()
			 WHERE q.id = c.id;
			k := k + 1;
		END LOOP;
		EXIT WHEN n_cand = 0 OR n_moved = 0;
	END LOOP;

	-- lease the rows taken; opted-out ones are cancelled instead (see
	-- above).  Both statements find the rows by id only: a status
	-- condition would let a plan cached on a small queue pick a partial
	-- index of every pending row.
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled',
		   last_error = 'recipient opted out',
		   lease_until = NULL,
		   leased_by = NULL,
		   updated_at = now()
	 WHERE q.id = ANY (ids)
	   AND EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = q.to_number);

	RETURN QUERY
	UPDATE guestbook_notify.notification_queue q
	   SET lease_until = now() + lease,
		   leased_by = pg_backend_pid(),
		   attempt_count = q.attempt_count + 1,
		   updated_at = now()
	 WHERE q.id = ANY (ids)
	   AND q.status <> 'cancelled'
	RETURNING q.id, q.to_number, q.message_text, q.template_name,
			  q.template_language, q.template_args, q.attempt_count;
END;
$$;

/*
 * _record_result: the outcome of one HTTP try of a row this backend leased.
 *   sent    -> status sent, provider id, case_events 'contacted'
 *   retry   -> pending again after p_retry_delay_ms, or failed once
 *              attempt_count reached p_max_attempts
 *   failed  -> failed now (permanent error)
 *   paused  -> account-level problem: pending again, the try not counted
 * Every call writes one notification_attempts row. Returns the row's new
 * status, or NULL if the row is not leased by this backend any more.
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
	p_max_attempts integer)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off		-- see "Plans of the worker's statements" above
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
	new_status text;
	err text;
	iv interval;
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

	/*
	 * Recipient pacing: a 131056 answer (pair rate limit) pushes this
	 * number's next slot back by 4^x s, x = such answers in a row (Meta's
	 * advice), at least recipient_interval; a success resets x.  Other
	 * numbers are not affected.
	 */
	iv := greatest(coalesce(guestbook_notify._setting_interval('guestbook_notify.recipient_interval', 1),
							interval '6 s'), interval '0');
	IF r.to_number IS NOT NULL AND iv > interval '0' THEN
		-- the interval counts from when the request really left
		UPDATE guestbook_notify.recipient_pacing p
		   SET next_allowed_at = p_started_at + iv
		 WHERE p.to_number = r.to_number
		   AND p.next_allowed_at < p_started_at + iv;
	END IF;
	IF r.to_number IS NOT NULL AND p_error_code = 131056 THEN
		INSERT INTO guestbook_notify.recipient_pacing AS p
			(to_number, next_allowed_at, window_start, window_count, throttle_level)
		VALUES (r.to_number, now() + greatest(iv, interval '1 s'), now(), 0, 1)
		ON CONFLICT ON CONSTRAINT recipient_pacing_pkey DO UPDATE
		   SET throttle_level = p.throttle_level + 1,
			   next_allowed_at = greatest(p.next_allowed_at,
										  now() + greatest(iv, make_interval(secs => power(4, least(p.throttle_level, 6))::integer)));
	ELSIF r.to_number IS NOT NULL AND p_outcome = 'sent' THEN
		UPDATE guestbook_notify.recipient_pacing p
		   SET throttle_level = 0
		 WHERE p.to_number = r.to_number
		   AND p.throttle_level > 0;
	END IF;

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
			   last_error = NULL, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		new_status := 'sent';
		IF r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
			EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) '
						   'VALUES ($1, $2, $3)', r.app_schema)
			USING r.case_id, 'contacted',
				  jsonb_build_object('notification_id', p_id,
									 'template', r.template_key,
									 'provider', p_provider,
									 'provider_message_id', p_provider_message_id,
									 'to_number', r.to_number,
									 'recipient_role', r.recipient_role);
		END IF;
		RETURN new_status;
	END IF;

	err := p_error_text;
	IF p_outcome = 'paused' THEN
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
	IF r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
		EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) '
					   'VALUES ($1, $2, $3)', r.app_schema)
		USING r.case_id, 'notification_failed',
			  jsonb_build_object('notification_id', p_id,
								 'template', r.template_key,
								 'to_number', r.to_number,
								 'recipient_role', r.recipient_role,
								 'error', err);
	END IF;
	RETURN 'failed';
END;
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
			AND q.leased_by <> ALL (ARRAY(SELECT s.pid FROM pg_catalog.pg_stat_get_activity(NULL) s
										   WHERE s.pid IS NOT NULL))
		  ORDER BY q.scheduled_at
		  LIMIT 1)) d;
$$;

/*
 * _record_fallback: used only when _record_result raised an error for a row
 * (for instance a trigger on the app's case_events): settle the queue row
 * anyway, without an attempt row or case event, so that a sent message is
 * not sent again when its lease runs out and a failing row does not loop.
 * Returns the row's new status, or NULL if this backend no longer holds it.
 */
CREATE FUNCTION guestbook_notify._record_fallback(
	p_id uuid,
	p_outcome text,
	p_provider text,
	p_provider_message_id text,
	p_error_text text,
	p_retry_delay_ms integer,
	p_max_attempts integer)
RETURNS text
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	UPDATE guestbook_notify.notification_queue q
	   SET status = CASE
				WHEN p_outcome = 'sent' THEN 'sent'
				WHEN p_outcome = 'failed' THEN 'failed'
				WHEN p_outcome = 'retry' AND q.attempt_count >= p_max_attempts THEN 'failed'
				ELSE 'pending' END,
		   sent_at = CASE WHEN p_outcome = 'sent' THEN now() ELSE q.sent_at END,
		   provider = p_provider,
		   provider_message_id = CASE WHEN p_outcome = 'sent'
				THEN p_provider_message_id ELSE q.provider_message_id END,
		   attempt_count = CASE WHEN p_outcome = 'paused'
				THEN greatest(q.attempt_count - 1, 0) ELSE q.attempt_count END,
		   scheduled_at = CASE WHEN p_outcome = 'retry'
				THEN now() + make_interval(secs => greatest(p_retry_delay_ms, 0) / 1000.0)
				ELSE q.scheduled_at END,
		   last_error = p_error_text,
		   lease_until = NULL,
		   leased_by = NULL,
		   updated_at = now()
	 WHERE q.id = p_id
	   AND q.status = 'pending'
	   AND q.leased_by = pg_backend_pid()
	RETURNING q.status;
$$;

/*
 * _release: give back rows this backend leased but did not finish (the
 * worker is shutting down and aborted their requests).  The try is not
 * counted.  Returns how many rows were released.
 */
CREATE FUNCTION guestbook_notify._release(p_ids uuid[])
RETURNS integer
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	WITH released AS (
		UPDATE guestbook_notify.notification_queue q
		   SET lease_until = NULL,
			   leased_by = NULL,
			   attempt_count = greatest(q.attempt_count - 1, 0),
			   updated_at = now()
		 WHERE q.id = ANY (p_ids)
		   AND q.status = 'pending'
		   AND q.leased_by = pg_backend_pid()
		RETURNING 1)
	SELECT count(*)::integer FROM released;
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
	INSERT INTO guestbook_notify.notification_queue_archive
	SELECT moved.*, now() FROM moved;
	GET DIAGNOSTICS n = ROW_COUNT;

	DELETE FROM guestbook_notify.recipient_pacing p
	 WHERE p.next_allowed_at < now() - interval '1 hour'
	   AND p.window_start < now() - interval '1 hour';
	RETURN n;
END;
$$;
