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
