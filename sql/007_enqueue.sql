--
-- 007_enqueue: enqueue(), opt-out/in, requeue(), cancel(), requeue_failed().
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.notification_attempts,
	guestbook_notify.opt_outs;

-- Without a case: the template's placeholders have no values (left as is)
-- unless params gives them.
SELECT guestbook_notify.enqueue('assigned', '0812-1111-2222') AS id1 \gset
CALL settle();
SELECT status, to_number, to_number_raw, recipient_role, recipient_name, case_id,
	   app_schema, template_name, template_language, template_args, dedupe_key
  FROM guestbook_notify.notification_queue WHERE id = :'id1';
CALL settle();
SELECT message_text FROM guestbook_notify.notification_queue WHERE id = :'id1';

-- With params only.
SELECT guestbook_notify.enqueue('assigned', '+62 812 1111 3333', NULL,
	'{"case_code": "MAN001", "case_type": "visitor", "summary": "Nama: Tamu\nKeperluan: Rapat",
	  "unit_tujuan": "Sekretariat", "org_unit_name": "Sekretariat", "detail_url": "https://x/1"}') AS id2 \gset
CALL settle();
SELECT message_text, template_args FROM guestbook_notify.notification_queue WHERE id = :'id2';

-- With a case: its values, overridden by params; the case's schema is kept
-- for case_events.
SELECT guestbook_notify.enqueue('escalated_lead', '0813-0000-1111',
	'00000000-0000-0000-0000-0000000000c2',
	'{"recipient_name": "Pak Kabid", "unit_tujuan": "Diganti"}') AS id3 \gset
CALL settle();
SELECT recipient_name, case_id, app_schema, template_params ->> 'case_code' AS case_code,
	   template_params ->> 'unit_tujuan' AS unit_tujuan
  FROM guestbook_notify.notification_queue WHERE id = :'id3';
CALL settle();
SELECT message_text FROM guestbook_notify.notification_queue WHERE id = :'id3';

-- Scheduled for later: pending, not due.
SELECT guestbook_notify.enqueue('assigned', '0812-1111-4444',
	scheduled_at => now() + interval '1 hour') AS id4 \gset
CALL settle();
SELECT status, scheduled_at > now() AS later FROM guestbook_notify.notification_queue WHERE id = :'id4';

-- A dedupe_key already present: the existing row's id, no error, no second
-- row (even with other arguments).
SELECT guestbook_notify.enqueue('assigned', '0812-1111-5555', dedupe_key => 'manual:42') AS id5 \gset
SELECT guestbook_notify.enqueue('assigned', '0812-1111-5555', dedupe_key => 'manual:42') = :'id5' AS same_id;
SELECT guestbook_notify.enqueue('escalated_kadis', '0812-9999-9999', dedupe_key => 'manual:42') = :'id5' AS same_id;
CALL settle();
SELECT count(*), min(to_number) FROM guestbook_notify.notification_queue WHERE dedupe_key = 'manual:42';

-- invalid: unknown template
SELECT guestbook_notify.enqueue('no_such_template', '0812-1111-2222');
-- invalid: NULL template
SELECT guestbook_notify.enqueue(NULL, '0812-1111-2222');
-- invalid: NULL number
SELECT guestbook_notify.enqueue('assigned', NULL);
-- invalid: a number that is not an Indonesian mobile
SELECT guestbook_notify.enqueue('assigned', '12345');
-- invalid: params is not an object
SELECT guestbook_notify.enqueue('assigned', '0812-1111-2222', params => '["a"]');
SELECT guestbook_notify.enqueue('assigned', '0812-1111-2222', params => '"text"');
SELECT guestbook_notify.enqueue('assigned', '0812-1111-2222', params => 'null');
-- invalid: a case id no attached schema has
SELECT * FROM show_error($$SELECT guestbook_notify.enqueue('assigned', '0812-1111-2222',
	'00000000-0000-0000-0000-0000000000ff')$$);
