--
-- 011_drop: DROP EXTENSION never takes the app's data with it.
--
\set SHOW_CONTEXT never
SELECT count(*) AS cases FROM cases \gset
SELECT count(*) AS assignments FROM case_assignments \gset
CALL settle();
SELECT count(*) AS events FROM case_events \gset
DROP VIEW queue_rows;		-- the tests' view over our queue

-- With a schema attached, a plain DROP is refused: the app's triggers
-- depend on the extension.
DROP EXTENSION guestbook_notify;

-- CASCADE drops the triggers, and only them: the app's tables and rows stay.
DROP EXTENSION guestbook_notify CASCADE;
SELECT count(*) = :cases AS cases_kept FROM cases;
SELECT count(*) = :assignments AS assignments_kept FROM case_assignments;
SELECT count(*) = :events AS events_kept FROM case_events;
SELECT count(*) AS our_triggers FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%';
SELECT count(*) AS our_schema FROM pg_namespace WHERE nspname = 'guestbook_notify';
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgrelid IN ('cases'::regclass, 'case_assignments'::regclass) AND NOT tgisinternal;
-- the app goes on working without it
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
UPDATE cases SET escalation_level = 'kadis' WHERE code = 'SRT001';

-- Installed again: detached schemas have no triggers; after detach() a
-- plain DROP EXTENSION works.
CREATE EXTENSION guestbook_notify;
SELECT count(*) AS attached FROM guestbook_notify.attached_schemas;
SELECT guestbook_notify.attach();
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT template_key, recipient_name, status FROM guestbook_notify.notification_queue;
SELECT guestbook_notify.detach();
DROP EXTENSION guestbook_notify;
SELECT count(*) = :assignments + 2 AS assignments_kept FROM case_assignments;
