/*
 * guestbook_notify install script, part the SQL API.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- SQL API -----------------------------------------------------------
 */

/*
 * enqueue: queue one message by hand.  With case_id, the case's values fill
 * the template (params override them) and case_events are written in the
 * case's schema.  Bad arguments are errors.  An opted-out number still gets
 * a row, 'cancelled' with last_error 'recipient opted out', whose id is
 * returned.  A dedupe_key already in the queue returns that row's id and
 * writes nothing.
 */
CREATE FUNCTION guestbook_notify.enqueue(
	template_key text,
	to_number text,
	case_id uuid DEFAULT NULL,
	params jsonb DEFAULT '{}',
	dedupe_key text DEFAULT NULL,
	scheduled_at timestamptz DEFAULT now())
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key text := enqueue.template_key;
	v_case uuid := enqueue.case_id;
	v_params jsonb := coalesce(enqueue.params, '{}');
	v_number text;
	v_schema name;
	v_case_params jsonb;
BEGIN
	IF v_key IS NULL THEN
		RAISE EXCEPTION 'template key must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM guestbook_notify.templates t WHERE t.key = v_key) THEN
		RAISE EXCEPTION 'template "%" does not exist', v_key
			USING ERRCODE = 'undefined_object',
				  HINT = 'The templates are the rows of guestbook_notify.templates.';
	END IF;
	v_number := guestbook_notify.normalize_number(enqueue.to_number);
	IF jsonb_typeof(v_params) <> 'object' THEN
		RAISE EXCEPTION 'params must be a JSON object, not %', jsonb_typeof(v_params)
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the placeholder values by name, e.g. ''{"case_code": "ABC123"}''.';
	END IF;

	IF v_case IS NOT NULL THEN
		v_schema := guestbook_notify._case_schema(v_case);
		IF v_schema IS NULL THEN
			RAISE EXCEPTION 'case % not found', v_case
				USING ERRCODE = 'foreign_key_violation',
					  DETAIL = 'No attached schema has this case in its cases table.',
					  HINT = 'Attached schemas are listed in guestbook_notify.attached_schemas; see attach().';
		END IF;
		v_case_params := guestbook_notify._case_params_by_id(v_schema, v_case,
															 v_params ->> 'recipient_name');
		v_params := coalesce(v_case_params, '{}') || v_params;
	END IF;

	RETURN guestbook_notify._enqueue_row(
		v_key, enqueue.to_number, v_params ->> 'recipient_name', 'manual', v_params,
		v_case, v_schema::text, enqueue.dedupe_key, coalesce(enqueue.scheduled_at, now()), NULL);
END;
$$;

/*
 * render: preview the message template_key would produce for case_id, with
 * the recipient the worker would pick (assigned: the case's assigned
 * operator, else the operator of its latest assignment; escalated_lead /
 * escalated_kadis: the contact found).  Same renderer as the worker.  Reads
 * the case (visitor name, NIP/NIK): not PUBLIC.  The app's tables are read
 * as their owners (_app_select, _find_contact, _case_params_by_id).
 */
CREATE FUNCTION guestbook_notify.render(template_key text, case_id uuid)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_key text := render.template_key;
	v_case uuid := render.case_id;
	t guestbook_notify.templates%ROWTYPE;
	v_schema name;
	v_row jsonb;
	v_operator text;
	v_recipient text;
BEGIN
	IF v_key IS NULL OR v_case IS NULL THEN
		RAISE EXCEPTION 'template key and case id must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT * INTO t FROM guestbook_notify.templates WHERE templates.key = v_key;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'template "%" does not exist', v_key
			USING ERRCODE = 'undefined_object',
				  HINT = 'The templates are the rows of guestbook_notify.templates.';
	END IF;
	v_schema := guestbook_notify._case_schema(v_case);
	IF v_schema IS NULL THEN
		RAISE EXCEPTION 'case % not found', v_case
			USING ERRCODE = 'foreign_key_violation',
				  DETAIL = 'No attached schema has this case in its cases table.',
				  HINT = 'Attached schemas are listed in guestbook_notify.attached_schemas; see attach().';
	END IF;

	SELECT r INTO v_row
	  FROM guestbook_notify._app_select(v_schema, 'cases',
			format('SELECT c.org_unit_id::text AS unit, c.assigned_operator_id::text AS operator'
				   ' FROM %I.cases c WHERE c.id = $1::uuid', v_schema),
			ARRAY[v_case::text]) r;
	IF v_key = 'assigned' THEN
		-- the case's operator, else the one of its latest assignment
		v_operator := v_row ->> 'operator';
		IF v_operator IS NULL THEN
			SELECT r ->> 'operator' INTO v_operator
			  FROM guestbook_notify._app_select(v_schema, 'case_assignments',
					format('SELECT a.operator_id::text AS operator FROM %I.case_assignments a'
						   ' WHERE a.case_id = $1::uuid ORDER BY a.assigned_at DESC, a.id DESC LIMIT 1',
						   v_schema),
					ARRAY[v_case::text]) r;
		END IF;
		SELECT r ->> 'name' INTO v_recipient
		  FROM guestbook_notify._app_select(v_schema, 'users',
				format('SELECT u.full_name::text AS name FROM %I.users u WHERE u.id = $1::uuid',
					   v_schema),
				ARRAY[v_operator]) r;
	ELSIF v_key IN ('escalated_lead', 'escalated_kadis') THEN
		SELECT f.contact_name INTO v_recipient
		  FROM guestbook_notify._find_contact(v_schema, (v_row ->> 'unit')::uuid,
											  substr(v_key, 11)) f;
	END IF;
	RETURN guestbook_notify._render_text(
		t.body, guestbook_notify._case_params_by_id(v_schema, v_case, v_recipient));
