--
-- 008_webhook: delivery statuses from the provider (record_status and
-- Meta's status webhook body, ingest_webhook).
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue, guestbook_notify.notification_attempts;
TRUNCATE case_events;

-- Two sent notifications: one for case ABC123 (wamid.A), one manual (wamid.B).
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a3');
SELECT guestbook_notify.enqueue('assigned', '0812-5555-0002') AS b \gset
CALL settle();
SELECT count(*) AS claimed FROM guestbook_notify._claim_paced(10, 60, 6000, 60);
SELECT guestbook_notify._record_result(id, 'sent', 'cloud_api', 200, NULL, NULL,
		CASE WHEN case_id IS NULL THEN 'wamid.B' ELSE 'wamid.A' END, now(), 5, NULL, 8, 6000)
  FROM guestbook_notify.notification_queue ORDER BY case_id;
CALL settle();
SELECT event_type, details ->> 'provider_message_id' AS wamid FROM case_events;

CREATE VIEW delivery AS
SELECT provider_message_id AS wamid, status, delivery_status,
	   delivered_at IS NOT NULL AS delivered, read_at IS NOT NULL AS read,
	   delivery_error, last_error
  FROM guestbook_notify.notification_queue ORDER BY 1;
SELECT * FROM delivery;

-- record_status: true for our message, false for an unknown wamid.
SELECT guestbook_notify.record_status('wamid.A', 'delivered', '2026-01-02 03:04:05+00');
SELECT guestbook_notify.record_status('wamid.UNKNOWN', 'delivered');
SELECT wamid, delivery_status, delivered, read FROM delivery;
CALL settle();
SELECT delivered_at = '2026-01-02 03:04:05+00' AS delivered_at_given
  FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.A';
-- repeated: no change (and true: it is ours)
SELECT guestbook_notify.record_status('wamid.A', 'delivered', '2026-01-02 09:00:00+00');
CALL settle();
SELECT delivered_at = '2026-01-02 03:04:05+00' AS first_time_kept
  FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.A';
-- read, then a late delivered and a late sent: read stays
SELECT guestbook_notify.record_status('wamid.A', 'read');
SELECT guestbook_notify.record_status('wamid.A', 'delivered');
SELECT guestbook_notify.record_status('wamid.A', 'sent');
SELECT wamid, delivery_status, delivered, read FROM delivery;

-- invalid: unknown status, NULL status, empty id
SELECT guestbook_notify.record_status('wamid.A', 'played');
SELECT guestbook_notify.record_status('wamid.A', NULL);
SELECT guestbook_notify.record_status('', 'read');
SELECT guestbook_notify.record_status(NULL, 'read');

-- ingest_webhook: Meta's body. 'read' without 'delivered' first (a chat
-- open on the phone), an unknown wamid (ignored), a 'played' status
-- (ignored), another change field (ignored): 1 status applied.
SELECT guestbook_notify.ingest_webhook($${
  "object": "whatsapp_business_account",
  "entry": [{
    "id": "102290129340398",
    "changes": [
      {"field": "messages",
       "value": {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                 "statuses": [
                   {"id": "wamid.B", "status": "read", "timestamp": "1750030073", "recipient_id": "6281255550002"},
                   {"id": "wamid.NOT.OURS", "status": "delivered", "timestamp": "1750030070", "recipient_id": "6281200000000"},
                   {"id": "wamid.B", "status": "played", "timestamp": "1750030080", "recipient_id": "6281255550002"}]}},
      {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}}]
  }]}$$);
SELECT wamid, delivery_status, delivered, read FROM delivery;
CALL settle();
SELECT read_at = to_timestamp(1750030073) AS read_at_from_webhook
  FROM guestbook_notify.notification_queue WHERE provider_message_id = 'wamid.B';
-- then the late 'delivered' (out of order): delivered_at filled, read stays
SELECT guestbook_notify.ingest_webhook($${"object": "whatsapp_business_account", "entry": [{"id": "1",
  "changes": [{"field": "messages", "value": {"statuses": [
    {"id": "wamid.B", "status": "delivered", "timestamp": "1750030070", "recipient_id": "6281255550002"}]}}]}]}$$);
