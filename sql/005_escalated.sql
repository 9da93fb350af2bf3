--
-- 005_escalated: the trigger on cases notifies the lead (walking up the
-- org unit tree) and the kadis (of the root unit).
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue;
TRUNCATE case_events;

-- ABC123 belongs to UPT Warroom, which has no lead contact: the lead of
-- its parent, Bidang TIK, is notified.
UPDATE cases SET escalation_level = 'lead', status = 'escalated' WHERE code = 'ABC123';
CALL settle();
SELECT * FROM queue_rows;
CALL settle();
SELECT message_text FROM guestbook_notify.notification_queue;

-- No new transition, no new row: the same statement again, other columns,
-- status changes while at lead.
UPDATE cases SET escalation_level = 'lead', status = 'escalated' WHERE code = 'ABC123';
UPDATE cases SET purpose = purpose || '.' WHERE code = 'ABC123';
UPDATE cases SET status = 'in_progress' WHERE code = 'ABC123';
CALL settle();
SELECT count(*) FROM guestbook_notify.notification_queue;

-- lead -> kadis: the Kepala Dinas of the root unit (DISKOMINFO).
UPDATE cases SET escalation_level = 'kadis' WHERE code = 'ABC123';
CALL settle();
SELECT template_key, recipient_role, recipient_name, to_number, case_code, dedupe_key
  FROM queue_rows ORDER BY template_key;
CALL settle();
SELECT split_part(message_text, E'\n', 1) AS first_line
  FROM guestbook_notify.notification_queue ORDER BY 1;

-- De-escalated, then escalated again (a later transaction): notified again.
UPDATE cases SET escalation_level = 'none', status = 'in_progress' WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
CALL settle();
SELECT template_key, count(*) FROM queue_rows GROUP BY 1 ORDER BY 1;

-- Escalated, de-escalated and escalated again in ONE transaction: one row
-- (the same transition of the same transaction).
UPDATE cases SET escalation_level = 'none', status = 'in_progress' WHERE code = 'ABC123';
BEGIN;
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'none' WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
COMMIT;
CALL settle();
SELECT template_key, count(*) FROM queue_rows GROUP BY 1 ORDER BY 1;

-- status 'escalated' with escalation_level 'none' also means "at lead".
TRUNCATE guestbook_notify.notification_queue;
UPDATE cases SET status = 'escalated' WHERE code = 'SRT001';
CALL settle();
SELECT template_key, recipient_name, case_code FROM queue_rows;
-- and then escalation_level 'lead': no new transition
UPDATE cases SET escalation_level = 'lead' WHERE code = 'SRT001';
CALL settle();
SELECT count(*) FROM guestbook_notify.notification_queue;

-- A lead of the case's own unit comes first; inactive contacts are skipped.
TRUNCATE guestbook_notify.notification_queue;
UPDATE cases SET escalation_level = 'none', status = 'in_progress';
INSERT INTO org_unit_contacts (org_unit_id, contact_type, name, whatsapp_number, is_active) VALUES
	('00000000-0000-0000-0000-000000000003', 'lead', 'Koordinator UPT', '0813-5555-0001', true),
	('00000000-0000-0000-0000-000000000003', 'lead', 'Koordinator Lama', '0813-5555-0009', false);
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
CALL settle();
SELECT recipient_name, to_number FROM queue_rows;
-- the unit's lead inactive: up to the parent's again
UPDATE org_unit_contacts SET is_active = false WHERE name = 'Koordinator UPT';
UPDATE cases SET escalation_level = 'none' WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
CALL settle();
SELECT recipient_name, to_number FROM queue_rows ORDER BY 1;

-- No active lead anywhere up the tree: a 'failed' row and a case event;
-- the escalation commits.
TRUNCATE guestbook_notify.notification_queue;
UPDATE org_unit_contacts SET is_active = false WHERE name = 'Kabid TIK';
UPDATE cases SET escalation_level = 'none' WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'lead' WHERE code = 'ABC123';
CALL settle();
SELECT template_key, status, recipient_role, recipient_name, to_number, last_error FROM queue_rows;
SELECT escalation_level FROM cases WHERE code = 'ABC123';

-- No active kadis at the root: 'failed'.
UPDATE org_unit_contacts SET is_active = false WHERE contact_type = 'kadis';
UPDATE cases SET escalation_level = 'kadis' WHERE code = 'ABC123';
CALL settle();
SELECT template_key, status, last_error FROM queue_rows WHERE template_key = 'escalated_kadis';

-- A contact with an invalid number: 'failed', naming the number and contact.
UPDATE org_unit_contacts SET is_active = true, whatsapp_number = '12345' WHERE name = 'Kabid TIK';
UPDATE cases SET escalation_level = 'lead' WHERE code = 'SRT001';
CALL settle();
SELECT template_key, status, case_code, to_number_raw, last_error FROM queue_rows WHERE case_code = 'SRT001';
CALL settle();
SELECT event_type, details ->> 'template' AS template, details ->> 'error' AS error
  FROM case_events ORDER BY id;
UPDATE org_unit_contacts SET is_active = true, whatsapp_number = '6281377778888' WHERE name = 'Kabid TIK';
UPDATE org_unit_contacts SET is_active = true WHERE contact_type = 'kadis';

-- A case inserted already escalated notifies at once (the INSERT trigger).
TRUNCATE guestbook_notify.notification_queue;
INSERT INTO cases (id, code, case_type, status, escalation_level, org_unit_id, unit_tujuan,
				   surat_tracking_no, surat_perihal)
VALUES ('00000000-0000-0000-0000-0000000000c3', 'SRT002', 'surat', 'escalated', 'kadis',
		'00000000-0000-0000-0000-000000000002', 'Bidang TIK', '099/SEK/2026', 'Laporan');
-- a new case that is not escalated: nothing
INSERT INTO cases (id, code, case_type, org_unit_id)
VALUES ('00000000-0000-0000-0000-0000000000c4', 'VIS004', 'visitor', '00000000-0000-0000-0000-000000000003');
CALL settle();
SELECT template_key, recipient_name, case_code, status FROM queue_rows;

-- A cycle in the org unit tree does not hang the trigger.
BEGIN;
INSERT INTO org_units (id, code, name, parent_id) VALUES
	('00000000-0000-0000-0000-000000000011', 'LOOP-A', 'Loop A', NULL),
	('00000000-0000-0000-0000-000000000012', 'LOOP-B', 'Loop B', '00000000-0000-0000-0000-000000000011');
UPDATE org_units SET parent_id = '00000000-0000-0000-0000-000000000012'
 WHERE id = '00000000-0000-0000-0000-000000000011';
INSERT INTO cases (code, case_type, status, escalation_level, org_unit_id)
VALUES ('LOOP01', 'visitor', 'escalated', 'kadis', '00000000-0000-0000-0000-000000000011');
CALL settle();
SELECT template_key, status, last_error FROM queue_rows WHERE case_code = 'LOOP01';
ROLLBACK;
