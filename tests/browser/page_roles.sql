-- The Notifications page's roles, as the README ("Roles of the page") says,
-- for tests/t/270_page_browser.pl, tests/bench/bench_page.sh and
-- tests/demo.sh (psql variables :admin, :viewer, :admin_pw, :viewer_pw):
-- the groups guestbook_viewer (reads, masked) and guestbook_admin (also
-- acts and reads personal data in full; plus the README's "Privileges"
-- grants), and one login role in each.  pg_hba.conf must ask them for a
-- password: e.g. local all +guestbook_viewer scram-sha-256.
CREATE ROLE guestbook_viewer NOLOGIN;
GRANT USAGE ON SCHEMA guestbook_notify TO guestbook_viewer;
GRANT EXECUTE ON FUNCTION guestbook_notify.page_status(), guestbook_notify.page_counts(jsonb),
      guestbook_notify.page_list(text, jsonb, timestamptz, uuid, integer),
      guestbook_notify.page_overdue(integer), guestbook_notify.page_detail(uuid),
      guestbook_notify.page_opt_outs(), guestbook_notify.page_templates()
      TO guestbook_viewer;

CREATE ROLE guestbook_admin NOLOGIN;
GRANT guestbook_viewer TO guestbook_admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.page_detail_unmasked(uuid),
      guestbook_notify.page_act(text, uuid[], text, jsonb),
      guestbook_notify.page_opt_in(text) TO guestbook_admin;
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
