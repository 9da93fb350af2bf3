/* guestbook_notify--1.0--1.1.sql: built by src/sql/make_upgrade.sh */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION guestbook_notify UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.0 -> 1.1, part 1 (src/sql/upgrade/1.0--1.1-before.sql): the tables.
 * Then every function and view of 1.1 is (re)created from the parts, the
 * privileges are set again, and part 2 (-after.sql) moves the app's
 * triggers to the new trigger function.
 *
 *   - the triggers record events (trigger_events); the worker resolves them
 *     as the app tables' owners; assignment dedupe state (assignment_state)
 *   - case_events rows are queued (audit_outbox) and written by the worker
 *   - templates: send_as; bodies at most 4096 characters
 *   - notification_queue (and archive): send_as, resent_from
 *   - dedupe keys of the triggers' rows carry the app schema
 */

-- ---- templates ----------------------------------------------------------
DO $$
DECLARE
	k text;
BEGIN
	FOR k IN SELECT t.key FROM guestbook_notify.templates t WHERE length(t.body) > 4096 LOOP
		RAISE NOTICE 'template "%" was longer than 4096 characters and is cut to them', k;
	END LOOP;
END;
$$;
UPDATE guestbook_notify.templates SET body = left(body, 4096) WHERE length(body) > 4096;
ALTER TABLE guestbook_notify.templates
	ADD CONSTRAINT templates_body_check CHECK (length(body) <= 4096),
	ADD COLUMN send_as text CHECK (send_as IN ('template', 'text'));

-- ---- opt_outs: the one number rule (src/normalize.c) --------------------
ALTER TABLE guestbook_notify.opt_outs
	DROP CONSTRAINT opt_outs_number_check,
	ADD CONSTRAINT opt_outs_number_check
		CHECK (guestbook_notify._normalize_number(number) = number);

-- ---- the queue ----------------------------------------------------------
ALTER TABLE guestbook_notify.notification_queue
	ADD COLUMN send_as text,
	ADD COLUMN resent_from uuid;
ALTER TABLE guestbook_notify.notification_queue_archive
	ADD COLUMN send_as text,
	ADD COLUMN resent_from uuid;

-- the triggers' dedupe keys now name the app schema (two attached schemas
-- may share case and operator ids)
UPDATE guestbook_notify.notification_queue q
   SET dedupe_key = split_part(q.dedupe_key, ':', 1) || ':' || q.app_schema || ':'
					|| substr(q.dedupe_key, length(split_part(q.dedupe_key, ':', 1)) + 2)
 WHERE q.app_schema IS NOT NULL
   AND q.dedupe_key ~ '^(assigned|escalated_lead|escalated_kadis):[0-9a-f-]{36}:';

-- ---- new tables ---------------------------------------------------------
CREATE TABLE guestbook_notify.trigger_events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('assigned', 'escalated_lead', 'escalated_kadis')),
	app_schema name NOT NULL,
	xid xid8 NOT NULL,
	case_id uuid,
	subject_id uuid,
	row_id uuid,
	org_unit_id uuid,
	problem text,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE guestbook_notify.assignment_state (
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	operator_id uuid NOT NULL,
	assignment_id uuid,
	prev_assignment text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (app_schema, case_id)
);

CREATE TABLE guestbook_notify.audit_outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	event_type text NOT NULL,
	details jsonb NOT NULL,
	notification_id uuid,
	created_at timestamptz NOT NULL DEFAULT now(),
	attempts integer NOT NULL DEFAULT 0,
	next_try_at timestamptz NOT NULL DEFAULT now(),
	last_error text
);
CREATE INDEX audit_outbox_notification_idx
	ON guestbook_notify.audit_outbox (notification_id)
	WHERE notification_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.trigger_events', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.trigger_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.assignment_state', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.audit_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.audit_outbox_id_seq', '');

/*
 * The assignment dedupe state, from 1.0's queue: per case, the operator of
 * its latest assignment notification.  The assignment that made them
 * current is not known; the row's own id stands for it, so that the next
 * assignment to another operator gets a key of its own.
 */
INSERT INTO guestbook_notify.assignment_state
	(app_schema, case_id, operator_id, assignment_id, prev_assignment)
SELECT DISTINCT ON (q.app_schema, q.case_id)
	   q.app_schema, q.case_id, split_part(q.dedupe_key, ':', 4)::uuid, q.id,
	   split_part(q.dedupe_key, ':', 5)
  FROM guestbook_notify.notification_queue q
 WHERE q.template_key = 'assigned' AND q.app_schema IS NOT NULL AND q.case_id IS NOT NULL
   AND q.dedupe_key ~ '^assigned:[^:]+:[0-9a-f-]{36}:[0-9a-f-]{36}:'
 ORDER BY q.app_schema, q.case_id, q.created_at DESC, q.id DESC;

-- ---- functions whose signature or result changed, or that are gone ------
DROP FUNCTION guestbook_notify.worker_status();
DROP FUNCTION guestbook_notify._case_params_by_id(uuid, text);
DROP FUNCTION guestbook_notify._find_contact(uuid, text);
DROP FUNCTION guestbook_notify._claim_batch(integer, integer);
DROP FUNCTION guestbook_notify._record_result(uuid, text, text, integer, integer, text, text,
	timestamptz, double precision, integer, integer);
DROP FUNCTION guestbook_notify._record_fallback(uuid, text, text, text, text, integer, integer);
DROP FUNCTION guestbook_notify._setting_interval(text, integer);

/*
 * guestbook_notify install script, part: C functions the tables need
 * (the queue's row check, the number rule of opt_outs).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

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
CREATE OR REPLACE FUNCTION guestbook_notify._queue_row_valid(
	p_channel text, p_status text, p_attempt_count integer,
	p_delivery_status text, p_sent_at timestamptz)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_queue_row_valid';

/*
 * ---- numbers -----------------------------------------------------------
 * _normalize_number: canonical digits 628... or NULL when the input is not an
 * Indonesian mobile number (whatsapp-api.md §4):
 *   drop "(0)", spaces, ( ) . / -; "+" or "00" = international prefix;
 *   a leading 0 (trunk prefix) or a bare 8... gets 62; "+62 0812..." drops
 *   the trunk 0 kept after the country code; then ^628[1-35-9][0-9]{7,10}$.
 * C (src/normalize.c): the one number rule (opt_outs, providers).  White space is what the
 * regular expression class [[:space:]] matches under the database's locale.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._normalize_number(p_number text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_normalize_number_sql';


/*
 * guestbook_notify install script, part wake() and worker_status().
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

-- Nudge the worker: it wakes when the calling transaction commits.
CREATE OR REPLACE FUNCTION guestbook_notify.wake()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'guestbook_notify_wake';

-- One row per configured worker: the database it serves, what it is
-- doing and what it has done since the server started.  paused_reason is
-- set while sending is paused by an account-level provider error (the
-- workers of a database share it).  audit_pending: case_events rows waiting
-- in audit_outbox to be written into the app's table (as last seen by the
-- worker); events_pending: trigger events not yet turned into queue rows.
CREATE OR REPLACE FUNCTION guestbook_notify.worker_status()
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
CREATE OR REPLACE FUNCTION guestbook_notify._extension_installed()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_extension_installed';

/*
 * guestbook_notify install script, part: the templates table's trigger
 * functions (functions only: the upgrade scripts recreate this part with
 * CREATE OR REPLACE; 30_templates.sql makes the table's triggers).
 */

/*
 * templates is dumped by pg_dump (pg_extension_config_dump) and seeded by
 * CREATE EXTENSION: on restore, the COPY of the dumped rows would collide
 * with the seeded keys.  This trigger turns an INSERT of an existing key
 * into an UPDATE of that row (COPY fires row triggers), so the admins' edits
 * win and the restore does not fail.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._templates_upsert()
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
		   send_as = NEW.send_as,
		   updated_at = NEW.updated_at
	 WHERE t.key = NEW.key;
	IF FOUND THEN
		RETURN NULL;			-- the existing row took the values
	END IF;
	RETURN NEW;
END;
$$;

-- updated_at follows edits, unless the UPDATE sets it itself (the restore).
CREATE OR REPLACE FUNCTION guestbook_notify._templates_touch()
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


/*
 * guestbook_notify install script, part: how the extension reaches the
 * app's tables, numbers and rendering.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * The trust model (README "Trust model").
 *
 * The guestbook tables live in a schema the app chooses (attach()) and
 * belong to the app's owner, a role that must never gain the extension's
 * rights.  So privileged code -- the worker (a superuser connection) and
 * the SECURITY DEFINER functions -- never reads or writes an app table
 * itself: it goes through the C functions below (src/app_access.c,
 * src/app_lookup.c, src/audit.c), which
 *   - resolve <schema>.<table> themselves and accept only a plain or
 *     partitioned table (a view or foreign table put in its place is an
 *     error naming it, never read);
 *   - run as that table's owner, in a security-restricted operation, with
 *     search_path pg_catalog, pg_temp: the owner's triggers, defaults,
 *     checks and policies run with the owner's rights only;
 *   - check that the statement reads that table and nothing else.
 * Every SQL function of the extension pins search_path to pg_catalog,
 * pg_temp and never puts the app's schema on it, so no name resolves to an
 * object the app's owner made (a function shadowing a pg_catalog name with
 * a closer argument type, say).  The triggers read nothing of the app's
 * but NEW and OLD (src/trigger.c).
 */

/*
 * _app_select: p_sql, a SELECT reading <p_schema>.<p_table> only, run as
 * that table's owner in a security-restricted operation; each row as a
 * jsonb object.  $1..$n are p_args (text).  p_schema must be attached and
 * p_table one of the guestbook tables.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._app_select(
	p_schema name, p_table name, p_sql text, p_args text[] DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_app_select';

/*
 * _case_schema: the attached schema whose cases table holds p_case_id, or
 * NULL (each cases table read as its owner).
 */
CREATE OR REPLACE FUNCTION guestbook_notify._case_schema(p_case_id uuid)
RETURNS name
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_schema_sql';

/*
 * _case_params_by_id: the template values of case p_case_id in p_schema
 * (read as the owners of cases and org_units), for p_recipient_name; NULL
 * if there is no such case.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._case_params_by_id(
	p_schema name, p_case_id uuid, p_recipient_name text)
RETURNS jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_params_by_id_sql';

/*
 * _find_contact: the recipient of an escalation of a case in org unit
 * p_org_unit_id of p_schema (SPEC §2): 'lead' = the first active lead
 * contact (by name) of the unit or, walking parent_id up, of its nearest
 * ancestor that has one; 'kadis' = the first active kadis contact of the
 * root unit of the tree.  When there is none, problem says why (the
 * notification is a failed row with it).
 */
