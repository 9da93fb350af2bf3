/*
 * 1.0 -> 1.1, part 2 (src/sql/upgrade/1.0--1.1-after.sql): the app's
 * triggers move to _trg_event(), then 1.0's trigger functions go.  Only
 * the triggers that exist are replaced (a schema attached in 1.0 keeps its
 * tables as they are: attach() again checks them).
 */
DO $$
DECLARE
	s name;
BEGIN
	FOR s IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY 1 LOOP
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'case_assignments'
					  AND t.tgname = 'guestbook_notify_assigned') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_assigned '
						   'AFTER INSERT ON %I.case_assignments '
						   'FOR EACH ROW EXECUTE FUNCTION guestbook_notify._trg_event(''assigned'')', s);
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'cases'
					  AND t.tgname = 'guestbook_notify_escalated') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated '
						   'AFTER UPDATE OF status, escalation_level ON %I.cases '
						   'FOR EACH ROW WHEN ('
						   '(NEW.escalation_level = ''kadis'' AND OLD.escalation_level IS DISTINCT FROM ''kadis'') '
						   'OR ((NEW.escalation_level = ''lead'' OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
						   'AND NOT coalesce(OLD.escalation_level = ''lead'' OR (OLD.escalation_level = ''none'' AND OLD.status = ''escalated''), false))) '
						   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', s);
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
					WHERE c.relnamespace = s::regnamespace AND c.relname = 'cases'
					  AND t.tgname = 'guestbook_notify_escalated_insert') THEN
			EXECUTE format('CREATE OR REPLACE TRIGGER guestbook_notify_escalated_insert '
						   'AFTER INSERT ON %I.cases '
						   'FOR EACH ROW WHEN (NEW.escalation_level IN (''lead'', ''kadis'') '
						   'OR (NEW.escalation_level = ''none'' AND NEW.status = ''escalated'')) '
						   'EXECUTE FUNCTION guestbook_notify._trg_event(''escalated'')', s);
		END IF;
	END LOOP;
END;
$$;

DROP FUNCTION guestbook_notify._trg_assigned();
DROP FUNCTION guestbook_notify._trg_escalated();
