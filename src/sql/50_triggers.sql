/*
 * guestbook_notify install script, part triggers, attach() and detach().
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- triggers ----------------------------------------------------------
 * Never abort the app's transaction for a notification problem: a missing
 * or inactive recipient, a bad number or a missing template becomes a
 * 'failed' row (+ case_events 'notification_failed'), an opted-out number a
 * 'cancelled' row.  SECURITY DEFINER: the app's roles have no rights on our
 * tables.
 */

/*
 * assigned: AFTER INSERT ON <schema>.case_assignments -> the operator.
 * dedupe_key 'assigned:<case>:<operator>:<id of the latest earlier
 * assignment of this case to a DIFFERENT operator, or "first">': the same
 * assignment inserted again, a retried transaction and two concurrent
 * transactions assigning the same operator all compute the same key, while
 * reassigning away and back makes a new one.  C (src/trigger_assigned.c):
 * it is on the app's hot path (tests/bench/README.md, profiling notes 5).
 */
CREATE FUNCTION guestbook_notify._trg_assigned()
RETURNS trigger
LANGUAGE c
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'gbn_trg_assigned';

/*
 * escalated: AFTER INSERT / UPDATE OF status, escalation_level ON
 * <schema>.cases.  "At lead" = escalation_level 'lead', or 'none' with
 * status 'escalated'; "at kadis" = escalation_level 'kadis'.  A row that
 * reaches a level it was not at notifies that level's contact.  dedupe_key
 * '<template>:<case>:<xid>': a statement run again in the same transaction
 * sees no new transition, two concurrent escalations are serialised by the
 * row lock (the later one sees no transition), and a new escalation in a
 * later transaction (after a de-escalation) notifies again.
 */
CREATE FUNCTION guestbook_notify._trg_escalated()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_new_lead boolean;
	v_new_kadis boolean;
	v_old_lead boolean := false;
	v_old_kadis boolean := false;
	v_type text;
	v_contact record;
	v_ignore text;
BEGIN
	v_new_lead := coalesce(NEW.escalation_level = 'lead'
						   OR (NEW.escalation_level = 'none' AND NEW.status = 'escalated'), false);
	v_new_kadis := coalesce(NEW.escalation_level = 'kadis', false);
	IF TG_OP = 'UPDATE' THEN
		v_old_lead := coalesce(OLD.escalation_level = 'lead'
							   OR (OLD.escalation_level = 'none' AND OLD.status = 'escalated'), false);
		v_old_kadis := coalesce(OLD.escalation_level = 'kadis', false);
	END IF;
	IF v_new_lead AND NOT v_old_lead THEN
		v_type := 'lead';
	ELSIF v_new_kadis AND NOT v_old_kadis THEN
		v_type := 'kadis';
	ELSE
		RETURN NULL;
	END IF;

	v_ignore := set_config('search_path', format('pg_catalog, %I, pg_temp', TG_TABLE_SCHEMA), true);
	SELECT * INTO v_contact FROM guestbook_notify._find_contact(NEW.org_unit_id, v_type);
	v_ignore := guestbook_notify._enqueue_row(
		'escalated_' || v_type, v_contact.whatsapp_number,
		v_contact.contact_name, v_type,
		guestbook_notify._case_params(NEW.id, NEW.code::text, NEW.case_type::text,
			NEW.unit_tujuan::text,
			(SELECT ou.name::text FROM org_units ou WHERE ou.id = NEW.org_unit_id),
			NEW.visitor_name::text, NEW.visitor_id_number::text, NEW.purpose::text,
			NEW.surat_tracking_no::text, NEW.surat_perihal::text,
			v_contact.contact_name),
		NEW.id, TG_TABLE_SCHEMA::text,
		format('escalated_%s:%s:%s', v_type, NEW.id, pg_current_xact_id()),
		now(), v_contact.problem);
	RETURN NULL;
END;
$$;

/*
 * ---- attach / detach ---------------------------------------------------
 */

/*
 * attach: check that <schema> has the guestbook tables and columns of SPEC
 * §1 (one error naming everything missing), create the triggers and record
 * the schema.  Idempotent: attaching again re-creates the triggers and
 * returns false.  Run it as a superuser (or the tables' owner with EXECUTE
 * on the trigger functions): it is SECURITY INVOKER on purpose.
 */
CREATE FUNCTION guestbook_notify.attach(schema name DEFAULT 'public')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_schema name := attach.schema;
	v_tables text[];
	v_columns text[];
	v_new boolean;
