-- tests/bench/page_data.sql -- a year of notifications for bench_page.sh.
--
-- psql -v rows=1000000 -f page_data.sql, as superuser, after CREATE
-- EXTENSION, the reference schema, its sample data and attach('public').
-- Written straight into the extension's tables with INSERT ... SELECT
-- generate_series (the trigger path would take hours for 1,000,000 rows);
-- deterministic (setseed), so two runs measure the same data.
--
-- The mix (for :rows = 1,000,000):
--   * about 4 notifications per case (rows / 4 cases, codes K0000001...):
--     'assigned' to one of 2,000 operators, a re-assignment, escalated_lead
--     to one of 100 leads, escalated_kadis to one of 5 heads of office
--   * created_at spread evenly over the last 365 days (newest = highest n),
--     a random minute within its slot
--   * status: the last 2 hours half 'pending' (a few of them held, a few in
--     flight), else 95 % 'sent', 2 % 'failed', 1 % 'cancelled', and
--     pending rows scheduled in the future (retries) 2 %
--   * delivery_status of sent rows: read 60 %, delivered 25 %, sent 10 %,
--     failed 2 % (needs attention), none 3 %
--   * one attempt row per finished row (failed rows: three), with the
--     HTTP status, Meta's code and error text
--   * resent_from on 0.1 % (a resend of an earlier failed row)

SELECT setseed(0.13);

CREATE TEMP TABLE b_first (i int, name text);
INSERT INTO b_first SELECT ordinality, n FROM unnest(ARRAY[
	'Agus', 'Budi', 'Citra', 'Dewi', 'Eko', 'Fajar', 'Gita', 'Hadi', 'Indah', 'Joko',
	'Kartika', 'Lestari', 'Made', 'Nur', 'Oki', 'Putri', 'Rina', 'Sari', 'Teguh', 'Umar',
	'Wahyu', 'Yanti', 'Zainal', 'Ayu', 'Bambang', 'Dian', 'Endang', 'Fitri', 'Hendra', 'Ikhsan',
	'Kurnia', 'Mega', 'Nia', 'Rudi', 'Siti', 'Tri', 'Wulan', 'Yoga', 'Ratna', 'Slamet'])
	WITH ORDINALITY AS t(n, ordinality);
CREATE TEMP TABLE b_last (i int, name text);
INSERT INTO b_last SELECT ordinality, n FROM unnest(ARRAY[
	'Santoso', 'Wijaya', 'Saputra', 'Hidayat', 'Kurniawan', 'Pratama', 'Setiawan', 'Nugroho',
	'Wibowo', 'Susanto', 'Siregar', 'Nasution', 'Lubis', 'Harahap', 'Simanjuntak', 'Gunawan',
	'Halim', 'Purnomo', 'Rahman', 'Hakim', 'Permana', 'Ramadhan', 'Firmansyah', 'Syahputra',
	'Utomo', 'Wahyudi', 'Maulana', 'Suryadi', 'Putra', 'Prasetyo', 'Hartono', 'Iskandar',
	'Sembiring', 'Tarigan', 'Ginting', 'Pohan', 'Daulay', 'Manurung', 'Sitompul', 'Panjaitan',
	'Sinaga', 'Tambunan', 'Situmorang', 'Hutapea', 'Pardede', 'Napitupulu', 'Batubara',
	'Rangkuti', 'Matondang', 'Ritonga'])
	WITH ORDINALITY AS t(n, ordinality);

-- recipients: 1..2000 operators, 2001..2100 leads, 2101..2105 heads of office
CREATE TEMP TABLE b_people AS
SELECT n,
	   CASE WHEN n <= 2000 THEN 'operator' WHEN n <= 2100 THEN 'lead' ELSE 'kadis' END AS role,
	   CASE WHEN n <= 2000 THEN f.name || ' ' || l.name
			WHEN n <= 2100 THEN 'Kabid ' || f.name || ' ' || l.name
			ELSE 'Kepala Dinas ' || f.name || ' ' || l.name END AS name,
	   '628' || (11 + n % 9)::text || lpad(((n::bigint * 7919 + 12345) % 100000000)::text, 8, '0') AS number
  FROM generate_series(1, 2105) n
  JOIN b_first f ON f.i = 1 + n % 40
  JOIN b_last l ON l.i = 1 + (n / 40) % 50;
CREATE UNIQUE INDEX ON b_people (n);

-- the app's cases (the detail page links to them and reads their events)
INSERT INTO public.cases (id, code, case_type, status, org_unit_id, unit_tujuan,
						  visitor_name, visitor_id_number, purpose, surat_tracking_no, surat_perihal)
