/*
 * guestbook_notify install script, part the Notifications page (issue 13).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 *
 * What guestbook_notify_web's admin listener calls, as the role that logged
 * in (README, "Notifications page"): the grants decide what a role may see
 * and do.
 *
 *	 page_status()			  queue length, oldest pending age, the workers' state
 *	 page_counts(filter, cap, only_tab)
 *							  per tab, counted up to cap (1,000)
 *	 page_list(tab, filter, after_created, after_id, limit)
 *							  one page of a tab, newest first, keyset
 *	 page_overdue(limit)	  the "Terlambat" tab (sla_overdue)
 *	 page_detail(id)		  one notification, personal data masked
 *	 page_detail_unmasked(id) the same in full; the view is logged
 *	 page_act(action, ids, tab, filter)
 *							  requeue, cancel, resend: rows by id, or all that
 *							  match a filter; logged in page_actions
 *	 page_opt_outs(), page_opt_in(number)
 *
 * filter is a jsonb object: template, role, from and to (dates, in
 * time_zone), q (a search: case code prefix, number suffix (digits), or
 * recipient name prefix).  Personal data (names, numbers, NIK/NIP in the
 * message) is masked everywhere but in page_detail_unmasked().
 */

/*
 * ---- the actions log ---------------------------------------------------------
 * One row per action of the page: who (the session's role), when, what, on
 * which rows (ids; filter when "all matching"), what came of it.
 * view_unmasked: someone read a notification's personal data in full
 * (UU 27/2022).  Dumped by pg_dump.
 */
CREATE TABLE guestbook_notify.page_actions (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor name NOT NULL,
	action text NOT NULL
		CHECK (action IN ('requeue', 'cancel', 'resend', 'opt_in', 'view_unmasked')),
	scope text NOT NULL CHECK (scope IN ('ids', 'filter')),
	filter jsonb,
	ids uuid[] NOT NULL DEFAULT '{}',
	done integer NOT NULL DEFAULT 0,	-- rows the action changed
	skipped integer NOT NULL DEFAULT 0, -- rows not in a state for it
	errors jsonb NOT NULL DEFAULT '[]', -- [{id, error}]
	new_ids uuid[] NOT NULL DEFAULT '{}',	-- resend: the new rows
	number text						-- opt_in: the number
);
CREATE INDEX page_actions_ids_idx ON guestbook_notify.page_actions USING gin (ids);
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.page_actions', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.page_actions_id_seq', '');

/*
 * ---- indexes of the list -----------------------------------------------------
 * The list is ORDER BY created_at DESC, id DESC within a tab.  A row's tab
 * is coalesce(delivery_status, status) but for the pending ones (waiting,
 * in flight, held: few rows, filtered) -- one index serves every tab with
 * its date range; another serves "all".  Both carry the status, the
 * delivery status (an index-only scan cannot compute the expression
 * otherwise), the template and the recipient role (INCLUDE): the counts and
 * a page's ids are index-only scans, whatever the filter; the rows of the
 * page are read after.  The searches: a case code prefix,
 * the last digits of a number (reverse), a name prefix.  "Is being sent
 * again" (the attention tab leaves those out) uses 66's resent_from index.
 */
CREATE INDEX notification_queue_page_state_idx
	ON guestbook_notify.notification_queue
	((coalesce(delivery_status, status)), created_at, id)
	INCLUDE (status, delivery_status, template_key, recipient_role);
CREATE INDEX notification_queue_page_created_idx
	ON guestbook_notify.notification_queue (created_at, id)
	INCLUDE (status, delivery_status, template_key, recipient_role);
CREATE INDEX notification_queue_page_case_code_idx
	ON guestbook_notify.notification_queue
	((upper(template_params ->> 'case_code')) text_pattern_ops);
CREATE INDEX notification_queue_page_number_idx
	ON guestbook_notify.notification_queue ((reverse(to_number)) text_pattern_ops);
CREATE INDEX notification_queue_page_name_idx
	ON guestbook_notify.notification_queue ((lower(recipient_name)) text_pattern_ops);