-- nothing was queued by the failed calls: still the 5 rows above
CALL settle();
SELECT count(*) FROM guestbook_notify.notification_queue;

-- NULL params and NULL scheduled_at mean the defaults.
SELECT guestbook_notify.enqueue('assigned', '0812-1111-6666', NULL, NULL, NULL, NULL) AS id6 \gset
CALL settle();
SELECT status, scheduled_at <= now() AS due, template_params
  FROM guestbook_notify.notification_queue WHERE id = :'id6';

--
-- opt_out / opt_in
--
-- opt_out cancels the number's pending rows that are not in flight; a row
-- a worker holds (lease in the future) is left to the worker, which
-- re-checks opt-outs when it claims.
SELECT guestbook_notify.enqueue('assigned', '0812-2222-0001') AS o1 \gset
SELECT guestbook_notify.enqueue('assigned', '0812-2222-0001', dedupe_key => 'o2') AS o2 \gset
SELECT guestbook_notify.enqueue('assigned', '0812-2222-0001', dedupe_key => 'o3') AS o3 \gset
UPDATE guestbook_notify.notification_queue
   SET lease_until = now() + interval '1 minute', leased_by = pg_backend_pid() WHERE id = :'o3';
-- an expired lease is not in flight
UPDATE guestbook_notify.notification_queue
   SET lease_until = now() - interval '1 minute', leased_by = 1 WHERE id = :'o2';
SELECT guestbook_notify.opt_out('+62 812-2222-0001', 'minta berhenti');
CALL settle();
SELECT id = :'o3' AS in_flight_row, status, last_error
  FROM guestbook_notify.notification_queue WHERE to_number = '6281222220001' ORDER BY 1, 2;
SELECT number, reason FROM guestbook_notify.opt_outs;
-- again: an upsert; a NULL reason keeps the old one, a new one replaces it
SELECT guestbook_notify.opt_out('081222220001');
SELECT number, reason FROM guestbook_notify.opt_outs;
SELECT guestbook_notify.opt_out('081222220001', 'alasan baru');
SELECT number, reason FROM guestbook_notify.opt_outs;
-- enqueue to an opted-out number: a 'cancelled' row (id returned), no error
SELECT guestbook_notify.enqueue('assigned', '0812 2222 0001') AS o4 \gset
CALL settle();
SELECT status, last_error FROM guestbook_notify.notification_queue WHERE id = :'o4';
-- invalid: opt_out of an invalid or NULL number
SELECT guestbook_notify.opt_out('12345');
SELECT guestbook_notify.opt_out(NULL);
-- opt_in: true if it was opted out, false otherwise; cancelled rows stay
SELECT guestbook_notify.opt_in('0812-2222-0001');
SELECT guestbook_notify.opt_in('0812-2222-0001');
SELECT count(*) FROM guestbook_notify.opt_outs;
CALL settle();
SELECT status, count(*) FROM guestbook_notify.notification_queue
 WHERE to_number = '6281222220001' GROUP BY 1 ORDER BY 1;
-- invalid: opt_in of an invalid number
SELECT guestbook_notify.opt_in('not a number');
UPDATE guestbook_notify.notification_queue SET lease_until = NULL, leased_by = NULL WHERE id = :'o3';

--
-- requeue / cancel / requeue_failed
--
TRUNCATE guestbook_notify.notification_queue;
SELECT guestbook_notify.enqueue('assigned', '0812-3333-0001') AS r1 \gset
SELECT guestbook_notify.enqueue('assigned', '0812-3333-0002') AS r2 \gset
SELECT guestbook_notify.enqueue('assigned', '0812-3333-0003') AS r3 \gset
-- the worker's interface: claim them, one fails for good, one is sent, one
-- is retried later
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'r1', 'failed', 'cloud_api', 400, 131026, 'Message undeliverable',
	NULL, now(), 12.5, NULL, 8, 6000);
