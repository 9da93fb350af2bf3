/*
 * guestbook_notify install script, part: the templates table's trigger
 * functions (functions only: the upgrade scripts recreate this part with
 * CREATE OR REPLACE; 30_templates.sql makes the table's triggers).
 */

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
		   send_as = NEW.send_as,
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

