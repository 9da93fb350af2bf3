/*
 * guestbook_notify install script, part numbers and rendering.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * How the SQL side reaches the app's tables.
 *
 * The guestbook tables live in a schema the app chooses (attach()).  The
 * PL/pgSQL functions below that read them (_case_params_by_id,
 * _find_contact, _trg_escalated, enqueue, render) use unqualified names for
 * the app's tables and schema-qualified names for everything else.  Each
 * entry point pins search_path with a SET clause and then, inside, narrows
 * it to "pg_catalog, <app schema>, pg_temp" with set_config(..., true): the
 * SET clause restores the caller's search_path when the function returns.
 * This keeps PL/pgSQL's cached plans (the plan cache replans when
 * search_path changes) instead of EXECUTE-ing dynamic SQL.
 *
 * The hot path of the app's assignments is C (src/trigger_assigned.c,
 * src/enqueue.c, src/render.c, src/normalize.c): _trg_assigned and
 * _enqueue_row run kept SPI plans whose every name -- the app's tables
 * included, as <schema>.table -- is schema-qualified, operators too, so
 * they mean the same under any search_path.  The pure helpers
 * (_normalize_number, _render_text, _template_arg(s), _case_params,
 * _queue_row_valid) are C functions the PL/pgSQL side calls as well: one
 * implementation.  tests/equivalence_check.sh compares them with the
 * PL/pgSQL bodies they replaced.
 */

-- Anyone may see the schema; every table and state-changing function below
-- is revoked from PUBLIC. The README shows the GRANTs for the app's roles.

/*
 * ---- numbers -----------------------------------------------------------
 * _normalize_number: canonical digits 628... or NULL when the input is not an
 * Indonesian mobile number (whatsapp-api.md §4):
 *   drop "(0)", spaces, ( ) . / -; "+" or "00" = international prefix;
 *   a leading 0 (trunk prefix) or a bare 8... gets 62; "+62 0812..." drops
 *   the trunk 0 kept after the country code; then ^628[1-35-9][0-9]{7,10}$.
 * Pure, so PUBLIC may run it.  C (src/normalize.c); white space is what the
 * regular expression class [[:space:]] matches under the database's locale.
 */
