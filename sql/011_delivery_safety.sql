--
-- 011_delivery_safety: the worker interface's delivery safety: recipient
-- pacing and the hourly cap in _claim_paced, a dead worker's leases,
-- 131056 in _record_result, retention (archive_finished).  Settings are
-- the defaults (recipient_interval 6 s, recipient_hourly_cap 60).
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.notification_attempts,
	guestbook_notify.recipient_pacing, guestbook_notify.notification_queue_archive;
TRUNCATE case_events;
SHOW guestbook_notify.recipient_interval;
SHOW guestbook_notify.recipient_hourly_cap;

-- three rows for one number (p1 first in the queue), one for another
SELECT count(guestbook_notify.enqueue('assigned', '0812-6666-0001', NULL, '{}', 'p' || i,
									  now() - interval '1 minute' + i * interval '1 s'))
  FROM generate_series(1, 3) AS i;
SELECT guestbook_notify.enqueue('assigned', '0812-6666-0002', NULL, '{}', 'p4') IS NOT NULL AS enqueued;

-- one message per number: the other rows of 6281266660001 go to its next
-- slots, one interval apart (deferred, not dropped)
SELECT to_number FROM guestbook_notify._claim_paced(10, 60, 6000, 60) ORDER BY 1;
SELECT dedupe_key, status, lease_until IS NOT NULL AS leased,
	   scheduled_at > now() + interval '5 s' AS deferred
  FROM guestbook_notify.notification_queue ORDER BY dedupe_key;
-- (the interval and its margin for the time until the request leaves: a
-- twentieth of it, at most 250 ms)
SELECT extract(epoch FROM max(scheduled_at) - min(scheduled_at)) BETWEEN 6.2 AND 6.3 AS one_interval_apart
  FROM guestbook_notify.notification_queue WHERE lease_until IS NULL;
SELECT to_number, window_count, throttle_level, next_allowed_at > now() + interval '6 s' AS paced
  FROM guestbook_notify.recipient_pacing ORDER BY 1;
-- nothing more is due
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);

--
-- 131056 (pair rate limit): that number's next slot moves back 4^x s (at
-- least the interval); a success resets x
--
SELECT id AS p1 FROM guestbook_notify.notification_queue WHERE dedupe_key = 'p1' \gset
SELECT guestbook_notify._record_result(:'p1', 'retry', 'cloud_api', 400, 131056, 'pair rate limit hit',
	NULL, now(), 5, 1000, 8, 6000);
SELECT throttle_level, next_allowed_at > now() + interval '6 s' AS paced
  FROM guestbook_notify.recipient_pacing WHERE to_number = '6281266660001';
-- claim it again (its slot forced due), and get a second 131056: 4^1 s
UPDATE guestbook_notify.recipient_pacing SET next_allowed_at = now() - interval '1 s'
 WHERE to_number = '6281266660001';
UPDATE guestbook_notify.notification_queue SET scheduled_at = now() - interval '1 s' WHERE id = :'p1';
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(1, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'p1', 'retry', 'cloud_api', 400, 131056, 'pair rate limit hit',
	NULL, now(), 5, 4000, 8, 6000);
SELECT throttle_level, next_allowed_at > now() + interval '6 s' AS paced
  FROM guestbook_notify.recipient_pacing WHERE to_number = '6281266660001';
-- a third: 4^2 = 16 s, longer than the interval
UPDATE guestbook_notify.recipient_pacing SET next_allowed_at = now() - interval '1 s'
 WHERE to_number = '6281266660001';
UPDATE guestbook_notify.notification_queue SET scheduled_at = now() - interval '1 s' WHERE id = :'p1';
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(1, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'p1', 'retry', 'cloud_api', 400, 131056, 'pair rate limit hit',
	NULL, now(), 5, 16000, 8, 6000);
SELECT throttle_level, next_allowed_at > now() + interval '15 s' AS paced_16s
  FROM guestbook_notify.recipient_pacing WHERE to_number = '6281266660001';
-- the other number is not slowed
SELECT to_number, throttle_level FROM guestbook_notify.recipient_pacing
 WHERE to_number = '6281266660002';
-- success: the throttle level goes back to 0
UPDATE guestbook_notify.recipient_pacing SET next_allowed_at = now() - interval '1 s'
 WHERE to_number = '6281266660001';
UPDATE guestbook_notify.notification_queue SET scheduled_at = now() - interval '1 s' WHERE id = :'p1';
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(1, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'p1', 'sent', 'cloud_api', 200, NULL, NULL,
	'wamid.P1', now(), 5, NULL, 8, 6000);
