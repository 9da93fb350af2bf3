-- The Notifications page's roles, as the README ("Roles of the page") says,
-- for tests/t/270_page_browser.pl, tests/bench/bench_page.sh and
-- tests/demo.sh (psql variables :admin, :viewer, :admin_pw, :viewer_pw):
-- the groups guestbook_viewer (reads, masked) and guestbook_admin (also
-- acts and reads personal data in full; plus the README's "Privileges"
-- grants), and one login role in each.  pg_hba.conf must ask them for a
-- password: e.g. local all +guestbook_viewer scram-sha-256.
CREATE ROLE guestbook_viewer NOLOGIN;
CREATE ROLE guestbook_admin NOLOGIN;
GRANT USAGE ON SCHEMA guestbook_notify TO guestbook_viewer;
GRANT guestbook_viewer TO guestbook_admin;
-- the page's functions by name, whatever their arguments (the README lists
-- them with their signatures; they are the same set)
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
			  WHERE p.pronamespace = 'guestbook_notify'::regnamespace
				AND p.proname IN ('page_status', 'page_counts', 'page_list', 'page_overdue',
								  'page_detail', 'page_opt_outs', 'page_templates') LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO guestbook_viewer', f);
	END LOOP;
	FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
			  WHERE p.pronamespace = 'guestbook_notify'::regnamespace
				AND p.proname IN ('page_detail_unmasked', 'page_act', 'page_opt_in') LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO guestbook_admin', f);
	END LOOP;
END;
$$;
-- the README's "Privileges" grants for the app's admin role
GRANT USAGE ON SCHEMA guestbook_notify TO guestbook_admin;
GRANT SELECT ON guestbook_notify.notifications, guestbook_notify.notification_attempts,
                guestbook_notify.opt_outs TO guestbook_admin;
GRANT SELECT, UPDATE ON guestbook_notify.templates TO guestbook_admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.requeue(uuid), guestbook_notify.cancel(uuid),
      guestbook_notify.requeue_failed(timestamptz),
      guestbook_notify.opt_out(text, text), guestbook_notify.opt_in(text),
      guestbook_notify.render(text, uuid),
      guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz)
      TO guestbook_admin;

CREATE ROLE :admin LOGIN PASSWORD :admin_pw IN ROLE guestbook_admin;
CREATE ROLE :viewer LOGIN PASSWORD :viewer_pw IN ROLE guestbook_viewer;
