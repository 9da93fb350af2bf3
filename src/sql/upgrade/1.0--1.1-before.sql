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
