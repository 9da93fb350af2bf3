--
-- 009_templates_view: editing templates (and the restore path), the admin
-- view.
--
\set SHOW_CONTEXT never

-- An admin edits a template: updated_at follows.
SELECT updated_at AS before FROM guestbook_notify.templates WHERE key = 'assigned' \gset
UPDATE guestbook_notify.templates
   SET body = body || E'\nTerima kasih.' WHERE key = 'assigned';
SELECT updated_at > :'before' AS touched, right(body, 13)
  FROM guestbook_notify.templates WHERE key = 'assigned';

-- An INSERT of an existing key updates that row instead of failing: what
-- pg_restore does when it COPYs the dumped rows over the seeded ones.
INSERT INTO guestbook_notify.templates (key, body, cloud_template_name, param_names, updated_at)
VALUES ('assigned', 'Dipulihkan {{case_code}}', 'guestbook_case_assigned_v2', '{case_code}',
		'2026-01-01 00:00:00+00');
SELECT key, body, cloud_template_name, param_names, language,
	   updated_at = '2026-01-01 00:00:00+00' AS updated_at_kept
  FROM guestbook_notify.templates WHERE key = 'assigned';
COPY guestbook_notify.templates (key, body, cloud_template_name, language, param_names, description, updated_at) FROM stdin;
escalated_lead	Lead {{case_code}}\nbaris dua	guestbook_case_escalated_lead	id	{case_code}	dari COPY	2026-01-02 00:00:00+00
custom_reminder	Pengingat {{case_code}}	guestbook_case_reminder	id	{case_code}	\N	2026-01-03 00:00:00+00
\.
SELECT key, body, cloud_template_name, param_names, description
  FROM guestbook_notify.templates ORDER BY key;
SELECT count(*) FROM guestbook_notify.templates;
-- a new key is an ordinary insert; enqueue can use it
INSERT INTO guestbook_notify.templates (key, body, cloud_template_name, param_names)
VALUES ('test_note', 'Catatan: {{note}}', 'guestbook_note', '{note}');
SELECT guestbook_notify.enqueue('test_note', '0812-6666-0001', params => '{"note": "halo"}') AS n \gset
CALL settle();
SELECT message_text, template_name, template_args FROM guestbook_notify.notification_queue WHERE id = :'n';
-- invalid: a Cloud API template name must be lowercase letters, digits, _
\set VERBOSITY terse
INSERT INTO guestbook_notify.templates (key, body, cloud_template_name)
VALUES ('bad', 'x', 'Bad Name');
\set VERBOSITY default
DELETE FROM guestbook_notify.templates WHERE key IN ('test_note', 'custom_reminder');

-- Restore the seeds (the later tests and the dump test use them).
UPDATE guestbook_notify.templates SET
	body = E'[GUESTBOOK] Case {{case_code}}\nJenis: {{case_type}}\nUnit: {{unit_tujuan}}\nOrg Unit: {{org_unit_name}}\n{{summary}}\n\nDetail: {{detail_url}}',
	cloud_template_name = 'guestbook_case_assigned',
	param_names = '{case_code,case_type,unit_tujuan,org_unit_name,summary,detail_url}'
 WHERE key = 'assigned';
UPDATE guestbook_notify.templates SET
	body = E'[GUESTBOOK] Eskalasi ke Kabid/Lead\nCase {{case_code}}\nJenis: {{case_type}}\nUnit: {{unit_tujuan}}\nOrg Unit: {{org_unit_name}}\n{{summary}}\n\nDetail: {{detail_url}}',
	param_names = '{case_code,case_type,unit_tujuan,org_unit_name,summary,detail_url}',
	description = NULL
 WHERE key = 'escalated_lead';

-- The admin "Notifications" page: one row per notification.
TRUNCATE guestbook_notify.notification_queue;
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a2');
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000b2');
SELECT guestbook_notify.enqueue('assigned', '0812-6666-0002') AS m \gset
CALL settle();
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(1, 60, 6000, 60);
\x on
SELECT status, in_flight, needs_attention, template_key, case_code, app_schema,
	   recipient_role, recipient_name, to_number, to_number_raw, subject,
	   attempt_count, last_error, sent_at, delivery_status
  FROM guestbook_notify.notifications
 ORDER BY recipient_name NULLS LAST;
\x off
-- its columns
CALL settle();
SELECT attname, format_type(atttypid, atttypmod)
  FROM pg_attribute
 WHERE attrelid = 'guestbook_notify.notifications'::regclass AND attnum > 0
 ORDER BY attnum;
