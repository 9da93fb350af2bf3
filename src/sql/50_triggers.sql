/*
 * guestbook_notify install script, part triggers, attach() and detach().
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- triggers ----------------------------------------------------------
 * _trg_event(kind): AFTER INSERT ON <schema>.case_assignments ('assigned')
 * and AFTER INSERT / UPDATE OF status, escalation_level ON <schema>.cases
 * ('escalated', with WHEN clauses that let only transitions through).  It
 * records one narrow trigger_events row from NEW and OLD alone -- no
 * look-up, no rendering -- and wakes the worker at commit; the worker
 * resolves the recipient (as the owners of the app's tables), renders,
 * dedupes and writes the queue row (src/events.c).  "At lead" =
 * escalation_level 'lead', or 'none' with status 'escalated'; "at kadis" =
 * escalation_level 'kadis'; a row that reaches a level it was not at
 * notifies that level's contact.  Never aborts the app's transaction for a
 * notification problem: a wrong recipient, number or template becomes a
 * 'failed' row with the reason (+ case_events 'notification_failed'), an
 * opted-out number a 'cancelled' row.  C (src/trigger.c), not SECURITY
 * DEFINER: it becomes the owner of trigger_events for its one INSERT.
 */
CREATE FUNCTION guestbook_notify._trg_event()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'gbn_trg_event';

/*
 * ---- attach / detach ---------------------------------------------------
 */

/*
 * attach: check that <schema> has the guestbook tables and columns of SPEC
 * §1 (one error naming everything missing), that they are tables (not
 * views...) with uuid keys, create the triggers and record the schema.
 * A NOTICE with the CREATE INDEX statement when no index of
 * <schema>.case_assignments starts with case_id (the worker's reads of a
 * case's latest assignment need one; the contract names primary keys only).
 * Idempotent: attaching again re-creates the triggers and returns false.  Run it as a superuser (or the tables' owner with EXECUTE
 * on the trigger functions): it is SECURITY INVOKER on purpose.
 *
 * Long for a reason: the checks are one list (tables, columns, key types,
 * relkinds) so that a single error names everything missing at once.
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

	-- tables only: a view, foreign table or materialized view would be
	-- read in the tables' stead (README "Trust model")
	SELECT array_agg(format('%I.%I is %s', v_schema, c.relname,
							CASE c.relkind WHEN 'v' THEN 'a view'
										   WHEN 'm' THEN 'a materialized view'
										   WHEN 'f' THEN 'a foreign table'
										   ELSE 'not a table' END)
					 ORDER BY c.relname)
	  INTO v_tables
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = v_schema
	   AND c.relname IN ('org_units', 'users', 'org_unit_contacts', 'cases',
						 'case_assignments', 'case_events')
	   AND c.relkind NOT IN ('r', 'p');
	IF v_tables IS NOT NULL THEN
		RAISE EXCEPTION 'the guestbook tables of schema "%" must be tables', v_schema
			USING ERRCODE = 'wrong_object_type',
				  DETAIL = array_to_string(v_tables, '; ') || '.',
				  HINT = 'guestbook_notify reads and writes the app''s tables only, each as its owner.';
	END IF;

	-- the keys the triggers copy and the worker looks up are uuid (SPEC §1)
	SELECT array_agg(format('%I.%I.%I is %s', v_schema, c.relname, a.attname,
							format_type(a.atttypid, a.atttypmod))
					 ORDER BY c.relname, a.attname)
	  INTO v_columns
	  FROM pg_class c
	  JOIN pg_namespace n ON n.oid = c.relnamespace
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	 WHERE n.nspname = v_schema
	   AND (c.relname, a.attname) IN (('org_units', 'id'), ('org_units', 'parent_id'),
									  ('users', 'id'), ('org_unit_contacts', 'org_unit_id'),
									  ('cases', 'id'), ('cases', 'org_unit_id'),
									  ('case_assignments', 'id'), ('case_assignments', 'case_id'),
									  ('case_assignments', 'operator_id'), ('case_events', 'case_id'))
	   AND a.atttypid <> 'uuid'::regtype;
	IF v_columns IS NOT NULL THEN
		RAISE EXCEPTION 'the key columns of the guestbook tables of schema "%" must be of type uuid', v_schema
			USING ERRCODE = 'datatype_mismatch',
				  DETAIL = array_to_string(v_columns, '; ') || '.';
	END IF;

	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
				   'AFTER INSERT ON %I.case_assignments '
				   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_event(''assigned'')', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
				   'AFTER UPDATE OF status, escalation_level ON %I.cases '
				   'FOR EACH ROW WHEN ('
				   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
				   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
				   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', v_schema);
	EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
				   'AFTER INSERT ON %I.cases '
				   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
				   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
				   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', v_schema);

	-- the worker reads a case's latest assignment by case_id (the SLA
	-- tick, render()); the contract names primary keys only, so say when
	-- no index serves it (the app's own transactions never need it)
	IF NOT EXISTS (
		SELECT 1
		  FROM pg_index i
		  JOIN pg_class c ON c.oid = i.indrelid
		  JOIN pg_namespace n ON n.oid = c.relnamespace
		  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'case_id'
		 WHERE n.nspname = v_schema AND c.relname = 'case_assignments'
		   AND i.indkey[0] = a.attnum AND i.indisvalid AND i.indpred IS NULL) THEN
		RAISE NOTICE 'no index of %.case_assignments starts with case_id',
				quote_ident(v_schema)
			USING DETAIL = 'The worker reads a case''s latest assignment by case_id (the SLA tick, render()); '
						   'without such an index it reads the whole table each time. '
						   'The app''s own transactions do not need it.',
				  HINT = format('CREATE INDEX CONCURRENTLY ON %I.case_assignments (case_id, assigned_at);',
								v_schema);
	END IF;

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
		   AND t.tgname IN ('guestbook_notify_assigned', 'guestbook_notify_escalated',
							'guestbook_notify_escalated_insert')
		   AND (c.relname IN ('case_assignments', 'cases')
				OR t.tgfoid = 'guestbook_notify._trg_event()'::regprocedure)
		 -- cases before case_assignments: the order in which the worker
		 -- reads them (SLA tick, render()); DROP TRIGGER's exclusive locks
		 -- taken the other way round deadlocked with an SLA tick
		 ORDER BY c.relname <> 'cases', 1
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