/*
 * ---- masking -------------------------------------------------------------------
 * A name: the first letter of each word ("Budi Santoso" -> "B*** S***").
 * A number: its first two and last four digits ("6281234567890" ->
 * "62*******7890").  A text: "Nama: ..." lines, the recipient's name, and
 * every run of 8 or more digits (NIK 16, NIP 18, numbers) but its last four.
 */
CREATE FUNCTION guestbook_notify._page_mask_name(p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.regexp_replace(p_name, '(\w)\w*', '\1***', 'g')
$$;

CREATE FUNCTION guestbook_notify._page_mask_number(p_number text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_number IS NULL THEN NULL
				WHEN pg_catalog.length(p_number) < 8 THEN pg_catalog.repeat('*', pg_catalog.length(p_number))
				ELSE pg_catalog.left(p_number, 2)
					 || pg_catalog.repeat('*', pg_catalog.length(p_number) - 6)
					 || pg_catalog.right(p_number, 4) END
$$;

CREATE FUNCTION guestbook_notify._page_mask_text(p_text text, p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.regexp_replace(
			pg_catalog.regexp_replace(
				CASE WHEN p_name IS NULL OR pg_catalog.length(p_name) < 2 THEN p_text
					 ELSE pg_catalog.replace(p_text, p_name, guestbook_notify._page_mask_name(p_name)) END,
				'(Nama *: *)([^\n]*)', '\1***', 'gi'),
			'\d{4,}(\d{4})(?!\d)', '****\1', 'g')
$$;

/*
 * ---- the filter ------------------------------------------------------------------
 * _page_where: the WHERE of a tab and a filter, as SQL text with the
 * values quoted (each list query is planned with its values: the partial
 * and expression indexes match).  Bad tab or filter: an error.
 */
CREATE FUNCTION guestbook_notify._page_where(p_tab text, p_filter jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	f jsonb := coalesce(p_filter, '{}');
	w text;
	v text;
	digits text;
	ix text;
BEGIN
	IF jsonb_typeof(f) <> 'object' THEN
		RAISE EXCEPTION 'the filter must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	w := CASE p_tab
		WHEN 'attention' THEN
			$w$coalesce(q.delivery_status, q.status) = 'failed'
			   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.notification_queue r
								WHERE r.resent_from = q.id)$w$
		WHEN 'pending' THEN
			$w$coalesce(q.delivery_status, q.status) = 'pending'
			   AND NOT coalesce(q.lease_until > now(), false)
			   AND NOT coalesce(q.last_error LIKE 'held: %' AND q.scheduled_at > now(), false)$w$
		WHEN 'sending' THEN
			$w$coalesce(q.delivery_status, q.status) = 'pending' AND q.lease_until > now()$w$
		WHEN 'held' THEN
			$w$coalesce(q.delivery_status, q.status) = 'pending'
			   AND q.last_error LIKE 'held: %' AND q.scheduled_at > now()$w$
		WHEN 'sent' THEN $w$coalesce(q.delivery_status, q.status) = 'sent'$w$
		WHEN 'delivered' THEN $w$coalesce(q.delivery_status, q.status) = 'delivered'$w$
		WHEN 'read' THEN $w$coalesce(q.delivery_status, q.status) = 'read'$w$
		WHEN 'failed' THEN $w$coalesce(q.delivery_status, q.status) = 'failed'$w$
		WHEN 'cancelled' THEN $w$coalesce(q.delivery_status, q.status) = 'cancelled'$w$
		WHEN 'all' THEN 'true'
		ELSE NULL END;
	IF w IS NULL THEN
		RAISE EXCEPTION 'unknown tab "%"', p_tab USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF coalesce(f ->> 'template', '') <> '' THEN
		w := w || format(' AND q.template_key = %L', f ->> 'template');
	END IF;
	IF coalesce(f ->> 'role', '') <> '' THEN
		w := w || format(' AND q.recipient_role = %L', f ->> 'role');
	END IF;
	-- dates are whole days in the session's TimeZone (the daemon sets time_zone)
	IF coalesce(f ->> 'from', '') <> '' THEN
		w := w || format(' AND q.created_at >= %L::timestamptz', (f ->> 'from')::date::text);
	END IF;
	IF coalesce(f ->> 'to', '') <> '' THEN
		w := w || format(' AND q.created_at < %L::timestamptz', ((f ->> 'to')::date + 1)::text);
	END IF;
	v := btrim(coalesce(f ->> 'q', ''));
	-- the waiting rows are few (the queue's length): a search filters them
	-- (the "|| ''" keeps the planner off the search indexes, whose matches
	-- may be many: a common name)
	ix := CASE WHEN p_tab IN ('pending', 'sending', 'held') THEN ' || ''''' ELSE '' END;
	IF v <> '' THEN
		IF length(v) > 100 THEN
			RAISE EXCEPTION 'the search is longer than 100 characters' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		digits := regexp_replace(v, '[\s+().-]', '', 'g');
		IF digits ~ '^[0-9]{3,}$' THEN
			-- the last digits of a number (or a case code of digits)
			w := w || format(' AND (reverse(q.to_number)%s LIKE %L OR upper(q.template_params ->> ''case_code'')%s LIKE %L)',
							 ix, replace(replace(reverse(digits), '\', '\\'), '%', '\%') || '%',
							 ix, digits || '%');
		ELSE
			w := w || format(' AND (upper(q.template_params ->> ''case_code'')%s LIKE %L OR lower(q.recipient_name)%s LIKE %L)',
							 ix,
							 replace(replace(replace(upper(v), '\', '\\'), '%', '\%'), '_', '\_') || '%',
							 ix, replace(replace(replace(lower(v), '\', '\\'), '%', '\%'), '_', '\_') || '%');
		END IF;
	END IF;
	RETURN w;
END;
$$;

-- the tab a row is in (the list's data-status)
CREATE FUNCTION guestbook_notify._page_tab_of(q guestbook_notify.notification_queue)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN q.status = 'pending' AND q.lease_until > now() THEN 'sending'
		WHEN q.status = 'pending' AND q.last_error LIKE 'held: %' AND q.scheduled_at > now() THEN 'held'
		ELSE coalesce(q.delivery_status, q.status) END
$$;

/*
 * ---- reading ---------------------------------------------------------------------
 */

-- page_status: the banner and the queue's figures
CREATE FUNCTION guestbook_notify.page_status()
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_len bigint;
	v_oldest timestamptz;
	v_workers jsonb;
	v_optouts bigint;
BEGIN
	SELECT count(*), min(q.created_at) INTO v_len, v_oldest
	  FROM guestbook_notify.notification_queue q
	 WHERE coalesce(q.delivery_status, q.status) = 'pending';
	SELECT coalesce(jsonb_agg(jsonb_build_object('pid', w.pid, 'state', w.state,
												 'paused_reason', w.paused_reason,
												 'last_error', w.last_error)), '[]')
	  INTO v_workers
	  FROM guestbook_notify.worker_status() w
	 WHERE w.database = current_database();
	-- leads and kadis who opted out: their escalations end cancelled, the
	-- admin must arrange another contact ("Kontak menolak notifikasi")
	SELECT count(*) INTO v_optouts
	  FROM guestbook_notify.opt_outs o
	 WHERE EXISTS (SELECT 1 FROM guestbook_notify.notification_queue q
					WHERE reverse(q.to_number) = reverse(o.number)
					  AND q.to_number = o.number
					  AND q.recipient_role IN ('lead', 'kadis'));
	RETURN jsonb_build_object(
		'queue_length', v_len,
		'oldest_pending_s', CASE WHEN v_oldest IS NULL THEN NULL
								 ELSE floor(extract(epoch FROM now() - v_oldest)) END,
		'standby', pg_is_in_recovery(),
		'workers', v_workers,
		'opted_out_contacts', v_optouts);
END;
$$;

/*
 * page_counts: per tab (or only_tab), counted up to cap + 1 in the index's
 * order (index-only scans): the page shows "1.000+"; the confirmation of an
 * action on all matching rows asks for up to 10,000.  With a search, the
 * tabs are counted among the newest cap + 1 rows that match it (one scan:
 * a common name matches many rows of every tab); exact is false when there
 * are more (the page shows "37+").
 */
CREATE FUNCTION guestbook_notify.page_counts(filter jsonb DEFAULT '{}', cap integer DEFAULT 1000,
											 only_tab text DEFAULT NULL)
RETURNS TABLE (tab text, n bigint, exact boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
	v_counts jsonb;
	v_total bigint;
	v_search boolean := btrim(coalesce(filter ->> 'q', '')) <> '';
BEGIN
	IF cap IS NULL OR cap < 1 OR cap > 100000 THEN
		RAISE EXCEPTION 'cap must be 1 to 100000' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v_search AND only_tab IS NULL THEN
		EXECUTE format(
			'WITH m AS MATERIALIZED (SELECT guestbook_notify._page_tab_of(q) AS t,'
			'        coalesce(q.delivery_status, q.status) = ''failed'''
			'        AND NOT EXISTS (SELECT 1 FROM guestbook_notify.notification_queue r'
			'                         WHERE r.resent_from = q.id) AS att'
			'   FROM guestbook_notify.notification_queue q WHERE %s'
			'  ORDER BY q.created_at DESC, q.id DESC LIMIT %s)'
			'SELECT (SELECT coalesce(jsonb_object_agg(c.t, c.n), ''{}'')'
			'          FROM (SELECT m.t, count(*) AS n FROM m GROUP BY m.t) c)'
			'       || jsonb_build_object(''attention'', (SELECT count(*) FROM m WHERE m.att)),'
			'       (SELECT count(*) FROM m)',
			guestbook_notify._page_where('all', page_counts.filter), cap + 1)
		   INTO v_counts, v_total;
	END IF;
	FOREACH t IN ARRAY ARRAY['attention', 'pending', 'sending', 'held', 'sent', 'delivered',
							 'read', 'failed', 'cancelled', 'all'] LOOP
		CONTINUE WHEN only_tab IS NOT NULL AND only_tab <> t;
		tab := t;
		IF v_counts IS NOT NULL THEN
			n := CASE WHEN t = 'all' THEN v_total ELSE coalesce((v_counts ->> t)::bigint, 0) END;
			exact := v_total <= cap;
		ELSE
			EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM guestbook_notify.notification_queue q'
						   ' WHERE %s ORDER BY q.created_at DESC, q.id DESC LIMIT %s) s',
						   guestbook_notify._page_where(t, page_counts.filter), cap + 1)
			   INTO n;
			exact := n <= cap;
		END IF;
		RETURN NEXT;
	END LOOP;
	IF only_tab IS NULL OR only_tab = 'overdue' THEN
		tab := 'overdue';
		SELECT count(*) INTO n FROM guestbook_notify.sla_overdue;
		exact := true;
		RETURN NEXT;
	END IF;
END;
$$;

/*
 * page_list: one page of a tab, newest first, after the keyset cursor
 * (created_at, id) of the previous page's last row; limit + 1 rows tell
 * whether there is a next page.  Masked.  wa_link (click-to-chat, the
 * number and the message in full) only for a failed row and a role that
 * may read personal data (EXECUTE on page_detail_unmasked).
 */
CREATE FUNCTION guestbook_notify.page_list(
	tab text, filter jsonb DEFAULT '{}',
	after_created timestamptz DEFAULT NULL, after_id uuid DEFAULT NULL,
	lim integer DEFAULT 50)
RETURNS TABLE (
	id uuid, created_at timestamptz, row_tab text, status text, delivery_status text,
	template_key text, recipient_role text, recipient_name text, to_number text,
	case_code text, subject text, attempt_count integer, last_error text,
	in_flight boolean, resent_as uuid, wa_link text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_full boolean := has_function_privilege(session_user,
		'guestbook_notify.page_detail_unmasked(uuid)', 'EXECUTE');
	v_search text;
	v_where text;
BEGIN
	IF lim IS NULL OR lim < 1 OR lim > 1001 THEN
		RAISE EXCEPTION 'limit must be 1 to 1001' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF (after_created IS NULL) <> (after_id IS NULL) THEN
		RAISE EXCEPTION 'the cursor is after_created and after_id together' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- the page's ids first (an index-only scan for the tabs and filters),
	-- then its rows.  With a search (outside the waiting tabs, whose rows
	-- are few), its matches come first, from the search indexes alone: left
	-- to the planner, "the newest 50 that match" walked the created_at
	-- index and, for a term that matches nothing, read every row (3.5 s on
	-- 1,000,000).
	IF page_list.tab NOT IN ('pending', 'sending', 'held')
	   AND btrim(coalesce(page_list.filter ->> 'q', '')) <> '' THEN
		v_search := format(
			'WITH s AS MATERIALIZED (SELECT q.id FROM guestbook_notify.notification_queue q WHERE %s),',
			guestbook_notify._page_where('all', jsonb_build_object('q', page_list.filter -> 'q')));
		v_where := 'q.id IN (SELECT s.id FROM s) AND '
			|| guestbook_notify._page_where(page_list.tab, page_list.filter - 'q');
	ELSE
		v_search := 'WITH';
		v_where := guestbook_notify._page_where(page_list.tab, page_list.filter);
	END IF;
	RETURN QUERY EXECUTE format(
		'%s p AS MATERIALIZED (SELECT q.id, q.created_at FROM guestbook_notify.notification_queue q'
		'   WHERE %s %s ORDER BY q.created_at DESC, q.id DESC LIMIT %s)'
		'SELECT q.id, q.created_at, guestbook_notify._page_tab_of(q), q.status, q.delivery_status,'
		'       q.template_key, q.recipient_role, guestbook_notify._page_mask_name(q.recipient_name),'
		'       guestbook_notify._page_mask_number(coalesce(q.to_number, q.to_number_raw)),'
		'       q.template_params ->> ''case_code'','
		'       guestbook_notify._page_mask_text(split_part(q.message_text, E''\n'', 1), q.recipient_name),'
		'       q.attempt_count, guestbook_notify._page_mask_text(q.last_error, q.recipient_name),'
		'       coalesce(q.status = ''pending'' AND q.lease_until > now(), false),'
		'       (SELECT r.id FROM guestbook_notify.notification_queue r WHERE r.resent_from = q.id'
		'         ORDER BY r.created_at DESC LIMIT 1),'
		'       CASE WHEN $3 AND q.to_number IS NOT NULL'
		'                 AND coalesce(q.delivery_status, q.status) = ''failed'''
		'            THEN guestbook_notify._page_wa_link(q.to_number, q.message_text) END'
		'  FROM p JOIN guestbook_notify.notification_queue q ON q.id = p.id'
		' ORDER BY p.created_at DESC, p.id DESC',
		v_search, v_where,
		CASE WHEN after_created IS NOT NULL THEN 'AND (q.created_at, q.id) < ($1, $2)' ELSE '' END,
		lim)
	USING after_created, after_id, v_full;
END;
$$;

-- https://wa.me/<digits>?text=<the message, percent-encoded>: runs of
-- unreserved characters kept, every other run's UTF-8 bytes as %XX (a run at
-- a time, not a character at a time: the list builds one per failed row)
CREATE FUNCTION guestbook_notify._page_wa_link(p_number text, p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'https://wa.me/' || p_number || '?text='
		   || coalesce((SELECT string_agg(CASE WHEN r.m[1] ~ '^[A-Za-z0-9._~-]'
												THEN r.m[1]
											   ELSE regexp_replace(upper(encode(convert_to(r.m[1], 'UTF8'), 'hex')),
																   '(..)', '%\1', 'g') END,
										  '' ORDER BY r.n)
						  FROM regexp_matches(p_text, '[A-Za-z0-9._~-]+|[^A-Za-z0-9._~-]+', 'g')
							   WITH ORDINALITY AS r(m, n)), '')
$$;

-- the "Terlambat" tab: cases past their first SLA rule
CREATE FUNCTION guestbook_notify.page_overdue(lim integer DEFAULT 200)
RETURNS TABLE (case_id uuid, case_code text, case_type text, stage text,
			   waiting_since timestamptz, overdue_since timestamptz, waited interval,
			   reminders bigint, last_reminded_at timestamptz, last_recipient_role text,
			   last_notification_id uuid, last_notification_status text)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT o.case_id, o.case_code, o.case_type, o.stage, o.waiting_since, o.overdue_since,
		   o.waited, o.reminders, o.last_reminded_at, o.last_recipient_role,
		   o.last_notification_id, o.last_notification_status
	  FROM guestbook_notify.sla_overdue o
	 ORDER BY o.overdue_since, o.case_id
	 LIMIT lim
$$;

/*
 * _page_detail: one notification (the live queue, else the archive) with
 * its attempts, delivery statuses, the case's events, the resends and the
 * page's actions on it.  NULL when there is no such id.
 */
CREATE FUNCTION guestbook_notify._page_detail(p_id uuid, p_full boolean)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q guestbook_notify.notification_queue%ROWTYPE;
	v_archived boolean := false;
	v_events jsonb := '[]';
	v_row jsonb;
	m_name text;
BEGIN
	SELECT * INTO q FROM guestbook_notify.notification_queue n WHERE n.id = p_id;
	IF NOT FOUND THEN
		SELECT (jsonb_populate_record(NULL::guestbook_notify.notification_queue, to_jsonb(a))).*
		  INTO q FROM guestbook_notify.notification_queue_archive a WHERE a.id = p_id;
		IF NOT FOUND THEN
			RETURN NULL;
		END IF;
		v_archived := true;
	END IF;
	m_name := q.recipient_name;
	IF q.case_id IS NOT NULL AND q.app_schema IS NOT NULL
	   AND EXISTS (SELECT 1 FROM guestbook_notify.attached_schemas s WHERE s.schema_name = q.app_schema) THEN
		BEGIN
			SELECT coalesce(jsonb_agg(e ORDER BY (e ->> 'id')::bigint), '[]') INTO v_events
			  FROM guestbook_notify._app_select(q.app_schema, 'case_events',
					format('SELECT e.id, e.event_type, e.created_at, e.details FROM %I.case_events e'
						   ' WHERE e.case_id = $1::uuid ORDER BY e.id DESC LIMIT 100', q.app_schema),
					ARRAY[q.case_id::text]) e;
		EXCEPTION WHEN OTHERS THEN
			v_events := jsonb_build_array(jsonb_build_object('error', SQLERRM));
		END;
		IF NOT p_full THEN
			v_events := guestbook_notify._page_mask_text(v_events::text, m_name)::jsonb;
		END IF;
	END IF;
	v_row := jsonb_build_object(
		'id', q.id,
		'archived', v_archived,
		'tab', guestbook_notify._page_tab_of(q),
		'status', q.status,
		'delivery_status', q.delivery_status,
		'created_at', q.created_at,
		'scheduled_at', q.scheduled_at,
		'sent_at', q.sent_at,
		'delivered_at', q.delivered_at,
		'read_at', q.read_at,
		'delivery_status_at', q.delivery_status_at,
		'delivery_error', CASE WHEN q.delivery_error IS NULL THEN NULL
							   WHEN p_full THEN q.delivery_error
							   ELSE guestbook_notify._page_mask_text(q.delivery_error::text, m_name)::jsonb END,
		'template_key', q.template_key,
		'template_name', q.template_name,
		'recipient_role', q.recipient_role,
		'recipient_name', CASE WHEN p_full THEN q.recipient_name
							   ELSE guestbook_notify._page_mask_name(q.recipient_name) END,
		'to_number', CASE WHEN p_full THEN coalesce(q.to_number, q.to_number_raw)
						  ELSE guestbook_notify._page_mask_number(coalesce(q.to_number, q.to_number_raw)) END,
		'case_id', q.case_id,
		'case_code', q.template_params ->> 'case_code',
		'case_url', q.template_params ->> 'detail_url',
		'message_text', CASE WHEN p_full THEN q.message_text
							 ELSE guestbook_notify._page_mask_text(q.message_text, m_name) END,
		'attempt_count', q.attempt_count,
		'last_error', CASE WHEN p_full THEN q.last_error
						   ELSE guestbook_notify._page_mask_text(q.last_error, m_name) END,
		'provider', q.provider,
		'provider_message_id', q.provider_message_id,
		'in_flight', coalesce(q.status = 'pending' AND q.lease_until > now(), false),
		'resent_from', q.resent_from,
		'opted_out', EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = q.to_number),
		'masked', NOT p_full,
		'wa_link', CASE WHEN p_full AND q.to_number IS NOT NULL
							 AND coalesce(q.delivery_status, q.status) = 'failed'
						THEN guestbook_notify._page_wa_link(q.to_number, q.message_text) END,
		'resends', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'status', r.status,
																  'delivery_status', r.delivery_status,
																  'created_at', r.created_at)
											  ORDER BY r.created_at), '[]')
					  FROM guestbook_notify.notification_queue r WHERE r.resent_from = q.id),
		'attempts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
								'attempt_no', a.attempt_no, 'started_at', a.started_at,
								'duration_ms', round(a.duration_ms::numeric, 1), 'outcome', a.outcome,
								'http_status', a.http_status, 'error_code', a.error_code,
								'error_text', CASE WHEN p_full THEN a.error_text
												   ELSE guestbook_notify._page_mask_text(a.error_text, m_name) END,
								'provider_message_id', a.provider_message_id)
							ORDER BY a.started_at, a.id), '[]')
					   FROM guestbook_notify.notification_attempts a WHERE a.notification_id = q.id),
		'case_events', v_events,
		'actions', (SELECT coalesce(jsonb_agg(jsonb_build_object('at', l.at, 'actor', l.actor,
																  'action', l.action, 'scope', l.scope)
											  ORDER BY l.id), '[]')
					  FROM guestbook_notify.page_actions l WHERE l.ids @> ARRAY[q.id]));
	RETURN v_row;
