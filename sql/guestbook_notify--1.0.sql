/* sql/guestbook_notify--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION guestbook_notify" to load this file. \quit

/*
 * ------------------------------------------------------------------------
 * Section 1: tables (the contract between the SQL side and the worker)
 * ------------------------------------------------------------------------
 */

-- Schemas whose guestbook tables carry our triggers (attach()/detach()).
CREATE TABLE guestbook_notify.attached_schemas (
	schema_name name PRIMARY KEY,
	attached_at timestamptz NOT NULL DEFAULT now()
);

-- Message templates, editable by admins.
--   body:          text with {{placeholders}}, rendered into message_text at enqueue
--   cloud_template_name / language: the approved Cloud API template
--   param_names:   the template's body parameters, in order ({{1}}, {{2}}, ...)
CREATE TABLE guestbook_notify.templates (
	key text PRIMARY KEY,
	body text NOT NULL,
	cloud_template_name text NOT NULL
		CHECK (cloud_template_name ~ '^[a-z0-9_]+$' AND length(cloud_template_name) <= 512),
	language text NOT NULL DEFAULT 'id',
	param_names text[] NOT NULL DEFAULT '{}',
	description text,
	updated_at timestamptz NOT NULL DEFAULT now()
);

/*
 * _queue_row_valid: the row rules of notification_queue (and its archive),
 * as ONE check constraint calling this C function (src/row_check.c).
 * PostgreSQL 15 reads every CHECK constraint's stored expression back
 * (stringToNode) and plans it once per statement execution -- for the app's
 * trigger, once per assignment.  Five column/table CHECKs with their
 * IN-lists cost ~10-15 us of the ~100 us the trigger added per assignment
 * (tests/bench/README.md, profiling notes 3); a call of this function is a
 * FuncExpr of five Vars.  The rules: channel 'whatsapp'; status
 * pending|sent|failed|cancelled; attempt_count >= 0; delivery_status NULL
 * or sent|delivered|read|failed; 'sent' needs sent_at.  As with separate
 * CHECKs, a part that is NULL passes.
 */
CREATE FUNCTION guestbook_notify._queue_row_valid(
	p_channel text, p_status text, p_attempt_count integer,
	p_delivery_status text, p_sent_at timestamptz)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_queue_row_valid';

-- The outbox. One row per notification; it ends 'sent', 'failed' or 'cancelled'.
-- A row is "in flight" while status = 'pending' and lease_until > now():
-- a worker claimed it and is talking to the provider.
CREATE TABLE guestbook_notify.notification_queue (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	channel text NOT NULL DEFAULT 'whatsapp',	-- 'whatsapp' (row check below)
	to_number text,					-- normalised digits (628...), NULL if no valid recipient
	to_number_raw text,				-- the number as found, for admins when it was invalid
	recipient_name text,
	recipient_role text,			-- operator | lead | kadis | manual
	template_key text NOT NULL,
	template_name text,				-- Cloud API template name, snapshot at enqueue
	template_language text,			-- Cloud API language code, snapshot at enqueue
	template_params jsonb NOT NULL DEFAULT '{}',	-- name -> value, as rendered
	template_args text[] NOT NULL DEFAULT '{}',	-- values in template order: what is sent
	message_text text NOT NULL,
	case_id uuid,
	app_schema name,				-- schema of the case's guestbook tables
	status text NOT NULL DEFAULT 'pending',	-- pending|sent|failed|cancelled
	attempt_count integer NOT NULL DEFAULT 0,
	scheduled_at timestamptz NOT NULL DEFAULT now(),	-- not before: first try and retries
	lease_until timestamptz,		-- set while a worker holds the row
	leased_by integer,				-- pid of that worker
	sent_at timestamptz,
	last_error text,
	dedupe_key text UNIQUE,
	provider text,					-- cloud_api | waha, set when sent
	provider_message_id text,		-- wamid (Cloud API) or WAHA message id
	delivery_status text,			-- sent|delivered|read|failed (webhooks)
	delivery_status_at timestamptz,
	delivered_at timestamptz,
	read_at timestamptz,
	delivery_error jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- the row rules, in one call (see _queue_row_valid)
	CONSTRAINT notification_queue_row_check CHECK (guestbook_notify._queue_row_valid(
		channel, status, attempt_count, delivery_status, sent_at))
);

-- The worker's claim: due pending rows in order.  The key is the claim's
-- whole ORDER BY (scheduled_at, id): with scheduled_at alone, rows queued by
-- one transaction share a scheduled_at and every claim sorted all of them
-- (tests/bench: 10,000 queued drained at ~1,300/s instead of ~3,800/s).
CREATE INDEX notification_queue_due_idx
	ON guestbook_notify.notification_queue (scheduled_at, id)
	WHERE status = 'pending';
