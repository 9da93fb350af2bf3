-- The page's two login roles for tests/t/270_page_browser.pl (psql variables
-- :admin, :viewer, :admin_pw, :viewer_pw are replaced by the test): an
-- admin with the README's guestbook_admin grants, and a read-only viewer.
CREATE ROLE :admin LOGIN PASSWORD :admin_pw;
CREATE ROLE :viewer LOGIN PASSWORD :viewer_pw;
GRANT USAGE ON SCHEMA guestbook_notify TO :admin, :viewer;
GRANT SELECT ON guestbook_notify.notifications, guestbook_notify.notification_attempts,
                guestbook_notify.opt_outs TO :admin, :viewer;
GRANT SELECT, UPDATE ON guestbook_notify.templates TO :admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.requeue(uuid), guestbook_notify.cancel(uuid),
      guestbook_notify.requeue_failed(timestamptz), guestbook_notify.resend(uuid),
      guestbook_notify.opt_out(text, text), guestbook_notify.opt_in(text),
      guestbook_notify.render(text, uuid),
      guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz)
      TO :admin;
