--
-- 004_assigned: the trigger on case_assignments notifies the operator.
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue;

-- Rina (resepsionis) assigns ABC123 to Budi: one pending row, to Budi's
-- number normalised ('0812-3456-7890' -> 6281234567890).
INSERT INTO case_assignments (case_id, operator_id, assigned_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2',
		'00000000-0000-0000-0000-0000000000a1');
CALL settle();
SELECT * FROM queue_rows;

-- The message is SPEC §3's example, and the snapshot of the template.
CALL settle();
SELECT message_text FROM guestbook_notify.notification_queue;
CALL settle();
SELECT channel, template_name, template_language, app_schema, case_id,
	   attempt_count, lease_until, sent_at, scheduled_at <= now() AS due
  FROM guestbook_notify.notification_queue;
-- template_args: the values in param_names order, flattened for the Cloud
-- API (no newlines); template_params: every value by name, byte-exact.
CALL settle();
SELECT i, arg
  FROM guestbook_notify.notification_queue, unnest(template_args) WITH ORDINALITY AS a(arg, i)
 ORDER BY i;
CALL settle();
SELECT jsonb_pretty(template_params) FROM guestbook_notify.notification_queue;

-- The same assignment inserted again (a repeated statement): no second row.
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
-- twice in one statement: still none
INSERT INTO case_assignments (case_id, operator_id)
SELECT '00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2'
  FROM generate_series(1, 2);
SELECT count(*) AS assignments FROM case_assignments;
CALL settle();
SELECT count(*) AS notifications FROM guestbook_notify.notification_queue;

-- Reassigned to Sari, then back to Budi: both are told (new transitions);
-- Budi assigned again right after: nothing new.
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT recipient_name, to_number, dedupe_key FROM queue_rows ORDER BY 1, 3;

-- A retried transaction: the first try rolled back (with its queue row),
-- the retry notifies once.
BEGIN;
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
ROLLBACK;
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
CALL settle();
SELECT recipient_name, case_code, status, dedupe_key FROM queue_rows WHERE case_code = 'SRT001';

-- Problems never abort the app's transaction: each assignment below commits
-- and leaves a 'failed' row with a readable reason and a case_events
-- 'notification_failed' (or a 'cancelled' row for an opted-out number).
TRUNCATE guestbook_notify.notification_queue;
INSERT INTO users (id, full_name, role, org_unit_id, whatsapp_number, is_active) VALUES
	('00000000-0000-0000-0000-0000000000b1', 'Tono Tanpa Nomor', 'operator', '00000000-0000-0000-0000-000000000003', NULL, true),
	('00000000-0000-0000-0000-0000000000b2', 'Budi Salah Nomor', 'operator', '00000000-0000-0000-0000-000000000003', '12345', true),
	('00000000-0000-0000-0000-0000000000b3', 'Iwan Nonaktif', 'operator', '00000000-0000-0000-0000-000000000003', '0812-7777-0001', false),
	('00000000-0000-0000-0000-0000000000b4', 'Oki Opt-out', 'operator', '00000000-0000-0000-0000-000000000003', '0812 7777 0002', true),
	('00000000-0000-0000-0000-0000000000b5', 'Eka Kosong', 'operator', '00000000-0000-0000-0000-000000000003', '  ', true);
SELECT guestbook_notify.opt_out('0812-7777-0002', 'minta berhenti');
-- NULL number
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b1');
-- invalid number
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b2');
-- inactive operator
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b3');
-- opted-out operator: 'cancelled'
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b4');
-- blank number
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b5');
CALL settle();
SELECT recipient_name, status, to_number, to_number_raw, last_error
  FROM queue_rows ORDER BY recipient_name;
CALL settle();
SELECT event_type, details ->> 'recipient_name' AS recipient, details ->> 'error' AS error
  FROM case_events ORDER BY id;
-- The number fixed in the app and the same assignment made again: the
-- failed row is redone in place (same row, now pending); repeating it
-- changes nothing more. A repeat that still has no valid number leaves the
-- failed row alone (no second row, no second event).
INSERT INTO cases (id, code, case_type, status, org_unit_id)
VALUES ('00000000-0000-0000-0000-0000000000e1', 'FIX001', 'visitor', 'new',
		'00000000-0000-0000-0000-000000000003');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000b2');
CALL settle();
SELECT id AS fix_id FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' = 'FIX001' \gset
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000b2');
CALL settle();
SELECT status, last_error FROM queue_rows WHERE case_code = 'FIX001';
UPDATE users SET whatsapp_number = '0812 8888 0002' WHERE id = '00000000-0000-0000-0000-0000000000b2';
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000b2');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000e1', '00000000-0000-0000-0000-0000000000b2');
CALL settle();
SELECT id = :'fix_id' AS same_row, status, to_number, to_number_raw, last_error, attempt_count
  FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' = 'FIX001';
CALL settle();
SELECT count(*) AS failure_events FROM case_events
 WHERE case_id = '00000000-0000-0000-0000-0000000000e1';
UPDATE users SET whatsapp_number = '12345' WHERE id = '00000000-0000-0000-0000-0000000000b2';
-- every row carries its message all the same
CALL settle();
SELECT count(*) FILTER (WHERE message_text LIKE '[GUESTBOOK] Case %') AS with_message
  FROM guestbook_notify.notification_queue;

-- An operator missing from users (an app schema without the foreign key):
-- 'failed', the assignment commits.
BEGIN;
ALTER TABLE case_assignments DROP CONSTRAINT case_assignments_operator_id_fkey;
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000ff');
CALL settle();
SELECT recipient_name, status, last_error FROM queue_rows
 WHERE recipient_name = '00000000-0000-0000-0000-0000000000ff';
ROLLBACK;

-- The assigned template deleted by an admin: 'failed', the assignment commits.
BEGIN;
DELETE FROM guestbook_notify.templates WHERE key = 'assigned';
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
CALL settle();
SELECT q.recipient_name, q.status, q.last_error, q.template_name, q.message_text
  FROM guestbook_notify.notification_queue q WHERE q.last_error LIKE 'template%';
ROLLBACK;

-- The app's case_events refuses our event (its own CHECK): a WARNING, the
-- failed row stays and the assignment commits.
ALTER TABLE case_events ADD CONSTRAINT only_app_events CHECK (event_type <> 'notification_failed') NOT VALID;
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b1');
CALL settle();
SELECT recipient_name, case_code, status, last_error FROM queue_rows WHERE case_code = 'ABC123';
-- the refused case_events row is kept, with the app's error, and shown
SELECT recipient_name, audit_pending, audit_error
  FROM guestbook_notify.notifications WHERE case_code = 'ABC123';
ALTER TABLE case_events DROP CONSTRAINT only_app_events;
-- once the app takes it (its backoff over), it is written, and gone from the outbox
UPDATE guestbook_notify.audit_outbox SET next_try_at = now();
CALL settle();
SELECT recipient_name, audit_pending FROM guestbook_notify.notifications WHERE case_code = 'ABC123';
SELECT details ->> 'recipient_name' AS recipient_name, details ->> 'error' AS error
  FROM case_events WHERE event_type = 'notification_failed'
   AND details ->> 'recipient_name' = 'Tono Tanpa Nomor' AND case_id = '00000000-0000-0000-0000-0000000000c1';

-- All the assignments above committed.
SELECT count(*) AS assignments FROM case_assignments;
UPDATE users SET is_active = false WHERE id = '00000000-0000-0000-0000-0000000000b4';
