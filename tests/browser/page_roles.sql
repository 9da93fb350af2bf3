-- The Notifications page's two login roles, for tests/t/270_page_browser.pl
-- and tests/bench/bench_page.sh (psql variables :admin, :viewer, :admin_pw,
-- :viewer_pw): an admin with the README's guestbook_admin grants plus the
-- page's functions (act, see personal data in full), and a read-only viewer
-- (the list and masked details only).  The page_* functions are SECURITY
-- DEFINER: EXECUTE on them is what a role may see and do.
CREATE ROLE :admin LOGIN PASSWORD :admin_pw;
CREATE ROLE :viewer LOGIN PASSWORD :viewer_pw;
GRANT USAGE ON SCHEMA guestbook_notify TO :admin, :viewer;
-- the README's guestbook_admin grants
GRANT SELECT ON guestbook_notify.notifications, guestbook_notify.notification_attempts,
                guestbook_notify.opt_outs TO :admin;
GRANT SELECT, UPDATE ON guestbook_notify.templates TO :admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.requeue(uuid), guestbook_notify.cancel(uuid),
      guestbook_notify.requeue_failed(timestamptz), guestbook_notify.resend(uuid),
      guestbook_notify.opt_out(text, text), guestbook_notify.opt_in(text),
      guestbook_notify.render(text, uuid),
      guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz)
      TO :admin;
-- the page: reading (both roles)
GRANT EXECUTE ON FUNCTION guestbook_notify.page_status(), guestbook_notify.page_counts(jsonb),
      guestbook_notify.page_list(text, jsonb, timestamptz, uuid, integer),
      guestbook_notify.page_overdue(integer), guestbook_notify.page_detail(uuid),
      guestbook_notify.page_templates(), guestbook_notify.page_opt_outs()
      TO :admin, :viewer;
-- the page: acting and personal data in full (the admin only)
GRANT EXECUTE ON FUNCTION guestbook_notify.page_act(text, uuid[], text, jsonb),
      guestbook_notify.page_detail_unmasked(uuid), guestbook_notify.page_opt_in(text)
      TO :admin;
