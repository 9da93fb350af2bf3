--
-- 014_sla_tick: the SLA reminders, tick by tick at chosen moments (the
-- internal _sla_tick(zone, now)): nothing out of hours, each step once per
-- case, rule and assignment, a reassignment restarts the clock, progress
-- stops it, several cases for one recipient become a digest, a due time
-- exactly at closing waits for the opening, failed and cancelled
-- reminders say why, escalations, a schema that cannot be read.
--
\set SHOW_CONTEXT never
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

-- sla_tick(), the API, on the real clock: no schema attached, nothing to do.
SELECT guestbook_notify.sla_tick() AS fired;
-- an unknown zone is an error that says what to set
SELECT * FROM show_error($$SELECT guestbook_notify.sla_tick('Mars/Olympus')$$);

-- A guestbook of its own in schema sla_app (the moments below are fixed:
-- the week of Friday 20 November 2026, in WIB).
CREATE SCHEMA sla_app;
SET search_path = sla_app, public;
\set ECHO none
\i tests/schema/guestbook.sql
\set ECHO all
RESET search_path;
INSERT INTO sla_app.org_units (id, code, name, parent_id) VALUES
	('00000000-0000-0000-0000-000000000001', 'DINAS', 'Dinas Kominfo', NULL),
	('00000000-0000-0000-0000-000000000002', 'BID-TIK', 'Bidang TIK', '00000000-0000-0000-0000-000000000001'),
	('00000000-0000-0000-0000-000000000003', 'UPT', 'UPT Warroom', '00000000-0000-0000-0000-000000000002'),
	('00000000-0000-0000-0000-000000000004', 'SEKRE', 'Sekretariat', '00000000-0000-0000-0000-000000000001');
INSERT INTO sla_app.users (id, full_name, role, org_unit_id, whatsapp_number, is_active) VALUES
	('00000000-0000-0000-0000-0000000000a2', 'Budi Operator', 'operator', '00000000-0000-0000-0000-000000000003', '0812-3456-7890', true),
	('00000000-0000-0000-0000-0000000000a3', 'Sari Operator', 'operator', '00000000-0000-0000-0000-000000000003', '+62 813 2222 3333', true),
	('00000000-0000-0000-0000-0000000000a4', 'Ina Nonaktif', 'operator', '00000000-0000-0000-0000-000000000004', '0812-4444-0004', false);
INSERT INTO sla_app.org_unit_contacts (org_unit_id, contact_type, name, whatsapp_number) VALUES
	('00000000-0000-0000-0000-000000000002', 'lead', 'Kabid TIK', '6281377778888'),
	('00000000-0000-0000-0000-000000000001', 'kadis', 'Kepala Dinas', '081299990000');
INSERT INTO sla_app.cases (id, code, case_type, org_unit_id, unit_tujuan, visitor_name,
						   visitor_id_number, purpose, surat_tracking_no, surat_perihal)
SELECT ('00000000-0000-0000-0000-0000000000c' || n)::uuid, code, kind,
	   ('00000000-0000-0000-0000-00000000000' || unit)::uuid, tujuan,
	   CASE kind WHEN 'visitor' THEN 'Pengunjung ' || n END,
	   CASE kind WHEN 'visitor' THEN '320101010101000' || n END,
	   CASE kind WHEN 'visitor' THEN 'Keperluan ' || n END,
	   CASE kind WHEN 'surat' THEN '045/UND/' || n END,
	   CASE kind WHEN 'surat' THEN 'Perihal ' || n END
  FROM (VALUES (1, 'VIS001', 'visitor', 3, 'UPT Warroom'), (2, 'VIS002', 'visitor', 3, 'UPT Warroom'),
			   (3, 'VIS003', 'visitor', 3, 'UPT Warroom'), (4, 'SRT004', 'surat', 2, 'Bidang TIK'),
			   (5, 'VIS005', 'visitor', 3, 'UPT Warroom'), (6, 'VIS006', 'visitor', 4, 'Sekretariat'),
			   (7, 'SRT007', 'surat', 3, 'UPT Warroom')) AS t(n, code, kind, unit, tujuan);
SELECT guestbook_notify.attach('sla_app');

