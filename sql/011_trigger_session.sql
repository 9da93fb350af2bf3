--
-- 011_trigger_session: the assigned trigger (C, src/trigger_assigned.c)
-- keeps its statements for the session, one lookup per app schema.  In ONE
-- session: two schemas side by side, a schema dropped and created again
-- under the same name, a table altered, and a hostile search_path -- each
-- time the row must come from the attached schema's current tables.
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue;

CREATE SCHEMA app2;
SET search_path = app2;
\set ECHO none
\i tests/schema/guestbook.sql
\i tests/schema/sample_data.sql
\set ECHO all
RESET search_path;
UPDATE app2.users SET full_name = 'Budi di app2', whatsapp_number = '0812-0000-0002'
 WHERE id = '00000000-0000-0000-0000-0000000000a2';
SELECT guestbook_notify.attach('app2');

-- the same ids in public and app2: each trigger reads its own schema
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
INSERT INTO app2.case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT app_schema, recipient_name, to_number, status
  FROM guestbook_notify.notification_queue ORDER BY app_schema COLLATE "C";

-- app2 dropped and created again under the same name (new tables, new
-- OIDs): the kept statement is planned again against the new tables
SELECT guestbook_notify.detach('app2');
SET client_min_messages = warning;
DROP SCHEMA app2 CASCADE;
RESET client_min_messages;
CREATE SCHEMA app2;
SET search_path = app2;
\set ECHO none
\i tests/schema/guestbook.sql
\i tests/schema/sample_data.sql
\set ECHO all
RESET search_path;
UPDATE app2.users SET full_name = 'Budi baru', whatsapp_number = '0812-0000-0003'
 WHERE id = '00000000-0000-0000-0000-0000000000a2';
SELECT guestbook_notify.attach('app2');
INSERT INTO app2.case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT recipient_name, to_number, status, left(message_text, 30) AS message
  FROM guestbook_notify.notification_queue
 WHERE app_schema = 'app2' AND case_id = '00000000-0000-0000-0000-0000000000c2';

-- a column added to the app's table: still the same answer
ALTER TABLE app2.users ADD COLUMN nickname text;
ALTER TABLE app2.cases ADD COLUMN priority integer;
INSERT INTO app2.case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
CALL settle();
SELECT recipient_name, to_number, status
  FROM guestbook_notify.notification_queue
 WHERE app_schema = 'app2' AND case_id = '00000000-0000-0000-0000-0000000000c2'
 ORDER BY created_at, recipient_name;

-- a hostile search_path: tables named like the app's and like ours in a
-- schema searched first change nothing (the statements are qualified)
CREATE SCHEMA regress_shadow;
CREATE TABLE regress_shadow.users (id uuid, full_name text, whatsapp_number text,
								   is_active boolean);
INSERT INTO regress_shadow.users
VALUES ('00000000-0000-0000-0000-0000000000a3', 'Penyusup', '0812-9999-9999', true);
CREATE TABLE regress_shadow.templates (key text, body text, cloud_template_name text,
									   language text, param_names text[]);
INSERT INTO regress_shadow.templates VALUES ('assigned', 'disadap', 'x', 'id', '{}');
SET search_path = regress_shadow, app2, public;
INSERT INTO app2.case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
RESET search_path;
CALL settle();
SELECT recipient_name, to_number, left(message_text, 30) AS message
  FROM guestbook_notify.notification_queue
 WHERE app_schema = 'app2' AND case_id = '00000000-0000-0000-0000-0000000000c1'
   AND recipient_role = 'operator' AND recipient_name <> 'Budi di app2';

-- clean up: app2 detached and gone, the queue as the next test expects
SELECT guestbook_notify.detach('app2');
SET client_min_messages = warning;
DROP SCHEMA app2 CASCADE;
DROP SCHEMA regress_shadow CASCADE;
RESET client_min_messages;
TRUNCATE guestbook_notify.notification_queue;