SELECT md5('case' || c)::uuid, 'K' || lpad(c::text, 7, '0'),
	   CASE WHEN c % 5 = 0 THEN 'surat' ELSE 'visitor' END, 'assigned',
	   '00000000-0000-0000-0000-000000000003', 'UPT Warroom',
	   CASE WHEN c % 5 <> 0 THEN 'Pengunjung ' || c END,
	   CASE WHEN c % 5 <> 0 THEN '3201' || lpad((c::bigint * 104729 % 1000000000000)::text, 12, '0') END,
	   CASE WHEN c % 5 <> 0 THEN 'Konsultasi layanan nomor ' || c END,
	   CASE WHEN c % 5 = 0 THEN lpad((c % 1000)::text, 3, '0') || '/UND/2026' END,
	   CASE WHEN c % 5 = 0 THEN 'Undangan rapat koordinasi ' || c END
  FROM generate_series(1, (:rows + 3) / 4) c;

-- the notifications
CREATE TEMP TABLE b_q AS
SELECT g,
	   (g + 3) / 4 AS c,
	   now() - make_interval(secs => (365 * 86400.0) * (1 - g::float8 / :rows) + 60 * random()) AS created_at,
	   random() AS r_status,
	   random() AS r_delivery,
	   random() AS r_template,
	   random() AS r_person
  FROM generate_series(1, :rows) g;

INSERT INTO guestbook_notify.notification_queue
	(id, to_number, to_number_raw, recipient_name, recipient_role, template_key, template_name,
	 template_language, template_params, template_args, message_text, case_id, app_schema,
	 status, attempt_count, scheduled_at, lease_until, leased_by, sent_at, last_error, dedupe_key,
	 provider, provider_message_id, delivery_status, delivery_status_at, delivered_at, read_at,
	 delivery_error, send_as, created_at, updated_at)
SELECT md5('n' || g)::uuid, p.number, p.number, p.name, p.role, t.key, t.cloud_template_name, 'id',
	   jsonb_build_object('case_code', code, 'case_type', CASE WHEN c % 5 = 0 THEN 'surat' ELSE 'visitor' END,
						  'unit_tujuan', 'UPT Warroom', 'org_unit_name', 'UPT Warroom',
						  'summary', summary, 'detail_url', 'https://guestbook.example.go.id/cases/' || md5('case' || c)::uuid),
	   ARRAY[code, CASE WHEN c % 5 = 0 THEN 'surat' ELSE 'visitor' END, 'UPT Warroom', 'UPT Warroom', summary,
			 'https://guestbook.example.go.id/cases/' || md5('case' || c)::uuid],
	   CASE t.key WHEN 'assigned' THEN '[GUESTBOOK] Case ' || code
				  WHEN 'escalated_lead' THEN E'[GUESTBOOK] Eskalasi ke Kabid/Lead\nCase ' || code
				  ELSE E'[GUESTBOOK] Eskalasi ke Kepala Dinas\nCase ' || code END
		 || E'\nJenis: ' || CASE WHEN c % 5 = 0 THEN 'surat' ELSE 'visitor' END
		 || E'\nUnit: UPT Warroom\nOrg Unit: UPT Warroom\n' || summary
		 || E'\n\nDetail: https://guestbook.example.go.id/cases/' || md5('case' || c)::uuid,
	   md5('case' || c)::uuid, 'public',
	   st, CASE st WHEN 'failed' THEN 3 WHEN 'pending' THEN (r_status * 10)::int % 2 ELSE 1 END,
	   CASE WHEN st = 'pending' AND r_status < 0.02 THEN now() + interval '10 minutes' ELSE created_at END,
	   CASE WHEN st = 'pending' AND r_status > 0.48 THEN now() + interval '30 seconds' END,
	   CASE WHEN st = 'pending' AND r_status > 0.48 THEN 4242 END,
	   CASE WHEN st = 'sent' THEN created_at + interval '2 seconds' END,
	   CASE WHEN st = 'failed' THEN (ARRAY[
			'131026 Message undeliverable (Receiver is incapable of receiving this message)',
			'131047 Re-engagement message',
			'100 Invalid parameter',
			'HTTP 500 after 3 attempts',
			'132001 Template name does not exist in the translation'])[1 + (r_delivery * 5)::int % 5]
			WHEN st = 'pending' AND r_status < 0.01 THEN 'held: recipient reached recipient_hourly_cap (20 an hour)'
			WHEN st = 'cancelled' THEN 'cancelled by admin' END,
	   'bench:' || g,
	   CASE WHEN st = 'sent' THEN 'cloud_api' END,
	   CASE WHEN st = 'sent' THEN 'wamid.bench' || g END,
	   ds,
	   CASE WHEN ds IS NOT NULL THEN created_at + interval '30 seconds' END,
	   CASE WHEN ds IN ('delivered', 'read') THEN created_at + interval '10 seconds' END,
	   CASE WHEN ds = 'read' THEN created_at + interval '5 minutes' END,
	   CASE WHEN ds = 'failed' THEN jsonb_build_object('code', 131026, 'title', 'Message undeliverable',
			'details', 'Message Undeliverable.') END,
	   'template', created_at, created_at + interval '1 minute'
  FROM (SELECT b.*, 'K' || lpad(c::text, 7, '0') AS code,
			   'Pengunjung: Pengunjung ' || c || ' - Konsultasi layanan nomor ' || c AS summary,
			   CASE WHEN created_at > now() - interval '2 hours' AND r_status < 0.5 THEN 'pending'
					WHEN r_status < 0.02 THEN 'failed'
					WHEN r_status < 0.03 THEN 'cancelled'
					ELSE 'sent' END AS st,
			   CASE g % 4 WHEN 1 THEN 'assigned'
						  WHEN 2 THEN CASE WHEN r_template < 0.5 THEN 'assigned' ELSE 'escalated_lead' END
						  WHEN 3 THEN 'escalated_lead'
						  ELSE CASE WHEN r_template < 0.3 THEN 'escalated_kadis' ELSE 'assigned' END END AS tkey
		  FROM b_q b) b
  CROSS JOIN LATERAL (SELECT CASE WHEN b.st <> 'sent' THEN NULL
								  WHEN r_delivery < 0.60 THEN 'read'
								  WHEN r_delivery < 0.85 THEN 'delivered'
								  WHEN r_delivery < 0.95 THEN 'sent'
								  WHEN r_delivery < 0.97 THEN 'failed' END AS ds) d
  JOIN guestbook_notify.templates t ON t.key = b.tkey
  JOIN b_people p ON p.n = CASE b.tkey WHEN 'assigned' THEN 1 + (r_person * 2000)::int % 2000
									   WHEN 'escalated_lead' THEN 2001 + (c % 100)
									   ELSE 2101 + (c % 5) END;

