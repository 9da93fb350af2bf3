--
-- 008_webhook_inbox: what the webhook receiver (guestbook_notify_web) hands
-- over: webhook_receive() stores the raw body and applies it; statuses
-- whose message id is not known yet are parked; malformed bodies are kept
-- and flagged; WAHA acks, messages and session statuses; replies STOP and
-- MULAI; webhook_store(), webhook_retry(), webhook_reapply(),
-- webhook_maintenance(); resend().
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.notification_attempts;
TRUNCATE guestbook_notify.opt_outs, guestbook_notify.recipient_pacing;
-- statuses of unknown ids that 008_webhook left parked
TRUNCATE guestbook_notify.webhook_parked_statuses;
TRUNCATE case_events;

-- A sent message of case ABC123, wamid.W1.
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
CALL settle();
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify._record_result(id, 'sent', 'cloud_api', 200, NULL, NULL, 'wamid.W1',
		now(), 5, NULL, 8, 6000)
  FROM guestbook_notify.notification_queue;

-- Meta's envelope around a value
CREATE FUNCTION pg_temp.meta(value text) RETURNS bytea LANGUAGE sql AS $$
	SELECT convert_to('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":'
					  || value || '}]}]}', 'UTF8')
$$;
CREATE VIEW inbox AS
SELECT id, source, event_id, state, attempts, next_attempt_at IS NOT NULL AS retry,
	   needs_attention AS attn, error, summary
  FROM guestbook_notify.webhook_inbox ORDER BY id;
CREATE VIEW delivery AS
SELECT provider_message_id AS wamid, status, delivery_status, delivered_at IS NOT NULL AS delivered,
	   read_at IS NOT NULL AS read, last_error
  FROM guestbook_notify.notification_queue WHERE provider_message_id IS NOT NULL ORDER BY 1;

-- Reply keywords: the whole message, trimmed, any case.
SELECT t, guestbook_notify._reply_keyword(t)
  FROM (VALUES ('STOP'), (E'  stop \n'), ('Berhenti'), (E'stop \t notifikasi'), ('MULAI'),
			   ('start'), ('Stop please'), ('STOPP'), (''), (NULL), (repeat('stop ', 20))) AS v(t);

-- A status for our message, one for a message not recorded yet (parked),
-- a 'played' status and another change field (ignored).
SELECT * FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"statuses":[{"id":"wamid.W1","status":"delivered","timestamp":"1750030070"},
				  {"id":"wamid.LATER","status":"read","timestamp":"1750030071"},
				  {"id":"wamid.W1","status":"played","timestamp":"1750030072"}]}'));
SELECT provider_message_id, status, status_at = to_timestamp(1750030071) AS at_given, inbox_id
  FROM guestbook_notify.webhook_parked_statuses;
-- the same status again: parked once
SELECT state, detail FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"statuses":[{"id":"wamid.LATER","status":"read","timestamp":"1750030071"}]}'));
SELECT count(*) AS parked FROM guestbook_notify.webhook_parked_statuses;
-- the worker records wamid.LATER: applied in the same transaction
SELECT guestbook_notify.enqueue('assigned', '0812-5555-0002') AS later \gset
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'later', 'sent', 'cloud_api', 200, NULL, NULL, 'wamid.LATER',
		now(), 5, NULL, 8, 6000);
SELECT * FROM delivery;
SELECT count(*) AS parked FROM guestbook_notify.webhook_parked_statuses;
-- record_status parks too
SELECT guestbook_notify.record_status('wamid.RS', 'delivered');
SELECT provider_message_id, status, inbox_id FROM guestbook_notify.webhook_parked_statuses;

-- A late failure: needs attention, case_events once.
SELECT state, detail FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"statuses":[{"id":"wamid.W1","status":"failed","timestamp":"1750030080",
				   "errors":[{"code":131026,"title":"Message undeliverable",
							  "error_data":{"details":"Receiver is incapable of receiving this message"}}]}]}'));
SELECT state FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"statuses":[{"id":"wamid.W1","status":"failed","timestamp":"1750030080",
				   "errors":[{"code":131026,"title":"Message undeliverable"}]}]}'));
SELECT * FROM delivery WHERE wamid = 'wamid.W1';
CALL settle();
SELECT event_type, details ->> 'error' AS error FROM case_events WHERE event_type = 'notification_failed';
SELECT needs_attention FROM guestbook_notify.notifications WHERE provider_message_id = 'wamid.W1';

