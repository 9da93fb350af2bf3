/*
 * guestbook_notify install script, part delivery statuses from webhooks.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- delivery status (webhooks) ----------------------------------------
 * delivery_status ranks sent < delivered < read < failed; a status never
 * lowers it (a late 'delivered' after 'read' only fills delivered_at) and
 * 'failed' is terminal.  A 'failed' status keeps the queue status 'sent'
 * (the provider accepted the request: the queue's status is about the
 * send), sets delivery_status 'failed', delivery_error, a readable
 * last_error, and writes case_events 'notification_failed'.
 */
CREATE FUNCTION guestbook_notify._delivery_error_text(p_error jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT 'delivery failed'
		   || coalesce(': ' || nullif(concat_ws(' ', e ->> 'code',
												 coalesce(e ->> 'title', e ->> 'message')), ''), '')
		   || coalesce(' (' || (e -> 'error_data' ->> 'details') || ')', '')
	  FROM (SELECT CASE jsonb_typeof(p_error)
					   WHEN 'array' THEN p_error -> 0
					   WHEN 'object' THEN p_error
				   END AS e) AS s
$$;

CREATE FUNCTION guestbook_notify._apply_status(
	p_wamid text, p_status text, p_at timestamptz, p_error jsonb)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	v_new int := CASE p_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
							   WHEN 'read' THEN 3 WHEN 'failed' THEN 4 END;
	v_old int;
	v_at timestamptz := coalesce(p_at, now());
	v_matched boolean := false;
BEGIN
	FOR r IN SELECT q.id, q.delivery_status, q.delivered_at, q.read_at, q.case_id,
					q.app_schema, q.template_key, q.recipient_role, q.to_number
			   FROM guestbook_notify.notification_queue q
			  WHERE q.provider_message_id = p_wamid COLLATE "default"
			  ORDER BY q.id
				FOR UPDATE
	LOOP
		v_matched := true;
		v_old := CASE r.delivery_status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
										WHEN 'read' THEN 3 WHEN 'failed' THEN 4 ELSE 0 END;
		CONTINUE WHEN v_old = 4;		-- failed is terminal
		CONTINUE WHEN v_new <= v_old
				  AND NOT (p_status = 'delivered' AND r.delivered_at IS NULL)
				  AND NOT (p_status = 'read' AND r.read_at IS NULL);

		UPDATE guestbook_notify.notification_queue q
		   SET delivery_status = CASE WHEN v_new > v_old THEN p_status ELSE q.delivery_status END,
			   delivery_status_at = CASE WHEN v_new > v_old THEN v_at ELSE q.delivery_status_at END,
			   delivered_at = CASE WHEN p_status = 'delivered' THEN coalesce(q.delivered_at, v_at)
								   ELSE q.delivered_at END,
			   read_at = CASE WHEN p_status = 'read' THEN coalesce(q.read_at, v_at)
							  ELSE q.read_at END,
			   delivery_error = CASE WHEN p_status = 'failed' THEN p_error ELSE q.delivery_error END,
			   last_error = CASE WHEN p_status = 'failed'
								 THEN guestbook_notify._delivery_error_text(p_error)
								 ELSE q.last_error END,
			   updated_at = now()
		 WHERE q.id = r.id;

		IF p_status = 'failed' AND r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
			PERFORM guestbook_notify._case_event(r.app_schema, r.case_id, 'notification_failed',
				jsonb_build_object('notification_id', r.id,
								   'template', r.template_key,
								   'recipient_role', r.recipient_role,
								   'to_number', r.to_number,
								   'provider_message_id', p_wamid,
								   'error', guestbook_notify._delivery_error_text(p_error),
								   'delivery_error', p_error));
		END IF;
	END LOOP;
	RETURN v_matched;
END;
$$;

/*
 * record_status: one delivery status from the app's webhook receiver.
 * Returns true when the provider message id is one of ours (whether or not
 * it changed anything: repeats are harmless), false when it is unknown (the
 * status is then kept, and applied if the id appears: it can arrive before
 * the worker has recorded the id).
 */
CREATE FUNCTION guestbook_notify.record_status(
	provider_message_id text,
	status text,
	at timestamptz DEFAULT now(),
	error jsonb DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF nullif(record_status.provider_message_id, '') IS NULL THEN
		RAISE EXCEPTION 'provider message id must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF record_status.status IS NULL
	   OR record_status.status NOT IN ('sent', 'delivered', 'read', 'failed') THEN
		RAISE EXCEPTION 'invalid delivery status %',
				coalesce('"' || record_status.status || '"', 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Accepted: sent, delivered, read, failed.';
	END IF;
	-- an id not in the queue yet is kept and applied when the worker
	-- records it (_status_apply_or_park, part 66)
	RETURN guestbook_notify._status_apply_or_park(record_status.provider_message_id,
												  record_status.status, record_status.at,
												  record_status.error, NULL) = 'applied';
END;
$$;

/*
 * ingest_webhook: Meta's status webhook body (entry[].changes[].value
 * .statuses[]).  Applies each sent/delivered/read/failed status and returns
 * how many were for our messages.  Other statuses ('played', ...) and other
 * change fields are ignored; a status of an unknown wamid is kept and
 * applied if the id appears (as record_status); a payload that does not have
 * the documented shape is an error naming the offending path.
 *
 * Long for a reason: the 1.0 API, kept as it was (it raises on the first
 * malformed item with its path, where the receiver's _webhook_apply_meta
 * collects problems and goes on); both apply a status through
 * _status_apply_or_park, the one place that decides what a status does.
 */
CREATE FUNCTION guestbook_notify.ingest_webhook(payload jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	p jsonb := ingest_webhook.payload;
	e jsonb;
	ch jsonb;
	st jsonb;
	ei bigint;
	ci bigint;
	si bigint;
	v_path text;
	v_at timestamptz;
	v_ts text;
	n integer := 0;
BEGIN
	IF p IS NULL OR jsonb_typeof(p) <> 'object' THEN
		RAISE EXCEPTION 'webhook payload must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the request body of Meta''s webhook: {"object": "whatsapp_business_account", "entry": [...]}.';
	END IF;
	IF jsonb_typeof(p -> 'entry') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'malformed webhook payload: "entry" is not an array'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the request body of Meta''s webhook: {"object": "whatsapp_business_account", "entry": [...]}.';
	END IF;

	FOR e, ei IN SELECT x.v, x.i - 1 FROM jsonb_array_elements(p -> 'entry') WITH ORDINALITY AS x(v, i)
	LOOP
		IF jsonb_typeof(e) <> 'object' THEN
			RAISE EXCEPTION 'malformed webhook payload: entry[%] is not an object', ei
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		CONTINUE WHEN e -> 'changes' IS NULL;
		IF jsonb_typeof(e -> 'changes') <> 'array' THEN
			RAISE EXCEPTION 'malformed webhook payload: entry[%].changes is not an array', ei
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		FOR ch, ci IN SELECT x.v, x.i - 1 FROM jsonb_array_elements(e -> 'changes') WITH ORDINALITY AS x(v, i)
		LOOP
			v_path := format('entry[%s].changes[%s]', ei, ci);
			IF jsonb_typeof(ch) <> 'object' THEN
				RAISE EXCEPTION 'malformed webhook payload: % is not an object', v_path
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			CONTINUE WHEN coalesce(ch ->> 'field', 'messages') <> 'messages';
			IF jsonb_typeof(ch -> 'value') IS DISTINCT FROM 'object' THEN
				RAISE EXCEPTION 'malformed webhook payload: %.value is not an object', v_path
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			CONTINUE WHEN ch -> 'value' -> 'statuses' IS NULL;
			IF jsonb_typeof(ch -> 'value' -> 'statuses') <> 'array' THEN
				RAISE EXCEPTION 'malformed webhook payload: %.value.statuses is not an array', v_path
					USING ERRCODE = 'invalid_parameter_value';
			END IF;
			FOR st, si IN SELECT x.v, x.i - 1
							FROM jsonb_array_elements(ch -> 'value' -> 'statuses') WITH ORDINALITY AS x(v, i)
			LOOP
				v_path := format('entry[%s].changes[%s].value.statuses[%s]', ei, ci, si);
				IF jsonb_typeof(st) <> 'object'
				   OR jsonb_typeof(st -> 'id') IS DISTINCT FROM 'string'
				   OR jsonb_typeof(st -> 'status') IS DISTINCT FROM 'string' THEN
					RAISE EXCEPTION 'malformed webhook payload: % has no string "id" and "status"', v_path
						USING ERRCODE = 'invalid_parameter_value';
				END IF;
				v_ts := st ->> 'timestamp';
				IF v_ts IS NULL THEN
					v_at := now();
				ELSIF v_ts ~ '^[0-9]{1,12}$' THEN
					v_at := to_timestamp(v_ts::bigint);
				ELSE
					RAISE EXCEPTION 'malformed webhook payload: %.timestamp is not Unix seconds: %',
							v_path, st -> 'timestamp'
						USING ERRCODE = 'invalid_parameter_value';
				END IF;
				CONTINUE WHEN st ->> 'status' NOT IN ('sent', 'delivered', 'read', 'failed');
				IF guestbook_notify._status_apply_or_park(st ->> 'id', st ->> 'status', v_at,
														  st -> 'errors', NULL) = 'applied' THEN
					n := n + 1;
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
	RETURN n;
END;
$$;
