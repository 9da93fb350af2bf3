/*
 * guestbook_notify install script, part tables: the contract between the SQL side and the worker.
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
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
	-- at most WhatsApp's 4096 characters of a text message: the body is
	-- rendered on every notification, so its size is bounded
	body text NOT NULL CHECK (length(body) <= 4096),
	cloud_template_name text NOT NULL
		CHECK (cloud_template_name ~ '^[a-z0-9_]+$' AND length(cloud_template_name) <= 512),
	language text NOT NULL DEFAULT 'id',
	param_names text[] NOT NULL DEFAULT '{}',
	description text,
	-- 'text': always sent as free text (e.g. a reply inside the 24-hour
	-- window opened by the recipient); NULL: as guestbook_notify.message_mode
	send_as text CHECK (send_as IN ('template', 'text')),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox. One row per notification; it ends 'sent', 'failed' or 'cancelled'.
-- A row is "in flight" while status = 'pending' and lease_until > now():
-- a worker claimed it and is talking to the provider.
CREATE TABLE guestbook_notify.notification_queue (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	channel text NOT NULL DEFAULT 'whatsapp',	-- 'whatsapp' (row check below)
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
	status text NOT NULL DEFAULT 'pending',	-- pending|sent|failed|cancelled
	attempt_count integer NOT NULL DEFAULT 0,
	scheduled_at timestamptz NOT NULL DEFAULT now(),	-- not before: first try and retries
	lease_until timestamptz,		-- set while a worker holds the row
	leased_by integer,				-- pid of that worker
	sent_at timestamptz,
	last_error text,
	dedupe_key text UNIQUE,
	provider text,					-- cloud_api | waha, set when sent
	provider_message_id text,		-- wamid (Cloud API) or WAHA message id
	delivery_status text,			-- sent|delivered|read|failed (webhooks)
	delivery_status_at timestamptz,
	delivered_at timestamptz,
	read_at timestamptz,
	delivery_error jsonb,
	send_as text,					-- the template's send_as, snapshot at enqueue
	resent_from uuid,				-- resend(): the row this one sends again
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- the row rules, in one call (see _queue_row_valid)
	CONSTRAINT notification_queue_row_check CHECK (guestbook_notify._queue_row_valid(
		channel, status, attempt_count, delivery_status, sent_at))
);

-- The worker's claim: due pending rows in order.  The key is the claim's
-- whole ORDER BY (scheduled_at, id): with scheduled_at alone, rows queued by
-- one transaction share a scheduled_at and every claim sorted all of them
-- (tests/bench: 10,000 queued drained at ~1,300/s instead of ~3,800/s).
CREATE INDEX notification_queue_due_idx
	ON guestbook_notify.notification_queue (scheduled_at, id)
	WHERE status = 'pending';
CREATE INDEX notification_queue_case_idx
	ON guestbook_notify.notification_queue (case_id);
CREATE INDEX notification_queue_provider_message_idx
	ON guestbook_notify.notification_queue (provider_message_id)
	WHERE provider_message_id IS NOT NULL;
-- No index on to_number: only opt_out() (a rare admin call) looks rows up
-- by number, and it reads the pending rows (the due index) instead; a
-- partial index of the pending rows also lured cached plans of the claim
-- (tests/bench/README.md, profiling notes 2 and 3).

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
	-- canonical numbers only: the one number rule (src/normalize.c)
	number text PRIMARY KEY
		CHECK (guestbook_notify._normalize_number(number) = number),
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
 * Per-recipient pacing state: the earliest time of the next message to a
 * number, the count in its current hourly window, and how many 131056
 * (pair rate limit) answers it got in a row.  The claim locks these rows in
 * number order (see _claim_paced).  Transient: not dumped;
 * archive_finished() forgets numbers idle for an hour.
 */
CREATE TABLE guestbook_notify.recipient_pacing (
	to_number text PRIMARY KEY,
	next_allowed_at timestamptz NOT NULL,
	window_start timestamptz NOT NULL,
	window_count integer NOT NULL,
	throttle_level integer NOT NULL DEFAULT 0	-- 131056 answers in a row (Meta: 4^x s)
);

/*
 * Finished rows (sent, failed, cancelled) leave the live queue for this
 * table after guestbook_notify.retention (archive_finished(), run by the
 * worker): same columns, plus archived_at.  notification_attempts and the
 * app's case_events are not touched: the audit stays complete.  Dumped by
 * pg_dump.
 */
CREATE TABLE guestbook_notify.notification_queue_archive (
	LIKE guestbook_notify.notification_queue INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
	archived_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (id)
);
CREATE INDEX notification_queue_archive_case_idx
	ON guestbook_notify.notification_queue_archive (case_id);
CREATE INDEX notification_queue_archive_provider_message_idx
	ON guestbook_notify.notification_queue_archive (provider_message_id)
	WHERE provider_message_id IS NOT NULL;
CREATE INDEX notification_queue_archive_created_idx
	ON guestbook_notify.notification_queue_archive (created_at);
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.notification_queue_archive', '');

/*
 * What the triggers on the app's tables record (src/trigger.c): one narrow
 * row per trigger event, from NEW and OLD alone, in the app's transaction
 * -- durable at its commit.  The worker turns them into queue rows
 * (src/events.c) and deletes them.  kind: assigned | escalated_lead |
 * escalated_kadis.  Dumped by pg_dump: events not yet processed survive a
 * dump and restore.
 */
CREATE TABLE guestbook_notify.trigger_events (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('assigned', 'escalated_lead', 'escalated_kadis')),
	app_schema name NOT NULL,
	xid xid8 NOT NULL,				-- the app's transaction
	case_id uuid,					-- NEW.case_id (assigned) or NEW.id (cases)
	subject_id uuid,				-- assigned: NEW.operator_id
	row_id uuid,					-- assigned: NEW.id, the assignment
	org_unit_id uuid,				-- escalated: NEW.org_unit_id
	problem text,					-- what the trigger found wrong in NEW
	created_at timestamptz NOT NULL DEFAULT now()
);

/*
 * Assignment dedupe (src/events.c): per case, the operator last notified,
 * the assignment that made them so, and the one before it of another
 * operator (the last part of the dedupe key).  Dumped by pg_dump.
 */
CREATE TABLE guestbook_notify.assignment_state (
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	operator_id uuid NOT NULL,
	assignment_id uuid,
	prev_assignment text NOT NULL,	-- an assignment id, or 'first'
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (app_schema, case_id)
);

/*
 * case_events rows waiting to be written into the app's table by the
 * worker, as the table's owner (src/audit.c): the queue's own record never
 * waits on the app's tables or fails because of the app's code.  A row that
 * could not be written keeps its error and is tried again with a backoff.
 * Dumped by pg_dump: nothing of the audit is lost.
 */
CREATE TABLE guestbook_notify.audit_outbox (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	event_type text NOT NULL,
	details jsonb NOT NULL,
	notification_id uuid,
	created_at timestamptz NOT NULL DEFAULT now(),
	attempts integer NOT NULL DEFAULT 0,
	next_try_at timestamptz NOT NULL DEFAULT now(),
	last_error text
);
CREATE INDEX audit_outbox_notification_idx
	ON guestbook_notify.audit_outbox (notification_id)
	WHERE notification_id IS NOT NULL;

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.trigger_events', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.trigger_events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.assignment_state', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.audit_outbox', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.audit_outbox_id_seq', '');