END;
$$;

CREATE FUNCTION guestbook_notify.page_detail(id uuid)
RETURNS jsonb
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT guestbook_notify._page_detail(page_detail.id, false)
$$;

-- in full, for the roles granted it; each view is logged (view_unmasked)
CREATE FUNCTION guestbook_notify.page_detail_unmasked(id uuid)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v jsonb := guestbook_notify._page_detail(page_detail_unmasked.id, true);
BEGIN
	IF v IS NOT NULL THEN
		INSERT INTO guestbook_notify.page_actions (actor, action, scope, ids, done)
		VALUES (session_user, 'view_unmasked', 'ids', ARRAY[page_detail_unmasked.id], 1);
	END IF;
	RETURN v;
END;
$$;

/*
 * ---- acting ------------------------------------------------------------------
 * _page_resend: "Kirim ulang" sends the message again as a new row
 * (resent_from = id): resend() for a message reported failed after it was
 * sent; for a row that failed to send or was cancelled, the same copy (the
 * old row stays as it was; requeue() is "Antrekan lagi").  A resend still
 * on its way is returned instead of a second one.
 */
CREATE FUNCTION guestbook_notify._page_resend(p_id uuid)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
	v_new uuid;
BEGIN
	SELECT * INTO r FROM guestbook_notify.notification_queue q WHERE q.id = p_id FOR UPDATE;
	IF NOT FOUND OR NOT (r.status IN ('failed', 'cancelled')) THEN
		RETURN guestbook_notify.resend(p_id);
	END IF;
	IF r.to_number IS NULL THEN
		RAISE EXCEPTION 'notification % has no valid recipient number', r.id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	IF EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = r.to_number) THEN
		RAISE EXCEPTION 'recipient opted out' USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
	v_new := guestbook_notify._resend_in_progress(r.id);
	IF v_new IS NOT NULL THEN
		RETURN v_new;
	END IF;
	RETURN guestbook_notify._resend_copy(r);
