--
-- 015_upgrade: ALTER EXTENSION guestbook_notify UPDATE from 1.0, on a
-- database with the app attached and notifications queued, gives the same
-- extension as CREATE EXTENSION at the new version (every table, column,
-- constraint, index, trigger, function, view and privilege: the
-- fingerprint of tests/upgrade/catalog_fingerprint.sql), keeps every row,
-- and the updated extension works: triggers, dedupe, claims.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE DATABASE regress_gbn_fresh;
CREATE DATABASE regress_gbn_upgrade;
RESET client_min_messages;

-- the extension created at the new version
\c regress_gbn_fresh
CREATE EXTENSION guestbook_notify;
\set ECHO none
\i tests/upgrade/catalog_fingerprint.sql
\set ECHO all
SELECT string_agg(line, E'\n' ORDER BY line COLLATE "C") AS fresh_lines FROM gbn_fingerprint \gset
SELECT count(*) > 100 AS fingerprint_has_lines FROM gbn_fingerprint;

-- 1.0, with the app attached and rows queued as 1.0 left them
\c regress_gbn_upgrade
CREATE EXTENSION guestbook_notify VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'guestbook_notify';
\set ECHO none
\i tests/schema/guestbook.sql
\i tests/schema/sample_data.sql
\set ECHO all
SELECT guestbook_notify.attach();
-- rows as 1.0's triggers and enqueue() wrote them (dedupe keys without the
-- schema): Budi assigned to ABC123 (pending), a lead escalation (sent), a
-- manual message (failed)
INSERT INTO guestbook_notify.notification_queue
	(to_number, to_number_raw, recipient_name, recipient_role, template_key, template_name,
	 template_language, template_params, template_args, message_text, case_id, app_schema,
	 status, dedupe_key, sent_at, provider_message_id, created_at)
VALUES
	('6281234567890', '0812-3456-7890', 'Budi Operator', 'operator', 'assigned',
	 'guestbook_case_assigned', 'id', '{"case_code": "ABC123"}', '{ABC123}', 'pesan 1',
	 '00000000-0000-0000-0000-0000000000c1', 'public', 'pending',
	 'assigned:00000000-0000-0000-0000-0000000000c1:00000000-0000-0000-0000-0000000000a2:first',
	 NULL, NULL, now() - interval '2 minutes'),
	('6281377778888', '6281377778888', 'Kabid TIK', 'lead', 'escalated_lead',
	 'guestbook_case_escalated_lead', 'id', '{"case_code": "ABC123"}', '{ABC123}', 'pesan 2',
	 '00000000-0000-0000-0000-0000000000c1', 'public', 'sent',
	 'escalated_lead:00000000-0000-0000-0000-0000000000c1:1234', now(), 'wamid.UP1',
	 now() - interval '1 minute'),
	('6281299990000', '6281299990000', NULL, 'manual', 'assigned', 'guestbook_case_assigned',
	 'id', '{}', '{}', 'pesan 3', NULL, NULL, 'failed', 'manual:up', NULL, NULL, now());
SELECT guestbook_notify.opt_out('0812-7777-0002', 'sebelum pembaruan');
SELECT count(*) AS rows_before FROM guestbook_notify.notification_queue;
SELECT md5(string_agg(q.id::text || q.status || coalesce(q.provider_message_id, ''), ',' ORDER BY q.id))
	AS rows_before_md5 FROM guestbook_notify.notification_queue q \gset

-- the update
ALTER EXTENSION guestbook_notify UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'guestbook_notify';

-- every row kept; the triggers' keys carry the schema now
SELECT count(*) AS rows_after,
	   md5(string_agg(q.id::text || q.status || coalesce(q.provider_message_id, ''), ',' ORDER BY q.id))
		 = :'rows_before_md5' AS same_rows
  FROM guestbook_notify.notification_queue q;
SELECT template_key, status,
	   regexp_replace(regexp_replace(dedupe_key, ':[0-9]+$', ':<xid>'), '[0-9a-f-]{36}', '<uuid>', 'g') AS dedupe_key
  FROM guestbook_notify.notification_queue ORDER BY created_at;
SELECT number, reason FROM guestbook_notify.opt_outs;
-- the assignment dedupe state comes from 1.0's rows
SELECT app_schema, case_id, operator_id, prev_assignment FROM guestbook_notify.assignment_state;
-- the app's triggers call the new trigger function
SELECT tgrelid::regclass AS "table", tgname, tgfoid::regprocedure AS function
  FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%' ORDER BY 1, 2;

-- it works: Budi assigned again (a repeat: nothing new), then Sari (new)
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
SELECT guestbook_notify.process_events() AS events;
SELECT recipient_name, status FROM guestbook_notify.notification_queue
 WHERE template_key = 'assigned' AND case_id IS NOT NULL ORDER BY created_at;
-- the queued rows are claimed by the new worker interface
SELECT count(*) AS claimed FROM guestbook_notify._claim_unpaced(10, 60);

-- the same extension as one created at the new version
\set ECHO none
\i tests/upgrade/catalog_fingerprint.sql
\set ECHO all
SELECT line AS only_after_update FROM gbn_fingerprint
EXCEPT SELECT unnest(string_to_array(:'fresh_lines', E'\n')) ORDER BY 1;
SELECT line AS only_when_created FROM unnest(string_to_array(:'fresh_lines', E'\n')) AS l(line)
EXCEPT SELECT line FROM gbn_fingerprint ORDER BY 1;

\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE regress_gbn_fresh;
DROP DATABASE regress_gbn_upgrade;
RESET client_min_messages;