BEGIN
	IF v_schema IS NULL THEN
		RAISE EXCEPTION 'schema name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = v_schema) THEN
		RAISE EXCEPTION 'schema "%" does not exist', v_schema
			USING ERRCODE = 'invalid_schema_name';
	END IF;

	WITH req(tbl, col, ord) AS (
		VALUES
			('org_units', '{id,code,name,parent_id}'::text[], 1),
			('users', '{id,full_name,role,org_unit_id,whatsapp_number,is_active}', 2),
			('org_unit_contacts', '{id,org_unit_id,contact_type,name,whatsapp_number,is_active}', 3),
			('cases', '{id,code,case_type,status,escalation_level,org_unit_id,unit_tujuan,'
					  'assigned_operator_id,visitor_name,visitor_id_number,purpose,'
					  'surat_tracking_no,surat_perihal,created_at,updated_at}', 4),
			('case_assignments', '{id,case_id,operator_id,assigned_by,assigned_at}', 5),
			('case_events', '{id,case_id,event_type,actor_id,details,created_at}', 6)
	), rel AS (
		SELECT req.tbl, req.col, req.ord, c.oid
		  FROM req
		  LEFT JOIN (pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					 AND n.nspname = v_schema AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))
			ON c.relname = req.tbl
	), missing AS (
		SELECT rel.ord, 0 AS colord, format('%I.%I', v_schema, rel.tbl) AS what, true AS is_table
		  FROM rel WHERE rel.oid IS NULL
		UNION ALL
		SELECT rel.ord, col.i, format('%I.%I.%I', v_schema, rel.tbl, col.name), false
		  FROM rel
		 CROSS JOIN LATERAL unnest(rel.col) WITH ORDINALITY AS col(name, i)
		 WHERE rel.oid IS NOT NULL
		   AND NOT EXISTS (SELECT 1 FROM pg_attribute a
							WHERE a.attrelid = rel.oid AND a.attname = col.name
							  AND a.attnum > 0 AND NOT a.attisdropped)
	)
	SELECT array_agg(what ORDER BY ord, colord) FILTER (WHERE is_table),
		   array_agg(what ORDER BY ord, colord) FILTER (WHERE NOT is_table)
	  INTO v_tables, v_columns
	  FROM missing;

	IF v_tables IS NOT NULL OR v_columns IS NOT NULL THEN
		RAISE EXCEPTION 'schema "%" lacks guestbook tables or columns that guestbook_notify needs',
				v_schema
			USING ERRCODE = CASE WHEN v_tables IS NOT NULL THEN 'undefined_table'
								 ELSE 'undefined_column' END,
				  DETAIL = concat_ws(' ',
							'Missing tables: ' || array_to_string(v_tables, ', ') || '.',
							'Missing columns: ' || array_to_string(v_columns, ', ') || '.'),
				  HINT = 'The guestbook tables and their columns are listed in the README; tests/schema/guestbook.sql is a reference schema.';
	END IF;

	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
				   'AFTER INSERT ON %I.case_assignments '
				   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_assigned()', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
				   'AFTER UPDATE OF status, escalation_level ON %I.cases '
				   'FOR EACH ROW WHEN ('
				   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
				   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
				   'EXECUTE FUNCTION guestbook_notify._trg_escalated()', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
				   'AFTER INSERT ON %I.cases '
				   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
				   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'EXECUTE FUNCTION guestbook_notify._trg_escalated()', v_schema);

	INSERT INTO guestbook_notify.attached_schemas (schema_name) VALUES (v_schema)
	ON CONFLICT (schema_name) DO NOTHING;
	v_new := FOUND;
	IF NOT v_new THEN
		RAISE NOTICE 'schema "%" was already attached; its triggers were re-created', v_schema;
	END IF;
	RETURN v_new;
END;
$$;

/*
 * detach: drop the triggers and forget the schema.  Queue rows stay.
 * Returns false (with a NOTICE) when the schema was not attached.
 */
CREATE FUNCTION guestbook_notify.detach(schema name DEFAULT 'public')
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_schema name := detach.schema;
	v_trigger text;
	v_was boolean;
BEGIN
	IF v_schema IS NULL THEN
		RAISE EXCEPTION 'schema name must not be NULL'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR v_trigger IN
		SELECT format('DROP TRIGGER %I ON %I.%I', t.tgname, n.nspname, c.relname)
		  FROM pg_trigger t
		  JOIN pg_class c ON c.oid = t.tgrelid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = v_schema
		   AND c.relname IN ('case_assignments', 'cases')
		   AND t.tgname IN ('guestbook_notify_assigned', 'guestbook_notify_escalated',
							'guestbook_notify_escalated_insert')
		 ORDER BY 1
	LOOP
		EXECUTE v_trigger;
	END LOOP;
	DELETE FROM guestbook_notify.attached_schemas a WHERE a.schema_name = v_schema;
	v_was := FOUND;
	IF NOT v_was THEN
		RAISE NOTICE 'schema "%" was not attached', v_schema;
	END IF;
	RETURN v_was;
END;
$$;

/*
 * _case_schema: the attached schema whose cases table holds p_case_id, or
 * NULL.  (Explicit calls only: the triggers know their schema.)
 */
CREATE FUNCTION guestbook_notify._case_schema(p_case_id uuid)
RETURNS name
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s name;
	found_it boolean;
BEGIN
	FOR s IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY a.schema_name
	LOOP
		CONTINUE WHEN to_regclass(format('%I.cases', s)) IS NULL;
		EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.cases c WHERE c.id = $1)', s)
		   INTO found_it USING p_case_id;
		IF found_it THEN
			RETURN s;
		END IF;
	END LOOP;
	RETURN NULL;
END;
$$;