-- The app assigns a case at a given moment (the assignment id fixed, so the
-- output shows the dedupe keys).
CREATE PROCEDURE public.sla_assign(p_code text, p_operator text, p_at timestamptz, p_n integer)
LANGUAGE sql AS $$
	INSERT INTO sla_app.case_assignments (id, case_id, operator_id, assigned_at)
	SELECT ('aaaaaaaa-0000-0000-0000-0000000000' || lpad(p_n::text, 2, '0'))::uuid, c.id, u.id, p_at
	  FROM sla_app.cases c, sla_app.users u
	 WHERE c.code = p_code AND u.full_name = p_operator;
	UPDATE sla_app.cases c
	   SET status = 'assigned', assigned_operator_id = u.id
	  FROM sla_app.users u
	 WHERE c.code = p_code AND u.full_name = p_operator;
$$;
-- What fired: one row per step.
CREATE VIEW public.sla_log AS
SELECT r.id, c.code, r.rule_key, r.recipient_role, r.recipient_name, r.due_at, r.fired_at,
	   r.digest, q.template_key, q.status, q.last_error
  FROM guestbook_notify.sla_reminders r
  JOIN sla_app.cases c ON c.id = r.case_id
  LEFT JOIN guestbook_notify.notification_queue q ON q.id = r.notification_id;

-- ---- the issue's case ----------------------------------------------------
-- VIS001 is assigned to Budi on Friday at 15:50 WIB; the seeded ladder:
-- Budi after 30 working minutes, the unit's lead after 60.
CALL sla_assign('VIS001', 'Budi Operator', '2026-11-20 15:50+07', 1);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-20 16:10+07') AS friday_1610;
SELECT case_code, stage, clock_start, occurrence FROM guestbook_notify.sla_cases;
-- Saturday: 18 hours later on the clock, 10 minutes of working time, and
-- out of hours anyway: nothing
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-21 10:00+07') AS saturday;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 02:00+07') AS monday_night;
-- Monday: 07:49:59 is 29:59 of working time; at 07:50 Budi is reminded
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 07:49:59+07') AS monday_074959;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 07:50+07') AS monday_0750;
-- once: the same tick again, and later ticks, fire nothing more
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 07:50+07') AS again;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 08:00+07') AS monday_0800;
-- the lead at 60 minutes
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 08:20+07') AS monday_0820;
SELECT code, rule_key, recipient_role, recipient_name, due_at, fired_at, digest, template_key, status
  FROM sla_log ORDER BY id;
SELECT q.template_key, q.recipient_role, q.recipient_name, q.to_number, q.status, q.dedupe_key
  FROM guestbook_notify.notification_queue q ORDER BY q.created_at, q.dedupe_key;
-- the message, in text mode and as the template's arguments
SELECT message_text, template_name, template_args
  FROM guestbook_notify.notification_queue WHERE recipient_role = 'operator';

-- ---- a reassignment restarts the clock -------------------------------------
CALL sla_assign('VIS001', 'Sari Operator', '2026-11-23 08:30+07', 2);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 08:59+07') AS at_0859;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 09:00+07') AS at_0900;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 09:30+07') AS at_0930;
SELECT code, rule_key, recipient_name, fired_at FROM sla_log WHERE id > 2 ORDER BY id;

-- ---- progress stops the clock ----------------------------------------------
CALL sla_assign('VIS002', 'Budi Operator', '2026-11-23 09:00+07', 3);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 09:10+07') AS at_0910;
UPDATE sla_app.cases SET status = 'in_progress' WHERE code = 'VIS002';
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 09:45+07') AS at_0945;
SELECT case_code, stage FROM guestbook_notify.sla_cases ORDER BY case_code;
SELECT count(*) AS vis002_reminders FROM sla_log WHERE code = 'VIS002';

-- ---- several cases for one recipient at one tick: a digest -----------------
CALL sla_assign('VIS003', 'Budi Operator', '2026-11-23 10:00+07', 4);
CALL sla_assign('SRT004', 'Budi Operator', '2026-11-23 10:00+07', 5);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 10:30+07') AS at_1030;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 11:00+07') AS at_1100;
SELECT code, rule_key, recipient_name, digest, template_key FROM sla_log WHERE id > 4 ORDER BY id;
-- one message each for Budi and for the lead, listing both cases
SELECT recipient_name, message_text, template_name, template_args
  FROM guestbook_notify.notification_queue WHERE template_key = 'sla_digest'
 ORDER BY recipient_name;

