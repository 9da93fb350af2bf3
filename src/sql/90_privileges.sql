/*
 * guestbook_notify install script, part privileges, all in one place.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

GRANT USAGE ON SCHEMA guestbook_notify TO PUBLIC;

/*
 * ---- privileges --------------------------------------------------------
 * Nothing that changes state, and no table, is PUBLIC.  normalize_number
 * and the pure helpers (_normalize_number, _render_text, _template_arg(s),
 * _case_params, _delivery_error_text, _queue_row_valid) stay PUBLIC: they
 * read nothing (_queue_row_valid is the queue's check constraint, run as
 * whoever writes a row).
 */
REVOKE ALL ON TABLE guestbook_notify.attached_schemas, guestbook_notify.templates,
	guestbook_notify.notification_queue, guestbook_notify.notification_attempts,
	guestbook_notify.opt_outs, guestbook_notify.notifications FROM PUBLIC;
REVOKE ALL ON SEQUENCE guestbook_notify.notification_attempts_id_seq FROM PUBLIC;

REVOKE ALL ON FUNCTION guestbook_notify._templates_upsert() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._templates_touch() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_params_by_id(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._find_contact(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_event(name, uuid, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._enqueue_row(text, text, text, text, jsonb, uuid, text, text, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._trg_assigned() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._trg_escalated() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.attach(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.detach(name) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._case_schema(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.enqueue(text, text, uuid, jsonb, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.render(text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.requeue(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.cancel(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.requeue_failed(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.opt_out(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.opt_in(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._apply_status(text, text, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.record_status(text, text, timestamptz, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.ingest_webhook(jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION guestbook_notify._claim_batch(integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._record_result(uuid, text, text, integer, integer, text, text, timestamptz, double precision, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._next_due() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._record_fallback(uuid, text, text, text, text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._release(uuid[]) FROM PUBLIC;

REVOKE ALL ON TABLE guestbook_notify.recipient_pacing, guestbook_notify.notification_queue_archive FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._setting_interval(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.archive_finished(interval, integer) FROM PUBLIC;

/*
 * ---- webhooks (issue 12: part 66_webhooks.sql, the daemon in src/web) ----
 * Nothing here is PUBLIC.  The daemon's role is granted EXECUTE on
 * webhook_receive, webhook_store, webhook_retry and webhook_maintenance
 * only; the admins' role SELECT on the tables and the view, and EXECUTE on
 * resend and webhook_reapply (README, "Webhook receiver").  _reply_keyword
 * and _json_unix_time are pure and stay PUBLIC.
 */
REVOKE ALL ON TABLE guestbook_notify.webhook_inbox, guestbook_notify.webhook_parked_statuses,
	guestbook_notify.inbound_messages, guestbook_notify.provider_sessions,
	guestbook_notify.webhook_problems FROM PUBLIC;
REVOKE ALL ON SEQUENCE guestbook_notify.webhook_inbox_id_seq,
	guestbook_notify.inbound_messages_id_seq FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._status_apply_or_park(text, text, timestamptz, jsonb, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._apply_parked(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._trg_apply_parked() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._inbound_message(text, text, text, text, text, text, text, timestamptz, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_apply_meta(bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_apply_waha(bigint, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._sending_blocked() FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_apply(bigint, text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_try(bigint, text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_next_attempt(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_check_args(text, bytea) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._webhook_reapply_row(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.webhook_receive(text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.webhook_store(text, bytea, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.webhook_retry(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.webhook_reapply(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.webhook_maintenance(interval, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify.resend(uuid) FROM PUBLIC;