-- Signed bodies that are not what they should be: stored, flagged.
SELECT v.what, r.state, r.detail
  FROM (VALUES ('not JSON', convert_to('hello', 'UTF8')),
			   ('not UTF-8', '\xff7b7d'::bytea),
			   ('a NUL byte', '\x7b007d'::bytea),
			   ('empty', ''::bytea),
			   ('an array', convert_to('[]', 'UTF8')),
			   ('entry not an array', convert_to('{"entry":{}}', 'UTF8')),
			   ('\u0000', convert_to('{"entry":[],"x":"\u0000"}', 'UTF8')),
			   ('deep', convert_to(repeat('[', 50000) || repeat(']', 50000), 'UTF8')),
			   ('bad items', convert_to('{"entry":[7,{"changes":{}},{"changes":[{"value":{"statuses":[{"id":1}],"messages":"x"}}]}]}', 'UTF8')),
			   ('bad timestamp', pg_temp.meta('{"statuses":[{"id":"wamid.TS","status":"sent","timestamp":"yesterday"}]}')),
			   ('Meta system error', pg_temp.meta('{"errors":[{"code":131000,"title":"Something went wrong"}]}')),
			   ('another object', convert_to('{"object":"page","entry":[]}', 'UTF8'))) AS v(what, body),
	   LATERAL guestbook_notify.webhook_receive('meta', v.body) AS r;
SELECT id, state, attempts, retry, attn FROM inbox WHERE state <> 'applied' OR attn;
SELECT count(*) AS problems FROM guestbook_notify.webhook_problems;
SELECT octet_length(body) AS bytes, encode(body, 'hex') AS hex
  FROM guestbook_notify.webhook_inbox WHERE body = '\xff7b7d' OR body = '\x7b007d' ORDER BY id;

-- Wrong arguments.
SELECT * FROM guestbook_notify.webhook_receive('slack', '\x7b7d');
SELECT * FROM guestbook_notify.webhook_receive('meta', NULL);
SELECT * FROM guestbook_notify.webhook_store(NULL, '\x7b7d');

-- WAHA: acks (-1 failed, 0 ignored, 1 sent, 2 delivered, 3 and 4 read),
-- acks of messages to us ignored, dedupe on the event id.
SELECT guestbook_notify.enqueue('assigned', '0812-5555-0003') AS w \gset
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify._record_result(:'w', 'sent', 'waha', 201, NULL, NULL,
		'true_6281255550003@c.us_3EB0AA', now(), 5, NULL, 8, 6000);
CREATE FUNCTION pg_temp.ack(evt text, ack int, from_me boolean DEFAULT true) RETURNS bytea LANGUAGE sql AS $$
	SELECT convert_to(json_build_object('id', evt, 'timestamp', 1750030090000 + ack, 'event', 'message.ack',
		'session', 'default', 'payload', json_build_object('id', 'true_6281255550003@c.us_3EB0AA',
		'fromMe', from_me, 'ack', ack))::text, 'UTF8')
$$;
SELECT r.* FROM (VALUES ('evt_a0', 0), ('evt_a1', 1), ('evt_a2', 2)) AS v(e, a),
	   LATERAL guestbook_notify.webhook_receive('waha', pg_temp.ack(v.e, v.a), v.e) AS r;
SELECT * FROM delivery WHERE wamid LIKE 'true_%';
SELECT state, detail FROM guestbook_notify.webhook_receive('waha', pg_temp.ack('evt_a2', 2), 'evt_a2');
SELECT state, detail FROM guestbook_notify.webhook_receive('waha', pg_temp.ack('evt_x3', 3, false), 'evt_x3');
SELECT r.state, r.detail FROM (VALUES ('evt_a4', 4), ('evt_a9', -1)) AS v(e, a),
	   LATERAL guestbook_notify.webhook_receive('waha', pg_temp.ack(v.e, v.a), v.e) AS r;