-- ---- due exactly at closing: reminded when the office opens ----------------
-- VIS005 is assigned to Sari on Monday at 15:30: 30 minutes run out at
-- 16:00, closing time.  Sari has opted out meanwhile: a cancelled row.
CALL sla_assign('VIS005', 'Sari Operator', '2026-11-23 15:30+07', 6);
SELECT guestbook_notify.opt_out('+62 813 2222 3333', 'uji');
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 16:00+07') AS at_closing;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-23 21:00+07') AS at_night;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 07:29+07') AS tuesday_0729;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 07:30+07') AS tuesday_0730;
SELECT code, rule_key, recipient_name, due_at, fired_at, status, last_error
  FROM sla_log WHERE code = 'VIS005';
SELECT guestbook_notify.opt_in('+62 813 2222 3333');

-- ---- no recipient: a failed row that says why --------------------------------
-- VIS006: its operator is inactive, and Sekretariat has no lead up its tree.
CALL sla_assign('VIS006', 'Ina Nonaktif', '2026-11-24 08:00+07', 7);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 09:00+07') AS at_0900;
SELECT code, rule_key, recipient_role, recipient_name, status, last_error
  FROM sla_log WHERE code = 'VIS006' ORDER BY id;

-- ---- escalations: the clock starts when a tick first sees the level ------------
-- The app keeps no time of the change: a rule on escalated_lead counts from
-- the first tick that sees it (at most one sla_interval late, never early).
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient)
VALUES ('escalated_lead_kadis_30m', 'escalated_lead', '30 minutes', 'kadis');
UPDATE sla_app.cases SET status = 'escalated', escalation_level = 'lead' WHERE code = 'SRT004';
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 09:30+07') AS at_0930;
SELECT case_code, stage, stage_since, clock_start, occurrence
  FROM guestbook_notify.sla_cases WHERE case_code = 'SRT004';
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 09:59+07') AS at_0959;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 10:00+07') AS at_1000;
-- de-escalated (its assignment's steps fired already), then escalated
-- again: a new occurrence, a new reminder 30 minutes after it is seen
UPDATE sla_app.cases SET status = 'assigned', escalation_level = 'none' WHERE code = 'SRT004';
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 10:05+07') AS at_1005;
UPDATE sla_app.cases SET status = 'escalated', escalation_level = 'lead' WHERE code = 'SRT004';
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 10:10+07') AS at_1010;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-24 10:40+07') AS at_1040;
SELECT code, rule_key, recipient_role, recipient_name, fired_at FROM sla_log
 WHERE code = 'SRT004' ORDER BY id;
UPDATE sla_app.cases SET status = 'resolved' WHERE code = 'SRT004';

-- ---- two rules due at once for one case and one recipient: one message ---------
-- A rule for letters only: the operator after 15 minutes.  SRT007 is
-- assigned on Tuesday at 15:40; by Wednesday 08:00 both of Budi's rules are
-- due (50 working minutes): one reminder; the lead's at 08:10.
INSERT INTO guestbook_notify.sla_rules (key, stage, case_type, after, recipient)
VALUES ('surat_operator_15m', 'assigned', 'surat', '15 minutes', 'operator');
CALL sla_assign('SRT007', 'Budi Operator', '2026-11-24 15:40+07', 8);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-25 08:00+07') AS wednesday_0800;
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-25 08:10+07') AS wednesday_0810;
SELECT code, rule_key, recipient_name, due_at, fired_at, template_key FROM sla_log
 WHERE code = 'SRT007' ORDER BY id;
SELECT q.dedupe_key FROM guestbook_notify.notification_queue q
  JOIN sla_app.cases c ON c.id = q.case_id
 WHERE c.code = 'SRT007' AND q.template_key = 'sla_reminder' ORDER BY 1;

-- ---- the audit: a case_events 'sla_reminder' per step --------------------------
SELECT guestbook_notify.write_audit() > 0 AS written;
SELECT c.code, e.event_type, e.details ->> 'rule' AS rule, e.details ->> 'recipient_role' AS role,
	   e.details ->> 'working_seconds' AS worked_s, e.details ->> 'digest' AS digest,
	   e.details ->> 'error' AS error
  FROM sla_app.case_events e JOIN sla_app.cases c ON c.id = e.case_id
 ORDER BY e.id;