CREATE INDEX notification_queue_case_idx
	ON guestbook_notify.notification_queue (case_id);
CREATE INDEX notification_queue_provider_message_idx
	ON guestbook_notify.notification_queue (provider_message_id)
	WHERE provider_message_id IS NOT NULL;
-- No index on to_number: only opt_out() (a rare admin call) looks rows up
-- by number, and it reads the pending rows (the due index) instead.  Every
-- index is maintained by the app's trigger on each assignment, and a
-- partial index of the pending rows also lured cached plans of the claim
-- (tests/bench/README.md, profiling notes 2 and 3).

-- One row per HTTP try.
CREATE TABLE guestbook_notify.notification_attempts (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	notification_id uuid NOT NULL,
	attempt_no integer NOT NULL,
	provider text,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	duration_ms double precision,
	outcome text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'paused')),
	http_status integer,			-- NULL for a transport error
	error_code integer,				-- Graph error.code, when there is one
	error_text text,
	provider_message_id text
);
CREATE INDEX notification_attempts_notification_idx
	ON guestbook_notify.notification_attempts (notification_id);

-- Numbers that must not be messaged.
CREATE TABLE guestbook_notify.opt_outs (
	number text PRIMARY KEY CHECK (number ~ '^628[1-35-9][0-9]{7,10}$'),
	reason text,
	opted_out_at timestamptz NOT NULL DEFAULT now()
);

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.attached_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.templates', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_queue', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_attempts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.opt_outs', '');

/*
 * ------------------------------------------------------------------------
 * Section 2: C functions
 * ------------------------------------------------------------------------
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

/*
 * ------------------------------------------------------------------------
 * Section 3: SQL API, triggers, view (foundation)
 * ------------------------------------------------------------------------
 */

/*
 * How the SQL side reaches the app's tables.
 *
 * The guestbook tables live in a schema the app chooses (attach()).  The
 * PL/pgSQL functions below that read them (_case_params_by_id,
 * _find_contact, _trg_escalated, enqueue, render) use unqualified names for
 * the app's tables and schema-qualified names for everything else.  Each
 * entry point pins search_path with a SET clause and then, inside, narrows
 * it to "pg_catalog, <app schema>, pg_temp" with set_config(..., true): the
 * SET clause restores the caller's search_path when the function returns.
 * This keeps PL/pgSQL's cached plans (the plan cache replans when
 * search_path changes) instead of EXECUTE-ing dynamic SQL.
 *
 * The hot path of the app's assignments is C (src/trigger_assigned.c,
 * src/enqueue.c, src/render.c, src/normalize.c): _trg_assigned and
 * _enqueue_row run kept SPI plans whose every name -- the app's tables
 * included, as <schema>.table -- is schema-qualified, operators too, so
 * they mean the same under any search_path.  The pure helpers
 * (_normalize_number, _render_text, _template_arg(s), _case_params,
 * _queue_row_valid) are C functions the PL/pgSQL side calls as well: one
 * implementation.  tests/equivalence_check.sh compares them with the
 * PL/pgSQL bodies they replaced.
 */

-- Anyone may see the schema; every table and state-changing function below
-- is revoked from PUBLIC. The README shows the GRANTs for the app's roles.
GRANT USAGE ON SCHEMA guestbook_notify TO PUBLIC;

/*
 * ---- templates ---------------------------------------------------------
 * Placeholders: {{case_code}} {{case_type}} {{unit_tujuan}} {{org_unit_name}}
 * {{summary}} {{detail_url}} {{recipient_name}}.  param_names are the values
 * of the approved Cloud API template, in its {{1}}, {{2}}, ... order.
 */
INSERT INTO guestbook_notify.templates
	(key, body, cloud_template_name, language, param_names, description)
