--
-- 010_privileges: PUBLIC can change nothing; the app's roles fire the
-- triggers without rights on our tables; SECURITY DEFINER functions pin
-- search_path.
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue;

-- Functions PUBLIC may execute: only the pure ones (no table access).
SELECT p.oid::regprocedure::text AS public_function
  FROM pg_proc p
 WHERE p.pronamespace = 'guestbook_notify'::regnamespace
   AND (p.proacl IS NULL
		OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
					WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- Relations PUBLIC has any right on: none.
SELECT c.oid::regclass::text AS public_relation
  FROM pg_class c
 WHERE c.relnamespace = 'guestbook_notify'::regnamespace
   AND EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
				WHERE a.grantee = 0)
 ORDER BY c.relname::text COLLATE "C";

-- Every SECURITY DEFINER function pins search_path.
SELECT p.oid::regprocedure::text AS security_definer, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'guestbook_notify'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS definer_without_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'guestbook_notify'::regnamespace AND p.prosecdef
   AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);

-- The app's role: rights on its own tables only.
CREATE ROLE regress_gbn_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO regress_gbn_app;
SET ROLE regress_gbn_app;
-- it assigns and escalates: the triggers queue the notifications
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
UPDATE cases SET escalation_level = 'none', status = 'in_progress' WHERE code = 'SRT001';
UPDATE cases SET escalation_level = 'kadis' WHERE code = 'SRT001';
-- it cannot read or change our tables
SELECT count(*) FROM guestbook_notify.notification_queue;
SELECT count(*) FROM guestbook_notify.notifications;
SELECT count(*) FROM guestbook_notify.trigger_events;
DELETE FROM guestbook_notify.opt_outs;
UPDATE guestbook_notify.templates SET body = 'x';
-- nor call any state-changing function (each: permission denied)
SELECT fn, (SELECT errcode || ': ' || message FROM show_error('SELECT ' || call)) AS result
  FROM (VALUES
	('enqueue', $$guestbook_notify.enqueue('assigned', '081234567890')$$),
	('requeue', $$guestbook_notify.requeue('00000000-0000-0000-0000-000000000000')$$),
	('cancel', $$guestbook_notify.cancel('00000000-0000-0000-0000-000000000000')$$),
	('requeue_failed', $$guestbook_notify.requeue_failed()$$),
	('opt_out', $$guestbook_notify.opt_out('081234567890')$$),
	('opt_in', $$guestbook_notify.opt_in('081234567890')$$),
	('record_status', $$guestbook_notify.record_status('wamid.X', 'read')$$),
	('ingest_webhook', $$guestbook_notify.ingest_webhook('{"entry": []}')$$),
	('attach', $$guestbook_notify.attach('public')$$),
	('detach', $$guestbook_notify.detach('public')$$),
	('render', $$guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000c1')$$),
	('wake', $$guestbook_notify.wake()$$),
	('_claim_paced', $$guestbook_notify._claim_paced(1, 1, 0, 0)$$),
	('_record_result', $$guestbook_notify._record_result(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)$$),
	('_enqueue_row', $$guestbook_notify._enqueue_row('assigned', '081234567890', NULL, NULL, '{}', NULL, NULL, NULL, NULL, NULL)$$),
	('_trg_event', $$guestbook_notify._trg_event()$$),
	('_app_select', $$guestbook_notify._app_select('public', 'users', 'SELECT 1')$$),
	('_render_text', $$guestbook_notify._render_text('x', '{}')$$),
	('process_events', $$guestbook_notify.process_events()$$),
	('write_audit', $$guestbook_notify.write_audit()$$)) AS t(fn, call);
-- normalize_number is for everyone
SELECT guestbook_notify.normalize_number('0812-3456-7890');
RESET ROLE;
CALL settle();
SELECT template_key, recipient_name, status FROM queue_rows ORDER BY 1;

-- The README's grants for the app's admin role work.
CREATE ROLE regress_gbn_admin;
GRANT SELECT ON guestbook_notify.notifications TO regress_gbn_admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.requeue(uuid), guestbook_notify.cancel(uuid),
	guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz),
	guestbook_notify.render(text, uuid), guestbook_notify.opt_out(text, text)
	TO regress_gbn_admin;
SET ROLE regress_gbn_admin;
SELECT template_key, recipient_name, status FROM guestbook_notify.notifications ORDER BY 1;
SELECT guestbook_notify.cancel(id) FROM guestbook_notify.notifications WHERE template_key = 'assigned';
SELECT guestbook_notify.enqueue('assigned', '0812-7000-0001') IS NOT NULL AS queued;
SELECT guestbook_notify.opt_out('0812-7000-0001', 'admin');
SELECT split_part(guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000c1'), E'\n', 1);
-- a search_path with a hostile schema first changes nothing for a
-- SECURITY DEFINER function
RESET ROLE;
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT 'epoch'::timestamptz$$;
CREATE TABLE regress_evil.opt_outs (number text);
GRANT USAGE ON SCHEMA regress_evil TO regress_gbn_admin;
SET ROLE regress_gbn_admin;
SET search_path = regress_evil, public;
SELECT guestbook_notify.enqueue('assigned', '0812-7000-0002') AS e \gset
RESET search_path;
RESET ROLE;
CALL settle();
SELECT status, scheduled_at > 'epoch'::timestamptz AS real_now
  FROM guestbook_notify.notification_queue WHERE id = :'e';
DROP SCHEMA regress_evil CASCADE;
SELECT guestbook_notify.opt_in('0812-7000-0001');

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM regress_gbn_app;
REVOKE ALL ON guestbook_notify.notifications FROM regress_gbn_admin;
REVOKE ALL ON FUNCTION guestbook_notify.requeue(uuid), guestbook_notify.cancel(uuid),
	guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz),
	guestbook_notify.render(text, uuid), guestbook_notify.opt_out(text, text)
	FROM regress_gbn_admin;
DROP ROLE regress_gbn_app;
DROP ROLE regress_gbn_admin;
