/* sql/guestbook_notify--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION guestbook_notify" to load this file. \quit

/*
 * ------------------------------------------------------------------------
 * Section 1: tables (the contract between the SQL side and the worker)
 * ------------------------------------------------------------------------
 */

-- Schemas whose guestbook tables carry our triggers (attach()/detach()).
CREATE TABLE guestbook_notify.attached_schemas (
	schema_name name PRIMARY KEY,
	attached_at timestamptz NOT NULL DEFAULT now()
);

-- Message templates, editable by admins.
--   body:          text with {{placeholders}}, rendered into message_text at enqueue
--   cloud_template_name / language: the approved Cloud API template
--   param_names:   the template's body parameters, in order ({{1}}, {{2}}, ...)
CREATE TABLE guestbook_notify.templates (
	key text PRIMARY KEY,
	body text NOT NULL,
	cloud_template_name text NOT NULL
		CHECK (cloud_template_name ~ '^[a-z0-9_]{1,512}$'),
	language text NOT NULL DEFAULT 'id',
	param_names text[] NOT NULL DEFAULT '{}',
	description text,
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox. One row per notification; it ends 'sent', 'failed' or 'cancelled'.
-- A row is "in flight" while status = 'pending' and lease_until > now():
-- a worker claimed it and is talking to the provider.
CREATE TABLE guestbook_notify.notification_queue (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	channel text NOT NULL DEFAULT 'whatsapp' CHECK (channel = 'whatsapp'),
	to_number text,					-- normalised digits (628...), NULL if no valid recipient
	to_number_raw text,				-- the number as found, for admins when it was invalid
	recipient_name text,
	recipient_role text,			-- operator | lead | kadis | manual
	template_key text NOT NULL,
	template_name text,				-- Cloud API template name, snapshot at enqueue
	template_language text,			-- Cloud API language code, snapshot at enqueue
	template_params jsonb NOT NULL DEFAULT '{}',	-- name -> value, as rendered
	template_args text[] NOT NULL DEFAULT '{}',	-- values in template order: what is sent
	message_text text NOT NULL,
	case_id uuid,
	app_schema name,				-- schema of the case's guestbook tables
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
	attempt_count integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
	scheduled_at timestamptz NOT NULL DEFAULT now(),	-- not before: first try and retries
	lease_until timestamptz,		-- set while a worker holds the row
	leased_by integer,				-- pid of that worker
	sent_at timestamptz,
	last_error text,
	dedupe_key text UNIQUE,
	provider text,					-- cloud_api | waha, set when sent
	provider_message_id text,		-- wamid (Cloud API) or WAHA message id
	delivery_status text CHECK (delivery_status IN ('sent', 'delivered', 'read', 'failed')),
	delivery_status_at timestamptz,
	delivered_at timestamptz,
	read_at timestamptz,
	delivery_error jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (status <> 'sent' OR sent_at IS NOT NULL)
);

-- The worker's claim: due pending rows in order.
CREATE INDEX notification_queue_due_idx
	ON guestbook_notify.notification_queue (scheduled_at)
	WHERE status = 'pending';
CREATE INDEX notification_queue_case_idx
	ON guestbook_notify.notification_queue (case_id);
CREATE INDEX notification_queue_provider_message_idx
	ON guestbook_notify.notification_queue (provider_message_id)
	WHERE provider_message_id IS NOT NULL;
CREATE INDEX notification_queue_to_number_idx
	ON guestbook_notify.notification_queue (to_number)
	WHERE status = 'pending';

-- One row per HTTP try.
CREATE TABLE guestbook_notify.notification_attempts (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	notification_id uuid NOT NULL,
	attempt_no integer NOT NULL,
	provider text,
	started_at timestamptz NOT NULL,
	finished_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	duration_ms double precision,
	outcome text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed', 'paused')),
	http_status integer,			-- NULL for a transport error
	error_code integer,				-- Graph error.code, when there is one
	error_text text,
	provider_message_id text
);
CREATE INDEX notification_attempts_notification_idx
	ON guestbook_notify.notification_attempts (notification_id);

-- Numbers that must not be messaged.
CREATE TABLE guestbook_notify.opt_outs (
	number text PRIMARY KEY CHECK (number ~ '^628[1-35-9][0-9]{7,10}$'),
	reason text,
	opted_out_at timestamptz NOT NULL DEFAULT now()
);

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.attached_schemas', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.templates', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_queue', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_attempts', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_attempts_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.opt_outs', '');

/*
 * ------------------------------------------------------------------------
 * Section 2: C functions
 * ------------------------------------------------------------------------
 */

-- Nudge the worker: it wakes when the calling transaction commits.
CREATE FUNCTION guestbook_notify.wake()
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'guestbook_notify_wake';
REVOKE ALL ON FUNCTION guestbook_notify.wake() FROM PUBLIC;

/*
 * ------------------------------------------------------------------------
 * Section 3: SQL API, triggers, view (foundation)
 * ------------------------------------------------------------------------
 */

/*
 * ------------------------------------------------------------------------
 * Section 4: worker interface (called by the background worker only)
 * ------------------------------------------------------------------------
 */

/*
 * _claim_batch: lease up to p_limit due rows for p_lease_seconds and return
 * what the worker needs to send them. attempt_count counts the try now.
 * Rows whose number has opted out since enqueue are cancelled here instead.
 */
CREATE FUNCTION guestbook_notify._claim_batch(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (
	id uuid,
	to_number text,
	message_text text,
	template_name text,
	template_language text,
	template_args text[],
	attempt_count integer
)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- opt-out is checked again at send time
	UPDATE guestbook_notify.notification_queue q
	   SET status = 'cancelled',
		   last_error = 'recipient opted out',
		   lease_until = NULL,
		   leased_by = NULL,
		   updated_at = now()
	  FROM guestbook_notify.opt_outs o
	 WHERE q.status = 'pending'
	   AND q.to_number = o.number
	   AND q.scheduled_at <= now()
	   AND (q.lease_until IS NULL OR q.lease_until < now());

	RETURN QUERY
	WITH due AS (
		SELECT d.id
		  FROM guestbook_notify.notification_queue d
		 WHERE d.status = 'pending'
		   AND d.scheduled_at <= now()
		   AND (d.lease_until IS NULL OR d.lease_until < now())
		 ORDER BY d.scheduled_at, d.id
		 LIMIT p_limit
		   FOR UPDATE SKIP LOCKED
	)
	UPDATE guestbook_notify.notification_queue q
	   SET lease_until = now() + make_interval(secs => p_lease_seconds),
		   leased_by = pg_backend_pid(),
		   attempt_count = q.attempt_count + 1,
		   updated_at = now()
	  FROM due
	 WHERE q.id = due.id
	RETURNING q.id, q.to_number, q.message_text, q.template_name,
			  q.template_language, q.template_args, q.attempt_count;
END;
$$;

/*
 * _record_result: the outcome of one HTTP try of a row this backend leased.
 *   sent    -> status sent, provider id, case_events 'contacted'
 *   retry   -> pending again after p_retry_delay_ms, or failed once
 *              attempt_count reached p_max_attempts
 *   failed  -> failed now (permanent error)
 *   paused  -> account-level problem: pending again, the try not counted
 * Every call writes one notification_attempts row. Returns the row's new
 * status, or NULL if the row is not leased by this backend any more.
 */
CREATE FUNCTION guestbook_notify._record_result(
	p_id uuid,
	p_outcome text,
	p_provider text,
	p_http_status integer,
	p_error_code integer,
	p_error_text text,
	p_provider_message_id text,
	p_started_at timestamptz,
	p_duration_ms double precision,
	p_retry_delay_ms integer,
	p_max_attempts integer)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r guestbook_notify.notification_queue%ROWTYPE;
	new_status text;
	err text;
BEGIN
	SELECT * INTO r
	  FROM guestbook_notify.notification_queue
	 WHERE notification_queue.id = p_id
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;

	INSERT INTO guestbook_notify.notification_attempts
		(notification_id, attempt_no, provider, started_at, duration_ms,
		 outcome, http_status, error_code, error_text, provider_message_id)
	VALUES (p_id, r.attempt_count, p_provider, p_started_at, p_duration_ms,
			p_outcome, p_http_status, p_error_code, p_error_text,
			p_provider_message_id);

	-- only the holder of the lease decides the row's fate
	IF r.status <> 'pending' OR r.leased_by IS DISTINCT FROM pg_backend_pid() THEN
		RETURN NULL;
	END IF;

	IF p_outcome = 'sent' THEN
		UPDATE guestbook_notify.notification_queue
		   SET status = 'sent', sent_at = now(), provider = p_provider,
			   provider_message_id = p_provider_message_id,
			   delivery_status = coalesce(delivery_status, 'sent'),
			   delivery_status_at = coalesce(delivery_status_at, now()),
			   last_error = NULL, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		new_status := 'sent';
		IF r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
			EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) '
						   'VALUES ($1, $2, $3)', r.app_schema)
			USING r.case_id, 'contacted',
				  jsonb_build_object('notification_id', p_id,
									 'template', r.template_key,
									 'provider', p_provider,
									 'provider_message_id', p_provider_message_id,
									 'to_number', r.to_number,
									 'recipient_role', r.recipient_role);
		END IF;
		RETURN new_status;
	END IF;

	err := p_error_text;
	IF p_outcome = 'paused' THEN
		UPDATE guestbook_notify.notification_queue
		   SET attempt_count = greatest(attempt_count - 1, 0),
			   last_error = err, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		RETURN 'pending';
	ELSIF p_outcome = 'retry' AND r.attempt_count < p_max_attempts THEN
		UPDATE guestbook_notify.notification_queue
		   SET scheduled_at = now() + make_interval(secs => greatest(p_retry_delay_ms, 0) / 1000.0),
			   last_error = err, lease_until = NULL, leased_by = NULL,
			   updated_at = now()
		 WHERE notification_queue.id = p_id;
		RETURN 'pending';
	END IF;

	IF p_outcome = 'retry' THEN
		err := format('gave up after %s attempts: %s', r.attempt_count, err);
	END IF;
	UPDATE guestbook_notify.notification_queue
	   SET status = 'failed', last_error = err, provider = p_provider,
		   lease_until = NULL, leased_by = NULL, updated_at = now()
	 WHERE notification_queue.id = p_id;
	IF r.case_id IS NOT NULL AND r.app_schema IS NOT NULL THEN
		EXECUTE format('INSERT INTO %I.case_events (case_id, event_type, details) '
					   'VALUES ($1, $2, $3)', r.app_schema)
		USING r.case_id, 'notification_failed',
			  jsonb_build_object('notification_id', p_id,
								 'template', r.template_key,
								 'to_number', r.to_number,
								 'recipient_role', r.recipient_role,
								 'error', err);
	END IF;
	RETURN 'failed';
END;
$$;

REVOKE ALL ON FUNCTION guestbook_notify._claim_batch(integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION guestbook_notify._record_result(uuid, text, text, integer, integer, text, text, timestamptz, double precision, integer, integer) FROM PUBLIC;
