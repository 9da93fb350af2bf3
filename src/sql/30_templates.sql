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
 * templates is dumped by pg_dump (pg_extension_config_dump) and seeded by
 * CREATE EXTENSION: on restore, the COPY of the dumped rows would collide
 * with the seeded keys.  This trigger turns an INSERT of an existing key
 * into an UPDATE of that row (COPY fires row triggers), so the admins' edits
 * win and the restore does not fail.
 */
CREATE FUNCTION guestbook_notify._templates_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.templates t
	   SET body = NEW.body,
		   cloud_template_name = NEW.cloud_template_name,
		   language = NEW.language,
		   param_names = NEW.param_names,
		   description = NEW.description,
		   updated_at = NEW.updated_at
	 WHERE t.key = NEW.key;
	IF FOUND THEN
		RETURN NULL;			-- the existing row took the values
	END IF;
	RETURN NEW;
END;
$$;

-- updated_at follows edits, unless the UPDATE sets it itself (the restore).
CREATE FUNCTION guestbook_notify._templates_touch()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
		NEW.updated_at := now();
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER templates_upsert
	BEFORE INSERT ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_upsert();
CREATE TRIGGER templates_touch
	BEFORE UPDATE ON guestbook_notify.templates
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._templates_touch();