SELECT count(*) AS linked_to_their_notification
  FROM sla_app.case_events e
  JOIN guestbook_notify.sla_reminders r
	ON r.notification_id = (e.details ->> 'notification_id')::uuid AND r.case_id = e.case_id
	   AND r.rule_key = e.details ->> 'rule'
 WHERE e.event_type = 'sla_reminder';

-- ---- the "Terlambat" view: the open cases past their first rule ----------------
SELECT case_code, stage, waiting_since, overdue_since, reminders, last_recipient_role,
	   last_notification_status
  FROM guestbook_notify.sla_overdue ORDER BY case_code;

-- ---- the app's admin role, with the README's grants ---------------------------
CREATE ROLE regress_gbn_sla_admin;
GRANT SELECT ON guestbook_notify.sla_overdue, guestbook_notify.sla_reminders
	TO regress_gbn_sla_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON guestbook_notify.sla_rules, guestbook_notify.sla_holidays
	TO regress_gbn_sla_admin;
GRANT SELECT, UPDATE ON guestbook_notify.sla_business_hours TO regress_gbn_sla_admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.add_working_time(timestamptz, interval, text),
	guestbook_notify.working_time_between(timestamptz, timestamptz, text),
	guestbook_notify.next_working_moment(timestamptz, text) TO regress_gbn_sla_admin;
SET ROLE regress_gbn_sla_admin;
-- the page reads the overdue cases; the admin keeps the ladder and the calendar
SELECT count(*) AS terlambat FROM guestbook_notify.sla_overdue;
UPDATE guestbook_notify.sla_rules SET enabled = false WHERE key = 'surat_operator_15m';
INSERT INTO guestbook_notify.sla_holidays (day, name) VALUES ('2027-01-01', 'Tahun Baru 2027 Masehi');
UPDATE guestbook_notify.sla_business_hours SET hours = '{[07:30,16:00)}' WHERE weekday = 1;
SELECT guestbook_notify.add_working_time('2026-12-31 15:50+07', '30 minutes') AS due_after_new_year;
-- but neither runs the tick nor reads or changes its state
SELECT * FROM show_error($$SELECT guestbook_notify.sla_tick()$$);
SELECT * FROM show_error($$SELECT guestbook_notify._sla_tick(NULL, NULL)$$);
SELECT * FROM show_error($$DELETE FROM guestbook_notify.sla_cases$$);
SELECT * FROM show_error($$DELETE FROM guestbook_notify.sla_reminders$$);
RESET ROLE;
DELETE FROM guestbook_notify.sla_holidays WHERE day = '2027-01-01';
DROP OWNED BY regress_gbn_sla_admin;
DROP ROLE regress_gbn_sla_admin;

-- ---- a schema whose tables cannot be read is skipped, the others go on ---------
CREATE SCHEMA sla_broken;
SET search_path = sla_broken, public;
\set ECHO none
\i tests/schema/guestbook.sql
\set ECHO all
RESET search_path;
SELECT guestbook_notify.attach('sla_broken');
ALTER TABLE sla_broken.cases RENAME TO cases_table;
CREATE VIEW sla_broken.cases AS SELECT * FROM sla_broken.cases_table;
CALL sla_assign('VIS003', 'Sari Operator', '2026-11-25 11:00+07', 9);
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-25 11:30+07') AS at_1130;
SELECT code, rule_key, recipient_name FROM sla_log WHERE fired_at = '2026-11-25 11:30+07';
SELECT guestbook_notify.detach('sla_broken');
DROP SCHEMA sla_broken CASCADE;

-- ---- detached: the tick forgets the schema ---------------------------------------
SELECT count(*) AS tracked FROM guestbook_notify.sla_cases;
SELECT guestbook_notify.detach('sla_app');
SELECT guestbook_notify._sla_tick('Asia/Jakarta', '2026-11-25 12:00+07') AS detached;
SELECT count(*) AS tracked FROM guestbook_notify.sla_cases;

DROP VIEW sla_log;
DROP PROCEDURE sla_assign(text, text, timestamptz, integer);
DROP SCHEMA sla_app CASCADE;