SELECT throttle_level FROM guestbook_notify.recipient_pacing WHERE to_number = '6281266660001';

--
-- hourly cap: a number that had 60 messages this hour is held until the
-- hour ends, and the admin view says so
--
UPDATE guestbook_notify.recipient_pacing
   SET next_allowed_at = now() - interval '1 s', window_start = now() - interval '10 minutes',
	   window_count = 60
 WHERE to_number = '6281266660001';
UPDATE guestbook_notify.notification_queue SET scheduled_at = now() - interval '1 s'
 WHERE to_number = '6281266660001' AND status = 'pending';
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT dedupe_key, status, held, scheduled_at > now() + interval '49 minutes' AS next_hour,
	   regexp_replace(last_error, 'resumes at .*', 'resumes at <time>') AS last_error
  FROM guestbook_notify.notifications
 WHERE to_number = '6281266660001' AND status = 'pending' ORDER BY dedupe_key;
-- opt-out still cancels held rows
SELECT guestbook_notify.opt_out('0812-6666-0001', 'test');
SELECT dedupe_key, status, held, last_error FROM guestbook_notify.notifications
 WHERE to_number = '6281266660001' ORDER BY dedupe_key;
SELECT guestbook_notify.opt_in('0812-6666-0001');

--
-- a row leased by a backend that is gone (a killed worker) is taken over at
-- once; one leased by a live backend is not
--
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.recipient_pacing;
SELECT guestbook_notify.enqueue('assigned', '0812-6666-0003', NULL, '{}', 'dead') AS dead \gset
SELECT guestbook_notify.enqueue('assigned', '0812-6666-0004', NULL, '{}', 'live') AS live \gset
UPDATE guestbook_notify.notification_queue
   SET lease_until = now() + interval '1 hour', attempt_count = 1,
	   leased_by = CASE WHEN id = :'dead' THEN 2147483647 ELSE pg_backend_pid() END;
SELECT guestbook_notify._next_due() <= now() AS due_now;
SELECT to_number, attempt_count FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT dedupe_key, leased_by = pg_backend_pid() AS mine, attempt_count
  FROM guestbook_notify.notification_queue ORDER BY 1;
-- a lease that ran out is claimed again, whoever held it
UPDATE guestbook_notify.notification_queue SET lease_until = now() - interval '1 s'
 WHERE id = :'live';
SELECT to_number, attempt_count FROM guestbook_notify._claim_paced(10, 60, 6000, 60);

--
-- retention: archive_finished moves finished rows not changed for
-- older_than, in batches; pending rows stay; attempts stay
--
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.recipient_pacing;
SELECT count(guestbook_notify.enqueue('assigned', '0812-6666-001' || i, NULL, '{}', 'r' || i))
  FROM generate_series(1, 5) AS i;
UPDATE guestbook_notify.notification_queue
   SET status = CASE dedupe_key WHEN 'r1' THEN 'sent' WHEN 'r2' THEN 'failed'
							   WHEN 'r3' THEN 'cancelled' WHEN 'r4' THEN 'sent' ELSE status END,
	   sent_at = now(),
	   updated_at = CASE WHEN dedupe_key = 'r4' THEN now() ELSE now() - interval '100 days' END;
INSERT INTO guestbook_notify.notification_attempts (notification_id, attempt_no, started_at, outcome)
SELECT id, 1, now(), 'sent' FROM guestbook_notify.notification_queue WHERE dedupe_key = 'r1';
SELECT guestbook_notify.archive_finished(interval '90 days', 2) AS moved;
SELECT guestbook_notify.archive_finished(interval '90 days', 2) AS moved;
SELECT guestbook_notify.archive_finished(interval '90 days') AS moved;
SELECT dedupe_key, status FROM guestbook_notify.notification_queue ORDER BY 1;
SELECT dedupe_key, status, archived_at IS NOT NULL AS archived
  FROM guestbook_notify.notification_queue_archive ORDER BY 1;
SELECT count(*) AS attempts_kept FROM guestbook_notify.notification_attempts a
 WHERE a.notification_id IN (SELECT id FROM guestbook_notify.notification_queue_archive);
-- invalid arguments
SELECT errcode, message, hint
  FROM show_error($$SELECT guestbook_notify.archive_finished(interval '-1 day', 10)$$);
SELECT errcode, message, hint
  FROM show_error($$SELECT guestbook_notify.archive_finished(NULL, 10)$$);
SELECT errcode, message, hint
  FROM show_error($$SELECT guestbook_notify.archive_finished(interval '1 day', 0)$$);
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.notification_queue_archive,
	guestbook_notify.notification_attempts;