SELECT wamid, delivery_status, delivered, read FROM delivery;
-- the same payload again (Meta retries): idempotent
SELECT guestbook_notify.ingest_webhook($${"object": "whatsapp_business_account", "entry": [{"id": "1",
  "changes": [{"field": "messages", "value": {"statuses": [
    {"id": "wamid.B", "status": "delivered", "timestamp": "1750030070", "recipient_id": "6281255550002"}]}}]}]}$$);
SELECT wamid, delivery_status, delivered, read FROM delivery;

-- A delivery failure: delivery_status 'failed' with the error; the queue
-- status stays 'sent' (the send itself succeeded); last_error readable;
-- case_events 'notification_failed' for the case. Terminal: later
-- statuses change nothing.
TRUNCATE case_events;
UPDATE guestbook_notify.notification_queue
   SET delivery_status = 'sent', delivered_at = NULL, read_at = NULL
 WHERE provider_message_id = 'wamid.A';
SELECT guestbook_notify.ingest_webhook($${"object": "whatsapp_business_account", "entry": [{"id": "1",
  "changes": [{"field": "messages", "value": {"statuses": [
    {"id": "wamid.A", "status": "failed", "timestamp": "1750030073", "recipient_id": "6281322223333",
     "errors": [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                 "error_data": {"details": "Receiver is incapable of receiving this message"},
                 "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]}]}}]}]}$$);
SELECT wamid, status, delivery_status, delivery_error -> 0 ->> 'code' AS code, last_error
  FROM delivery WHERE wamid = 'wamid.A';
CALL settle();
SELECT event_type, details ->> 'error' AS error, details ->> 'provider_message_id' AS wamid
  FROM case_events;
SELECT guestbook_notify.record_status('wamid.A', 'read');
SELECT guestbook_notify.record_status('wamid.A', 'failed', now(), '{"code": 1}');
SELECT wamid, status, delivery_status, read, delivery_error -> 0 ->> 'code' AS code
  FROM delivery WHERE wamid = 'wamid.A';
CALL settle();
SELECT count(*) AS failure_events FROM case_events;
-- the admin page flags it
CALL settle();
SELECT case_code, status, delivery_status, needs_attention
  FROM guestbook_notify.notifications ORDER BY case_code;
-- record_status 'failed' with a single error object, or none
SELECT guestbook_notify._delivery_error_text('{"code": 131047, "title": "Re-engagement message"}'),
	   guestbook_notify._delivery_error_text(NULL),
	   guestbook_notify._delivery_error_text('[]');

-- Payloads without statuses count 0.
SELECT guestbook_notify.ingest_webhook('{"object": "whatsapp_business_account", "entry": []}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"id": "1"}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": "wamid.IN"}]}}]}]}');

-- invalid: not an object, no entry array, wrong shapes (each names where)
SELECT guestbook_notify.ingest_webhook('[]');
SELECT guestbook_notify.ingest_webhook(NULL);
SELECT guestbook_notify.ingest_webhook('{"object": "whatsapp_business_account"}');
SELECT guestbook_notify.ingest_webhook('{"entry": {"id": "1"}}');
SELECT guestbook_notify.ingest_webhook('{"entry": ["x"]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": {}}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"field": "messages"}]}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"field": "messages", "value": {"statuses": {}}}]}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"value": {"statuses": [{"status": "read"}]}}]}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.B", "status": 3}]}}]}]}');
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.B", "status": "read", "timestamp": "yesterday"}]}}]}]}');
-- a malformed status after a good one: the whole call fails (nothing applied)
UPDATE guestbook_notify.notification_queue SET delivery_status = 'sent', delivered_at = NULL, read_at = NULL
 WHERE provider_message_id = 'wamid.B';
SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.B", "status": "read"}, {"id": 7}]}}]}]}');
SELECT wamid, delivery_status FROM delivery WHERE wamid = 'wamid.B';
DROP VIEW delivery;
