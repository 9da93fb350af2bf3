--
-- 001_install: the extension, the reference guestbook schema, the seeds.
--
\set SHOW_CONTEXT never
CREATE EXTENSION guestbook_notify;

-- The app's tables (owned by the app, not the extension) in schema public,
-- with the sample data: a Dinas with two units, operators, a lead, a kadis.
\set ECHO none
\i tests/schema/guestbook.sql
\i tests/schema/sample_data.sql
\set ECHO all

-- The extension's relations and its SQL API (internal "_" functions and
-- the C functions are left out). Nothing of the app's is an extension member.
SELECT pg_describe_object(d.classid, d.objid, 0) AS member
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'guestbook_notify')
   AND d.deptype = 'e'
   AND NOT (d.classid = 'pg_proc'::regclass
			AND (SELECT p.proname LIKE '\_%' OR l.lanname = 'c'
				   FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
				  WHERE p.oid = d.objid))
 ORDER BY pg_describe_object(d.classid, d.objid, 0) COLLATE "C";

-- Data tables are dumped by pg_dump.
SELECT c.relname
  FROM pg_extension e, unnest(e.extconfig) AS t(oid)
  JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'guestbook_notify'
 ORDER BY c.relname::text COLLATE "C";

-- The seeded templates: every field of the messages, Indonesian, language
-- 'id', the Cloud API template names and their ordered parameters.
SELECT key, cloud_template_name, language, param_names
  FROM guestbook_notify.templates ORDER BY key;
SELECT key, body FROM guestbook_notify.templates ORDER BY key;

-- The regress instance sets the detail-link base.
SHOW guestbook_notify.app_base_url;

-- A test helper: runs a statement and shows every field of its error
-- (errcode, message, detail, hint), without the source location.
CREATE FUNCTION public.show_error(sql text)
RETURNS TABLE (errcode text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	errcode := 'no error';
	RETURN NEXT;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS errcode = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
							detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RETURN NEXT;
END;
$$;

-- A test view of the queue without what varies between runs (ids, times,
-- transaction ids): the dedupe_key's last part is masked.
CREATE VIEW public.queue_rows AS
SELECT q.template_key, q.status, q.recipient_role, q.recipient_name,
	   q.to_number, q.to_number_raw, q.template_params ->> 'case_code' AS case_code,
	   q.last_error,
	   regexp_replace(regexp_replace(q.dedupe_key, ':[0-9]+$', ':<xid>'),
					  ':[0-9a-f-]{36}$', ':<earlier assignment>') AS dedupe_key
  FROM guestbook_notify.notification_queue q;

-- A test helper: what the worker does right after a commit -- the
-- triggers' events become queue rows, queued case_events rows are written --
-- run here, in the test's session (the regression instance's worker serves
-- another database).
CREATE PROCEDURE public.settle()
LANGUAGE sql AS $$
	SELECT guestbook_notify.process_events();
	SELECT guestbook_notify.write_audit();
$$;