VALUES
	('assigned',
	 E'[GUESTBOOK] Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_assigned', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was assigned to an operator (to the operator)'),
	('escalated_lead',
	 E'[GUESTBOOK] Eskalasi ke Kabid/Lead\n'
	 'Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_escalated_lead', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was escalated to the unit''s lead (Kabid / Kasubbag / Koordinator UPT)'),
	('escalated_kadis',
	 E'[GUESTBOOK] Eskalasi ke Kepala Dinas\n'
	 'Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_escalated_kadis', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was escalated to the head of office (Kepala Dinas)');

/*
 * templates is dumped by pg_dump (pg_extension_config_dump) and seeded by
 * CREATE EXTENSION: on restore, the COPY of the dumped rows would collide
 * with the seeded keys.  This trigger turns an INSERT of an existing key
 * into an UPDATE of that row (COPY fires row triggers), so the admins' edits
 * win and the restore does not fail.
 */
CREATE FUNCTION guestbook_notify._templates_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.templates t
	   SET body = NEW.body,
		   cloud_template_name = NEW.cloud_template_name,
		   language = NEW.language,
		   param_names = NEW.param_names,
		   description = NEW.description,
		   updated_at = NEW.updated_at
	 WHERE t.key = NEW.key;
	IF FOUND THEN
		RETURN NULL;			-- the existing row took the values
	END IF;
	RETURN NEW;
END;
$$;

-- updated_at follows edits, unless the UPDATE sets it itself (the restore).
CREATE FUNCTION guestbook_notify._templates_touch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER templates_upsert
	BEFORE INSERT ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_upsert();
CREATE TRIGGER templates_touch
	BEFORE UPDATE ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_touch();

/*
 * ---- numbers -----------------------------------------------------------
 * _normalize_number: canonical digits 628... or NULL when the input is not an
 * Indonesian mobile number (whatsapp-api.md §4):
 *   drop "(0)", spaces, ( ) . / -; "+" or "00" = international prefix;
 *   a leading 0 (trunk prefix) or a bare 8... gets 62; "+62 0812..." drops
 *   the trunk 0 kept after the country code; then ^628[1-35-9][0-9]{7,10}$.
 * Pure, so PUBLIC may run it.  C (src/normalize.c); white space is what the
 * regular expression class [[:space:]] matches under the database's locale.
 */
CREATE FUNCTION guestbook_notify._normalize_number(p_number text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_normalize_number_sql';

/*
 * normalize_number: the same, for explicit calls: invalid input (NULL
 * included) is an error that names the input and shows the accepted forms.
 */
CREATE FUNCTION guestbook_notify.normalize_number(number text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n text := guestbook_notify._normalize_number(number);
BEGIN
	IF n IS NULL THEN
		RAISE EXCEPTION 'invalid WhatsApp number %',
				coalesce('"' || number || '"', 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An Indonesian mobile number is needed: 62, then 8, then 8 to 11 more digits (the second digit is never 0 or 4).',
				  HINT = 'Accepted forms: 0812-3456-7890, +62 812 3456 7890, 6281234567890, 812 3456 7890.';
	END IF;
	RETURN n;
END;
$$;

/*
 * ---- rendering ---------------------------------------------------------
 * _render_text: one pass over the {{name}} placeholders of p_body (spaces
 * around the name allowed).  A placeholder whose name is a key of p_params
 * becomes that value (JSON null = empty), byte for byte; a value is never
 * scanned again, so text typed by a visitor that contains "{{case_code}}"
 * stays as typed.  A placeholder whose name is not a key is LEFT AS IS, so
 * a typo in an edited template shows in the preview and in the message
 * instead of vanishing.
 * The result is cut to 4096 characters (WhatsApp's limit for a text body)
 * at a character boundary, with a visible marker, the total within 4096.
 * C (src/render.c), as are _template_arg(s) and _case_params below.
 */
CREATE FUNCTION guestbook_notify._render_text(p_body text, p_params jsonb)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_render_text_sql';

/*
 * _template_arg: a value as a Cloud API template parameter, which may not
 * contain newlines or tabs, nor more than 4 consecutive spaces, nor be empty.
 * Only template_args are flattened; message_text stays byte-exact.
 */
CREATE FUNCTION guestbook_notify._template_arg(p_value text)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_arg_sql';

-- _template_args: the values of p_names from p_params, as template args.
CREATE FUNCTION guestbook_notify._template_args(p_names text[], p_params jsonb)
RETURNS text[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_args_sql';

/*
 * _case_params: the template values of one case.  Missing values read '-'.
 *   summary: visitor 'Nama: ..\nNIP/NIK: ..\nKeperluan: ..';
 *            surat 'No. Surat: ..\nPerihal: ..'
 *   detail_url: <guestbook_notify.app_base_url>/admin/cases/<id>
 */
CREATE FUNCTION guestbook_notify._case_params(
	p_case_id uuid, p_code text, p_case_type text, p_unit_tujuan text,
	p_org_unit_name text, p_visitor_name text, p_visitor_id_number text,
	p_purpose text, p_surat_tracking_no text, p_surat_perihal text,
	p_recipient_name text)
RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_case_params_sql';

/*
 * _case_params_by_id: the values of case p_case_id, read from the app schema
 * the caller put on search_path; NULL if there is no such case.
 */
CREATE FUNCTION guestbook_notify._case_params_by_id(p_case_id uuid, p_recipient_name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	r record;
BEGIN
	SELECT c.code::text AS code, c.case_type::text AS case_type,
		   c.unit_tujuan::text AS unit_tujuan, ou.name::text AS org_unit_name,
		   c.visitor_name::text AS visitor_name,
		   c.visitor_id_number::text AS visitor_id_number,
		   c.purpose::text AS purpose, c.surat_tracking_no::text AS surat_tracking_no,
		   c.surat_perihal::text AS surat_perihal
	  INTO r
	  FROM cases c
	  LEFT JOIN org_units ou ON ou.id = c.org_unit_id
	 WHERE c.id = p_case_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN guestbook_notify._case_params(p_case_id, r.code, r.case_type, r.unit_tujuan,
										 r.org_unit_name, r.visitor_name,
										 r.visitor_id_number, r.purpose,
										 r.surat_tracking_no, r.surat_perihal,
										 p_recipient_name);
END;
$$;

/*
 * _find_contact: the active org_unit_contacts row of type 'lead' for the
 * unit, walking parent_id up until a unit has one; or of type 'kadis' of the
 * root unit (parent_id NULL) of the unit's tree.  Several active contacts
 * at the same level: the first by name.  When there is none, problem says
 * so (the trigger records it as a failed row).  Reads the app schema on
 * search_path.
 */
CREATE FUNCTION guestbook_notify._find_contact(
	p_org_unit_id uuid, p_contact_type text,
	OUT contact_name text, OUT whatsapp_number text, OUT problem text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_unit text;
BEGIN
	WITH RECURSIVE up AS (
		SELECT u.id, u.parent_id, 0 AS depth
		  FROM org_units u
		 WHERE u.id = p_org_unit_id
		UNION ALL
		SELECT p.id, p.parent_id, up.depth + 1
		  FROM org_units p
		  JOIN up ON p.id = up.parent_id
		 WHERE up.depth < 64			-- a cycle in parent_id must not loop
	)
	SELECT c.name::text, c.whatsapp_number::text
	  INTO contact_name, whatsapp_number
	  FROM up
	  JOIN org_unit_contacts c ON c.org_unit_id = up.id
	 WHERE c.contact_type = p_contact_type
	   AND c.is_active
	   AND (p_contact_type = 'lead' OR up.parent_id IS NULL)
	 ORDER BY up.depth, c.name, c.id
	 LIMIT 1;
	IF FOUND THEN
		RETURN;
	END IF;

	IF p_contact_type = 'lead' THEN
		SELECT format('%s (%s)', u.name, u.code) INTO v_unit
		  FROM org_units u WHERE u.id = p_org_unit_id;
		problem := format('no active lead contact for org unit %s or its parents',
						  coalesce(v_unit, p_org_unit_id::text));
	ELSE
		WITH RECURSIVE up AS (
			SELECT u.id, u.parent_id, u.name, u.code, 0 AS depth
			  FROM org_units u
			 WHERE u.id = p_org_unit_id
			UNION ALL
			SELECT p.id, p.parent_id, p.name, p.code, up.depth + 1
			  FROM org_units p
			  JOIN up ON p.id = up.parent_id
			 WHERE up.depth < 64
		)
		SELECT format('%s (%s)', up.name, up.code) INTO v_unit
		  FROM up WHERE up.parent_id IS NULL;
		problem := CASE WHEN v_unit IS NULL
			THEN format('no root org unit above org unit %s (parent_id never reaches NULL)', p_org_unit_id)
			ELSE format('no active kadis contact for root org unit %s', v_unit) END;
	END IF;
END;
$$;

/*
 * _case_event: a case_events row in the app schema.  A failure there (the
 * app's own constraints) must not abort the app's transaction: it becomes a
 * WARNING.  Only used on the rare failure paths, so the subtransaction of
 * the EXCEPTION block costs nothing on the hot path.
 */
CREATE FUNCTION guestbook_notify._case_event(
	p_schema name, p_case_id uuid, p_event_type text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) VALUES ($1, $2, $3)',
				   p_schema)
	USING p_case_id, p_event_type, p_details;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'guestbook_notify: could not record case event "%" for case %: %',
		p_event_type, p_case_id, SQLERRM;
END;
$$;

/*
 * _enqueue_row: the one place that writes a new notification_queue row, for
 * the triggers and for enqueue().  C (src/enqueue.c, which has the rules:
 * failed/cancelled rows with their reasons, dedupe_key ON CONFLICT DO
 * NOTHING returning the existing row's id, the in-place redo of a row that
 * failed for want of a number, case_events 'notification_failed', the wake
 * at commit).
 */
CREATE FUNCTION guestbook_notify._enqueue_row(
	p_template_key text, p_number_raw text, p_recipient_name text,
	p_recipient_role text, p_params jsonb, p_case_id uuid, p_app_schema text,
	p_dedupe_key text, p_scheduled_at timestamptz, p_problem text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_enqueue_row_sql';

/*
 * ---- triggers ----------------------------------------------------------
 * Never abort the app's transaction for a notification problem: a missing
 * or inactive recipient, a bad number or a missing template becomes a
 * 'failed' row (+ case_events 'notification_failed'), an opted-out number a
 * 'cancelled' row.  SECURITY DEFINER: the app's roles have no rights on our
 * tables.
 */

/*
 * assigned: AFTER INSERT ON <schema>.case_assignments -> the operator.
 * dedupe_key 'assigned:<case>:<operator>:<id of the latest earlier
 * assignment of this case to a DIFFERENT operator, or "first">': the same
 * assignment inserted again, a retried transaction and two concurrent
 * transactions assigning the same operator all compute the same key, while
 * reassigning away and back makes a new one.  C (src/trigger_assigned.c):
 * it is on the app's hot path (tests/bench/README.md, profiling notes 5).
 */
CREATE FUNCTION guestbook_notify._trg_assigned()
RETURNS trigger
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gbn_trg_assigned';

/*
 * escalated: AFTER INSERT / UPDATE OF status, escalation_level ON
 * <schema>.cases.  "At lead" = escalation_level 'lead', or 'none' with
 * status 'escalated'; "at kadis" = escalation_level 'kadis'.  A row that
 * reaches a level it was not at notifies that level's contact.  dedupe_key
 * '<template>:<case>:<xid>': a statement run again in the same transaction
 * sees no new transition, two concurrent escalations are serialised by the
 * row lock (the later one sees no transition), and a new escalation in a
 * later transaction (after a de-escalation) notifies again.
 */
CREATE FUNCTION guestbook_notify._trg_escalated()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_new_lead boolean;
	v_new_kadis boolean;
	v_old_lead boolean := false;
	v_old_kadis boolean := false;
	v_type text;
	v_contact record;
	v_ignore text;
BEGIN
	v_new_lead := coalesce(NEW.escalation_level = 'lead'
						   OR (NEW.escalation_level = 'none' AND NEW.status = 'escalated'), false);
	v_new_kadis := coalesce(NEW.escalation_level = 'kadis', false);
	IF TG_OP = 'UPDATE' THEN
		v_old_lead := coalesce(OLD.escalation_level = 'lead'
							   OR (OLD.escalation_level = 'none' AND OLD.status = 'escalated'), false);
		v_old_kadis := coalesce(OLD.escalation_level = 'kadis', false);
	END IF;
	IF v_new_lead AND NOT v_old_lead THEN
		v_type := 'lead';
	ELSIF v_new_kadis AND NOT v_old_kadis THEN
		v_type := 'kadis';
	ELSE
		RETURN NULL;
	END IF;

	v_ignore := set_config('search_path', format('pg_catalog, %I, pg_temp', TG_TABLE_SCHEMA), true);
	SELECT * INTO v_contact FROM guestbook_notify._find_contact(NEW.org_unit_id, v_type);
	v_ignore := guestbook_notify._enqueue_row(
		'escalated_' || v_type, v_contact.whatsapp_number,
		v_contact.contact_name, v_type,
		guestbook_notify._case_params(NEW.id, NEW.code::text, NEW.case_type::text,
			NEW.unit_tujuan::text,
			(SELECT ou.name::text FROM org_units ou WHERE ou.id = NEW.org_unit_id),
			NEW.visitor_name::text, NEW.visitor_id_number::text, NEW.purpose::text,
			NEW.surat_tracking_no::text, NEW.surat_perihal::text,
			v_contact.contact_name),
		NEW.id, TG_TABLE_SCHEMA::text,
		format('escalated_%s:%s:%s', v_type, NEW.id, pg_current_xact_id()),
		now(), v_contact.problem);
	RETURN NULL;
END;
$$;

/*
 * ---- attach / detach ---------------------------------------------------
 */

/*
 * attach: check that <schema> has the guestbook tables and columns of SPEC
 * §1 (one error naming everything missing), create the triggers and record
 * the schema.  Idempotent: attaching again re-creates the triggers and
 * returns false.  Run it as a superuser (or the tables' owner with EXECUTE
 * on the trigger functions): it is SECURITY INVOKER on purpose.
 */
CREATE FUNCTION guestbook_notify.attach(schema name DEFAULT 'public')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_schema name := attach.schema;
	v_tables text[];
	v_columns text[];
	v_new boolean;
BEGIN
	IF v_schema IS NULL THEN
		RAISE EXCEPTION 'schema name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = v_schema) THEN
		RAISE EXCEPTION 'schema "%" does not exist', v_schema
			USING ERRCODE = 'invalid_schema_name';
	END IF;

	WITH req(tbl, col, ord) AS (
		VALUES
			('org_units', '{id,code,name,parent_id}'::text[], 1),
			('users', '{id,full_name,role,org_unit_id,whatsapp_number,is_active}', 2),
			('org_unit_contacts', '{id,org_unit_id,contact_type,name,whatsapp_number,is_active}', 3),
			('cases', '{id,code,case_type,status,escalation_level,org_unit_id,unit_tujuan,'
					  'assigned_operator_id,visitor_name,visitor_id_number,purpose,'
					  'surat_tracking_no,surat_perihal,created_at,updated_at}', 4),
			('case_assignments', '{id,case_id,operator_id,assigned_by,assigned_at}', 5),
			('case_events', '{id,case_id,event_type,actor_id,details,created_at}', 6)
	), rel AS (
		SELECT req.tbl, req.col, req.ord, c.oid
		  FROM req
		  LEFT JOIN (pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					 AND n.nspname = v_schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
			ON c.relname = req.tbl
	), missing AS (
		SELECT rel.ord, 0 AS colord, format('%I.%I', v_schema, rel.tbl) AS what, true AS is_table
		  FROM rel WHERE rel.oid IS NULL
		UNION ALL
		SELECT rel.ord, col.i, format('%I.%I.%I', v_schema, rel.tbl, col.name), false
		  FROM rel
		 CROSS JOIN LATERAL unnest(rel.col) WITH ORDINALITY AS col(name, i)
		 WHERE rel.oid IS NOT NULL
		   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
							WHERE a.attrelid = rel.oid AND a.attname = col.name
							  AND a.attnum > 0 AND NOT a.attisdropped)
	)
	SELECT array_agg(what ORDER BY ord, colord) FILTER (WHERE is_table),
		   array_agg(what ORDER BY ord, colord) FILTER (WHERE NOT is_table)
	  INTO v_tables, v_columns
	  FROM missing;

	IF v_tables IS NOT NULL OR v_columns IS NOT NULL THEN
		RAISE EXCEPTION 'schema "%" lacks guestbook tables or columns that guestbook_notify needs',
				v_schema
			USING ERRCODE = CASE WHEN v_tables IS NOT NULL THEN 'undefined_table'
								 ELSE 'undefined_column' END,
				  DETAIL = concat_ws(' ',
							'Missing tables: ' || array_to_string(v_tables, ', ') || '.',
							'Missing columns: ' || array_to_string(v_columns, ', ') || '.'),
				  HINT = 'The guestbook tables and their columns are listed in the README; tests/schema/guestbook.sql is a reference schema.';
	END IF;

	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
				   'AFTER INSERT ON %I.case_assignments '
				   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_assigned()', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
				   'AFTER UPDATE OF status, escalation_level ON %I.cases '
				   'FOR EACH ROW WHEN ('
				   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
				   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
				   'EXECUTE FUNCTION guestbook_notify._trg_escalated()', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
				   'AFTER INSERT ON %I.cases '
				   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
				   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'EXECUTE FUNCTION guestbook_notify._trg_escalated()', v_schema);

	INSERT INTO guestbook_notify.attached_schemas (schema_name) VALUES (v_schema)
	ON CONFLICT (schema_name) DO NOTHING;
	v_new := FOUND;
	IF NOT v_new THEN
		RAISE NOTICE 'schema "%" was already attached; its triggers were re-created', v_schema;
	END IF;
	RETURN v_new;
END;
$$;

/*
 * detach: drop the triggers and forget the schema.  Queue rows stay.
 * Returns false (with a NOTICE) when the schema was not attached.
 */
CREATE FUNCTION guestbook_notify.detach(schema name DEFAULT 'public')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_schema name := detach.schema;
	v_trigger text;
	v_was boolean;
BEGIN
	IF v_schema IS NULL THEN
		RAISE EXCEPTION 'schema name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR v_trigger IN
		SELECT format('DROP TRIGGER %I ON %I.%I', t.tgname, n.nspname, c.relname)
		  FROM pg_trigger t
		  JOIN pg_class c ON c.oid = t.tgrelid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = v_schema
		   AND c.relname IN ('case_assignments', 'cases')
		   AND t.tgname IN ('guestbook_notify_assigned', 'guestbook_notify_escalated',
							'guestbook_notify_escalated_insert')
		 ORDER BY 1
	LOOP
		EXECUTE v_trigger;
	END LOOP;
	DELETE FROM guestbook_notify.attached_schemas a WHERE a.schema_name = v_schema;
	v_was := FOUND;
	IF NOT v_was THEN
		RAISE NOTICE 'schema "%" was not attached', v_schema;
	END IF;
	RETURN v_was;
END;
$$;

/*
 * _case_schema: the attached schema whose cases table holds p_case_id, or
 * NULL.  (Explicit calls only: the triggers know their schema.)
 */
CREATE FUNCTION guestbook_notify._case_schema(p_case_id uuid)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s name;
	found_it boolean;
BEGIN
	FOR s IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY a.schema_name
	LOOP
		CONTINUE WHEN to_regclass(format('%I.cases', s)) IS NULL;
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.cases c WHERE c.id = $1)', s)
		   INTO found_it USING p_case_id;
		IF found_it THEN
			RETURN s;
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;

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
		PERFORM set_config('search_path', format('pg_catalog, %I, pg_temp', v_schema), true);
		v_case_params := guestbook_notify._case_params_by_id(v_case, v_params ->> 'recipient_name');
		v_params := coalesce(v_case_params, '{}') || v_params;
	END IF;

	RETURN guestbook_notify._enqueue_row(
		v_key, enqueue.to_number, v_params ->> 'recipient_name', 'manual', v_params,
		v_case, v_schema::text, enqueue.dedupe_key, coalesce(enqueue.scheduled_at, now()), NULL);
END;
$$;

/*
 * render: preview the message template_key would produce for case_id, with
 * the recipient the trigger would pick (assigned: the case's assigned
 * operator, else the operator of its latest assignment; escalated_lead /
 * escalated_kadis: the contact found).  Same
 * renderer as enqueue.  Reads the case (visitor name, NIP/NIK): not PUBLIC.
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
	v_unit uuid;
	v_operator uuid;
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

	PERFORM set_config('search_path', format('pg_catalog, %I, pg_temp', v_schema), true);
	SELECT c.org_unit_id, c.assigned_operator_id INTO v_unit, v_operator
	  FROM cases c WHERE c.id = v_case;
	IF v_key = 'assigned' THEN
		-- the case's operator, else the one of its latest assignment
		SELECT u.full_name::text INTO v_recipient
		  FROM users u
		 WHERE u.id = coalesce(v_operator,
							   (SELECT a.operator_id FROM case_assignments a
								 WHERE a.case_id = v_case
								 ORDER BY a.assigned_at DESC, a.id DESC LIMIT 1));
	ELSIF v_key IN ('escalated_lead', 'escalated_kadis') THEN
		SELECT f.contact_name INTO v_recipient
		  FROM guestbook_notify._find_contact(v_unit, substr(v_key, 11)) f;
	END IF;
	RETURN guestbook_notify._render_text(
		t.body, guestbook_notify._case_params_by_id(v_case, v_recipient));
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
			OR (r.status = 'pending' AND (r.lease_until IS NULL OR r.lease_until < now()))) THEN
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
	   AND (q.lease_until IS NULL OR q.lease_until < now());
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
 * it changed anything: repeats are harmless), false when it is unknown.
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
	RETURN guestbook_notify._apply_status(record_status.provider_message_id,
										  record_status.status, record_status.at,
										  record_status.error);
END;
$$;

/*
 * ingest_webhook: Meta's status webhook body (entry[].changes[].value
 * .statuses[]).  Applies each sent/delivered/read/failed status and returns
 * how many were for our messages.  Other statuses ('played', ...), other
 * change fields and unknown wamids are ignored; a payload that does not have
 * the documented shape is an error naming the offending path.
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
				IF guestbook_notify._apply_status(st ->> 'id', st ->> 'status', v_at,
												  st -> 'errors') THEN
					n := n + 1;
				END IF;
			END LOOP;
		END LOOP;
	END LOOP;
	RETURN n;
END;
$$;

/*
 * ---- the admin "Notifications" page ------------------------------------
 * One row per notification, newest first when ordered by created_at.
 * case_code comes from the template values taken at enqueue; subject is the
 * first line of the message.  in_flight: a worker is sending it right now.
 * needs_attention: failed, or the provider reported a delivery failure.
 * held: the recipient reached guestbook_notify.recipient_hourly_cap (a
 * guard against notification loops); the row waits until scheduled_at and
 * last_error says so.  Finished rows older than guestbook_notify.retention
 * are in notification_queue_archive, not here.
 */
CREATE VIEW guestbook_notify.notifications AS
SELECT q.id,
	   q.created_at,
	   q.status,
	   coalesce(q.status = 'pending' AND q.lease_until > now(), false) AS in_flight,
	   (q.status = 'failed' OR q.delivery_status IS NOT DISTINCT FROM 'failed') AS needs_attention,
	   coalesce(q.status = 'pending' AND q.last_error LIKE 'held: %' AND q.scheduled_at > now(),
				false) AS held,
	   q.template_key,
	   q.template_params ->> 'case_code' AS case_code,
	   q.case_id,
	   q.app_schema,
	   q.recipient_role,
	   q.recipient_name,
	   q.to_number,
	   q.to_number_raw,
	   split_part(q.message_text, E'\n', 1) AS subject,
	   q.message_text,
	   q.attempt_count,
	   q.last_error,
	   q.scheduled_at,
	   q.sent_at,
	   q.provider,
	   q.provider_message_id,
	   q.delivery_status,
	   q.delivery_status_at,
	   q.delivered_at,
	   q.read_at,
	   q.delivery_error,
	   q.dedupe_key,
	   q.updated_at
  FROM guestbook_notify.notification_queue q;

/*
 * ---- privileges --------------------------------------------------------
 * Nothing that changes state, and no table, is PUBLIC.  normalize_number
 * and the pure helpers (_normalize_number, _render_text, _template_arg(s),
 * _case_params, _delivery_error_text, _queue_row_valid) stay PUBLIC: they
 * read nothing (_queue_row_valid is the queue's check constraint, run as
 * whoever writes a row).
 */
REVOKE ALL ON TABLE guestbook_notify.attached_schemas, guestbook_notify.templates,
	guestbook_notify.notification_queue, guestbook_notify.notification_attempts,
	guestbook_notify.opt_outs, guestbook_notify.notifications FROM PUBLIC;
REVOKE ALL ON SEQUENCE guestbook_notify.notification_attempts_id_seq FROM PUBLIC;

REVOKE ALL ON FUNCTION guestbook_notify._templates_upsert() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._templates_touch() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_params_by_id(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._find_contact(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_event(name, uuid, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._enqueue_row(text, text, text, text, jsonb, uuid, text, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._trg_assigned() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._trg_escalated() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.attach(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.detach(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_schema(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.render(text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.requeue(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.cancel(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.requeue_failed(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.opt_out(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.opt_in(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._apply_status(text, text, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.record_status(text, text, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.ingest_webhook(jsonb) FROM PUBLIC;

/*
 * ------------------------------------------------------------------------
 * Section 4: worker interface (called by the background worker only)
 * ------------------------------------------------------------------------
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
 * Per-recipient pacing state: the earliest time of the next message to a
 * number, the count in its current hourly window, and how many 131056
 * (pair rate limit) answers it got in a row.  Transient: not dumped;
 * archive_finished() forgets numbers idle for an hour.
 */
CREATE TABLE guestbook_notify.recipient_pacing (
	to_number text PRIMARY KEY,
	next_allowed_at timestamptz NOT NULL,
	window_start timestamptz NOT NULL,
	window_count integer NOT NULL,
	throttle_level integer NOT NULL DEFAULT 0	-- 131056 answers in a row (Meta: 4^x s)
);

/*
 * Finished rows (sent, failed, cancelled) leave the live queue for this
 * table after guestbook_notify.retention (archive_finished(), run by the
 * worker): same columns, plus archived_at.  notification_attempts and the
 * app's case_events are not touched: the audit stays complete.  Dumped by
 * pg_dump.
 */
CREATE TABLE guestbook_notify.notification_queue_archive (
	LIKE guestbook_notify.notification_queue INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
	archived_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id)
);
CREATE INDEX notification_queue_archive_case_idx
	ON guestbook_notify.notification_queue_archive (case_id);
CREATE INDEX notification_queue_archive_provider_message_idx
	ON guestbook_notify.notification_queue_archive (provider_message_id)
	WHERE provider_message_id IS NOT NULL;
CREATE INDEX notification_queue_archive_created_idx
	ON guestbook_notify.notification_queue_archive (created_at);
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_queue_archive', '');

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

REVOKE ALL ON FUNCTION guestbook_notify._claim_batch(integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._record_result(uuid, text, text, integer, integer, text, text, timestamptz, double precision, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._next_due() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._record_fallback(uuid, text, text, text, text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._release(uuid[]) FROM PUBLIC;

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

REVOKE ALL ON TABLE guestbook_notify.recipient_pacing, guestbook_notify.notification_queue_archive FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._setting_interval(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.archive_finished(interval, integer) FROM PUBLIC;