-- resends: 0.1 % of the rows point at an earlier failed row
UPDATE guestbook_notify.notification_queue q
   SET resent_from = f.id
  FROM (SELECT id, row_number() OVER (ORDER BY id) AS k
		  FROM guestbook_notify.notification_queue WHERE status = 'failed' LIMIT (:rows / 1000)) f,
	   (SELECT id, row_number() OVER (ORDER BY id) AS k
		  FROM guestbook_notify.notification_queue WHERE status = 'sent' LIMIT (:rows / 1000)) s
 WHERE s.k = f.k AND q.id = s.id;

-- attempts: one per finished row, three per failed row
INSERT INTO guestbook_notify.notification_attempts
	(notification_id, attempt_no, provider, started_at, finished_at, duration_ms, outcome,
	 http_status, error_code, error_text, provider_message_id)
SELECT q.id, a, 'cloud_api', q.created_at + (a - 1) * interval '1 minute',
	   q.created_at + (a - 1) * interval '1 minute' + interval '180 milliseconds', 180,
	   CASE WHEN q.status = 'failed' AND a = 3 THEN 'failed' WHEN q.status = 'failed' THEN 'retry'
			ELSE 'sent' END,
	   CASE WHEN q.status = 'failed' THEN 400 ELSE 200 END,
	   CASE WHEN q.status = 'failed' THEN 131026 END,
	   CASE WHEN q.status = 'failed' THEN q.last_error END,
	   q.provider_message_id
  FROM guestbook_notify.notification_queue q
 CROSS JOIN LATERAL generate_series(1, CASE q.status WHEN 'failed' THEN 3 ELSE 1 END) a
 WHERE q.status IN ('sent', 'failed');

-- the case events of the audit (what the worker writes: contacted / notification_failed)
INSERT INTO public.case_events (case_id, event_type, details, created_at)
SELECT q.case_id, CASE q.status WHEN 'sent' THEN 'contacted' ELSE 'notification_failed' END,
	   jsonb_build_object('notification_id', q.id, 'template', q.template_key), coalesce(q.sent_at, q.created_at)
  FROM guestbook_notify.notification_queue q
 WHERE q.status IN ('sent', 'failed') AND q.created_at > now() - interval '30 days';
