--
-- 003_attach: attach()/detach() check the app's tables and manage triggers.
--
\set SHOW_CONTEXT never

-- invalid: NULL schema
SELECT guestbook_notify.attach(NULL);
-- invalid: a schema that does not exist
SELECT guestbook_notify.attach('no_such_schema');
-- invalid: a schema without any guestbook table: one error naming all six
SELECT * FROM show_error($$SELECT guestbook_notify.attach('pg_catalog')$$);

-- invalid: a schema with some tables and some columns missing: ONE error
-- (errcode undefined_table, since tables are missing) naming every
-- missing table and column
CREATE SCHEMA partial;
CREATE TABLE partial.org_units (id uuid PRIMARY KEY, name text, parent_id uuid);
CREATE TABLE partial.users (id uuid PRIMARY KEY, full_name text, role text,
							org_unit_id uuid, whatsapp_number text, is_active boolean);
CREATE TABLE partial.cases (id uuid PRIMARY KEY, code text, case_type text, status text,
							org_unit_id uuid);
CREATE TABLE partial.case_assignments (id uuid, case_id uuid, operator_id uuid,
									   assigned_by uuid, assigned_at timestamptz);
\x on
SELECT * FROM show_error($$SELECT guestbook_notify.attach('partial')$$);
\x off

-- invalid: only columns missing: errcode undefined_column
CREATE TABLE partial.org_unit_contacts (id uuid, org_unit_id uuid, contact_type text,
										name text, whatsapp_number text, is_active boolean);
CREATE TABLE partial.case_events (id bigint, case_id uuid, event_type text, actor_id uuid,
								  details jsonb, created_at timestamptz);
ALTER TABLE partial.org_units ADD COLUMN code text;
ALTER TABLE partial.cases ADD COLUMN escalation_level text, ADD COLUMN unit_tujuan text,
	ADD COLUMN assigned_operator_id uuid, ADD COLUMN visitor_name text,
	ADD COLUMN visitor_id_number text, ADD COLUMN purpose text,
	ADD COLUMN surat_tracking_no text, ADD COLUMN created_at timestamptz,
	ADD COLUMN updated_at timestamptz;
\x on
SELECT * FROM show_error($$SELECT guestbook_notify.attach('partial')$$);
\x off
-- a dropped column counts as missing
ALTER TABLE partial.cases ADD COLUMN surat_perihal text;
ALTER TABLE partial.case_events DROP COLUMN actor_id;
SELECT * FROM show_error($$SELECT guestbook_notify.attach('partial')$$);
ALTER TABLE partial.case_events ADD COLUMN actor_id uuid;

-- nothing was attached by the failed calls
SELECT * FROM guestbook_notify.attached_schemas;
SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%';

-- attach the complete schemas
SELECT guestbook_notify.attach();
SELECT guestbook_notify.attach('partial');
SELECT schema_name FROM guestbook_notify.attached_schemas ORDER BY 1;

-- the index the worker's case_id look-ups need (issue 14): 'partial' has
-- none, so attach() said so above, with the statement; an index that does
-- not start with case_id, or a partial one, does not count; one that
-- starts with case_id (alone or with more columns) does
CREATE INDEX partial_ca_op ON partial.case_assignments (operator_id, case_id);
CREATE INDEX partial_ca_part ON partial.case_assignments (case_id) WHERE assigned_at IS NOT NULL;
SELECT guestbook_notify.attach('partial');
CREATE INDEX partial_ca_case ON partial.case_assignments (case_id);
SELECT guestbook_notify.attach('partial');
DROP INDEX partial.partial_ca_case;
CREATE INDEX ON partial.case_assignments (case_id, assigned_at);
SELECT guestbook_notify.attach('partial');
-- a schema name that needs quoting is quoted in the statement
CREATE SCHEMA "Front Desk";
CREATE TABLE "Front Desk".org_units (LIKE partial.org_units);
CREATE TABLE "Front Desk".users (LIKE partial.users);
CREATE TABLE "Front Desk".org_unit_contacts (LIKE partial.org_unit_contacts);
CREATE TABLE "Front Desk".cases (LIKE partial.cases);
CREATE TABLE "Front Desk".case_assignments (LIKE partial.case_assignments);
CREATE TABLE "Front Desk".case_events (LIKE partial.case_events);
SELECT guestbook_notify.attach('Front Desk');
SELECT guestbook_notify.detach('Front Desk');
DROP SCHEMA "Front Desk" CASCADE;

-- the triggers, with recognisable names
SELECT tgrelid::regclass AS "table", tgname, tgenabled,
	   pg_get_triggerdef(oid) AS definition
  FROM pg_trigger
 WHERE tgname LIKE 'guestbook_notify%'
 ORDER BY 1, 2;

-- attach again: fine (a NOTICE, false, the triggers re-created, not doubled)
SELECT guestbook_notify.attach('public');
SELECT tgrelid::regclass AS "table", count(*)
  FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%' GROUP BY 1 ORDER BY 1;

-- detach: triggers gone, schema forgotten; again: fine (NOTICE, false)
SELECT guestbook_notify.detach('partial');
SELECT guestbook_notify.detach('partial');
SELECT tgrelid::regclass AS "table", tgname
  FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%' ORDER BY 1, 2;
-- detach of a schema that does not exist: fine too
SELECT guestbook_notify.detach('no_such_schema');
-- invalid: NULL
SELECT guestbook_notify.detach(NULL);
DROP SCHEMA partial CASCADE;

SELECT schema_name FROM guestbook_notify.attached_schemas ORDER BY 1;
