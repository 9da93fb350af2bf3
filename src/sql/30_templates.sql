/*
 * guestbook_notify install script, part message templates.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- templates ---------------------------------------------------------
 * Placeholders: {{case_code}} {{case_type}} {{unit_tujuan}} {{org_unit_name}}
 * {{summary}} {{detail_url}} {{recipient_name}}.  param_names are the values
 * of the approved Cloud API template, in its {{1}}, {{2}}, ... order.
 */
INSERT INTO guestbook_notify.templates
	(key, body, cloud_template_name, language, param_names, description)
VALUES
	('assigned',
	 E'[GUESTBOOK] Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_assigned', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was assigned to an operator (to the operator)'),
	('escalated_lead',
	 E'[GUESTBOOK] Eskalasi ke Kabid/Lead\n'
	 'Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_escalated_lead', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was escalated to the unit''s lead (Kabid / Kasubbag / Koordinator UPT)'),
	('escalated_kadis',
	 E'[GUESTBOOK] Eskalasi ke Kepala Dinas\n'
	 'Case {{case_code}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_case_escalated_kadis', 'id',
	 ARRAY['case_code', 'case_type', 'unit_tujuan', 'org_unit_name', 'summary', 'detail_url'],
	 'A case was escalated to the head of office (Kepala Dinas)');

/*
 * The restore's upsert and updated_at: the functions are in
 * 25_template_functions.sql (a part of functions only, recreated by the
 * upgrade scripts).
 */
CREATE TRIGGER templates_upsert
	BEFORE INSERT ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_upsert();
CREATE TRIGGER templates_touch
	BEFORE UPDATE ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_touch();