SELECT * FROM delivery WHERE wamid LIKE 'true_%';
-- WAHA shapes
SELECT v.what, r.state, r.detail
  FROM (VALUES ('no event', '{"id":"e1"}'),
			   ('ack without payload', '{"event":"message.ack"}'),
			   ('ack without id', '{"event":"message.ack","payload":{"ack":2}}'),
			   ('ack as a string', '{"event":"message.ack","payload":{"id":"x","ack":"2"}}'),
			   ('other event', '{"event":"presence.update","payload":{}}'),
			   ('session without status', '{"event":"session.status","payload":{}}')) AS v(what, b),
	   LATERAL guestbook_notify.webhook_receive('waha', convert_to(v.b, 'UTF8')) AS r;

-- WAHA session.status: FAILED / SCAN_QR_CODE block, WORKING resumes, an
-- older event does not win.  (_sending_blocked() reads it only while
-- guestbook_notify.provider is 'waha': here it is the Cloud API.)
CREATE FUNCTION pg_temp.sess(st text, ts bigint, sess text DEFAULT 'default') RETURNS bytea LANGUAGE sql AS $$
	SELECT convert_to(json_build_object('event', 'session.status', 'session', sess,
		'timestamp', ts, 'payload', json_build_object('status', st))::text, 'UTF8')
$$;
CREATE VIEW session_now AS
SELECT session, status, coalesce(blocked_reason, '-') AS blocked
  FROM guestbook_notify.provider_sessions ORDER BY session;
SELECT state FROM guestbook_notify.webhook_receive('waha', pg_temp.sess('FAILED', 1750030100000));
SELECT * FROM session_now;
SELECT state FROM guestbook_notify.webhook_receive('waha', pg_temp.sess('SCAN_QR_CODE', 1750030200000));
SELECT * FROM session_now;
-- an older WORKING arriving late: no change
SELECT state, detail FROM guestbook_notify.webhook_receive('waha', pg_temp.sess('WORKING', 1750030150000));
SELECT * FROM session_now;
-- STARTING keeps the block; WORKING lifts it
SELECT state FROM guestbook_notify.webhook_receive('waha', pg_temp.sess('STARTING', 1750030300000));
SELECT * FROM session_now;
SELECT state FROM guestbook_notify.webhook_receive('waha', pg_temp.sess('WORKING', 1750030400000));
SELECT * FROM session_now;
DROP VIEW session_now;
SELECT guestbook_notify.webhook_receive('waha', pg_temp.sess('FAILED', 1750030500000)) IS NOT NULL;
SELECT guestbook_notify._sending_blocked() AS blocked_under_cloud_api;

-- Replies: STOP cancels what has not left and queues a confirmation;
-- other text is only stored; MULAI opts back in.
SELECT guestbook_notify.enqueue('assigned', '0812-5555-0004', scheduled_at => now() + interval '1 hour') AS p \gset
SELECT state, detail FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"contacts":[{"profile":{"name":"Budi"},"wa_id":"6281255550004"}],
	  "messages":[{"from":"6281255550004","id":"wamid.IN1","timestamp":"1750030090","type":"text","text":{"body":" Stop "}},
				  {"from":"6281255550005","id":"wamid.IN2","timestamp":"1750030091","type":"text","text":{"body":"Terima kasih"}},
				  {"from":"+44 7700 900123","id":"wamid.IN3","timestamp":"1750030092","type":"text","text":{"body":"STOP"}},
				  {"from":"6281255550006","id":"wamid.IN4","type":"button","button":{"payload":"BERHENTI","text":"Berhenti"}},
				  {"from":"6281255550007","id":"wamid.IN5","type":"interactive",
				   "interactive":{"type":"button_reply","button_reply":{"id":"btn_1","title":"Stop"}}},
				  {"from":"6281255550008","id":"wamid.IN6","type":"image"},
				  {"id":"wamid.IN7","type":"text"}]}'));
SELECT message_id, from_number, from_raw, profile_name, message_type, text, action, reply_id IS NOT NULL AS replied
  FROM guestbook_notify.inbound_messages ORDER BY id;
SELECT number, reason FROM guestbook_notify.opt_outs ORDER BY number;
SELECT template_key, to_number, status, last_error, send_as, recipient_role
  FROM guestbook_notify.notification_queue WHERE to_number IN ('6281255550004', '6281255550006', '6281255550007')
 ORDER BY to_number, template_key;
