/*
 * guestbook_notify install script, part: how the extension reaches the
 * app's tables, numbers and rendering.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * The trust model (README "Trust model").
 *
 * The guestbook tables live in a schema the app chooses (attach()) and
 * belong to the app's owner, a role that must never gain the extension's
 * rights.  So privileged code -- the worker (a superuser connection) and
 * the SECURITY DEFINER functions -- never reads or writes an app table
 * itself: it goes through the C functions below (src/app_access.c,
 * src/app_lookup.c, src/audit.c), which
 *   - resolve <schema>.<table> themselves and accept only a plain or
 *     partitioned table (a view or foreign table put in its place is an
 *     error naming it, never read);
 *   - run as that table's owner, in a security-restricted operation, with
 *     search_path pg_catalog, pg_temp: the owner's triggers, defaults,
 *     checks and policies run with the owner's rights only;
 *   - check that the statement reads that table and nothing else.
 * Every SQL function of the extension pins search_path to pg_catalog,
 * pg_temp and never puts the app's schema on it, so no name resolves to an
 * object the app's owner made (a function shadowing a pg_catalog name with
 * a closer argument type, say).  The triggers read nothing of the app's
 * but NEW and OLD (src/trigger.c).
 */

/*
 * _app_select: p_sql, a SELECT reading <p_schema>.<p_table> only, run as
 * that table's owner in a security-restricted operation; each row as a
 * jsonb object.  $1..$n are p_args (text).  p_schema must be attached and
 * p_table one of the guestbook tables.
 */
CREATE FUNCTION guestbook_notify._app_select(
	p_schema name, p_table name, p_sql text, p_args text[] DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_app_select';

/*
 * _case_schema: the attached schema whose cases table holds p_case_id, or
 * NULL (each cases table read as its owner).
 */
CREATE FUNCTION guestbook_notify._case_schema(p_case_id uuid)
RETURNS name
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_schema_sql';

/*
 * _case_params_by_id: the template values of case p_case_id in p_schema
 * (read as the owners of cases and org_units), for p_recipient_name; NULL
 * if there is no such case.
 */
CREATE FUNCTION guestbook_notify._case_params_by_id(
	p_schema name, p_case_id uuid, p_recipient_name text)
RETURNS jsonb
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_params_by_id_sql';

/*
 * _find_contact: the recipient of an escalation of a case in org unit
 * p_org_unit_id of p_schema (SPEC §2): 'lead' = the first active lead
 * contact (by name) of the unit or, walking parent_id up, of its nearest
 * ancestor that has one; 'kadis' = the first active kadis contact of the
 * root unit of the tree.  When there is none, problem says why (the
 * notification is a failed row with it).
 */
CREATE FUNCTION guestbook_notify._find_contact(
	p_schema name, p_org_unit_id uuid, p_contact_type text,
	OUT contact_name text, OUT whatsapp_number text, OUT problem text)
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_find_contact_sql';

/*
 * _case_event: a case_events row for the app's audit trail, queued in
 * audit_outbox; the worker writes it as the owner of <p_schema>.case_events
 * (src/audit.c).
 */
CREATE FUNCTION guestbook_notify._case_event(
	p_schema name, p_case_id uuid, p_event_type text, p_details jsonb)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_case_event_sql';

/*
 * ---- numbers ------------------------------------------------------------
 * normalize_number: _normalize_number for explicit calls: invalid input
 * (NULL included) is an error that names the input and shows the accepted
 * forms.
 */
CREATE FUNCTION guestbook_notify.normalize_number(number text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SECURITY DEFINER
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
 * ---- rendering ----------------------------------------------------------
 * _render_text: one pass over the {{name}} placeholders of p_body (spaces
 * around the name allowed), linear in its length.  A placeholder whose name
 * is a key of p_params becomes that value (JSON null = empty), byte for
 * byte; a value is never scanned again, so text typed by a visitor that
 * contains "{{case_code}}" stays as typed.  A placeholder whose name is not
 * a key is LEFT AS IS, so a typo in an edited template shows in the preview
 * and in the message instead of vanishing.  The result is cut to 4096
 * characters (WhatsApp's limit for a text body) at a character boundary,
 * with a visible marker, the total within 4096.  C (src/render.c), as are
 * _template_arg(s) and _case_params below.
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

/*
 * _template_args: the values of p_names from p_params, as template args,
 * within Meta's limits for a template message (1,024 characters for the
 * body with its parameters, 32,768 for one parameter): the longest values
 * are cut first, with the marker message_text uses.
 */
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
 * _enqueue_row: the one place that writes a new notification_queue row, for
 * the worker's event processing and for enqueue().  C (src/enqueue.c, which
 * has the rules: failed/cancelled rows with their reasons, dedupe_key ON
 * CONFLICT DO NOTHING returning the existing row's id, the in-place redo of
 * a row that failed for want of a number, case_events 'notification_failed'
 * queued, the wake at commit).
 */
CREATE FUNCTION guestbook_notify._enqueue_row(
	p_template_key text, p_number_raw text, p_recipient_name text,
	p_recipient_role text, p_params jsonb, p_case_id uuid, p_app_schema text,
	p_dedupe_key text, p_scheduled_at timestamptz, p_problem text)
RETURNS uuid
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'gbn_enqueue_row_sql';