END;
$$;

/*
 * requeue: a failed or cancelled row goes back to pending, due now, with
 * its attempts counted from zero (the attempts table keeps the history).
 * false for a pending or sent row; an error for an unknown id or for a row
 * without a valid number (nothing could be sent: fix the number and enqueue
 * again).  An opted-out number is cancelled again when the worker claims it.
 */
CREATE FUNCTION guestbook_notify.requeue(id uuid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
BEGIN
	SELECT * INTO r FROM guestbook_notify.notification_queue q WHERE q.id = requeue.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'notification % does not exist', coalesce(requeue.id::text, 'NULL')
			USING ERRCODE = 'no_data_found';
	END IF;
	IF r.status NOT IN ('failed', 'cancelled') THEN
		RETURN false;
	END IF;
	IF r.to_number IS NULL THEN
		RAISE EXCEPTION 'notification % has no valid recipient number', r.id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = coalesce(r.last_error, 'to_number is NULL.'),
				  HINT = 'Fix the number or contact in the app, then enqueue the message again.';
	END IF;
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'pending', scheduled_at = now(), attempt_count = 0,
		   last_error = NULL, lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE q.id = r.id;
	PERFORM guestbook_notify.wake();
	RETURN true;
END;
$$;

/*
 * cancel: a pending row that is not in flight, or a failed row, becomes
 * cancelled (last_error says by whom); anything else: false.
 */
CREATE FUNCTION guestbook_notify.cancel(id uuid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
BEGIN
	SELECT * INTO r FROM guestbook_notify.notification_queue q WHERE q.id = cancel.id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'notification % does not exist', coalesce(cancel.id::text, 'NULL')
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (r.status = 'failed'
			OR (r.status = 'pending'
				AND guestbook_notify._lease_is_free(r.lease_until, r.leased_by,
													guestbook_notify._live_pids()))) THEN
		RETURN false;
	END IF;
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled',
		   last_error = format('cancelled by %s', session_user)
						|| coalesce(' (' || q.last_error || ')', ''),
		   lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE q.id = r.id;
	RETURN true;
END;
$$;

/*
 * requeue_failed: requeue() every failed row that failed (updated_at) at or
 * after since and has a number that is not opted out.  Returns how many.
 */
CREATE FUNCTION guestbook_notify.requeue_failed(since timestamptz DEFAULT '-infinity')
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'pending', scheduled_at = now(), attempt_count = 0,
		   last_error = NULL, lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE q.status = 'failed'
	   AND q.updated_at >= coalesce(requeue_failed.since, '-infinity')
	   AND q.to_number IS NOT NULL
	   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = q.to_number);
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n > 0 THEN
		PERFORM guestbook_notify.wake();
	END IF;
	RETURN n;
END;
$$;

/*
 * opt_out: the number must not be messaged (upsert; a NULL reason keeps the
 * old one).  Its pending rows that are not in flight are cancelled with
 * last_error 'recipient opted out'; the worker re-checks at claim time for
 * the others.  Returns the number of rows cancelled.
 */
CREATE FUNCTION guestbook_notify.opt_out(number text, reason text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_number text := guestbook_notify.normalize_number(opt_out.number);
	n bigint;
BEGIN
	INSERT INTO guestbook_notify.opt_outs AS o (number, reason)
	VALUES (v_number, opt_out.reason)
	ON CONFLICT ON CONSTRAINT opt_outs_pkey
	DO UPDATE SET reason = coalesce(EXCLUDED.reason, o.reason);

	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled', last_error = 'recipient opted out', updated_at = now()
	 WHERE q.to_number = v_number
	   AND q.status = 'pending'
	   AND guestbook_notify._lease_is_free(q.lease_until, q.leased_by,
										   guestbook_notify._live_pids());
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;

/*
 * opt_in: the number may be messaged again.  Rows cancelled meanwhile stay
 * cancelled (requeue() them if wanted).  false if it was not opted out.
 */
CREATE FUNCTION guestbook_notify.opt_in(number text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM guestbook_notify.opt_outs o
	 WHERE o.number = guestbook_notify.normalize_number(opt_in.number);
	RETURN FOUND;
END;
$$;

/*
 * process_events: what the worker does first, by hand -- turn up to
 * max_events trigger events into queue rows (src/events.c).  Waits for a
 * worker that is doing it.  Returns how many events were processed.  For
 * operators and tests; the worker needs no help.
 */
CREATE FUNCTION guestbook_notify.process_events(max_events integer DEFAULT 1000)
RETURNS integer
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_process_events_sql';

/*
 * write_audit: the worker's audit step, by hand -- write up to max_rows
 * queued case_events rows into the app's tables, each as the table's owner
 * (src/audit.c).  Returns how many were written; the others stay queued
 * with their error.
 */
CREATE FUNCTION guestbook_notify.write_audit(max_rows integer DEFAULT 1000)
RETURNS integer
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_write_audit_sql';
