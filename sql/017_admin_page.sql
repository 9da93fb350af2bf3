--
-- 017_admin_page: the SQL of the Notifications page (src/sql/67_admin_page.sql):
-- grants decide (a viewer reads masked data, an admin acts and reads in
-- full, a role without grants gets nothing), masking, tabs, search, keyset
-- pagination, actions and their log (who, when, what).
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS guestbook_notify;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- the grants of the README, "Roles of the page"
CREATE ROLE regress_gbn_page_viewer;
CREATE ROLE regress_gbn_page_admin;
CREATE ROLE regress_gbn_page_none;
GRANT USAGE ON SCHEMA guestbook_notify
	TO regress_gbn_page_viewer, regress_gbn_page_admin, regress_gbn_page_none;
GRANT EXECUTE ON FUNCTION guestbook_notify.page_status(), guestbook_notify.page_counts(jsonb, integer, text),
	guestbook_notify.page_list(text, jsonb, timestamptz, uuid, integer),
	guestbook_notify.page_overdue(integer), guestbook_notify.page_detail(uuid),
	guestbook_notify.page_opt_outs(), guestbook_notify.page_templates()
	TO regress_gbn_page_viewer, regress_gbn_page_admin;
GRANT EXECUTE ON FUNCTION guestbook_notify.page_detail_unmasked(uuid),
	guestbook_notify.page_act(text, uuid[], text, jsonb), guestbook_notify.page_opt_in(text)
	TO regress_gbn_page_admin;

-- masking
SELECT guestbook_notify._page_mask_name('Budi Santoso') AS name,
	   guestbook_notify._page_mask_number('6281234567890') AS number,
	   guestbook_notify._page_mask_number('12345') AS short_number,
	   guestbook_notify._page_mask_text(E'Nama: Siti Aminah\nNIP/NIK: 3201234567890123\nUntuk Budi Santoso',
										'Budi Santoso') AS text;

-- three rows: failed to send, failed after sending (131026), waiting; the
-- visitor's text carries markup
SELECT guestbook_notify.enqueue('assigned', '0812-3456-78' || i, NULL,
		jsonb_build_object('case_code', 'PG' || i, 'recipient_name', 'Budi Santoso',
						   'summary', E'Nama: <script>alert(1)</script>\nNIP/NIK: 3201234567890123'),
		scheduled_at => now() + interval '1 hour') IS NOT NULL AS queued
  FROM generate_series(10, 14) i;
UPDATE guestbook_notify.notification_queue SET status = 'failed', attempt_count = 3,
	   last_error = 'HTTP 500 from 6281234567811'
 WHERE template_params ->> 'case_code' = 'PG11';
UPDATE guestbook_notify.notification_queue SET status = 'sent', sent_at = now(), attempt_count = 1,
	   delivery_status = 'failed', last_error = 'delivery failed: 131026',
	   delivery_error = '{"code": 131026, "title": "Message undeliverable"}'
 WHERE template_params ->> 'case_code' = 'PG12';
SELECT id AS failed_id FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' = 'PG11' \gset
SELECT id AS late_id FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' = 'PG12' \gset
SELECT id AS pending_id FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' = 'PG13' \gset

-- a role without grants sees nothing
SET SESSION AUTHORIZATION regress_gbn_page_none;
SELECT count(*) FROM guestbook_notify.page_list('all');
SELECT guestbook_notify.page_detail(:'failed_id');
SELECT count(*) FROM guestbook_notify.notification_queue;
RESET SESSION AUTHORIZATION;

-- the viewer: counts, the list and the detail, masked; no acting
SET SESSION AUTHORIZATION regress_gbn_page_viewer;
SELECT tab, n FROM guestbook_notify.page_counts('{"q": "PG"}') WHERE tab <> 'overdue' ORDER BY tab;
SELECT case_code, row_tab, recipient_name, to_number, subject, last_error, wa_link IS NULL AS no_wa_link
  FROM guestbook_notify.page_list('all', '{"q": "PG"}') ORDER BY case_code;
SELECT d ->> 'recipient_name' AS name, d ->> 'to_number' AS number, d ->> 'masked' AS masked,
	   d ->> 'message_text' AS message
  FROM guestbook_notify.page_detail(:'late_id') d;
SELECT guestbook_notify.page_detail_unmasked(:'late_id');
SELECT guestbook_notify.page_act('cancel', ARRAY[:'pending_id']::uuid[]);
SELECT guestbook_notify.page_opt_in('081234567811');
RESET SESSION AUTHORIZATION;

-- tabs and search
SELECT case_code FROM guestbook_notify.page_list('failed', '{"q": "PG"}') ORDER BY 1;
SELECT case_code FROM guestbook_notify.page_list('attention', '{"q": "PG"}') ORDER BY 1;
SELECT case_code FROM guestbook_notify.page_list('pending', '{"q": "pg1"}') ORDER BY 1;
SELECT case_code FROM guestbook_notify.page_list('all', '{"q": "5678 13"}') ORDER BY 1;
SELECT case_code FROM guestbook_notify.page_list('all', '{"q": "budi s"}') ORDER BY 1;
SELECT case_code FROM guestbook_notify.page_list('all', '{"q": "x%"}') ORDER BY 1;
SELECT count(*) FROM guestbook_notify.page_list('all', '{"role": "lead", "q": "PG"}');
SELECT count(*) FROM guestbook_notify.page_list('all', '{"template": "assigned", "from": "2000-01-01", "to": "2999-12-31", "q": "PG"}');
SELECT count(*) FROM guestbook_notify.page_list('all', '{"to": "2000-01-01"}');
SELECT guestbook_notify.page_list('nonsense');
SELECT guestbook_notify.page_list('all', '[]');
SELECT guestbook_notify.page_list('all', lim => 0);