CREATE OR REPLACE FUNCTION guestbook_notify._find_contact(
	p_schema name, p_org_unit_id uuid, p_contact_type text,
	OUT contact_name text, OUT whatsapp_number text, OUT problem text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_find_contact_sql';

/*
 * _case_event: a case_events row for the app's audit trail, queued in
 * audit_outbox; the worker writes it as the owner of <p_schema>.case_events
 * (src/audit.c).
 */
CREATE OR REPLACE FUNCTION guestbook_notify._case_event(
	p_schema name, p_case_id uuid, p_event_type text, p_details jsonb)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_event_sql';

/*
 * ---- numbers ------------------------------------------------------------
 * normalize_number: _normalize_number for explicit calls: invalid input
 * (NULL included) is an error that names the input and shows the accepted
 * forms.
 */
CREATE OR REPLACE FUNCTION guestbook_notify.normalize_number(number text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SECURITY DEFINER
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
 * ---- rendering ----------------------------------------------------------
 * _render_text: one pass over the {{name}} placeholders of p_body (spaces
 * around the name allowed), linear in its length.  A placeholder whose name
 * is a key of p_params becomes that value (JSON null = empty), byte for
 * byte; a value is never scanned again, so text typed by a visitor that
 * contains "{{case_code}}" stays as typed.  A placeholder whose name is not
 * a key is LEFT AS IS, so a typo in an edited template shows in the preview
 * and in the message instead of vanishing.  The result is cut to 4096
 * characters (WhatsApp's limit for a text body) at a character boundary,
 * with a visible marker, the total within 4096.  C (src/render.c), as are
 * _template_arg(s) and _case_params below.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._render_text(p_body text, p_params jsonb)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_render_text_sql';

/*
 * _template_arg: a value as a Cloud API template parameter, which may not
 * contain newlines or tabs, nor more than 4 consecutive spaces, nor be empty.
 * Only template_args are flattened; message_text stays byte-exact.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._template_arg(p_value text)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_arg_sql';

/*
 * _template_args: the values of p_names from p_params, as template args,
 * within Meta's limits for a template message (1,024 characters for the
 * body with its parameters, 32,768 for one parameter): the longest values
 * are cut first, with the marker message_text uses.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._template_args(p_names text[], p_params jsonb)
RETURNS text[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_args_sql';

/*
 * _case_params: the template values of one case.  Missing values read '-'.
 *   summary: visitor 'Nama: ..\nNIP/NIK: ..\nKeperluan: ..';
 *            surat 'No. Surat: ..\nPerihal: ..'
 *   detail_url: <guestbook_notify.app_base_url>/admin/cases/<id>
 */
CREATE OR REPLACE FUNCTION guestbook_notify._case_params(
	p_case_id uuid, p_code text, p_case_type text, p_unit_tujuan text,
	p_org_unit_name text, p_visitor_name text, p_visitor_id_number text,
	p_purpose text, p_surat_tracking_no text, p_surat_perihal text,
	p_recipient_name text)
RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_case_params_sql';

/*
 * _enqueue_row: the one place that writes a new notification_queue row, for
 * the worker's event processing and for enqueue().  C (src/enqueue.c, which
 * has the rules: failed/cancelled rows with their reasons, dedupe_key ON
 * CONFLICT DO NOTHING returning the existing row's id, the in-place redo of
 * a row that failed for want of a number, case_events 'notification_failed'
 * queued, the wake at commit).
 */
CREATE OR REPLACE FUNCTION guestbook_notify._enqueue_row(
	p_template_key text, p_number_raw text, p_recipient_name text,
	p_recipient_role text, p_params jsonb, p_case_id uuid, p_app_schema text,
	p_dedupe_key text, p_scheduled_at timestamptz, p_problem text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_enqueue_row_sql';

/*
 * guestbook_notify install script, part triggers, attach() and detach().
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- triggers ----------------------------------------------------------
 * _trg_event(kind): AFTER INSERT ON <schema>.case_assignments ('assigned')
 * and AFTER INSERT / UPDATE OF status, escalation_level ON <schema>.cases
 * ('escalated', with WHEN clauses that let only transitions through).  It
 * records one narrow trigger_events row from NEW and OLD alone -- no
 * look-up, no rendering -- and wakes the worker at commit; the worker
 * resolves the recipient (as the owners of the app's tables), renders,
 * dedupes and writes the queue row (src/events.c).  "At lead" =
 * escalation_level 'lead', or 'none' with status 'escalated'; "at kadis" =
 * escalation_level 'kadis'; a row that reaches a level it was not at
 * notifies that level's contact.  Never aborts the app's transaction for a
 * notification problem: a wrong recipient, number or template becomes a
 * 'failed' row with the reason (+ case_events 'notification_failed'), an
 * opted-out number a 'cancelled' row.  C (src/trigger.c), not SECURITY
 * DEFINER: it becomes the owner of trigger_events for its one INSERT.
 */
CREATE OR REPLACE FUNCTION guestbook_notify._trg_event()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'gbn_trg_event';

/*
 * ---- attach / detach ---------------------------------------------------
 */

/*
 * attach: check that <schema> has the guestbook tables and columns of SPEC
 * §1 (one error naming everything missing), that they are tables (not
 * views...) with uuid keys, create the triggers and record the schema.
 * A NOTICE with the CREATE INDEX statement when no index of
 * <schema>.case_assignments starts with case_id (the worker's reads of a
 * case's latest assignment need one; the contract names primary keys only).
 * Idempotent: attaching again re-creates the triggers and returns false.  Run it as a superuser (or the tables' owner with EXECUTE
 * on the trigger functions): it is SECURITY INVOKER on purpose.
 *
 * Long for a reason: the checks are one list (tables, columns, key types,
 * relkinds) so that a single error names everything missing at once.
 */
CREATE OR REPLACE FUNCTION guestbook_notify.attach(schema name DEFAULT 'public')
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

	-- tables only: a view, foreign table or materialized view would be
	-- read in the tables' stead (README "Trust model")
	SELECT array_agg(format('%I.%I is %s', v_schema, c.relname,
							CASE c.relkind WHEN 'v' THEN 'a view'
										   WHEN 'm' THEN 'a materialized view'
										   WHEN 'f' THEN 'a foreign table'
										   ELSE 'not a table' END)
					 ORDER BY c.relname)
	  INTO v_tables
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = v_schema
	   AND c.relname IN ('org_units', 'users', 'org_unit_contacts', 'cases',
						 'case_assignments', 'case_events')
	   AND c.relkind NOT IN ('r', 'p');
	IF v_tables IS NOT NULL THEN
		RAISE EXCEPTION 'the guestbook tables of schema "%" must be tables', v_schema
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = array_to_string(v_tables, '; ') || '.',
				  HINT = 'guestbook_notify reads and writes the app''s tables only, each as its owner.';
	END IF;

	-- the keys the triggers copy and the worker looks up are uuid (SPEC §1)
	SELECT array_agg(format('%I.%I.%I is %s', v_schema, c.relname, a.attname,
							format_type(a.atttypid, a.atttypmod))
					 ORDER BY c.relname, a.attname)
	  INTO v_columns
	  FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE n.nspname = v_schema
	   AND (c.relname, a.attname) IN (('org_units', 'id'), ('org_units', 'parent_id'),
									  ('users', 'id'), ('org_unit_contacts', 'org_unit_id'),
									  ('cases', 'id'), ('cases', 'org_unit_id'),
									  ('case_assignments', 'id'), ('case_assignments', 'case_id'),
									  ('case_assignments', 'operator_id'), ('case_events', 'case_id'))
	   AND a.atttypid <> 'uuid'::regtype;
	IF v_columns IS NOT NULL THEN
		RAISE EXCEPTION 'the key columns of the guestbook tables of schema "%" must be of type uuid', v_schema
			USING ERRCODE = 'datatype_mismatch',
				  DETAIL = array_to_string(v_columns, '; ') || '.';
	END IF;

	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
				   'AFTER INSERT ON %I.case_assignments '
				   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_event(''assigned'')', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
				   'AFTER UPDATE OF status, escalation_level ON %I.cases '
				   'FOR EACH ROW WHEN ('
				   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
				   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
				   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
				   'AFTER INSERT ON %I.cases '
				   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
				   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', v_schema);

	-- the worker reads a case's latest assignment by case_id (the SLA
	-- tick, render()); the contract names primary keys only, so say when
	-- no index serves it (the app's own transactions never need it)
	IF NOT EXISTS (
		SELECT 1
		  FROM pg_index i
		  JOIN pg_class c ON c.oid = i.indrelid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'case_id'
		 WHERE n.nspname = v_schema AND c.relname = 'case_assignments'
		   AND i.indkey[0] = a.attnum AND i.indisvalid AND i.indpred IS NULL) THEN
		RAISE NOTICE 'no index of %.case_assignments starts with case_id',
				quote_ident(v_schema)
			USING DETAIL = 'The worker reads a case''s latest assignment by case_id (the SLA tick, render()); '
						   'without such an index it reads the whole table each time. '
						   'The app''s own transactions do not need it.',
				  HINT = format('CREATE INDEX CONCURRENTLY ON %I.case_assignments (case_id, assigned_at);',
								v_schema);
	END IF;

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
CREATE OR REPLACE FUNCTION guestbook_notify.detach(schema name DEFAULT 'public')
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
		   AND t.tgname IN ('guestbook_notify_assigned', 'guestbook_notify_escalated',
							'guestbook_notify_escalated_insert')
		   AND (c.relname IN ('case_assignments', 'cases')
				OR t.tgfoid = 'guestbook_notify._trg_event()'::regprocedure)
		 -- cases before case_assignments: the order in which the worker
		 -- reads them (SLA tick, render()); DROP TRIGGER's exclusive locks
		 -- taken the other way round deadlocked with an SLA tick
		 ORDER BY c.relname <> 'cases', 1
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
CREATE OR REPLACE FUNCTION guestbook_notify.enqueue(
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
CREATE OR REPLACE FUNCTION guestbook_notify.render(template_key text, case_id uuid)
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
CREATE OR REPLACE FUNCTION guestbook_notify.requeue(id uuid)
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
CREATE OR REPLACE FUNCTION guestbook_notify.cancel(id uuid)
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
CREATE OR REPLACE FUNCTION guestbook_notify.requeue_failed(since timestamptz DEFAULT '-infinity')
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
CREATE OR REPLACE FUNCTION guestbook_notify.opt_out(number text, reason text DEFAULT NULL)
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
CREATE OR REPLACE FUNCTION guestbook_notify.opt_in(number text)
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
CREATE OR REPLACE FUNCTION guestbook_notify.process_events(max_events integer DEFAULT 1000)
RETURNS integer
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_process_events_sql';

/*
 * write_audit: the worker's audit step, by hand -- write up to max_rows
 * queued case_events rows into the app's tables, each as the table's owner
 * (src/audit.c).  Returns how many were written; the others stay queued
 * with their error.
 */
CREATE OR REPLACE FUNCTION guestbook_notify.write_audit(max_rows integer DEFAULT 1000)
RETURNS integer
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_write_audit_sql';

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
CREATE OR REPLACE FUNCTION guestbook_notify._delivery_error_text(p_error jsonb)
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

CREATE OR REPLACE FUNCTION guestbook_notify._apply_status(
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
CREATE OR REPLACE FUNCTION guestbook_notify.record_status(
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
CREATE OR REPLACE FUNCTION guestbook_notify.ingest_webhook(payload jsonb)
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
CREATE OR REPLACE FUNCTION guestbook_notify._lease_is_free(
	p_lease_until timestamptz, p_leased_by integer, p_live integer[])
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
	SELECT p_lease_until IS NULL
		   OR p_lease_until OPERATOR(pg_catalog.<) pg_catalog.now()
		   OR p_leased_by OPERATOR(pg_catalog.<>) ALL (p_live)
$$;

/* the pids of the backends alive now */
CREATE OR REPLACE FUNCTION guestbook_notify._live_pids()
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
CREATE OR REPLACE FUNCTION guestbook_notify._lease(
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
CREATE OR REPLACE FUNCTION guestbook_notify._claim_unpaced(p_limit integer, p_lease_seconds integer)
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
CREATE OR REPLACE FUNCTION guestbook_notify._pacing_rows_exist(p_numbers text[])
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
CREATE OR REPLACE FUNCTION guestbook_notify._claim_paced(
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
CREATE OR REPLACE FUNCTION guestbook_notify._pace_and_lease(
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
CREATE OR REPLACE FUNCTION guestbook_notify._record_result(
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
CREATE OR REPLACE FUNCTION guestbook_notify._record_pacing(
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
CREATE OR REPLACE FUNCTION guestbook_notify._audit_outcome(
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
CREATE OR REPLACE FUNCTION guestbook_notify._renew_leases(p_ids uuid[], p_lease_seconds integer)
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
CREATE OR REPLACE FUNCTION guestbook_notify._next_due()
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
CREATE OR REPLACE FUNCTION guestbook_notify._release(p_ids uuid[])
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
CREATE OR REPLACE FUNCTION guestbook_notify.archive_finished(older_than interval, batch_size integer DEFAULT 1000)
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

/*
 * guestbook_notify install script, part the notifications view.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- the admin "Notifications" page ------------------------------------
 * One row per notification, newest first when ordered by created_at.
 * case_code comes from the template values taken at enqueue; subject is the
 * first line of the message.  in_flight: a worker is sending it right now.
 * needs_attention: failed, or the provider reported a delivery failure.
 * held: the recipient reached guestbook_notify.recipient_hourly_cap (a
 * guard against notification loops); the row waits until scheduled_at and
 * last_error says so.  audit_pending: its case_events row (contacted,
 * notification_failed) waits in audit_outbox -- the app's table was locked
 * or refused it -- and audit_error says why.  Finished rows older than
 * guestbook_notify.retention are in notification_queue_archive, not here.
 */
CREATE OR REPLACE VIEW guestbook_notify.notifications AS
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
	   q.updated_at,
	   a.notification_id IS NOT NULL AS audit_pending,
	   a.last_error AS audit_error,
	   q.resent_from
  FROM guestbook_notify.notification_queue q
  LEFT JOIN LATERAL (SELECT o.notification_id, o.last_error
					   FROM guestbook_notify.audit_outbox o
					  WHERE o.notification_id = q.id
					  ORDER BY o.id DESC LIMIT 1) a ON true;

/*
 * guestbook_notify install script, part: SLA reminders (issue 15).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 *
 * A case that sits too long in a stage without progress reminds the
 * operator, then the unit's lead -- counted in working time: the office's
 * hours per weekday (several ranges a day: the Friday prayer break), minus
 * the holidays, in one time zone (guestbook_notify.sla_time_zone, default
 * Asia/Jakarta).  A reminder is not an escalation: escalating stays a human
 * decision in the app.
 *
 *	 sla_business_hours	 the hours of each ISO weekday (1 Monday .. 7 Sunday),
 *						 a multirange of local times
 *	 sla_holidays		 national holidays, cuti bersama, local days off
 *						 (set by decree every year: the admin keeps it)
 *	 sla_rules			 stage, case type (or any), after (working time),
 *						 who (operator, lead, kadis), template
 *	 sla_cases			 what the last tick saw: each open case, its stage,
 *						 since when, the clock and its occurrence
 *	 sla_reminders		 each step fired: once per case, rule and occurrence
 *	 sla_overdue		 view: the cases past their first rule ("Terlambat")
 *
 * sla_tick() is run by the worker every guestbook_notify.sla_interval, or
 * by pg_cron; it is idempotent and safe when run concurrently.
 */

/*
 * ---- types ---------------------------------------------------------------
 * A range of local times of day; a day's business hours are a multirange
 * of them, e.g. '{[07:30,11:30), [13:00,16:00)}' (overlaps merge, order
 * does not matter).  time '24:00' ends a range at midnight.
 */
CREATE TYPE guestbook_notify.timerange AS RANGE (
	subtype = time,
	multirange_type_name = guestbook_notify.timemultirange
);

/*
 * ---- the calendar ----------------------------------------------------------
 * One row per ISO weekday, always 7 rows: close a day with '{}' (a deleted
 * day is closed too, but a pg_dump restore would bring back its seed).
 * Local times in guestbook_notify.sla_time_zone.
 */
CREATE TABLE guestbook_notify.sla_business_hours (
	weekday smallint PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),	-- ISO: 1 Monday .. 7 Sunday
	hours guestbook_notify.timemultirange NOT NULL DEFAULT '{}'
);

/*
 * Days the office is closed, whatever the weekday.  kind:
 *	 national_holiday	libur nasional (SKB 3 Menteri)
 *	 collective_leave	cuti bersama (SKB 3 Menteri)
 *	 local_holiday		a regional or office day off
 *	 working_day		the office works this day after all: the row cancels
 *						a holiday (use it rather than DELETE for a seeded
 *						day, which a pg_dump restore would bring back); the
 *						day keeps its weekday's hours
 */
CREATE TABLE guestbook_notify.sla_holidays (
	day date PRIMARY KEY,
	name text NOT NULL,
	kind text NOT NULL DEFAULT 'national_holiday'
		CHECK (kind IN ('national_holiday', 'collective_leave', 'local_holiday', 'working_day'))
);

/*
 * The reminder ladder.  A rule fires once per case and occurrence of its
 * stage (for 'assigned': per assignment, so a reassignment restarts the
 * clock) when the case has spent `after` of working time in the stage
 * without progress.  Stages:
 *	 assigned			cases.status 'assigned', escalation_level 'none'
 *	 escalated_lead		escalation_level 'lead' (or 'none' with status
 *						'escalated'), status not moved on
 *	 escalated_kadis	escalation_level 'kadis', status not moved on
 * Progress -- status in_progress, resolved or closed -- ends the stage.
 * case_type NULL: any.  after: working time, in hours, minutes and seconds
 * (no days or months: a "day" of working time would be ambiguous).
 * template_key: the message of a single reminder; several overdue cases for
 * one recipient at one tick become one 'sla_digest' message.
 */
CREATE TABLE guestbook_notify.sla_rules (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_]+$'),
	stage text NOT NULL CHECK (stage IN ('assigned', 'escalated_lead', 'escalated_kadis')),
	case_type text,
	after interval NOT NULL
		CHECK (after > interval '0'
			   AND extract(year FROM after) = 0 AND extract(month FROM after) = 0
			   AND extract(day FROM after) = 0),
	recipient text NOT NULL CHECK (recipient IN ('operator', 'lead', 'kadis')),
	template_key text NOT NULL DEFAULT 'sla_reminder',
	enabled boolean NOT NULL DEFAULT true,
	description text
);

/*
 * What the last tick saw of each open case of each attached schema (the
 * cases in a stage of sla_rules); a case that moved on is deleted.  The
 * clock of a stage:
 *	 assigned		from the latest assignment's assigned_at (exact)
 *	 escalated_*	from stage_since -- when a tick first saw the case at
 *					that level (the app keeps no time of the change; so
 *					the clock starts at most one tick late, never early) --
 *					or from a later reassignment
 * occurrence names one run of the clock: the assignment id for 'assigned',
 * '<stage>@<stage_since in microseconds>/<assignment>' for escalations; a
 * rule fires once per occurrence.  A tick writes a row only when the case
 * changed.  No personal data: the case code only.
 */
CREATE TABLE guestbook_notify.sla_cases (
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	case_code text,
	case_type text,
	stage text NOT NULL,
	stage_since timestamptz NOT NULL,
	assignment_id uuid,				-- the latest assignment
	assigned_at timestamptz,
	operator_id uuid,				-- its operator (else cases.assigned_operator_id)
	org_unit_id uuid,
	clock_start timestamptz NOT NULL,
	occurrence text NOT NULL,
	updated_at timestamptz NOT NULL,	-- the tick that last changed the row
	PRIMARY KEY (app_schema, case_id)
);

/*
 * One row per step fired: (schema, case, rule, occurrence) is unique, so a
 * step fires once however many ticks run, and at the same time.  due_at:
 * when the working time ran out (exactly at closing is possible: the
 * reminder then waits for the next working moment); fired_at: the tick.
 */
CREATE TABLE guestbook_notify.sla_reminders (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	rule_key text NOT NULL,
	occurrence text NOT NULL,
	stage text NOT NULL,
	clock_start timestamptz NOT NULL,
	due_at timestamptz NOT NULL,
	fired_at timestamptz NOT NULL,
	recipient_role text NOT NULL,
	recipient_name text,
	notification_id uuid,			-- the queue row (a digest's for several steps)
	digest boolean NOT NULL DEFAULT false,
	CONSTRAINT sla_reminders_step_key UNIQUE (app_schema, case_id, rule_key, occurrence)
);
CREATE INDEX sla_reminders_notification_idx
	ON guestbook_notify.sla_reminders (notification_id);

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_business_hours', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_holidays', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_rules', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_cases', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_reminders', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_reminders_id_seq', '');

/*
 * ---- seeds -----------------------------------------------------------------
 * Hours: Monday to Thursday 07:30-16:00; Friday 07:30-11:30 and 13:00-16:00
 * (the Friday prayer break); Saturday and Sunday closed.  Set your office's
 * own (ASN hours, a lunch break...) with UPDATE.
 */
INSERT INTO guestbook_notify.sla_business_hours (weekday, hours) VALUES
	(1, '{[07:30,16:00)}'),
	(2, '{[07:30,16:00)}'),
	(3, '{[07:30,16:00)}'),
	(4, '{[07:30,16:00)}'),
	(5, '{[07:30,11:30), [13:00,16:00)}'),
	(6, '{}'),
	(7, '{}');

/*
 * 2026: SKB Menteri Agama, Menteri Ketenagakerjaan and Menteri PANRB No.
 * 1497, 2 and 5 of 2025 (19 September 2025): 17 national holidays and 8
 * days of cuti bersama, as published by Kemenko PMK and reported alike by
 * several news sites.  The Islamic days (Idulfitri, Iduladha) were subject
 * to the Minister of Religion's isbat and could have moved by a day; they
 * are the dates of the decree.  2027's decree could not be established
 * reliably when this was written: the admin adds it (README "SLA
 * reminders").
 */
INSERT INTO guestbook_notify.sla_holidays (day, name, kind) VALUES
	('2026-01-01', 'Tahun Baru 2026 Masehi', 'national_holiday'),
	('2026-01-16', 'Isra Mikraj Nabi Muhammad SAW', 'national_holiday'),
	('2026-02-16', 'Cuti bersama Tahun Baru Imlek', 'collective_leave'),
	('2026-02-17', 'Tahun Baru Imlek 2577 Kongzili', 'national_holiday'),
	('2026-03-18', 'Cuti bersama Hari Suci Nyepi', 'collective_leave'),
	('2026-03-19', 'Hari Suci Nyepi (Tahun Baru Saka 1948)', 'national_holiday'),
	('2026-03-20', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-03-21', 'Idulfitri 1447 H', 'national_holiday'),
	('2026-03-22', 'Idulfitri 1447 H', 'national_holiday'),
	('2026-03-23', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-03-24', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-04-03', 'Wafat Yesus Kristus', 'national_holiday'),
	('2026-04-05', 'Kebangkitan Yesus Kristus (Paskah)', 'national_holiday'),
	('2026-05-01', 'Hari Buruh Internasional', 'national_holiday'),
	('2026-05-14', 'Kenaikan Yesus Kristus', 'national_holiday'),
	('2026-05-15', 'Cuti bersama Kenaikan Yesus Kristus', 'collective_leave'),
	('2026-05-27', 'Iduladha 1447 H', 'national_holiday'),
	('2026-05-28', 'Cuti bersama Iduladha 1447 H', 'collective_leave'),
	('2026-05-31', 'Hari Raya Waisak 2570 BE', 'national_holiday'),
	('2026-06-01', 'Hari Lahir Pancasila', 'national_holiday'),
	('2026-06-16', '1 Muharam Tahun Baru Islam 1448 H', 'national_holiday'),
	('2026-08-17', 'Hari Proklamasi Kemerdekaan RI', 'national_holiday'),
	('2026-08-25', 'Maulid Nabi Muhammad SAW', 'national_holiday'),
	('2026-12-24', 'Cuti bersama Kelahiran Yesus Kristus', 'collective_leave'),
	('2026-12-25', 'Kelahiran Yesus Kristus', 'national_holiday');

/* The ladder of issue 15: the operator after 30 working minutes in
 * 'assigned' without progress, the unit's lead after 60. */
INSERT INTO guestbook_notify.sla_rules (key, stage, case_type, after, recipient, template_key, description)
VALUES
	('assigned_operator_30m', 'assigned', NULL, '30 minutes', 'operator', 'sla_reminder',
	 'Remind the operator after 30 working minutes in assigned without progress'),
	('assigned_lead_60m', 'assigned', NULL, '60 minutes', 'lead', 'sla_reminder',
	 'Remind the unit''s lead after 60 working minutes in assigned without progress');

/*
 * The messages.  Placeholders: those of every case message ({{case_code}}
 * {{case_type}} {{unit_tujuan}} {{org_unit_name}} {{summary}}
 * {{detail_url}} {{recipient_name}}) and {{stage}} (the stage, in
 * Indonesian), {{waited}} (working time waited), {{since}} (local time the
 * clock started); the digest: {{case_count}} and {{case_list}} (one entry
 * per case: code, type, unit, stage, time waited, link; in template mode
 * the lines are joined with " | " and cut to Meta's 1,024 characters).
 */
INSERT INTO guestbook_notify.templates
	(key, body, cloud_template_name, language, param_names, description)
VALUES
	('sla_reminder',
	 E'[GUESTBOOK] Pengingat: Case {{case_code}} belum ditindaklanjuti\n'
	 'Tahap: {{stage}}\n'
	 'Menunggu: {{waited}} waktu kerja, sejak {{since}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_sla_reminder', 'id',
	 ARRAY['case_code', 'stage', 'waited', 'since', 'case_type', 'unit_tujuan',
		   'org_unit_name', 'summary', 'detail_url'],
	 'SLA reminder: a case waits too long in a stage without progress (one case)'),
	('sla_digest',
	 E'[GUESTBOOK] Pengingat: {{case_count}} case belum ditindaklanjuti\n'
	 '{{case_list}}\n'
	 '\n'
	 'Mohon segera ditindaklanjuti.',
	 'guestbook_sla_digest', 'id',
	 ARRAY['case_count', 'case_list'],
	 'SLA reminder: several cases for one recipient at once (a digest)');

/*
 * The calendar tables are dumped by pg_dump and seeded by CREATE
 * EXTENSION: on restore, the COPY of the dumped rows would collide with the
 * seeds.  As for templates (_templates_upsert), an INSERT of an existing key
 * becomes an UPDATE of that row, so the admin's edits win and the restore
 * does not fail.
 */
CREATE FUNCTION guestbook_notify._sla_hours_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_business_hours h
	   SET hours = NEW.hours
	 WHERE h.weekday = NEW.weekday;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE FUNCTION guestbook_notify._sla_holidays_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_holidays h
	   SET name = NEW.name, kind = NEW.kind
	 WHERE h.day = NEW.day;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE FUNCTION guestbook_notify._sla_rules_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_rules r
	   SET stage = NEW.stage, case_type = NEW.case_type, after = NEW.after,
		   recipient = NEW.recipient, template_key = NEW.template_key,
		   enabled = NEW.enabled, description = NEW.description
	 WHERE r.key = NEW.key;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER sla_business_hours_upsert
	BEFORE INSERT ON guestbook_notify.sla_business_hours
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_hours_upsert();
CREATE TRIGGER sla_holidays_upsert
	BEFORE INSERT ON guestbook_notify.sla_holidays
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_holidays_upsert();
CREATE TRIGGER sla_rules_upsert
	BEFORE INSERT ON guestbook_notify.sla_rules
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_rules_upsert();

/*
 * ---- working time ------------------------------------------------------------
 * The arithmetic is exact (microseconds) and independent of the session's
 * TimeZone: local dates and times are taken in the SLA time zone with AT
 * TIME ZONE, so zones with daylight saving work too (Indonesia's three have
 * none).  Cost: linear in the days spanned, a few rows per day, one
 * statement per window of days.
 */

/*
 * _sla_zone: the SLA time zone: p_zone, else the setting
 * guestbook_notify.sla_time_zone, else Asia/Jakarta.  WIB, WITA and WIT
 * (which PostgreSQL does not know as abbreviations) stand for Asia/Jakarta,
 * Asia/Makassar and Asia/Jayapura.  The worker passes its setting as
 * p_zone; interactive calls and pg_cron read it here.
 */
CREATE FUNCTION guestbook_notify._sla_zone(p_zone text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE upper(z) WHEN 'WIB' THEN 'Asia/Jakarta'
						 WHEN 'WITA' THEN 'Asia/Makassar'
						 WHEN 'WIT' THEN 'Asia/Jayapura'
						 ELSE z END
	  FROM (SELECT coalesce(nullif(btrim(p_zone), ''),
							nullif(btrim(current_setting('guestbook_notify.sla_time_zone', true)), ''),
							'Asia/Jakarta') AS z) s
$$;

/*
 * _sla_check_zone: p_zone if PostgreSQL knows it, else an error that says
 * what to set.
 */
CREATE FUNCTION guestbook_notify._sla_check_zone(p_zone text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM now() AT TIME ZONE p_zone;
	RETURN p_zone;
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE EXCEPTION 'unknown time zone "%" for SLA reminders', p_zone
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = 'Working time is counted in the office''s time zone (guestbook_notify.sla_time_zone).',
			  HINT = 'Use a zone name such as Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).';
END;
$$;

/*
 * _sla_ranges: the working intervals between p_from and p_to, clipped to
 * them, in order: each local day's business hours (by ISO weekday) unless
 * the day is a holiday (a 'working_day' row cancels it), as absolute times
 * in zone p_zone.  A range with no lower (upper) bound starts (ends) at
 * midnight.
 */
CREATE FUNCTION guestbook_notify._sla_ranges(p_from timestamptz, p_to timestamptz, p_zone text)
RETURNS TABLE (opens timestamptz, closes timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT greatest(x.opens, p_from), least(x.closes, p_to)
	  FROM generate_series(0, (p_to AT TIME ZONE p_zone)::date
							  - (p_from AT TIME ZONE p_zone)::date) AS i(n)
	 CROSS JOIN LATERAL (SELECT (p_from AT TIME ZONE p_zone)::date + i.n AS day) d
	  JOIN guestbook_notify.sla_business_hours h
		ON h.weekday = extract(isodow FROM d.day)
	 CROSS JOIN LATERAL unnest(h.hours) AS t(r)
	 CROSS JOIN LATERAL (
		SELECT (d.day + coalesce(lower(t.r), time '00:00')) AT TIME ZONE p_zone AS opens,
			   (d.day + coalesce(upper(t.r), time '24:00')) AT TIME ZONE p_zone AS closes) x
	 WHERE p_from < p_to
	   AND x.opens < p_to AND x.closes > p_from AND x.opens < x.closes
	   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_holidays ho
						WHERE ho.day = d.day AND ho.kind <> 'working_day')
	 ORDER BY x.opens
$$;

/*
 * _sla_advance: the first moment t >= p_start by which p_seconds of working
 * time have passed since p_start (p_seconds > 0: t may be the very end of a
 * range, e.g. closing time), or, for p_seconds = 0, the first working
 * moment at or after p_start.  Looks ahead in windows (a week, four weeks,
 * then a year at a time); NULL when a whole year has no working time (every
 * weekday closed).
 */
CREATE FUNCTION guestbook_notify._sla_advance(p_start timestamptz, p_seconds numeric, p_zone text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left numeric := p_seconds;
	v_from timestamptz := p_start;
	v_to timestamptz;
	v_hours integer;
	v_len numeric;
	v_found boolean;
	w integer := 0;
	r record;
BEGIN
	LOOP
		w := w + 1;
		-- hours, not days: "1 day" would follow the session's TimeZone
		v_hours := CASE w WHEN 1 THEN 7 * 24 WHEN 2 THEN 28 * 24 ELSE 366 * 24 END;
		v_to := v_from + make_interval(hours => v_hours);
		v_found := false;
		FOR r IN SELECT * FROM guestbook_notify._sla_ranges(v_from, v_to, p_zone) LOOP
			v_found := true;
			v_len := extract(epoch FROM r.closes - r.opens);
			IF v_len >= v_left THEN
				RETURN r.opens + make_interval(secs => v_left);
			END IF;
			v_left := v_left - v_len;
		END LOOP;
		IF NOT v_found AND w >= 3 THEN
			RETURN NULL;		-- a year without working time
		END IF;
		v_from := v_to;
	END LOOP;
END;
$$;

/* the amount of working time of a rule or a call: hours, minutes, seconds */
CREATE FUNCTION guestbook_notify._sla_check_amount(p_amount interval)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF extract(year FROM p_amount) <> 0 OR extract(month FROM p_amount) <> 0
	   OR extract(day FROM p_amount) <> 0 THEN
		RAISE EXCEPTION 'working time "%" has a day or month part', p_amount
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A day of working time is not 24 hours: it is the business hours of that day.',
				  HINT = 'Give working time in hours, minutes and seconds, e.g. ''8 hours 30 minutes''.';
	END IF;
	IF p_amount < interval '0' THEN
		RAISE EXCEPTION 'working time must not be negative: %', p_amount
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN extract(epoch FROM p_amount);
END;
$$;

/* a finite start, or an error */
CREATE FUNCTION guestbook_notify._sla_check_time(p_time timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT isfinite(p_time) THEN
		RAISE EXCEPTION 'working time needs a finite time, not %', p_time
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN p_time;
END;
$$;

/*
 * add_working_time: the earliest moment t at or after start_at such that
 * working_time_between(start_at, t) = amount.  It may be exactly a closing
 * time (15:30 + 30 minutes on a day that closes at 16:00 is 16:00);
 * next_working_moment() says when the office is open again.  amount 0
 * gives start_at.  time_zone NULL: guestbook_notify.sla_time_zone.  NULL
 * when no working time lies ahead (every weekday closed).
 */
CREATE FUNCTION guestbook_notify.add_working_time(
	start_at timestamptz, amount interval, time_zone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
	v_seconds numeric;
BEGIN
	IF start_at IS NULL OR amount IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	v_seconds := guestbook_notify._sla_check_amount(amount);
	PERFORM guestbook_notify._sla_check_time(start_at);
	IF v_seconds = 0 THEN
		RETURN start_at;
	END IF;
	RETURN guestbook_notify._sla_advance(start_at, v_seconds, v_zone);
END;
$$;

/* the working time from p_from to p_to (p_from <= p_to), in seconds */
CREATE FUNCTION guestbook_notify._sla_between(p_from timestamptz, p_to timestamptz, p_zone text)
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(sum(extract(epoch FROM r.closes - r.opens)), 0)
	  FROM guestbook_notify._sla_ranges(p_from, p_to, p_zone) r
$$;

/*
 * working_time_between: the working time from from_at to to_at, as an
 * interval of hours, minutes and seconds (negative when to_at is before
 * from_at).  time_zone NULL: guestbook_notify.sla_time_zone.
 */
CREATE FUNCTION guestbook_notify.working_time_between(
	from_at timestamptz, to_at timestamptz, time_zone text DEFAULT NULL)
RETURNS interval
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
BEGIN
	IF from_at IS NULL OR to_at IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	PERFORM guestbook_notify._sla_check_time(from_at), guestbook_notify._sla_check_time(to_at);
	IF to_at < from_at THEN
		RETURN -make_interval(secs => guestbook_notify._sla_between(to_at, from_at, v_zone));
	END IF;
	RETURN make_interval(secs => guestbook_notify._sla_between(from_at, to_at, v_zone));
END;
$$;

/*
 * next_working_moment: from_at itself when the office is open then, else
 * when it next opens.  time_zone NULL: guestbook_notify.sla_time_zone.
 */
CREATE FUNCTION guestbook_notify.next_working_moment(
	from_at timestamptz, time_zone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
BEGIN
	IF from_at IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	PERFORM guestbook_notify._sla_check_time(from_at);
	RETURN guestbook_notify._sla_advance(from_at, 0, v_zone);
END;
$$;

/*
 * ---- texts of the messages ---------------------------------------------------
 */

/* a stage, as the messages say it */
CREATE FUNCTION guestbook_notify._sla_stage_text(p_stage text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE p_stage
		WHEN 'assigned' THEN 'ditugaskan ke operator'
		WHEN 'escalated_lead' THEN 'eskalasi ke Kabid/Lead'
		WHEN 'escalated_kadis' THEN 'eskalasi ke Kepala Dinas'
		ELSE p_stage END
$$;

/* a working time in Indonesian: '1 jam 5 menit', '45 menit', '20 detik' */
CREATE FUNCTION guestbook_notify._sla_duration_text(p_time interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN s < 60 THEN s || ' detik'
		ELSE concat_ws(' ', nullif(s / 3600, 0) || ' jam', nullif(s % 3600 / 60, 0) || ' menit')
		END
	  FROM (SELECT greatest(floor(extract(epoch FROM p_time)), 0)::bigint AS s) x
$$;

/* a moment as local time in zone p_zone: 'Jum 4 Des 2026 15.50 WIB' */
CREATE FUNCTION guestbook_notify._sla_local_text(p_time timestamptz, p_zone text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('%s %s %s %s %s',
				  (ARRAY['Sen', 'Sel', 'Rab', 'Kam', 'Jum', 'Sab', 'Min'])[extract(isodow FROM l)::integer],
				  extract(day FROM l),
				  (ARRAY['Jan', 'Feb', 'Mar', 'Apr', 'Mei', 'Jun', 'Jul', 'Agu', 'Sep', 'Okt',
						 'Nov', 'Des'])[extract(month FROM l)::integer],
				  extract(year FROM l),
				  to_char(l, 'HH24.MI'))
		   || ' ' || CASE p_zone
						 WHEN 'Asia/Jakarta' THEN 'WIB' WHEN 'Asia/Pontianak' THEN 'WIB'
						 WHEN 'Asia/Makassar' THEN 'WITA' WHEN 'Asia/Ujung_Pandang' THEN 'WITA'
						 WHEN 'Asia/Jayapura' THEN 'WIT'
						 ELSE p_zone END
	  FROM (SELECT p_time AT TIME ZONE p_zone AS l) x
$$;

/*
 * ---- the tick -------------------------------------------------------------------
 */

/* the clock of a stage and its occurrence (see sla_cases) */
CREATE FUNCTION guestbook_notify._sla_clock(
	p_stage text, p_stage_since timestamptz, p_assigned_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_stage = 'assigned' THEN coalesce(p_assigned_at, p_stage_since)
				ELSE greatest(p_stage_since, p_assigned_at) END
$$;

CREATE FUNCTION guestbook_notify._sla_occurrence(
	p_stage text, p_stage_since timestamptz, p_assignment_id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_stage = 'assigned' AND p_assignment_id IS NOT NULL
				THEN p_assignment_id::text
				ELSE p_stage || '@' || (extract(epoch FROM p_stage_since) * 1000000)::bigint
					 || '/' || coalesce(p_assignment_id::text, '-') END
$$;

/*
 * _sla_follow_cases: step 1 of a schema's tick at p_now.  The open cases
 * and their latest assignments, read as the owners of cases and
 * case_assignments (_app_select); sla_cases follows them, writing only what
 * changed (gone, changed, new).  A stage that did not change keeps its
 * stage_since.  The open cases' ids are joined (unnest), never tested with
 * = ANY / <> ALL of the whole array per row: with 100,000 open cases that
 * was 10^10 comparisons (a tick cancelled by the statement timeout, with
 * or without an index on case_assignments (case_id); issue 14).
 *
 * Long for a reason: the three statements that make sla_cases follow the
 * app (delete, update, insert) share the one reading of the app's tables.
 */
CREATE FUNCTION guestbook_notify._sla_follow_cases(p_schema name, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_cases jsonb;
	v_assign jsonb := '[]';
	v_cur jsonb;
	v_ids uuid[];
BEGIN
	-- the open cases: in a stage of sla_rules, no progress
	SELECT coalesce(jsonb_agg(r), '[]') INTO v_cases
	  FROM guestbook_notify._app_select(p_schema, 'cases', format(
			'SELECT c.id, c.code::text AS code, c.case_type::text AS case_type,'
			' c.status::text AS status, c.escalation_level::text AS level,'
			' c.org_unit_id AS unit, c.assigned_operator_id AS operator'
			' FROM %I.cases c'
			' WHERE c.status::text IN (''new'', ''assigned'', ''escalated'')'
			' AND (c.status::text <> ''new'' OR c.escalation_level::text <> ''none'')',
			p_schema)) r;
	v_ids := ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(v_cases) e);

	IF cardinality(v_ids) > 0 THEN
		SELECT coalesce(jsonb_agg(r), '[]') INTO v_assign
		  FROM guestbook_notify._app_select(p_schema, 'case_assignments', format(
				'SELECT DISTINCT ON (a.case_id) a.case_id, a.id, a.operator_id AS operator,'
				' a.assigned_at AS at'
				' FROM pg_catalog.unnest($1::pg_catalog.uuid[]) AS k(id)'
				' JOIN %I.case_assignments a ON a.case_id OPERATOR(pg_catalog.=) k.id'
				' ORDER BY a.case_id, a.assigned_at DESC, a.id DESC', p_schema),
				ARRAY[v_ids::text]) r;
	END IF;

	-- what the app says now, one row per open case
	v_cur := (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')
				FROM (SELECT c.case_id, c.code, c.case_type, c.stage, a.id AS assignment_id,
							 a.at AS assigned_at, coalesce(a.operator, c.operator) AS operator_id,
							 c.unit AS org_unit_id
						FROM (SELECT (e ->> 'id')::uuid AS case_id, e ->> 'code' AS code,
									 e ->> 'case_type' AS case_type,
									 CASE WHEN e ->> 'level' = 'kadis' THEN 'escalated_kadis'
										  WHEN e ->> 'level' = 'lead' OR e ->> 'status' = 'escalated'
										  THEN 'escalated_lead'
										  ELSE 'assigned' END AS stage,
									 (e ->> 'unit')::uuid AS unit, (e ->> 'operator')::uuid AS operator
								FROM jsonb_array_elements(v_cases) e) c
						LEFT JOIN (SELECT (e ->> 'case_id')::uuid AS case_id, (e ->> 'id')::uuid AS id,
										  (e ->> 'operator')::uuid AS operator,
										  (e ->> 'at')::timestamptz AS at
									 FROM jsonb_array_elements(v_assign) e) a
						  ON a.case_id = c.case_id) x);

	-- sla_cases follows it, writing only what changed: gone, changed, new
	DELETE FROM guestbook_notify.sla_cases s
	 WHERE s.app_schema = p_schema
	   AND NOT EXISTS (SELECT 1 FROM unnest(v_ids) AS k(id) WHERE k.id = s.case_id);

	-- (a stage that did not change keeps its stage_since)
	UPDATE guestbook_notify.sla_cases s
	   SET case_code = c.code, case_type = c.case_type, stage = c.stage,
		   stage_since = CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
		   assignment_id = c.assignment_id,
		   assigned_at = c.assigned_at, operator_id = c.operator_id,
		   org_unit_id = c.org_unit_id,
		   clock_start = guestbook_notify._sla_clock(c.stage,
							CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
							c.assigned_at),
		   occurrence = guestbook_notify._sla_occurrence(c.stage,
							CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
							c.assignment_id),
		   updated_at = p_now
	  FROM jsonb_to_recordset(v_cur) AS c(case_id uuid, code text, case_type text, stage text,
										  assignment_id uuid, assigned_at timestamptz,
										  operator_id uuid, org_unit_id uuid)
	 WHERE s.app_schema = p_schema AND s.case_id = c.case_id
	   AND (s.case_code, s.case_type, s.stage, s.assignment_id, s.assigned_at, s.operator_id,
			s.org_unit_id)
		   IS DISTINCT FROM
		   (c.code, c.case_type, c.stage, c.assignment_id, c.assigned_at, c.operator_id,
			c.org_unit_id);

	INSERT INTO guestbook_notify.sla_cases
		(app_schema, case_id, case_code, case_type, stage, stage_since, assignment_id,
		 assigned_at, operator_id, org_unit_id, clock_start, occurrence, updated_at)
	SELECT p_schema, c.case_id, c.code, c.case_type, c.stage, p_now, c.assignment_id,
		   c.assigned_at, c.operator_id, c.org_unit_id,
		   guestbook_notify._sla_clock(c.stage, p_now, c.assigned_at),
		   guestbook_notify._sla_occurrence(c.stage, p_now, c.assignment_id), p_now
	  FROM jsonb_to_recordset(v_cur) AS c(case_id uuid, code text, case_type text, stage text,
										  assignment_id uuid, assigned_at timestamptz,
										  operator_id uuid, org_unit_id uuid)
	 WHERE NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_cases s
						WHERE s.app_schema = p_schema AND s.case_id = c.case_id)
	 ORDER BY c.case_id
	ON CONFLICT (app_schema, case_id) DO NOTHING;

END;
$$;

/*
 * _sla_fire_steps: step 2 of a schema's tick at p_now (a working moment).
 * The steps whose working time ran out and that did not fire yet, with
 * their recipients (the operator's users row, read as its owner; the lead
 * or kadis by _find_contact), recorded in sla_reminders (ON CONFLICT DO
 * NOTHING).  Returns the steps this tick fires, each with its reminder id,
 * recipient name, number (as given and normalized) and problem.
 *
 * Longer than most, for a reason: one statement (the WITH query) decides
 * the recipients and records the steps, so that a step is fired once even
 * when two ticks race (sla_concurrent_ticks isolation test).
 */
CREATE FUNCTION guestbook_notify._sla_fire_steps(p_schema name, p_zone text, p_now timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_users jsonb := '[]';
	v_steps jsonb;
BEGIN
	-- the steps due: the working time of the clock reached the rule's
	-- (the wall-clock test first: working time never exceeds it)
	SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.case_id, x.rule_key), '[]') INTO v_steps
	  FROM (SELECT c.case_id, c.case_code, c.stage, c.clock_start, c.occurrence,
				   c.operator_id, c.org_unit_id, r.key AS rule_key, r.after,
				   r.recipient, r.template_key, w.worked
			  FROM guestbook_notify.sla_cases c
			  JOIN guestbook_notify.sla_rules r
				ON r.enabled AND r.stage = c.stage
			   AND (r.case_type IS NULL OR r.case_type = c.case_type)
			 CROSS JOIN LATERAL (SELECT make_interval(secs => guestbook_notify._sla_between(
										c.clock_start, p_now, p_zone)) AS worked) w
			 WHERE c.app_schema = p_schema
			   AND p_now - c.clock_start >= r.after
			   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_reminders f
								WHERE f.app_schema = c.app_schema AND f.case_id = c.case_id
								  AND f.rule_key = r.key AND f.occurrence = c.occurrence)
			   AND w.worked >= r.after) x;
	IF jsonb_array_length(v_steps) = 0 THEN
		RETURN v_steps;
	END IF;

	-- the operators, read as the owner of users
	v_ids := ARRAY(SELECT DISTINCT (e ->> 'operator_id')::uuid FROM jsonb_array_elements(v_steps) e
					WHERE e ->> 'recipient' = 'operator' AND e ->> 'operator_id' IS NOT NULL);
	IF cardinality(v_ids) > 0 THEN
		SELECT coalesce(jsonb_agg(r), '[]') INTO v_users
		  FROM guestbook_notify._app_select(p_schema, 'users', format(
				'SELECT u.id, u.full_name::text AS name, u.whatsapp_number::text AS number,'
				' u.is_active AS active FROM %I.users u WHERE u.id = ANY ($1::pg_catalog.uuid[])',
				p_schema), ARRAY[v_ids::text]) r;
	END IF;

	-- the steps with their recipients, recorded: those this tick fires
	WITH step AS (
		SELECT e.*, (e.step ->> 'case_id')::uuid AS case_id
		  FROM (SELECT x AS step, x ->> 'recipient' AS recipient,
					   (x ->> 'org_unit_id')::uuid AS unit, (x ->> 'operator_id')::uuid AS operator
				  FROM jsonb_array_elements(v_steps) x) e
	), contact AS (
		SELECT k.unit, k.recipient, f.contact_name, f.whatsapp_number, f.problem
		  FROM (SELECT DISTINCT s.unit, s.recipient FROM step s
				 WHERE s.recipient IN ('lead', 'kadis')) k
		 CROSS JOIN LATERAL guestbook_notify._find_contact(p_schema, k.unit, k.recipient) f
	), resolved AS (
		SELECT s.step, s.case_id, s.recipient,
			   CASE s.recipient WHEN 'operator' THEN coalesce(u ->> 'name', s.operator::text)
					ELSE k.contact_name END AS name,
			   CASE s.recipient WHEN 'operator' THEN u ->> 'number'
					ELSE k.whatsapp_number END AS number,
			   CASE s.recipient
					WHEN 'operator' THEN
						CASE WHEN s.operator IS NULL
							 THEN 'no active recipient: the case has no operator'
							 WHEN u IS NULL
							 THEN format('no active recipient: operator %s not found in %I.users',
										 s.operator, p_schema)
							 WHEN NOT (u ->> 'active')::boolean
							 THEN format('no active recipient: operator %s is inactive', u ->> 'name')
						END
					ELSE k.problem END AS problem
		  FROM step s
		  LEFT JOIN LATERAL (SELECT x AS u FROM jsonb_array_elements(v_users) x
							  WHERE (x ->> 'id')::uuid = s.operator) uu ON true
		  LEFT JOIN contact k ON k.unit IS NOT DISTINCT FROM s.unit AND k.recipient = s.recipient
	), fired AS (
		INSERT INTO guestbook_notify.sla_reminders AS f
			(app_schema, case_id, rule_key, occurrence, stage, clock_start, due_at,
			 fired_at, recipient_role, recipient_name)
		SELECT p_schema, r.case_id, r.step ->> 'rule_key', r.step ->> 'occurrence',
			   r.step ->> 'stage', (r.step ->> 'clock_start')::timestamptz,
			   coalesce(guestbook_notify._sla_advance((r.step ->> 'clock_start')::timestamptz,
						extract(epoch FROM (r.step ->> 'after')::interval), p_zone), p_now),
			   p_now, r.recipient, r.name
		  FROM resolved r
		 ORDER BY r.case_id, r.step ->> 'rule_key'
		ON CONFLICT ON CONSTRAINT sla_reminders_step_key DO NOTHING
		RETURNING f.id, f.case_id, f.rule_key, f.occurrence
	)
	SELECT coalesce(jsonb_agg(r.step || jsonb_build_object(
				'id', f.id, 'name', r.name, 'number', r.number, 'problem', r.problem,
				'normalized', guestbook_notify._normalize_number(r.number))
			ORDER BY f.id), '[]')
	  INTO v_steps
	  FROM fired f
	  JOIN resolved r ON r.case_id = f.case_id AND r.step ->> 'rule_key' = f.rule_key
					 AND r.step ->> 'occurrence' = f.occurrence;
	RETURN v_steps;
END;
$$;

/*
 * _sla_enqueue_case: the reminder of one case (one step, or the steps of
 * several rules at once) to one recipient; returns the queue row's id.
 */
CREATE FUNCTION guestbook_notify._sla_enqueue_case(
	p_schema name, p_zone text, p_steps jsonb)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	v_params jsonb;
BEGIN
	SELECT x.* INTO o
	  FROM jsonb_to_record(p_steps -> 0) AS x(case_id uuid, rule_key text,
			occurrence text, stage text, clock_start timestamptz, worked interval,
			template_key text, recipient text, name text, number text, problem text);
	v_params := coalesce(guestbook_notify._case_params_by_id(p_schema, o.case_id, o.name), '{}')
				|| jsonb_build_object(
					'stage', guestbook_notify._sla_stage_text(o.stage),
					'waited', guestbook_notify._sla_duration_text(o.worked),
					'since', guestbook_notify._sla_local_text(o.clock_start, p_zone));
	RETURN guestbook_notify._enqueue_row(
		o.template_key, o.number, o.name, o.recipient, v_params, o.case_id,
		p_schema::text,
		format('sla:%s:%s:%s:%s', p_schema, o.case_id,
			   (SELECT string_agg(e ->> 'rule_key', '+' ORDER BY e ->> 'rule_key')
				  FROM jsonb_array_elements(p_steps) e),
			   o.occurrence),
		NULL, o.problem);
END;
$$;

/*
 * _sla_enqueue_digest: one message for the steps of several cases to one
 * recipient (template 'sla_digest'), the cases in the order their clocks
 * started; returns the queue row's id.
 */
CREATE FUNCTION guestbook_notify._sla_enqueue_digest(
	p_schema name, p_zone text, p_steps jsonb, p_ncases integer)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_first record;
	v_list text;
	v_params jsonb;
BEGIN
	SELECT x.* INTO v_first
	  FROM jsonb_to_record(p_steps -> 0) AS x(recipient text, name text, number text,
			problem text);
	SELECT string_agg(format(E'%s. %s (%s, %s): %s, menunggu %s waktu kerja sejak %s\n   %s',
							 c.n, c.p ->> 'case_code', c.p ->> 'case_type',
							 coalesce(c.p ->> 'unit_tujuan', '-'),
							 guestbook_notify._sla_stage_text(c.stage),
							 guestbook_notify._sla_duration_text(c.worked),
							 guestbook_notify._sla_local_text(c.clock_start, p_zone),
							 c.p ->> 'detail_url'),
					  E'\n' ORDER BY c.n)
	  INTO v_list
	  FROM (SELECT row_number() OVER (ORDER BY d.ord) AS n, d.*
			  FROM (SELECT DISTINCT ON (e ->> 'case_id') o.ord, e ->> 'stage' AS stage,
						   (e ->> 'worked')::interval AS worked,
						   (e ->> 'clock_start')::timestamptz AS clock_start,
						   coalesce(guestbook_notify._case_params_by_id(
									p_schema, (e ->> 'case_id')::uuid, v_first.name),
									jsonb_build_object('case_code', e ->> 'case_code')) AS p
					  FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS o(e, ord)
					 ORDER BY e ->> 'case_id', o.ord) d) c;
	v_params := jsonb_build_object('recipient_name', v_first.name,
								   'case_count', p_ncases,
								   'case_list', v_list);
	RETURN guestbook_notify._enqueue_row(
		'sla_digest', v_first.number, v_first.name, v_first.recipient, v_params, NULL, p_schema::text,
		format('sla_digest:%s:%s', p_schema,
			   md5((SELECT string_agg(e ->> 'id', ',' ORDER BY (e ->> 'id')::bigint)
					  FROM jsonb_array_elements(p_steps) e))),
		NULL, v_first.problem);
END;
$$;

/*
 * _sla_tick_schema: one schema's part of the tick at p_now (see _sla_tick).
 *	 1. sla_cases follows the app's open cases (_sla_follow_cases);
 *	 2. when p_fire (p_now is a working moment): the steps due are fired and
 *		recorded with their recipients (_sla_fire_steps);
 *	 3. per recipient one message: the rule's template for one case,
 *		'sla_digest' for several (_enqueue_row: dedupe, failed rows with
 *		their reasons, opt-outs, wake at commit), and a case_events
 *		'sla_reminder' per step (_case_event).
 * Returns how many steps fired.
 */
CREATE FUNCTION guestbook_notify._sla_tick_schema(
	p_schema name, p_zone text, p_now timestamptz, p_fire boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_steps jsonb;
	g record;
	v_id uuid;
BEGIN
	PERFORM guestbook_notify._sla_follow_cases(p_schema, p_now);
	IF NOT p_fire THEN
		RETURN 0;			-- out of hours: nothing is sent, nothing is dropped
	END IF;
	v_steps := guestbook_notify._sla_fire_steps(p_schema, p_zone, p_now);

	-- one message per recipient: a number's steps together; a step without
	-- a valid number alone (a failed row that says why)
	FOR g IN
		SELECT CASE WHEN e ->> 'problem' IS NULL AND e ->> 'normalized' IS NOT NULL
					THEN e ->> 'normalized' ELSE 'step:' || (e ->> 'id') END AS rkey,
			   jsonb_agg(e ORDER BY (e ->> 'clock_start')::timestamptz, e ->> 'case_code',
							(e ->> 'after')::interval DESC) AS steps,
			   count(DISTINCT e ->> 'case_id') AS ncases
		  FROM jsonb_array_elements(v_steps) e
		 GROUP BY 1
		 ORDER BY 1
	LOOP
		IF g.ncases = 1 THEN
			v_id := guestbook_notify._sla_enqueue_case(p_schema, p_zone, g.steps);
		ELSE
			v_id := guestbook_notify._sla_enqueue_digest(p_schema, p_zone, g.steps, g.ncases::integer);
		END IF;

		UPDATE guestbook_notify.sla_reminders f
		   SET notification_id = v_id, digest = g.ncases > 1
		 WHERE f.id IN (SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(g.steps) e);

		-- the app's audit trail: one case_events row per step
		PERFORM guestbook_notify._case_event(p_schema, (e ->> 'case_id')::uuid, 'sla_reminder',
					jsonb_strip_nulls(jsonb_build_object(
						'notification_id', v_id,
						'rule', e ->> 'rule_key',
						'stage', e ->> 'stage',
						'recipient_role', e ->> 'recipient',
						'recipient_name', e ->> 'name',
						'to_number', e ->> 'normalized',
						'waiting_since', e -> 'clock_start',
						'working_seconds', floor(extract(epoch FROM (e ->> 'worked')::interval)),
						'digest', g.ncases > 1,
						'error', e ->> 'problem')))
		  FROM jsonb_array_elements(g.steps) e;
	END LOOP;
	RETURN jsonb_array_length(v_steps);
END;
$$;

/*
 * _sla_tick: the SLA step at p_now in zone p_time_zone (NULL: the setting),
 * for every attached schema.  Idempotent: a step fires once per case, rule
 * and occurrence (sla_reminders' unique key).  One tick at a time per
 * database: a tick that finds another running returns NULL at once (the
 * other does the work); the unique key also holds without that lock (a
 * concurrent REPEATABLE READ tick gets a serialization failure instead of
 * a second message).  Out of working hours nothing fires: what falls due
 * then fires at the next working moment, at the first tick.  A schema
 * whose tables cannot be read (a lock not granted in time, the owner's
 * policy raising...) is skipped with a WARNING; the others go on.  Returns
 * how many steps fired.  Internal (tests pass p_now); sla_tick() is the
 * API.
 */
CREATE FUNCTION guestbook_notify._sla_tick(p_time_zone text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_now timestamptz := coalesce(p_now, now());
	v_zone text := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(p_time_zone));
	v_fire boolean;
	v_schema name;
	v_total integer := 0;
	v_msg text;
	v_detail text;
	v_state text;
BEGIN
	PERFORM guestbook_notify._sla_check_time(v_now);
	-- "gbnslatk": one tick at a time in this database
	IF NOT pg_try_advisory_xact_lock(7449638175642842219) THEN
		RETURN NULL;
	END IF;

	DELETE FROM guestbook_notify.sla_cases s
	 WHERE NOT EXISTS (SELECT 1 FROM guestbook_notify.attached_schemas a
						WHERE a.schema_name = s.app_schema);
	v_fire := coalesce(guestbook_notify._sla_advance(v_now, 0, v_zone) = v_now, false);

	FOR v_schema IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY 1 LOOP
		BEGIN
			v_total := v_total + guestbook_notify._sla_tick_schema(v_schema, v_zone, v_now, v_fire);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL,
									v_state = RETURNED_SQLSTATE;
			IF nullif(v_detail, '') IS NULL THEN
				RAISE WARNING 'guestbook_notify: SLA reminders of schema "%" skipped: %', v_schema, v_msg
					USING ERRCODE = v_state, HINT = 'The next tick tries again.';
			ELSE
				RAISE WARNING 'guestbook_notify: SLA reminders of schema "%" skipped: %', v_schema, v_msg
					USING ERRCODE = v_state, DETAIL = v_detail, HINT = 'The next tick tries again.';
			END IF;
		END;
	END LOOP;
	RETURN v_total;
END;
$$;

/*
 * sla_tick: the SLA step now (see _sla_tick), in time_zone (NULL: the
 * setting guestbook_notify.sla_time_zone).  The worker calls it every
 * guestbook_notify.sla_interval; pg_cron can too:
 *	 SELECT cron.schedule('* * * * *', 'SELECT guestbook_notify.sla_tick()');
 * Returns how many reminders (steps) fired, NULL when another tick was
 * running.
 */
CREATE FUNCTION guestbook_notify.sla_tick(time_zone text DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT guestbook_notify._sla_tick(time_zone, pg_catalog.now())
$$;

/*
 * ---- the "Terlambat" (overdue) view -----------------------------------------
 * The open cases that waited longer than their first enabled rule, as the
 * last tick saw them (a case moved on since drops out at the next tick):
 * since when they wait (waiting_since), when they became
 * overdue (overdue_since), the working time waited, and their reminders of
 * this occurrence (count, last, its recipient and queue status).
 */
CREATE VIEW guestbook_notify.sla_overdue AS
SELECT c.app_schema,
	   c.case_id,
	   c.case_code,
	   c.case_type,
	   c.stage,
	   c.clock_start AS waiting_since,
	   guestbook_notify.add_working_time(c.clock_start, r.first_after) AS overdue_since,
	   w.waited,
	   coalesce(f.reminders, 0) AS reminders,
	   f.last_reminded_at,
	   f.last_recipient_role,
	   f.last_recipient_name,
	   q.status AS last_notification_status,
	   f.notification_id AS last_notification_id
  FROM guestbook_notify.sla_cases c
 CROSS JOIN LATERAL (SELECT min(r.after) AS first_after
					   FROM guestbook_notify.sla_rules r
					  WHERE r.enabled AND r.stage = c.stage
						AND (r.case_type IS NULL OR r.case_type = c.case_type)) r
 CROSS JOIN LATERAL (SELECT guestbook_notify.working_time_between(c.clock_start, now()) AS waited) w
  LEFT JOIN LATERAL (SELECT count(*) OVER () AS reminders, f.fired_at AS last_reminded_at,
							f.recipient_role AS last_recipient_role,
							f.recipient_name AS last_recipient_name, f.notification_id
					   FROM guestbook_notify.sla_reminders f
					  WHERE f.app_schema = c.app_schema AND f.case_id = c.case_id
						AND f.occurrence = c.occurrence
					  ORDER BY f.id DESC LIMIT 1) f ON true
  LEFT JOIN guestbook_notify.notification_queue q ON q.id = f.notification_id
 WHERE r.first_after IS NOT NULL
   AND w.waited >= r.first_after;

/*
 * guestbook_notify install script, part webhooks: what the companion daemon
 * guestbook_notify_web (src/web/) hands over.  The Makefile concatenates the
 * parts in src/sql, in name order, into guestbook_notify--<version>.sql.
 *
 * The daemon checks each request's signature (Meta: HMAC-SHA256, WAHA:
 * HMAC-SHA512) and calls webhook_receive() with the raw body.  That stores
 * the body, byte-exact, in webhook_inbox and applies it in a
 * subtransaction, in the same transaction: the row is committed whatever
 * applying it did.  A body that cannot be applied stays with its error
 * ('error': retried with backoff by webhook_retry(); 'malformed': not
 * JSON, or not the documented shape, flagged for the admin).  If the whole
 * call fails, the daemon stores the body with webhook_store() alone and
 * webhook_retry() applies it later; only when that fails too does it answer
 * 503 (Meta then retries for up to 7 days).
 *
 * What applying does:
 *   - delivery statuses (Meta statuses[], WAHA message.ack) go through
 *     _apply_status() (part 65): idempotent per (message id, status), in any
 *     order; a status whose message id is not in the queue yet is parked in
 *     webhook_parked_statuses and applied when the worker records the id (a
 *     trigger on notification_queue, and webhook_maintenance() as a safety
 *     net for a status that races the worker's commit);
 *   - inbound messages are kept in inbound_messages; STOP / BERHENTI opt the
 *     number out (cancelling what has not left), MULAI / START opt it back
 *     in, each with a short confirmation queued as free text (the reply
 *     opened the 24-hour window);
 *   - WAHA session.status: FAILED or SCAN_QR_CODE blocks sending
 *     (provider_sessions, _sending_blocked()), WORKING resumes.
 *
 * The daemon's database role may execute webhook_receive, webhook_store,
 * webhook_retry and webhook_maintenance, nothing else (README, "Webhook
 * receiver").
 */

/*
 * ---- tables ------------------------------------------------------------
 */

-- Every signed webhook body, as received.  state: 'received' (stored,
-- not applied yet), 'applied', 'error' (applying failed: retried at
-- next_attempt_at, attempts counts the tries), 'malformed' (not UTF-8
-- JSON, or not the documented shape: kept and flagged, not retried),
-- 'duplicate' is never stored (a WAHA event id seen before).
CREATE TABLE guestbook_notify.webhook_inbox (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	source text NOT NULL CHECK (source IN ('meta', 'waha')),
	received_at timestamptz NOT NULL DEFAULT now(),
	event_id text,					-- WAHA's event id (evt_...): duplicates are dropped
	body bytea NOT NULL,			-- the raw body, byte-exact (the signature covers it)
	state text NOT NULL DEFAULT 'received'
		CHECK (state IN ('received', 'applied', 'error', 'malformed')),
	attempts integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz,	-- set while the body waits for (another) try
	applied_at timestamptz,
	needs_attention boolean NOT NULL DEFAULT false,	-- malformed, gave up, or problems inside
	error text,						-- why applying failed, or the problems found
	summary jsonb					-- what applying did (counts)
);
CREATE UNIQUE INDEX webhook_inbox_event_idx
	ON guestbook_notify.webhook_inbox (source, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX webhook_inbox_due_idx
	ON guestbook_notify.webhook_inbox (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX webhook_inbox_received_idx
	ON guestbook_notify.webhook_inbox (received_at);
CREATE INDEX webhook_inbox_attention_idx
	ON guestbook_notify.webhook_inbox (received_at) WHERE needs_attention;

-- Delivery statuses whose message id is not in the queue yet (a status can
-- arrive before the worker has recorded the id the provider answered).
CREATE TABLE guestbook_notify.webhook_parked_statuses (
	provider_message_id text NOT NULL,
	status text NOT NULL CHECK (status IN ('sent', 'delivered', 'read', 'failed')),
	status_at timestamptz NOT NULL,
	error jsonb,
	inbox_id bigint,				-- the webhook_inbox row it came in
	parked_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (provider_message_id, status)
);

-- Messages the recipients sent to our number (Meta messages[], WAHA
-- 'message'), for the admins; action says what we did with it.
CREATE TABLE guestbook_notify.inbound_messages (
	id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	provider text NOT NULL CHECK (provider IN ('cloud_api', 'waha')),
	message_id text NOT NULL,
	from_number text,				-- normalised 628..., NULL if not an Indonesian mobile
	from_raw text NOT NULL,			-- wa_id / chat id as received
	profile_name text,
	message_type text,				-- text, button, interactive, image, ...
	text text,						-- text body, button payload or title (at most 4,096 characters)
	sent_at timestamptz,			-- the message's own timestamp
	received_at timestamptz NOT NULL DEFAULT now(),
	action text CHECK (action IN ('opt_out', 'opt_in')),
	reply_id uuid,					-- the confirmation queued (notification_queue.id)
	inbox_id bigint,
	UNIQUE (provider, message_id)
);
CREATE INDEX inbound_messages_received_idx
	ON guestbook_notify.inbound_messages (received_at);

-- The provider's own sessions (WAHA: one per WhatsApp account): the last
-- status reported, and while blocked_reason is set, sending is paused
-- (_sending_blocked()).
CREATE TABLE guestbook_notify.provider_sessions (
	provider text NOT NULL CHECK (provider IN ('cloud_api', 'waha')),
	session text NOT NULL,
	status text NOT NULL,
	blocked_reason text,			-- FAILED / SCAN_QR_CODE: why nothing can be sent
	event_at timestamptz,			-- the event's own time (older events do not win)
	updated_at timestamptz NOT NULL DEFAULT now(),
	inbox_id bigint,
	PRIMARY KEY (provider, session)
);

-- resend(): find the rows that send an earlier one again
CREATE INDEX notification_queue_resent_from_idx
	ON guestbook_notify.notification_queue (resent_from) WHERE resent_from IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.webhook_inbox', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.webhook_inbox_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.webhook_parked_statuses', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.inbound_messages', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.inbound_messages_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.provider_sessions', '');

-- The confirmations of a STOP / MULAI reply, sent as free text (send_as
-- 'text'): the reply opened the recipient's 24-hour window.
INSERT INTO guestbook_notify.templates
	(key, body, cloud_template_name, language, param_names, description, send_as)
VALUES
	('opt_out_confirm',
	 E'[GUESTBOOK] Anda tidak akan menerima notifikasi WhatsApp dari Buku Tamu lagi.\n'
	 'Balas MULAI untuk mengaktifkannya kembali.',
	 'guestbook_opt_out_confirm', 'id', '{}',
	 'Reply to STOP / BERHENTI: the number is opted out (free text inside the 24-hour window)',
	 'text'),
	('opt_in_confirm',
	 E'[GUESTBOOK] Notifikasi WhatsApp dari Buku Tamu aktif kembali.\n'
	 'Balas STOP untuk berhenti.',
	 'guestbook_opt_in_confirm', 'id', '{}',
	 'Reply to MULAI / START: the number is opted in again (free text inside the 24-hour window)',
	 'text');

/*
 * ---- delivery statuses: apply, or park until the id is known -----------
 */

/*
 * _status_apply_or_park: one delivery status.  'applied' when the message
 * id is in the queue (whatever it changed: repeats are harmless),
 * 'archived' when it is only in notification_queue_archive (ignored),
 * otherwise 'parked' (kept once per (id, status), applied when the id
 * appears).
 */
CREATE FUNCTION guestbook_notify._status_apply_or_park(
	p_wamid text, p_status text, p_at timestamptz, p_error jsonb, p_inbox_id bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF guestbook_notify._apply_status(p_wamid, p_status, p_at, p_error) THEN
		RETURN 'applied';
	END IF;
	IF EXISTS (SELECT 1 FROM guestbook_notify.notification_queue_archive a
				WHERE a.provider_message_id = p_wamid) THEN
		RETURN 'archived';
	END IF;
	INSERT INTO guestbook_notify.webhook_parked_statuses
		(provider_message_id, status, status_at, error, inbox_id)
	VALUES (p_wamid, p_status, coalesce(p_at, now()), p_error, p_inbox_id)
	ON CONFLICT ON CONSTRAINT webhook_parked_statuses_pkey DO NOTHING;
	RETURN 'parked';
END;
$$;

/*
 * _apply_parked: apply (and forget) the parked statuses of one message id,
 * in rank order.  Returns how many were applied.
 */
CREATE FUNCTION guestbook_notify._apply_parked(p_wamid text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	FOR r IN
		WITH d AS (
			DELETE FROM guestbook_notify.webhook_parked_statuses p
			 WHERE p.provider_message_id = p_wamid
			RETURNING p.status, p.status_at, p.error)
		SELECT d.status, d.status_at, d.error FROM d
		 ORDER BY CASE d.status WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2
								WHEN 'read' THEN 3 ELSE 4 END
	LOOP
		IF guestbook_notify._apply_status(p_wamid, r.status, r.status_at, r.error) THEN
			n := n + 1;
		END IF;
	END LOOP;
	RETURN n;
END;
$$;

/*
 * The worker records the provider's message id (_record_result): parked
 * statuses of that id are applied in the same transaction.  A status
 * stored while the worker's transaction was still open is caught by
 * webhook_maintenance() instead.  SECURITY DEFINER: it must not depend on
 * the rights of the role the worker's statements run as.  A failure here is
 * a WARNING: it must never lose the worker's result (the statuses stay
 * parked).
 */
CREATE FUNCTION guestbook_notify._trg_apply_parked()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM guestbook_notify.webhook_parked_statuses p
				WHERE p.provider_message_id = NEW.provider_message_id) THEN
		BEGIN
			PERFORM guestbook_notify._apply_parked(NEW.provider_message_id);
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'guestbook_notify: could not apply the parked delivery statuses of %: %',
				NEW.provider_message_id, SQLERRM;
		END;
	END IF;
	RETURN NULL;
END;
$$;

CREATE TRIGGER notification_queue_apply_parked
	AFTER UPDATE OF provider_message_id ON guestbook_notify.notification_queue
	FOR EACH ROW
	WHEN (NEW.provider_message_id IS NOT NULL
		  AND NEW.provider_message_id IS DISTINCT FROM OLD.provider_message_id)
	EXECUTE FUNCTION guestbook_notify._trg_apply_parked();

/*
 * ---- replies: STOP / MULAI ---------------------------------------------
 */

/*
 * _reply_keyword: 'opt_out' for STOP, BERHENTI, STOP NOTIFIKASI, BERHENTI
 * NOTIFIKASI; 'opt_in' for MULAI, START; else NULL.  The whole message,
 * trimmed, white space inside collapsed, any case.
 */
CREATE FUNCTION guestbook_notify._reply_keyword(p_text text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE
			 WHEN k IN ('STOP', 'BERHENTI', 'STOP NOTIFIKASI', 'BERHENTI NOTIFIKASI') THEN 'opt_out'
			 WHEN k IN ('MULAI', 'START') THEN 'opt_in'
		   END
	  FROM (SELECT CASE WHEN length(p_text) <= 64
						THEN upper(regexp_replace(regexp_replace(p_text, '^\s+|\s+$', '', 'g'),
												  '\s+', ' ', 'g'))
				   END AS k) AS s
$$;

/*
 * _inbound_message: one message a recipient sent us.  Kept once per
 * (provider, message id); returns 'duplicate', 'opt_out', 'opt_in' or
 * 'stored'.  STOP: a confirmation is queued first (the number is not opted
 * out yet), then the number is opted out and its other pending rows that
 * have not left are cancelled.  A number already opted out gets no second
 * confirmation.  MULAI: opted in again and confirmed; rows cancelled
 * meanwhile stay cancelled (requeue() them if wanted), as with opt_in().
 */
CREATE FUNCTION guestbook_notify._inbound_message(
	p_provider text, p_message_id text, p_from text, p_profile_name text,
	p_type text, p_text text, p_keyword_text text, p_sent_at timestamptz,
	p_inbox_id bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_row bigint;
	v_number text := guestbook_notify._normalize_number(p_from);
	v_action text := guestbook_notify._reply_keyword(coalesce(p_keyword_text, p_text));
	v_reply uuid;
	v_opted_out boolean;
BEGIN
	IF v_number IS NULL THEN
		v_action := NULL;		-- not a number we could message or opt out
	END IF;
	INSERT INTO guestbook_notify.inbound_messages AS m
		(provider, message_id, from_number, from_raw, profile_name, message_type,
		 text, sent_at, action, inbox_id)
	VALUES (p_provider, p_message_id, v_number, p_from, left(p_profile_name, 256),
			left(p_type, 64), left(p_text, 4096), p_sent_at, v_action, p_inbox_id)
	ON CONFLICT ON CONSTRAINT inbound_messages_provider_message_id_key DO NOTHING
	RETURNING m.id INTO v_row;
	IF v_row IS NULL THEN
		RETURN 'duplicate';
	END IF;
	IF v_action IS NULL THEN
		RETURN 'stored';
	END IF;

	v_opted_out := EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = v_number);
	IF v_action = 'opt_out' THEN
		IF NOT v_opted_out THEN
			v_reply := guestbook_notify._enqueue_row(
				'opt_out_confirm', v_number, p_profile_name, 'reply', '{}', NULL, NULL,
				format('reply:%s:%s', p_provider, p_message_id), now(), NULL);
			INSERT INTO guestbook_notify.opt_outs (number, reason)
			VALUES (v_number, format('replied "%s" on WhatsApp (%s)',
									 upper(regexp_replace(regexp_replace(coalesce(p_keyword_text, p_text),
																		 '^\s+|\s+$', '', 'g'), '\s+', ' ', 'g')),
									 p_provider))
			ON CONFLICT ON CONSTRAINT opt_outs_pkey DO NOTHING;
			UPDATE guestbook_notify.notification_queue q
			   SET status = 'cancelled', last_error = 'recipient opted out', updated_at = now()
			 WHERE q.to_number = v_number
			   AND q.status = 'pending'
			   AND (q.lease_until IS NULL OR q.lease_until < now())
			   AND q.id IS DISTINCT FROM v_reply;
		END IF;
	ELSE
		IF v_opted_out THEN
			DELETE FROM guestbook_notify.opt_outs o WHERE o.number = v_number;
		END IF;
		v_reply := guestbook_notify._enqueue_row(
			'opt_in_confirm', v_number, p_profile_name, 'reply', '{}', NULL, NULL,
			format('reply:%s:%s', p_provider, p_message_id), now(), NULL);
	END IF;

	IF v_reply IS NOT NULL THEN
		UPDATE guestbook_notify.inbound_messages m SET reply_id = v_reply WHERE m.id = v_row;
	END IF;
	RETURN v_action;
END;
$$;

/*
 * ---- Meta (Cloud API) bodies -------------------------------------------
 */

-- Unix seconds as a JSON string or number; NULL otherwise.
CREATE FUNCTION guestbook_notify._json_unix_time(p jsonb)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
	SELECT CASE WHEN jsonb_typeof(p) IN ('string', 'number') AND (p #>> '{}') ~ '^[0-9]{1,12}$'
				THEN to_timestamp((p #>> '{}')::bigint) END
$$;

/*
 * _meta_inbound: one inbound message m of a Meta change value v (its
 * "contacts" give the sender's profile name): its text and, for buttons
 * and interactive replies, the keyword, handed to _inbound_message.
 * Returns what _inbound_message did.
 */
CREATE FUNCTION guestbook_notify._meta_inbound(p_inbox_id bigint, v jsonb, m jsonb)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_type text := CASE WHEN jsonb_typeof(m -> 'type') = 'string' THEN m ->> 'type' END;
	v_text text;
	v_kw text;
	v_name text;
BEGIN
	IF v_type = 'text' THEN
		v_text := CASE WHEN jsonb_typeof(m -> 'text' -> 'body') = 'string'
					   THEN m -> 'text' ->> 'body' END;
	ELSIF v_type = 'button' THEN
		-- a template's quick-reply button: its payload decides
		v_text := CASE WHEN jsonb_typeof(m -> 'button' -> 'text') = 'string'
					   THEN m -> 'button' ->> 'text' END;
		v_kw := CASE WHEN jsonb_typeof(m -> 'button' -> 'payload') = 'string'
					 THEN m -> 'button' ->> 'payload' END;
	ELSIF v_type = 'interactive' THEN
		v_text := coalesce(m #>> '{interactive,button_reply,title}',
						   m #>> '{interactive,list_reply,title}');
		v_kw := coalesce(m #>> '{interactive,button_reply,id}',
						 m #>> '{interactive,list_reply,id}');
		IF guestbook_notify._reply_keyword(v_kw) IS NULL THEN
			v_kw := v_text;
		END IF;
	END IF;
	IF jsonb_typeof(v -> 'contacts') = 'array' THEN
		SELECT c -> 'profile' ->> 'name' INTO v_name
		  FROM jsonb_array_elements(v -> 'contacts') AS c
		 WHERE jsonb_typeof(c) = 'object' AND c ->> 'wa_id' = m ->> 'from'
		   AND jsonb_typeof(c -> 'profile') = 'object'
		 LIMIT 1;
	END IF;
	RETURN guestbook_notify._inbound_message(
		'cloud_api', m ->> 'id', m ->> 'from', v_name, v_type, v_text, v_kw,
		guestbook_notify._json_unix_time(m -> 'timestamp'), p_inbox_id);
END;
$$;

/*
 * _webhook_apply_meta: entry[].changes[].value of field 'messages':
 * statuses[] (delivery statuses), messages[] (replies; contacts[] gives the
 * sender's profile name) and errors[] (system-level errors: flagged).
 * Raises invalid_parameter_value (a "malformed" body) only when the body is
 * not an object with an "entry" array; a bad item inside is skipped and
 * named in "problems", the rest is applied.
 *
 * Long for a reason: one walk of Meta's nested envelope (entry[], changes[],
 * statuses[], messages[], errors[]) that names the path of every bad item
 * it skips; each item is handed to a helper (_status_apply_or_park,
 * _meta_inbound).
 */
CREATE FUNCTION guestbook_notify._webhook_apply_meta(p_inbox_id bigint, p jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	e jsonb; ch jsonb; v jsonb; st jsonb; m jsonb; er jsonb;
	ei bigint; ci bigint; si bigint;
	path text;
	res text;
	n_status integer := 0; n_applied integer := 0; n_parked integer := 0;
	n_archived integer := 0; n_ignored integer := 0; n_messages integer := 0;
	n_opt_out integer := 0; n_opt_in integer := 0; n_dup integer := 0;
	problems text[] := '{}';
BEGIN
	IF jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'malformed Meta webhook: the body is a JSON %, not an object', jsonb_typeof(p)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(p -> 'entry') IS DISTINCT FROM 'array' THEN
		RAISE EXCEPTION 'malformed Meta webhook: "entry" is not an array'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF p ? 'object' AND p ->> 'object' IS DISTINCT FROM 'whatsapp_business_account' THEN
		RETURN jsonb_build_object('ignored_object', p -> 'object');
	END IF;

	FOR e, ei IN SELECT x.v, x.i - 1 FROM jsonb_array_elements(p -> 'entry') WITH ORDINALITY AS x(v, i)
	LOOP
		IF jsonb_typeof(e) <> 'object' THEN
			problems := problems || format('entry[%s] is not an object', ei);
			CONTINUE;
		END IF;
		CONTINUE WHEN e -> 'changes' IS NULL;
		IF jsonb_typeof(e -> 'changes') <> 'array' THEN
			problems := problems || format('entry[%s].changes is not an array', ei);
			CONTINUE;
		END IF;
		FOR ch, ci IN SELECT x.v, x.i - 1 FROM jsonb_array_elements(e -> 'changes') WITH ORDINALITY AS x(v, i)
		LOOP
			path := format('entry[%s].changes[%s]', ei, ci);
			IF jsonb_typeof(ch) <> 'object' THEN
				problems := problems || format('%s is not an object', path);
				CONTINUE;
			END IF;
			IF coalesce(ch ->> 'field', 'messages') <> 'messages' THEN
				n_ignored := n_ignored + 1;
				CONTINUE;
			END IF;
			v := ch -> 'value';
			IF jsonb_typeof(v) IS DISTINCT FROM 'object' THEN
				problems := problems || format('%s.value is not an object', path);
				CONTINUE;
			END IF;

			-- statuses
			IF v ? 'statuses' AND jsonb_typeof(v -> 'statuses') <> 'array' THEN
				problems := problems || format('%s.value.statuses is not an array', path);
			ELSIF v ? 'statuses' THEN
				FOR st, si IN SELECT x.v, x.i - 1
								FROM jsonb_array_elements(v -> 'statuses') WITH ORDINALITY AS x(v, i)
				LOOP
					n_status := n_status + 1;
					IF jsonb_typeof(st) IS DISTINCT FROM 'object'
					   OR jsonb_typeof(st -> 'id') IS DISTINCT FROM 'string'
					   OR jsonb_typeof(st -> 'status') IS DISTINCT FROM 'string'
					   OR st ->> 'id' = '' OR length(st ->> 'id') > 512 THEN
						problems := problems || format('%s.value.statuses[%s] has no string "id" and "status"', path, si);
						CONTINUE;
					END IF;
					IF st ->> 'status' NOT IN ('sent', 'delivered', 'read', 'failed') THEN
						n_ignored := n_ignored + 1;		-- 'played', ...
						CONTINUE;
					END IF;
					IF st ? 'timestamp' AND guestbook_notify._json_unix_time(st -> 'timestamp') IS NULL THEN
						problems := problems || format('%s.value.statuses[%s].timestamp is not Unix seconds', path, si);
					END IF;
					er := st -> 'errors';
					IF er IS NOT NULL AND jsonb_typeof(er) NOT IN ('array', 'object') THEN
						problems := problems || format('%s.value.statuses[%s].errors is not an array', path, si);
						er := NULL;
					END IF;
					res := guestbook_notify._status_apply_or_park(
						st ->> 'id', st ->> 'status',
						guestbook_notify._json_unix_time(st -> 'timestamp'), er, p_inbox_id);
					CASE res
						WHEN 'applied' THEN n_applied := n_applied + 1;
						WHEN 'parked' THEN n_parked := n_parked + 1;
						ELSE n_archived := n_archived + 1;
					END CASE;
				END LOOP;
			END IF;

			-- inbound messages
			IF v ? 'messages' AND jsonb_typeof(v -> 'messages') <> 'array' THEN
				problems := problems || format('%s.value.messages is not an array', path);
			ELSIF v ? 'messages' THEN
				FOR m, si IN SELECT x.v, x.i - 1
							   FROM jsonb_array_elements(v -> 'messages') WITH ORDINALITY AS x(v, i)
				LOOP
					IF jsonb_typeof(m) IS DISTINCT FROM 'object'
					   OR jsonb_typeof(m -> 'id') IS DISTINCT FROM 'string'
					   OR jsonb_typeof(m -> 'from') IS DISTINCT FROM 'string'
					   OR m ->> 'id' = '' OR length(m ->> 'id') > 512 OR length(m ->> 'from') > 64 THEN
						problems := problems || format('%s.value.messages[%s] has no string "id" and "from"', path, si);
						CONTINUE;
					END IF;
					n_messages := n_messages + 1;
					res := guestbook_notify._meta_inbound(p_inbox_id, v, m);
					CASE res
						WHEN 'opt_out' THEN n_opt_out := n_opt_out + 1;
						WHEN 'opt_in' THEN n_opt_in := n_opt_in + 1;
						WHEN 'duplicate' THEN n_dup := n_dup + 1;
						ELSE NULL;
					END CASE;
				END LOOP;
			END IF;

			-- system-level errors: for the admin
			IF jsonb_typeof(v -> 'errors') = 'array' THEN
				FOR er IN SELECT x FROM jsonb_array_elements(v -> 'errors') AS x LOOP
					problems := problems || ('Meta reported: '
						|| guestbook_notify._delivery_error_text(er));
				END LOOP;
			END IF;
		END LOOP;
	END LOOP;

	RETURN jsonb_strip_nulls(jsonb_build_object(
		'statuses', nullif(n_status, 0), 'applied', nullif(n_applied, 0),
		'parked', nullif(n_parked, 0),
		'archived', nullif(n_archived, 0), 'ignored', nullif(n_ignored, 0),
		'messages', nullif(n_messages, 0), 'duplicate_messages', nullif(n_dup, 0),
		'opt_out', nullif(n_opt_out, 0), 'opt_in', nullif(n_opt_in, 0),
		'problems', CASE WHEN cardinality(problems) > 0 THEN to_jsonb(problems[1:20]) END));
END;
$$;

/*
 * ---- WAHA events -------------------------------------------------------
 */

/*
 * _webhook_apply_waha: one WAHA event {id, timestamp (ms), event, session,
 * payload, ...}.
 *   message.ack     payload {id, fromMe, ack}: -1 failed, 1 sent,
 *                   2 delivered, 3 and 4 read (0, pending, is ignored; so
 *                   are acks of messages we received)
 *   message         payload {id, from "628...@c.us", fromMe, body}: a reply
 *                   (our own messages, fromMe, are ignored)
 *   session.status  payload {status}: FAILED or SCAN_QR_CODE block sending
 *                   (the reason is shown by the worker), WORKING resumes,
 *                   other statuses leave the block as it is
 * Other events are ignored.  Raises invalid_parameter_value (malformed)
 * when the body is not an object with a string "event", or the payload of
 * a handled event lacks what it needs.
 *
 * Long for a reason: one CASE over WAHA's event names, each branch a few
 * checks of its payload and one call (_status_apply_or_park,
 * _inbound_message, the provider_sessions upsert).
 */
CREATE FUNCTION guestbook_notify._webhook_apply_waha(p_inbox_id bigint, p jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ev text;
	pl jsonb;
	v_session text;
	v_at timestamptz;
	v_id text;
	v_ack text;
	v_status text;
	v_reason text;
	res text;
BEGIN
	IF jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'malformed WAHA event: the body is a JSON %, not an object', jsonb_typeof(p)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF jsonb_typeof(p -> 'event') IS DISTINCT FROM 'string' THEN
		RAISE EXCEPTION 'malformed WAHA event: no string "event"'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	ev := p ->> 'event';
	pl := p -> 'payload';
	v_session := CASE WHEN jsonb_typeof(p -> 'session') = 'string' THEN left(p ->> 'session', 128)
					  ELSE 'default' END;
	-- the envelope's timestamp is in milliseconds
	v_at := CASE WHEN jsonb_typeof(p -> 'timestamp') IN ('number', 'string')
					  AND (p #>> '{timestamp}') ~ '^[0-9]{1,15}$'
				 THEN to_timestamp((p #>> '{timestamp}')::bigint / 1000.0) END;

	IF ev NOT IN ('message.ack', 'message', 'session.status') THEN
		RETURN jsonb_build_object('event', ev, 'ignored', 1);
	END IF;
	IF jsonb_typeof(pl) IS DISTINCT FROM 'object' THEN
		RAISE EXCEPTION 'malformed WAHA % event: "payload" is not an object', ev
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	IF ev = 'message.ack' THEN
		v_id := CASE jsonb_typeof(pl -> 'id')
					WHEN 'string' THEN pl ->> 'id'
					WHEN 'object' THEN pl -> 'id' ->> '_serialized' END;
		IF v_id IS NULL OR v_id = '' OR length(v_id) > 512
		   OR jsonb_typeof(pl -> 'ack') IS DISTINCT FROM 'number' THEN
			RAISE EXCEPTION 'malformed WAHA message.ack event: payload needs a string "id" and a number "ack"'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF jsonb_typeof(pl -> 'fromMe') = 'boolean' AND NOT (pl -> 'fromMe')::boolean THEN
			RETURN jsonb_build_object('event', ev, 'ignored', 1);	-- an ack of a message to us
		END IF;
		v_ack := pl ->> 'ack';
		v_status := CASE v_ack WHEN '-1' THEN 'failed' WHEN '1' THEN 'sent' WHEN '2' THEN 'delivered'
							   WHEN '3' THEN 'read' WHEN '4' THEN 'read' END;
		IF v_status IS NULL THEN
			RETURN jsonb_build_object('event', ev, 'ack', pl -> 'ack', 'ignored', 1);
		END IF;
		res := guestbook_notify._status_apply_or_park(
			v_id, v_status, v_at,
			CASE WHEN v_status = 'failed'
				 THEN jsonb_build_object('title', 'WAHA reported ack ERROR (-1)') END,
			p_inbox_id);
		RETURN jsonb_build_object('event', ev, 'status', v_status, res, 1);

	ELSIF ev = 'message' THEN
		IF jsonb_typeof(pl -> 'id') IS DISTINCT FROM 'string' OR pl ->> 'id' = ''
		   OR length(pl ->> 'id') > 512
		   OR jsonb_typeof(pl -> 'from') IS DISTINCT FROM 'string' OR length(pl ->> 'from') > 128 THEN
			RAISE EXCEPTION 'malformed WAHA message event: payload needs a string "id" and "from"'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF jsonb_typeof(pl -> 'fromMe') = 'boolean' AND (pl -> 'fromMe')::boolean THEN
			RETURN jsonb_build_object('event', ev, 'ignored', 1);	-- our own message
		END IF;
		res := guestbook_notify._inbound_message(
			'waha', pl ->> 'id',
			-- "6281234567890@c.us" -> the number; other ids (@lid, @g.us) stay as they are
			CASE WHEN pl ->> 'from' ~ '^[0-9]+@c\.us$' THEN split_part(pl ->> 'from', '@', 1)
				 ELSE pl ->> 'from' END,
			CASE WHEN jsonb_typeof(pl #> '{_data,notifyName}') = 'string'
				 THEN pl #>> '{_data,notifyName}' END,
			CASE WHEN jsonb_typeof(pl -> 'hasMedia') = 'boolean' AND (pl -> 'hasMedia')::boolean
				 THEN 'media' ELSE 'text' END,
			CASE WHEN jsonb_typeof(pl -> 'body') = 'string' THEN pl ->> 'body' END,
			NULL,
			CASE WHEN jsonb_typeof(pl -> 'timestamp') = 'number'
					  AND (pl ->> 'timestamp') ~ '^[0-9]{1,12}$'
				 THEN to_timestamp((pl ->> 'timestamp')::bigint) END,
			p_inbox_id);
		RETURN jsonb_build_object('event', ev, 'messages', 1, res, 1);

	ELSE	-- session.status
		IF jsonb_typeof(pl -> 'status') IS DISTINCT FROM 'string' THEN
			RAISE EXCEPTION 'malformed WAHA session.status event: payload needs a string "status"'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		v_status := left(upper(pl ->> 'status'), 32);
		v_reason := CASE v_status
			WHEN 'FAILED' THEN format('WAHA session "%s" FAILED%s: restart the session in WAHA',
									  v_session,
									  ' at ' || to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
			WHEN 'SCAN_QR_CODE' THEN format('WAHA session "%s" is logged out (SCAN_QR_CODE%s): scan the QR code in WAHA',
											v_session,
											' since ' || to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS "UTC"'))
		END;
		INSERT INTO guestbook_notify.provider_sessions AS s
			(provider, session, status, blocked_reason, event_at, updated_at, inbox_id)
		VALUES ('waha', v_session, v_status, v_reason, v_at, now(), p_inbox_id)
		ON CONFLICT ON CONSTRAINT provider_sessions_pkey DO UPDATE
		   SET status = EXCLUDED.status,
			   blocked_reason = CASE
					WHEN EXCLUDED.status IN ('FAILED', 'SCAN_QR_CODE') THEN EXCLUDED.blocked_reason
					WHEN EXCLUDED.status = 'WORKING' THEN NULL
					ELSE s.blocked_reason END,
			   event_at = coalesce(EXCLUDED.event_at, s.event_at),
			   updated_at = now(),
			   inbox_id = EXCLUDED.inbox_id
		 WHERE s.event_at IS NULL OR EXCLUDED.event_at IS NULL OR EXCLUDED.event_at >= s.event_at;
		RETURN jsonb_build_object('event', ev, 'session', v_session, 'status', v_status,
								  'stale', NOT FOUND);
	END IF;
END;
$$;

/*
 * _sending_blocked: NULL when sending may go on, else why not (the
 * configured WAHA session is FAILED or waits for its QR code to be
 * scanned).  The worker calls it before claiming and shows the reason in
 * worker_status().  Only the session the worker sends through counts
 * (guestbook_notify.phone_number_id, empty = 'default'), and only while
 * guestbook_notify.provider is 'waha'.
 */
CREATE FUNCTION guestbook_notify._sending_blocked()
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT s.blocked_reason
	  FROM guestbook_notify.provider_sessions s
	 WHERE coalesce(nullif(current_setting('guestbook_notify.provider', true), ''), 'cloud_api') = 'waha'
	   AND s.provider = 'waha'
	   AND s.session = coalesce(nullif(current_setting('guestbook_notify.phone_number_id', true), ''),
								'default')
	   AND s.blocked_reason IS NOT NULL
$$;

/*
 * ---- store and apply -----------------------------------------------------
 */

/*
 * _webhook_apply: parse a stored body (UTF-8 JSON) and apply it.  A body
 * that is not UTF-8 or not JSON raises a data exception (class 22), as the
 * shape checks do; a nesting too deep for the server, statement_too_complex.
 */
CREATE FUNCTION guestbook_notify._webhook_apply(p_inbox_id bigint, p_source text, p_body bytea)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v jsonb := convert_from(p_body, 'UTF8')::jsonb;
BEGIN
	IF p_source = 'meta' THEN
		RETURN guestbook_notify._webhook_apply_meta(p_inbox_id, v);
	END IF;
	RETURN guestbook_notify._webhook_apply_waha(p_inbox_id, v);
END;
$$;

/*
 * _webhook_try: apply a body in a subtransaction.  Returns its new state
 * ('applied', 'malformed' or 'error'), the summary and the error text; a
 * failure rolls back what the body did, never the caller's transaction.
 */
CREATE FUNCTION guestbook_notify._webhook_try(
	p_inbox_id bigint, p_source text, p_body bytea,
	OUT state text, OUT summary jsonb, OUT error text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	BEGIN
		summary := guestbook_notify._webhook_apply(p_inbox_id, p_source, p_body);
		state := 'applied';
		IF summary ? 'problems' THEN
			SELECT string_agg(x, '; ') INTO error FROM jsonb_array_elements_text(summary -> 'problems') AS x;
		END IF;
	EXCEPTION
		WHEN data_exception OR statement_too_complex OR program_limit_exceeded THEN
			state := 'malformed';
			error := SQLERRM;
		WHEN OTHERS THEN
			state := 'error';
			error := format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE);
	END;
END;
$$;

-- after a failed try: the next one (backoff 2^n s, at most an hour), or
-- none after 10 tries (the row is then flagged)
CREATE FUNCTION guestbook_notify._webhook_next_attempt(p_attempts integer)
RETURNS timestamptz
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN p_attempts < 10
				THEN now() + least(make_interval(secs => power(2, p_attempts)), interval '1 hour') END
$$;

-- checks shared by webhook_receive and webhook_store
CREATE FUNCTION guestbook_notify._webhook_check_args(p_source text, p_body bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF p_source IS NULL OR p_source NOT IN ('meta', 'waha') THEN
		RAISE EXCEPTION 'unknown webhook source %', coalesce('"' || p_source || '"', 'NULL')
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Accepted: meta, waha.';
	END IF;
	IF p_body IS NULL THEN
		RAISE EXCEPTION 'webhook body must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
END;
$$;

/*
 * webhook_receive: store a signed body and apply it, in one transaction
 * (applying in a subtransaction: its failure leaves the stored row, with
 * the error).  event_id (WAHA's "id") drops a repeated event: 'duplicate',
 * nothing stored.  Returns the inbox row's id, its state and a short
 * detail (the summary, or the error).  Call it only with bodies whose
 * signature was checked.
 */
CREATE FUNCTION guestbook_notify.webhook_receive(source text, body bytea, event_id text DEFAULT NULL)
RETURNS TABLE (inbox_id bigint, state text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	v_source text := webhook_receive.source;
	v_event text := nullif(left(webhook_receive.event_id, 256), '');
	v_id bigint;
	t record;
BEGIN
	PERFORM guestbook_notify._webhook_check_args(v_source, webhook_receive.body);
	IF v_event IS NOT NULL THEN
		SELECT i.id INTO v_id FROM guestbook_notify.webhook_inbox i
		 WHERE i.source = v_source AND i.event_id = v_event;
		IF FOUND THEN
			RETURN QUERY SELECT v_id, 'duplicate'::text, 'event already received'::text;
			RETURN;
		END IF;
	END IF;
	v_id := nextval('guestbook_notify.webhook_inbox_id_seq');
	SELECT * INTO t FROM guestbook_notify._webhook_try(v_id, v_source, webhook_receive.body);
	INSERT INTO guestbook_notify.webhook_inbox AS i
		(id, source, event_id, body, state, attempts, next_attempt_at, applied_at,
		 needs_attention, error, summary)
	VALUES (v_id, v_source, v_event, webhook_receive.body, t.state, 1,
			CASE WHEN t.state = 'error' THEN guestbook_notify._webhook_next_attempt(1) END,
			CASE WHEN t.state = 'applied' THEN now() END,
			t.state = 'malformed' OR t.error IS NOT NULL AND t.state = 'applied',
			t.error, t.summary)
	ON CONFLICT (source, event_id) WHERE event_id IS NOT NULL DO NOTHING;
	IF NOT FOUND THEN
		-- the same event stored concurrently by another connection: that
		-- one stands, and nothing of this try may stay
		RAISE EXCEPTION 'duplicate webhook event' USING ERRCODE = 'unique_violation';
	END IF;
	RETURN QUERY SELECT v_id, t.state, coalesce(t.error, t.summary::text);
END;
$$;

/*
 * webhook_store: only store a signed body ('received'), for
 * webhook_retry() to apply.  The daemon's fallback when webhook_receive()
 * failed as a whole.
 */
CREATE FUNCTION guestbook_notify.webhook_store(source text, body bytea, event_id text DEFAULT NULL)
RETURNS TABLE (inbox_id bigint, state text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	v_source text := webhook_store.source;
	v_event text := nullif(left(webhook_store.event_id, 256), '');
	v_id bigint;
BEGIN
	PERFORM guestbook_notify._webhook_check_args(v_source, webhook_store.body);
	INSERT INTO guestbook_notify.webhook_inbox AS i (source, event_id, body, state, next_attempt_at)
	VALUES (v_source, v_event, webhook_store.body, 'received', now())
	ON CONFLICT (source, event_id) WHERE event_id IS NOT NULL DO NOTHING
	RETURNING i.id INTO v_id;
	IF v_id IS NULL THEN
		SELECT i.id INTO v_id FROM guestbook_notify.webhook_inbox i
		 WHERE i.source = v_source AND i.event_id = v_event;
		RETURN QUERY SELECT v_id, 'duplicate'::text, 'event already received'::text;
		RETURN;
	END IF;
	RETURN QUERY SELECT v_id, 'received'::text, 'stored; applied later'::text;
END;
$$;

/*
 * _webhook_reapply_row: apply a stored row again and record the outcome.
 */
CREATE FUNCTION guestbook_notify._webhook_reapply_row(p_id bigint)
RETURNS TABLE (inbox_id bigint, state text, detail text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.webhook_inbox%ROWTYPE;
	t record;
BEGIN
	SELECT * INTO r FROM guestbook_notify.webhook_inbox i WHERE i.id = p_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'webhook inbox row % does not exist', coalesce(p_id::text, 'NULL')
			USING ERRCODE = 'no_data_found';
	END IF;
	SELECT * INTO t FROM guestbook_notify._webhook_try(r.id, r.source, r.body);
	UPDATE guestbook_notify.webhook_inbox i
	   SET state = t.state,
		   attempts = i.attempts + 1,
		   next_attempt_at = CASE WHEN t.state = 'error'
								  THEN guestbook_notify._webhook_next_attempt(i.attempts + 1) END,
		   applied_at = CASE WHEN t.state = 'applied' THEN now() ELSE i.applied_at END,
		   needs_attention = t.state = 'malformed'
							 OR (t.state = 'applied' AND t.error IS NOT NULL)
							 OR (t.state = 'error' AND i.attempts + 1 >= 10),
		   error = t.error,
		   summary = t.summary
	 WHERE i.id = r.id;
	RETURN QUERY SELECT r.id, t.state, coalesce(t.error, t.summary::text);
END;
$$;

/*
 * webhook_retry: apply up to max_rows stored bodies that are due (stored by
 * webhook_store(), or whose last try failed), oldest first.  The daemon
 * calls it every maintenance_interval.  Returns one row per body tried.
 */
CREATE FUNCTION guestbook_notify.webhook_retry(max_rows integer DEFAULT 100)
RETURNS TABLE (inbox_id bigint, state text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_id bigint;
BEGIN
	FOR v_id IN
		SELECT i.id FROM guestbook_notify.webhook_inbox i
		 WHERE i.next_attempt_at <= now()
		 ORDER BY i.next_attempt_at, i.id
		 LIMIT greatest(coalesce(webhook_retry.max_rows, 100), 1)
		   FOR UPDATE SKIP LOCKED
	LOOP
		RETURN QUERY SELECT * FROM guestbook_notify._webhook_reapply_row(v_id);
	END LOOP;
END;
$$;

/*
 * webhook_reapply: an admin applies a stored body again now (after fixing
 * what made it fail, or to re-run a malformed one after an upgrade).
 * Idempotent for statuses and messages already applied.
 */
CREATE FUNCTION guestbook_notify.webhook_reapply(id bigint)
RETURNS TABLE (inbox_id bigint, state text, detail text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN QUERY SELECT * FROM guestbook_notify._webhook_reapply_row(webhook_reapply.id);
END;
$$;

/*
 * webhook_maintenance: the housekeeping the daemon runs every
 * maintenance_interval (the worker may call it too):
 *   - parked statuses whose message id is now in the queue are applied (a
 *     status that raced the worker's commit), those of archived messages
 *     dropped;
 *   - inbox rows, inbound messages and parked statuses older than
 *     retention are deleted, at most batch_size of each per call, except
 *     inbox rows still waiting for a try (retention NULL keeps everything).
 * Returns what it did.
 */
CREATE FUNCTION guestbook_notify.webhook_maintenance(
	retention interval DEFAULT '30 days', batch_size integer DEFAULT 10000)
RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ret interval := webhook_maintenance.retention;
	v_batch integer := webhook_maintenance.batch_size;
	w text;
	n_applied integer := 0;
	n_dropped integer := 0;
	n_inbox integer := 0;
	n_inbound integer := 0;
BEGIN
	IF v_ret < interval '0' THEN
		RAISE EXCEPTION 'retention must not be negative: %', v_ret
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'NULL keeps everything.';
	END IF;
	IF v_batch IS NULL OR v_batch < 1 THEN
		RAISE EXCEPTION 'batch size must be at least 1: %', v_batch
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	FOR w IN
		SELECT DISTINCT p.provider_message_id
		  FROM guestbook_notify.webhook_parked_statuses p
		 WHERE EXISTS (SELECT 1 FROM guestbook_notify.notification_queue q
						WHERE q.provider_message_id = p.provider_message_id)
		 LIMIT v_batch
	LOOP
		n_applied := n_applied + guestbook_notify._apply_parked(w);
	END LOOP;

	DELETE FROM guestbook_notify.webhook_parked_statuses p
	 WHERE EXISTS (SELECT 1 FROM guestbook_notify.notification_queue_archive a
					WHERE a.provider_message_id = p.provider_message_id)
		OR p.parked_at < now() - v_ret;
	GET DIAGNOSTICS n_dropped = ROW_COUNT;

	IF v_ret IS NOT NULL THEN
		DELETE FROM guestbook_notify.webhook_inbox i
		 WHERE i.id IN (SELECT o.id FROM guestbook_notify.webhook_inbox o
						 WHERE o.received_at < now() - v_ret AND o.next_attempt_at IS NULL
						 ORDER BY o.received_at LIMIT v_batch);
		GET DIAGNOSTICS n_inbox = ROW_COUNT;

		DELETE FROM guestbook_notify.inbound_messages m
		 WHERE m.id IN (SELECT o.id FROM guestbook_notify.inbound_messages o
						 WHERE o.received_at < now() - v_ret
						 ORDER BY o.received_at LIMIT v_batch);
		GET DIAGNOSTICS n_inbound = ROW_COUNT;
	END IF;

	RETURN jsonb_build_object('parked_applied', n_applied, 'parked_dropped', n_dropped,
							  'inbox_deleted', n_inbox, 'inbound_deleted', n_inbound);
END;
$$;

/*
 * ---- resend --------------------------------------------------------------
 */

/*
 * _resend_in_progress: the newest resend of p_id still on its way (pending,
 * or sent and not reported failed), or NULL.
 */
CREATE FUNCTION guestbook_notify._resend_in_progress(p_id uuid)
RETURNS uuid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT q.id
	  FROM guestbook_notify.notification_queue q
	 WHERE q.resent_from = p_id
	   AND q.status IN ('pending', 'sent')
	   AND q.delivery_status IS DISTINCT FROM 'failed'
	 ORDER BY q.created_at DESC
	 LIMIT 1
$$;

/*
 * _resend_copy: queue r's message again as a new row (resent_from = r.id),
 * wake the worker, and note it in the case's events.  Returns the new id.
 * The callers check that r may be resent (resend(), the page's resend).
 */
CREATE FUNCTION guestbook_notify._resend_copy(r guestbook_notify.notification_queue)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_new uuid;
BEGIN
	INSERT INTO guestbook_notify.notification_queue AS q
		(channel, to_number, to_number_raw, recipient_name, recipient_role, template_key,
		 template_name, template_language, template_params, template_args, message_text,
		 case_id, app_schema, status, scheduled_at, send_as, resent_from)
	VALUES (r.channel, r.to_number, r.to_number_raw, r.recipient_name, r.recipient_role,
			r.template_key, r.template_name, r.template_language, r.template_params,
			r.template_args, r.message_text, r.case_id, r.app_schema, 'pending', now(),
			r.send_as, r.id)
	RETURNING q.id INTO v_new;
	PERFORM guestbook_notify.wake();

	IF r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
		PERFORM guestbook_notify._case_event(r.app_schema, r.case_id, 'notification_resent',
			jsonb_build_object('notification_id', v_new,
							   'resent_from', r.id,
							   'template', r.template_key,
							   'recipient_role', r.recipient_role,
							   'to_number', r.to_number,
							   'previous_error', r.last_error,
							   'by', session_user));
	END IF;
	RETURN v_new;
END;
$$;

/*
 * resend: send again a message the provider accepted (status 'sent') and
 * reported failed later (delivery_status 'failed', e.g. 131026).  A new
 * pending row with the same recipient, text and template snapshot and
 * resent_from = id; the old row, its id and its audit stay as they were.
 * A resend of that row that is still on its way (not failed) is returned
 * instead of queuing another (a double click sends once).  An error for an
 * unknown id, for a row that is not a later delivery failure (use requeue()
 * for a failed send), and for an opted-out number.  Writes case_events
 * 'notification_resent' for a case's message.
 */
CREATE FUNCTION guestbook_notify.resend(id uuid)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
	v_new uuid;
BEGIN
	SELECT * INTO r FROM guestbook_notify.notification_queue q WHERE q.id = resend.id FOR UPDATE;
	IF NOT FOUND THEN
		IF EXISTS (SELECT 1 FROM guestbook_notify.notification_queue_archive a WHERE a.id = resend.id) THEN
			RAISE EXCEPTION 'notification % is archived', resend.id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Queue the message again with enqueue().';
		END IF;
		RAISE EXCEPTION 'notification % does not exist', coalesce(resend.id::text, 'NULL')
			USING ERRCODE = 'no_data_found';
	END IF;
	IF NOT (r.status = 'sent' AND r.delivery_status IS NOT DISTINCT FROM 'failed') THEN
		RAISE EXCEPTION 'notification % was not accepted and then reported failed (status %, delivery status %)',
				r.id, r.status, coalesce(r.delivery_status, 'none')
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'resend() is for a late delivery failure; requeue() sends a failed or cancelled row again.';
	END IF;
	IF EXISTS (SELECT 1 FROM guestbook_notify.opt_outs o WHERE o.number = r.to_number) THEN
		RAISE EXCEPTION 'recipient % opted out', r.to_number
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'opt_in() the number first if the recipient agreed.';
	END IF;

	v_new := guestbook_notify._resend_in_progress(r.id);
	IF v_new IS NOT NULL THEN
		RAISE NOTICE 'notification % is already being resent as %', r.id, v_new;
		RETURN v_new;
	END IF;
	RETURN guestbook_notify._resend_copy(r);
END;
$$;

/*
 * ---- for the admins ------------------------------------------------------
 */

-- Stored webhooks that need a look: malformed, failing, or with problems
-- inside (the first 300 bytes of the body shown escaped).
CREATE VIEW guestbook_notify.webhook_problems AS
SELECT i.id, i.source, i.received_at, i.state, i.attempts, i.next_attempt_at,
	   i.needs_attention, i.error, i.summary, octet_length(i.body) AS body_bytes,
	   encode(substring(i.body FROM 1 FOR 300), 'escape') AS body_start
  FROM guestbook_notify.webhook_inbox i
 WHERE i.needs_attention OR i.state IN ('error', 'malformed');

/*
 * guestbook_notify install script, part: a database's own access token
 * (issue 16), for a server whose guestbook databases each send as their
 * own WhatsApp number.  The Makefile concatenates the parts in src/sql, in
 * name order, into guestbook_notify--<version>.sql.
 *
 * What is not secret goes per database with ALTER DATABASE ... SET
 * (api_url, phone_number_id, the rates).  The token cannot: ALTER
 * DATABASE keeps its values in pg_db_role_setting, which every role can
 * read.  So a superuser calls, in the database,
 *
 *     SELECT guestbook_notify.set_access_token('EAAG...');  -- NULL removes it
 *
 * and the database's workers send with it instead of
 * guestbook_notify.access_token from the commit on (src/access_token.c).
 *
 * database_token is readable by its owner only (the superuser who created
 * the extension; 90_privileges.sql revokes everything from PUBLIC and no
 * grant is ever given; row security hides its row from pg_read_all_data).
 * It is deliberately NOT a configuration table (pg_extension_config_dump):
 * pg_dump never writes the token out, and
 * after a restore a superuser sets it again.  The server log masks the
 * argument of set_access_token(...) (src/log_redact.c).
 */

-- One row at most: the database's token, when and by whom it was set.
CREATE TABLE guestbook_notify.database_token (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	token text NOT NULL,
	set_at timestamptz NOT NULL DEFAULT now(),
	set_by name NOT NULL DEFAULT CURRENT_USER
);
-- Row security on, with no policy: a role that may read every table
-- (pg_read_all_data) still sees no row; the owner and superusers (the
-- worker, set_access_token()) are not subject to it.
ALTER TABLE guestbook_notify.database_token ENABLE ROW LEVEL SECURITY;

-- Superusers only (checked inside, whatever EXECUTE is granted); NULL
-- removes the database's token.  Errors never quote the token.
CREATE FUNCTION guestbook_notify.set_access_token(p_token text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_set_access_token_sql';

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

/*
 * 1.0 -> 1.1, part 2 (src/sql/upgrade/1.0--1.1-after.sql): the app's
 * triggers move to _trg_event(), then 1.0's trigger functions go.  Only
 * the triggers that exist are replaced (a schema attached in 1.0 keeps its
 * tables as they are: attach() again checks them).
 */
DO $$
DECLARE
	s name;
BEGIN
	FOR s IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY 1 LOOP
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'case_assignments'
					  AND t.tgname = 'guestbook_notify_assigned') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
						   'AFTER INSERT ON %I.case_assignments '
						   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_event(''assigned'')', s);
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'cases'
					  AND t.tgname = 'guestbook_notify_escalated') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
						   'AFTER UPDATE OF status, escalation_level ON %I.cases '
						   'FOR EACH ROW WHEN ('
						   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
						   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
						   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
						   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', s);
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'cases'
					  AND t.tgname = 'guestbook_notify_escalated_insert') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
						   'AFTER INSERT ON %I.cases '
						   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
						   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
						   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', s);
		END IF;
	END LOOP;
END;
$$;

DROP FUNCTION guestbook_notify._trg_assigned();
DROP FUNCTION guestbook_notify._trg_escalated();

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

/*
 * guestbook_notify install script, part: the last step -- the launcher
 * starts this database's workers now (database_name = '*', or after they
 * found no extension here).
 */
SELECT guestbook_notify._extension_installed();