CREATE FUNCTION guestbook_notify._normalize_number(p_number text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_normalize_number_sql';

/*
 * normalize_number: the same, for explicit calls: invalid input (NULL
 * included) is an error that names the input and shows the accepted forms.
 */
CREATE FUNCTION guestbook_notify.normalize_number(number text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n text := guestbook_notify._normalize_number(number);
BEGIN
	IF n IS NULL THEN
		RAISE EXCEPTION 'invalid WhatsApp number %',
				coalesce('"' || number || '"', 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An Indonesian mobile number is needed: 62, then 8, then 8 to 11 more digits (the second digit is never 0 or 4).',
				  HINT = 'Accepted forms: 0812-3456-7890, +62 812 3456 7890, 6281234567890, 812 3456 7890.';
	END IF;
	RETURN n;
END;
$$;

/*
 * ---- rendering ---------------------------------------------------------
 * _render_text: one pass over the {{name}} placeholders of p_body (spaces
 * around the name allowed).  A placeholder whose name is a key of p_params
 * becomes that value (JSON null = empty), byte for byte; a value is never
 * scanned again, so text typed by a visitor that contains "{{case_code}}"
 * stays as typed.  A placeholder whose name is not a key is LEFT AS IS, so
 * a typo in an edited template shows in the preview and in the message
 * instead of vanishing.
 * The result is cut to 4096 characters (WhatsApp's limit for a text body)
 * at a character boundary, with a visible marker, the total within 4096.
 * C (src/render.c), as are _template_arg(s) and _case_params below.
 */
CREATE FUNCTION guestbook_notify._render_text(p_body text, p_params jsonb)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_render_text_sql';

/*
 * _template_arg: a value as a Cloud API template parameter, which may not
 * contain newlines or tabs, nor more than 4 consecutive spaces, nor be empty.
 * Only template_args are flattened; message_text stays byte-exact.
 */
CREATE FUNCTION guestbook_notify._template_arg(p_value text)
RETURNS text
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_arg_sql';

-- _template_args: the values of p_names from p_params, as template args.
CREATE FUNCTION guestbook_notify._template_args(p_names text[], p_params jsonb)
RETURNS text[]
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_template_args_sql';

/*
 * _case_params: the template values of one case.  Missing values read '-'.
 *   summary: visitor 'Nama: ..\nNIP/NIK: ..\nKeperluan: ..';
 *            surat 'No. Surat: ..\nPerihal: ..'
 *   detail_url: <guestbook_notify.app_base_url>/admin/cases/<id>
 */
CREATE FUNCTION guestbook_notify._case_params(
	p_case_id uuid, p_code text, p_case_type text, p_unit_tujuan text,
	p_org_unit_name text, p_visitor_name text, p_visitor_id_number text,
	p_purpose text, p_surat_tracking_no text, p_surat_perihal text,
	p_recipient_name text)
RETURNS jsonb
LANGUAGE c STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_case_params_sql';

/*
 * _case_params_by_id: the values of case p_case_id, read from the app schema
 * the caller put on search_path; NULL if there is no such case.
 */
CREATE FUNCTION guestbook_notify._case_params_by_id(p_case_id uuid, p_recipient_name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	r record;
BEGIN
	SELECT c.code::text AS code, c.case_type::text AS case_type,
		   c.unit_tujuan::text AS unit_tujuan, ou.name::text AS org_unit_name,
		   c.visitor_name::text AS visitor_name,
		   c.visitor_id_number::text AS visitor_id_number,
		   c.purpose::text AS purpose, c.surat_tracking_no::text AS surat_tracking_no,
		   c.surat_perihal::text AS surat_perihal
	  INTO r
	  FROM cases c
	  LEFT JOIN org_units ou ON ou.id = c.org_unit_id
	 WHERE c.id = p_case_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	RETURN guestbook_notify._case_params(p_case_id, r.code, r.case_type, r.unit_tujuan,
										 r.org_unit_name, r.visitor_name,
										 r.visitor_id_number, r.purpose,
										 r.surat_tracking_no, r.surat_perihal,
										 p_recipient_name);
END;
$$;

/*
 * _find_contact: the active org_unit_contacts row of type 'lead' for the
 * unit, walking parent_id up until a unit has one; or of type 'kadis' of the
 * root unit (parent_id NULL) of the unit's tree.  Several active contacts
 * at the same level: the first by name.  When there is none, problem says
 * so (the trigger records it as a failed row).  Reads the app schema on
 * search_path.
 */
CREATE FUNCTION guestbook_notify._find_contact(
	p_org_unit_id uuid, p_contact_type text,
	OUT contact_name text, OUT whatsapp_number text, OUT problem text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	v_unit text;
BEGIN
	WITH RECURSIVE up AS (
		SELECT u.id, u.parent_id, 0 AS depth
		  FROM org_units u
		 WHERE u.id = p_org_unit_id
		UNION ALL
		SELECT p.id, p.parent_id, up.depth + 1
		  FROM org_units p
		  JOIN up ON p.id = up.parent_id
		 WHERE up.depth < 64			-- a cycle in parent_id must not loop
	)
	SELECT c.name::text, c.whatsapp_number::text
	  INTO contact_name, whatsapp_number
	  FROM up
	  JOIN org_unit_contacts c ON c.org_unit_id = up.id
	 WHERE c.contact_type = p_contact_type
	   AND c.is_active
	   AND (p_contact_type = 'lead' OR up.parent_id IS NULL)
	 ORDER BY up.depth, c.name, c.id
	 LIMIT 1;
	IF FOUND THEN
		RETURN;
	END IF;

	IF p_contact_type = 'lead' THEN
		SELECT format('%s (%s)', u.name, u.code) INTO v_unit
		  FROM org_units u WHERE u.id = p_org_unit_id;
		problem := format('no active lead contact for org unit %s or its parents',
						  coalesce(v_unit, p_org_unit_id::text));
	ELSE
		WITH RECURSIVE up AS (
			SELECT u.id, u.parent_id, u.name, u.code, 0 AS depth
			  FROM org_units u
			 WHERE u.id = p_org_unit_id
			UNION ALL
			SELECT p.id, p.parent_id, p.name, p.code, up.depth + 1
			  FROM org_units p
			  JOIN up ON p.id = up.parent_id
			 WHERE up.depth < 64
		)
		SELECT format('%s (%s)', up.name, up.code) INTO v_unit
		  FROM up WHERE up.parent_id IS NULL;
		problem := CASE WHEN v_unit IS NULL
			THEN format('no root org unit above org unit %s (parent_id never reaches NULL)', p_org_unit_id)
			ELSE format('no active kadis contact for root org unit %s', v_unit) END;
	END IF;
END;
$$;

/*
 * _case_event: a case_events row in the app schema.  A failure there (the
 * app's own constraints) must not abort the app's transaction: it becomes a
 * WARNING.  Only used on the rare failure paths, so the subtransaction of
 * the EXCEPTION block costs nothing on the hot path.
 */
CREATE FUNCTION guestbook_notify._case_event(
	p_schema name, p_case_id uuid, p_event_type text, p_details jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) VALUES ($1, $2, $3)',
				   p_schema)
	USING p_case_id, p_event_type, p_details;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'guestbook_notify: could not record case event "%" for case %: %',
		p_event_type, p_case_id, SQLERRM;
END;
$$;

/*
 * _enqueue_row: the one place that writes a new notification_queue row, for
 * the triggers and for enqueue().  C (src/enqueue.c, which has the rules:
 * failed/cancelled rows with their reasons, dedupe_key ON CONFLICT DO
 * NOTHING returning the existing row's id, the in-place redo of a row that
 * failed for want of a number, case_events 'notification_failed', the wake
 * at commit).
 */
CREATE FUNCTION guestbook_notify._enqueue_row(
	p_template_key text, p_number_raw text, p_recipient_name text,
	p_recipient_role text, p_params jsonb, p_case_id uuid, p_app_schema text,
	p_dedupe_key text, p_scheduled_at timestamptz, p_problem text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_enqueue_row_sql';