SELECT guestbook_notify._record_result(:'r2', 'sent', 'cloud_api', 200, NULL, NULL,
	'wamid.R2', now(), 10, NULL, 8, 6000);
SELECT guestbook_notify._record_result(:'r3', 'retry', 'cloud_api', 500, 1, 'Internal error',
	NULL, now(), 10, 60000, 8, 6000);
CALL settle();
SELECT to_number, status, attempt_count, last_error FROM guestbook_notify.notification_queue ORDER BY 1;

-- requeue: failed -> pending, due now, attempts from zero
SELECT guestbook_notify.requeue(:'r1');
CALL settle();
SELECT status, attempt_count, last_error, scheduled_at <= now() AS due
  FROM guestbook_notify.notification_queue WHERE id = :'r1';
-- requeue of a pending or a sent row: false, nothing changes
SELECT guestbook_notify.requeue(:'r1'), guestbook_notify.requeue(:'r2');
-- cancel: pending (not in flight) -> cancelled, true; the reason says by whom
SELECT guestbook_notify.cancel(:'r1');
CALL settle();
SELECT status, last_error LIKE 'cancelled by %' AS says_who
  FROM guestbook_notify.notification_queue WHERE id = :'r1';
-- cancel of a cancelled or sent row: false
SELECT guestbook_notify.cancel(:'r1'), guestbook_notify.cancel(:'r2');
-- requeue: cancelled -> pending
SELECT guestbook_notify.requeue(:'r1');
-- cancel of a row in flight: false (recipient pacing would hold r1's
-- number for recipient_interval after its first claim: forget that state)
DELETE FROM guestbook_notify.recipient_pacing;
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify.cancel(:'r1');
SELECT guestbook_notify._record_result(:'r1', 'failed', 'cloud_api', 400, 131026, 'Message undeliverable',
	NULL, now(), 12.5, NULL, 8, 6000);
-- cancel of a failed row: true, the failure kept in the reason
SELECT guestbook_notify.cancel(:'r1');
CALL settle();
SELECT status, regexp_replace(last_error, '^cancelled by [^ ]+', 'cancelled by <user>') AS last_error
  FROM guestbook_notify.notification_queue WHERE id = :'r1';
-- a pending row that waits for its retry (not in flight) can be cancelled
SELECT guestbook_notify.cancel(:'r3');

-- invalid: unknown ids
SELECT guestbook_notify.requeue('00000000-0000-0000-0000-000000000000');
SELECT guestbook_notify.cancel('00000000-0000-0000-0000-000000000000');
SELECT guestbook_notify.requeue(NULL);
-- invalid: requeue of a failed row without a valid number (nothing could
-- be sent): an error that says so
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000b2');
CALL settle();
SELECT id AS bad FROM guestbook_notify.notification_queue WHERE to_number_raw = '12345' \gset
SELECT errcode, replace(message, :'bad', '<id>') AS message, detail, hint
  FROM show_error($$SELECT guestbook_notify.requeue('$$ || :'bad' || $$')$$);

-- requeue_failed: every failed row with a number, since a time
TRUNCATE guestbook_notify.notification_queue;
SELECT count(guestbook_notify.enqueue('assigned', '0812-4444-000' || i)) FROM generate_series(1, 4) AS i;
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
CALL settle();
SELECT count(guestbook_notify._record_result(id, 'failed', 'cloud_api', 400, 131026, 'x', NULL,
	now(), 1, NULL, 8, 6000)) FROM guestbook_notify.notification_queue;
-- one of them opted out since: not requeued
SELECT guestbook_notify.opt_out('0812-4444-0004');
SELECT guestbook_notify.requeue_failed(now() + interval '1 minute');
SELECT guestbook_notify.requeue_failed();
CALL settle();
SELECT status, count(*) FROM guestbook_notify.notification_queue GROUP BY 1 ORDER BY 1;
SELECT guestbook_notify.requeue_failed(NULL);
SELECT guestbook_notify.opt_in('0812-4444-0004');