END;
$$;

/*
 * page_act: requeue | cancel | resend the rows ids, or (ids NULL) every row
 * of tab matching filter (at most 10,000, newest first).  Each row in its
 * own subtransaction: one that is not in a state for the action is
 * skipped, one that errs is named with its error; the others are done.
 * One page_actions row says who did what.  Returns {log_id, matched,
 * done, skipped, errors, new_ids}.
 */
CREATE FUNCTION guestbook_notify.page_act(
	action text, ids uuid[], tab text DEFAULT NULL, filter jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[] := page_act.ids;
	v_scope text := 'ids';
	v_id uuid;
	v_ok boolean;
	v_new uuid;
	v_done integer := 0;
	v_skipped integer := 0;
	v_errors jsonb := '[]';
	v_new_ids uuid[] := '{}';
	v_log bigint;
BEGIN
	IF action IS NULL OR action NOT IN ('requeue', 'cancel', 'resend') THEN
		RAISE EXCEPTION 'unknown action "%"', action USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF v_ids IS NULL THEN
		IF tab IS NULL THEN
			RAISE EXCEPTION 'give ids, or a tab and a filter' USING ERRCODE = 'invalid_parameter_value';
		END IF;
		v_scope := 'filter';
		EXECUTE format('SELECT coalesce(array_agg(id), ''{}'') FROM (SELECT q.id'
					   '  FROM guestbook_notify.notification_queue q WHERE %s'
					   ' ORDER BY q.created_at DESC, q.id DESC LIMIT 10000) s',
					   guestbook_notify._page_where(page_act.tab, page_act.filter))
		   INTO v_ids;
	END IF;
	IF cardinality(v_ids) > 10000 THEN
		RAISE EXCEPTION 'at most 10000 rows at once' USING ERRCODE = 'program_limit_exceeded';
	END IF;
	FOREACH v_id IN ARRAY v_ids LOOP
		BEGIN
			IF action = 'requeue' THEN
				v_ok := guestbook_notify.requeue(v_id);
			ELSIF action = 'cancel' THEN
				v_ok := guestbook_notify.cancel(v_id);
			ELSE
				v_new := guestbook_notify._page_resend(v_id);
				v_ok := v_new IS NOT NULL;
				IF v_ok THEN
					v_new_ids := v_new_ids || v_new;
				END IF;
			END IF;
			IF v_ok THEN
				v_done := v_done + 1;
			ELSE
				v_skipped := v_skipped + 1;
			END IF;
		EXCEPTION WHEN OTHERS THEN
			v_errors := v_errors || jsonb_build_object('id', v_id, 'error', SQLERRM);
		END;
	END LOOP;
	INSERT INTO guestbook_notify.page_actions
		(actor, action, scope, filter, ids, done, skipped, errors, new_ids)
	VALUES (session_user, action, v_scope,
			CASE WHEN v_scope = 'filter' THEN jsonb_build_object('tab', tab) || coalesce(filter, '{}') END,
			v_ids, v_done, v_skipped, v_errors, v_new_ids)
	RETURNING id INTO v_log;
	RETURN jsonb_build_object('log_id', v_log, 'matched', cardinality(v_ids), 'done', v_done,
							  'skipped', v_skipped, 'errors', v_errors, 'new_ids', to_jsonb(v_new_ids));
END;
$$;

-- the opt-out list (numbers masked but for a role that may read them in full)
CREATE FUNCTION guestbook_notify.page_opt_outs()
RETURNS TABLE (number text, reason text, opted_out_at timestamptz)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN has_function_privilege(session_user,
						'guestbook_notify.page_detail_unmasked(uuid)', 'EXECUTE')
				THEN o.number ELSE guestbook_notify._page_mask_number(o.number) END,
		   o.reason, o.opted_out_at
	  FROM guestbook_notify.opt_outs o
	 ORDER BY o.opted_out_at DESC, o.number
$$;

-- opt_in() from the page, logged
CREATE FUNCTION guestbook_notify.page_opt_in(number text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v boolean := guestbook_notify.opt_in(page_opt_in.number);
BEGIN
	INSERT INTO guestbook_notify.page_actions (actor, action, scope, done, skipped, number)
	VALUES (session_user, 'opt_in', 'ids', v::int, (NOT v)::int,
			guestbook_notify.normalize_number(page_opt_in.number));
	RETURN v;
END;
$$;

-- the trigger/template filter's choices
CREATE FUNCTION guestbook_notify.page_templates()
RETURNS SETOF text
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT t.key FROM guestbook_notify.templates t ORDER BY t.key
$$;
