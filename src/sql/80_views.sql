/*
 * guestbook_notify install script, part the notifications view.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * ---- the admin "Notifications" page ------------------------------------
 * One row per notification, newest first when ordered by created_at.
 * case_code comes from the template values taken at enqueue; subject is the
 * first line of the message.  in_flight: a worker is sending it right now.
 * needs_attention: failed, or the provider reported a delivery failure.
 * held: the recipient reached guestbook_notify.recipient_hourly_cap (a
 * guard against notification loops); the row waits until scheduled_at and
 * last_error says so.  audit_pending: its case_events row (contacted,
 * notification_failed) waits in audit_outbox -- the app's table was locked
 * or refused it -- and audit_error says why.  Finished rows older than
 * guestbook_notify.retention are in notification_queue_archive, not here.
 */
CREATE VIEW guestbook_notify.notifications AS
SELECT q.id,
	   q.created_at,
	   q.status,
	   coalesce(q.status = 'pending' AND q.lease_until > now(), false) AS in_flight,
	   (q.status = 'failed' OR q.delivery_status IS NOT DISTINCT FROM 'failed') AS needs_attention,
	   coalesce(q.status = 'pending' AND q.last_error LIKE 'held: %' AND q.scheduled_at > now(),
				false) AS held,
	   q.template_key,
	   q.template_params ->> 'case_code' AS case_code,
	   q.case_id,
	   q.app_schema,
	   q.recipient_role,
	   q.recipient_name,
	   q.to_number,
	   q.to_number_raw,
	   split_part(q.message_text, E'\n', 1) AS subject,
	   q.message_text,
	   q.attempt_count,
	   q.last_error,
	   q.scheduled_at,
	   q.sent_at,
	   q.provider,
	   q.provider_message_id,
	   q.delivery_status,
	   q.delivery_status_at,
	   q.delivered_at,
	   q.read_at,
	   q.delivery_error,
	   q.dedupe_key,
	   q.updated_at,
	   a.notification_id IS NOT NULL AS audit_pending,
	   a.last_error AS audit_error,
	   q.resent_from
  FROM guestbook_notify.notification_queue q
  LEFT JOIN LATERAL (SELECT o.notification_id, o.last_error
					   FROM guestbook_notify.audit_outbox o
					  WHERE o.notification_id = q.id
					  ORDER BY o.id DESC LIMIT 1) a ON true;