-- the same message again: nothing more
SELECT state, detail FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"messages":[{"from":"6281255550004","id":"wamid.IN1","type":"text","text":{"body":"STOP"}}]}'));
SELECT count(*) AS confirmations FROM guestbook_notify.notification_queue WHERE template_key = 'opt_out_confirm';
-- MULAI
SELECT state, detail FROM guestbook_notify.webhook_receive('meta', pg_temp.meta(
	'{"messages":[{"from":"6281255550004","id":"wamid.IN8","type":"text","text":{"body":"mulai"}}]}'));
SELECT count(*) AS opted_out FROM guestbook_notify.opt_outs WHERE number = '6281255550004';
SELECT template_key, status, send_as, message_text FROM guestbook_notify.notification_queue
 WHERE template_key = 'opt_in_confirm';
SELECT status FROM guestbook_notify.notification_queue WHERE id = :'p';

-- webhook_store: stored for later; webhook_retry applies it.
SELECT * FROM guestbook_notify.webhook_store('meta', pg_temp.meta(
	'{"statuses":[{"id":"wamid.LATER","status":"delivered","timestamp":"1750030060"}]}'));
SELECT * FROM guestbook_notify.webhook_store('waha', pg_temp.ack('evt_a1', 1), 'evt_a1');
SELECT * FROM guestbook_notify.webhook_retry(10);
SELECT * FROM guestbook_notify.webhook_retry(10);
SELECT * FROM delivery WHERE wamid = 'wamid.LATER';
-- webhook_reapply: again, idempotent
SELECT * FROM guestbook_notify.webhook_reapply(1);
SELECT * FROM guestbook_notify.webhook_reapply(999999);
SELECT attempts FROM guestbook_notify.webhook_inbox WHERE id = 1;

-- webhook_maintenance: retention, parked statuses of archived messages.
SELECT guestbook_notify.webhook_maintenance();
UPDATE guestbook_notify.webhook_inbox SET received_at = now() - interval '31 days' WHERE id <= 3;
UPDATE guestbook_notify.webhook_inbox SET state = 'error', next_attempt_at = now() + interval '1 hour'
 WHERE id = 3;
UPDATE guestbook_notify.inbound_messages SET received_at = now() - interval '31 days' WHERE message_id = 'wamid.IN2';
SELECT guestbook_notify.webhook_maintenance(NULL);	-- keeps everything
SELECT guestbook_notify.webhook_maintenance('30 days');
SELECT id FROM guestbook_notify.webhook_inbox WHERE id <= 3;
SELECT guestbook_notify.webhook_maintenance('-1 day');
SELECT guestbook_notify.webhook_maintenance('1 day', 0);

-- resend(): only for a message accepted and failed later.
SELECT guestbook_notify.resend(id) IS NOT NULL AS resent
  FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.W1' \gset
SELECT template_key, status, resent_from IS NOT NULL AS linked, provider_message_id
  FROM guestbook_notify.notification_queue WHERE resent_from IS NOT NULL;
CALL settle();
SELECT event_type FROM case_events ORDER BY id;
-- again while that one is on its way: the same row (a NOTICE says so)
SET client_min_messages = warning;
SELECT guestbook_notify.resend(id) = (SELECT id FROM guestbook_notify.notification_queue WHERE resent_from IS NOT NULL)
	   AS same_row
  FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.W1';
RESET client_min_messages;
SELECT count(*) AS rows FROM guestbook_notify.notification_queue WHERE resent_from IS NOT NULL;
-- not a late failure; unknown; an opted-out number
SELECT errcode, regexp_replace(message, '[0-9a-f-]{36}', '<id>') AS message, hint
  FROM show_error($$SELECT guestbook_notify.resend(id) FROM guestbook_notify.notification_queue
					 WHERE provider_message_id = 'wamid.LATER'$$);
SELECT errcode, message FROM show_error($$SELECT guestbook_notify.resend('00000000-0000-0000-0000-000000000000')$$);
SELECT guestbook_notify.opt_out(to_number) FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.W1';
UPDATE guestbook_notify.notification_queue SET status = 'cancelled' WHERE resent_from IS NOT NULL;
SELECT errcode, message, hint FROM show_error($$SELECT guestbook_notify.resend(id) FROM guestbook_notify.notification_queue
												 WHERE provider_message_id = 'wamid.W1'$$);

DROP VIEW inbox;
DROP VIEW delivery;
-- leave no opt-out behind for the next tests
SELECT guestbook_notify.opt_in(number) FROM guestbook_notify.opt_outs ORDER BY number;