-- keyset: pages of two, no duplicate, no gap, newest first
CREATE TEMP TABLE seen (n int, id uuid, created_at timestamptz);
DO $$
DECLARE
	c_at timestamptz;
	c_id uuid;
	page int := 0;
	got int;
BEGIN
	LOOP
		page := page + 1;
		INSERT INTO seen SELECT page, l.id, l.created_at
		  FROM guestbook_notify.page_list('all', '{"q": "PG"}', c_at, c_id, 2) l;
		GET DIAGNOSTICS got = ROW_COUNT;
		EXIT WHEN got < 2;
		SELECT s.created_at, s.id INTO c_at, c_id FROM seen s
		 WHERE s.n = page ORDER BY s.created_at, s.id LIMIT 1;
	END LOOP;
END;
$$;
SELECT count(*) AS rows_seen, count(DISTINCT id) AS distinct_rows, max(n) AS pages,
	   (SELECT count(*) FROM guestbook_notify.notification_queue
		 WHERE template_params ->> 'case_code' LIKE 'PG%') AS rows_in_queue
  FROM seen;

-- the admin: the wa.me link, the detail in full (logged), the actions (logged)
SET SESSION AUTHORIZATION regress_gbn_page_admin;
SELECT case_code, wa_link FROM guestbook_notify.page_list('failed', '{"q": "PG"}') ORDER BY case_code;
SELECT d ->> 'recipient_name' AS name, d ->> 'to_number' AS number, d ->> 'masked' AS masked,
	   d -> 'delivery_error' ->> 'code' AS code
  FROM guestbook_notify.page_detail_unmasked(:'late_id') d;
SELECT r - 'log_id' - 'new_ids' AS resend, jsonb_array_length(r -> 'new_ids') AS new_rows
  FROM guestbook_notify.page_act('resend', ARRAY[:'late_id', :'failed_id']::uuid[]) r;
-- a double click sends once (resend() says so in a NOTICE)
SET client_min_messages = warning;
SELECT r - 'log_id' - 'new_ids' AS resend_again
  FROM guestbook_notify.page_act('resend', ARRAY[:'late_id']::uuid[]) r;
RESET client_min_messages;
SELECT r - 'log_id' - 'new_ids' AS requeue
  FROM guestbook_notify.page_act('requeue', ARRAY[:'failed_id', :'pending_id']::uuid[]) r;
SELECT r - 'log_id' - 'new_ids' AS cancel_filter
  FROM guestbook_notify.page_act('cancel', NULL, 'pending', '{"q": "PG1"}') r;
SELECT r - 'log_id' - 'new_ids' AS bad_id
  FROM guestbook_notify.page_act('requeue', ARRAY['00000000-0000-0000-0000-000000000000']::uuid[]) r;
SELECT guestbook_notify.page_act('delete', ARRAY[:'failed_id']::uuid[]);
SELECT guestbook_notify.opt_out('0812-3456-7813');
RESET SESSION AUTHORIZATION;
SELECT guestbook_notify.opt_out('0812-3456-7813', 'STOP');
SET SESSION AUTHORIZATION regress_gbn_page_admin;
SELECT number, reason FROM guestbook_notify.page_opt_outs();
SELECT guestbook_notify.page_opt_in('0812-3456-7813') AS opted_in,
	   guestbook_notify.page_opt_in('0812-3456-7813') AS again;
RESET SESSION AUTHORIZATION;

-- who did what: the log
SELECT actor, action, scope, cardinality(ids) AS ids, done, skipped,
	   jsonb_array_length(errors) AS errors, cardinality(new_ids) AS new_ids, number,
	   filter
  FROM guestbook_notify.page_actions ORDER BY id;
SELECT status, count(*) FROM guestbook_notify.notification_queue
 WHERE template_params ->> 'case_code' LIKE 'PG%' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS resends FROM guestbook_notify.notification_queue
 WHERE resent_from IN (:'late_id', :'failed_id');
-- the detail shows the row's actions and resends
SELECT jsonb_array_length(d -> 'actions') AS actions, jsonb_array_length(d -> 'resends') AS resends
  FROM guestbook_notify.page_detail(:'late_id') d;
SELECT guestbook_notify.page_detail('00000000-0000-0000-0000-000000000000') IS NULL AS unknown_is_null;

-- the banner
SELECT s ?& ARRAY['queue_length', 'oldest_pending_s', 'standby', 'workers'] AS banner_keys,
	   (s ->> 'standby')::boolean AS standby
  FROM guestbook_notify.page_status() s;

DELETE FROM guestbook_notify.page_actions;
DELETE FROM guestbook_notify.notification_queue WHERE template_params ->> 'case_code' LIKE 'PG%';
DROP OWNED BY regress_gbn_page_viewer, regress_gbn_page_admin, regress_gbn_page_none;
DROP ROLE regress_gbn_page_viewer;
DROP ROLE regress_gbn_page_admin;
DROP ROLE regress_gbn_page_none;
