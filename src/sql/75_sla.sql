/*
 * guestbook_notify install script, part: SLA reminders (issue 15).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 *
 * A case that sits too long in a stage without progress reminds the
 * operator, then the unit's lead -- counted in working time: the office's
 * hours per weekday (several ranges a day: the Friday prayer break), minus
 * the holidays, in one time zone (guestbook_notify.sla_time_zone, default
 * Asia/Jakarta).  A reminder is not an escalation: escalating stays a human
 * decision in the app.
 *
 *	 sla_business_hours	 the hours of each ISO weekday (1 Monday .. 7 Sunday),
 *						 a multirange of local times
 *	 sla_holidays		 national holidays, cuti bersama, local days off
 *						 (set by decree every year: the admin keeps it)
 *	 sla_rules			 stage, case type (or any), after (working time),
 *						 who (operator, lead, kadis), template
 *	 sla_cases			 what the last tick saw: each open case, its stage,
 *						 since when, the clock and its occurrence
 *	 sla_reminders		 each step fired: once per case, rule and occurrence
 *	 sla_overdue		 view: the cases past their first rule ("Terlambat")
 *
 * sla_tick() is run by the worker every guestbook_notify.sla_interval, or
 * by pg_cron; it is idempotent and safe when run concurrently.
 */

/*
 * ---- types ---------------------------------------------------------------
 * A range of local times of day; a day's business hours are a multirange
 * of them, e.g. '{[07:30,11:30), [13:00,16:00)}' (overlaps merge, order
 * does not matter).  time '24:00' ends a range at midnight.
 */
CREATE TYPE guestbook_notify.timerange AS RANGE (
	subtype = time,
	multirange_type_name = guestbook_notify.timemultirange
);

/*
 * ---- the calendar ----------------------------------------------------------
 * One row per ISO weekday, always 7 rows: close a day with '{}' (a deleted
 * day is closed too, but a pg_dump restore would bring back its seed).
 * Local times in guestbook_notify.sla_time_zone.
 */
CREATE TABLE guestbook_notify.sla_business_hours (
	weekday smallint PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),	-- ISO: 1 Monday .. 7 Sunday
	hours guestbook_notify.timemultirange NOT NULL DEFAULT '{}'
);

/*
 * Days the office is closed, whatever the weekday.  kind:
 *	 national_holiday	libur nasional (SKB 3 Menteri)
 *	 collective_leave	cuti bersama (SKB 3 Menteri)
 *	 local_holiday		a regional or office day off
 *	 working_day		the office works this day after all: the row cancels
 *						a holiday (use it rather than DELETE for a seeded
 *						day, which a pg_dump restore would bring back); the
 *						day keeps its weekday's hours
 */
CREATE TABLE guestbook_notify.sla_holidays (
	day date PRIMARY KEY,
	name text NOT NULL,
	kind text NOT NULL DEFAULT 'national_holiday'
		CHECK (kind IN ('national_holiday', 'collective_leave', 'local_holiday', 'working_day'))
);

/*
 * The reminder ladder.  A rule fires once per case and occurrence of its
 * stage (for 'assigned': per assignment, so a reassignment restarts the
 * clock) when the case has spent `after` of working time in the stage
 * without progress.  Stages:
 *	 assigned			cases.status 'assigned', escalation_level 'none'
 *	 escalated_lead		escalation_level 'lead' (or 'none' with status
 *						'escalated'), status not moved on
 *	 escalated_kadis	escalation_level 'kadis', status not moved on
 * Progress -- status in_progress, resolved or closed -- ends the stage.
 * case_type NULL: any.  after: working time, in hours, minutes and seconds
 * (no days or months: a "day" of working time would be ambiguous).
 * template_key: the message of a single reminder; several overdue cases for
 * one recipient at one tick become one 'sla_digest' message.
 */
CREATE TABLE guestbook_notify.sla_rules (
	key text PRIMARY KEY CHECK (key ~ '^[a-z0-9_]+$'),
	stage text NOT NULL CHECK (stage IN ('assigned', 'escalated_lead', 'escalated_kadis')),
	case_type text,
	after interval NOT NULL
		CHECK (after > interval '0'
			   AND extract(year FROM after) = 0 AND extract(month FROM after) = 0
			   AND extract(day FROM after) = 0),
	recipient text NOT NULL CHECK (recipient IN ('operator', 'lead', 'kadis')),
	template_key text NOT NULL DEFAULT 'sla_reminder',
	enabled boolean NOT NULL DEFAULT true,
	description text
);

/*
 * What the last tick saw of each open case of each attached schema (the
 * cases in a stage of sla_rules); a case that moved on is deleted.  The
 * clock of a stage:
 *	 assigned		from the latest assignment's assigned_at (exact)
 *	 escalated_*	from stage_since -- when a tick first saw the case at
 *					that level (the app keeps no time of the change; so
 *					the clock starts at most one tick late, never early) --
 *					or from a later reassignment
 * occurrence names one run of the clock: the assignment id for 'assigned',
 * '<stage>@<stage_since in microseconds>/<assignment>' for escalations; a
 * rule fires once per occurrence.  A tick writes a row only when the case
 * changed.  No personal data: the case code only.
 */
CREATE TABLE guestbook_notify.sla_cases (
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	case_code text,
	case_type text,
	stage text NOT NULL,
	stage_since timestamptz NOT NULL,
	assignment_id uuid,				-- the latest assignment
	assigned_at timestamptz,
	operator_id uuid,				-- its operator (else cases.assigned_operator_id)
	org_unit_id uuid,
	clock_start timestamptz NOT NULL,
	occurrence text NOT NULL,
	updated_at timestamptz NOT NULL,	-- the tick that last changed the row
	PRIMARY KEY (app_schema, case_id)
);

/*
 * One row per step fired: (schema, case, rule, occurrence) is unique, so a
 * step fires once however many ticks run, and at the same time.  due_at:
 * when the working time ran out (exactly at closing is possible: the
 * reminder then waits for the next working moment); fired_at: the tick.
 */
CREATE TABLE guestbook_notify.sla_reminders (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	app_schema name NOT NULL,
	case_id uuid NOT NULL,
	rule_key text NOT NULL,
	occurrence text NOT NULL,
	stage text NOT NULL,
	clock_start timestamptz NOT NULL,
	due_at timestamptz NOT NULL,
	fired_at timestamptz NOT NULL,
	recipient_role text NOT NULL,
	recipient_name text,
	notification_id uuid,			-- the queue row (a digest's for several steps)
	digest boolean NOT NULL DEFAULT false,
	CONSTRAINT sla_reminders_step_key UNIQUE (app_schema, case_id, rule_key, occurrence)
);
CREATE INDEX sla_reminders_notification_idx
	ON guestbook_notify.sla_reminders (notification_id);

SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_business_hours', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_holidays', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_rules', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_cases', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_reminders', '');
SELECT pg_catalog.pg_extension_config_dump('guestbook_notify.sla_reminders_id_seq', '');

/*
 * ---- seeds -----------------------------------------------------------------
 * Hours: Monday to Thursday 07:30-16:00; Friday 07:30-11:30 and 13:00-16:00
 * (the Friday prayer break); Saturday and Sunday closed.  Set your office's
 * own (ASN hours, a lunch break...) with UPDATE.
 */
INSERT INTO guestbook_notify.sla_business_hours (weekday, hours) VALUES
	(1, '{[07:30,16:00)}'),
	(2, '{[07:30,16:00)}'),
	(3, '{[07:30,16:00)}'),
	(4, '{[07:30,16:00)}'),
	(5, '{[07:30,11:30), [13:00,16:00)}'),
	(6, '{}'),
	(7, '{}');

/*
 * 2026: SKB Menteri Agama, Menteri Ketenagakerjaan and Menteri PANRB No.
 * 1497, 2 and 5 of 2025 (19 September 2025): 17 national holidays and 8
 * days of cuti bersama, as published by Kemenko PMK and reported alike by
 * several news sites.  The Islamic days (Idulfitri, Iduladha) were subject
 * to the Minister of Religion's isbat and could have moved by a day; they
 * are the dates of the decree.  2027's decree could not be established
 * reliably when this was written: the admin adds it (README "SLA
 * reminders").
 */
INSERT INTO guestbook_notify.sla_holidays (day, name, kind) VALUES
	('2026-01-01', 'Tahun Baru 2026 Masehi', 'national_holiday'),
	('2026-01-16', 'Isra Mikraj Nabi Muhammad SAW', 'national_holiday'),
	('2026-02-16', 'Cuti bersama Tahun Baru Imlek', 'collective_leave'),
	('2026-02-17', 'Tahun Baru Imlek 2577 Kongzili', 'national_holiday'),
	('2026-03-18', 'Cuti bersama Hari Suci Nyepi', 'collective_leave'),
	('2026-03-19', 'Hari Suci Nyepi (Tahun Baru Saka 1948)', 'national_holiday'),
	('2026-03-20', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-03-21', 'Idulfitri 1447 H', 'national_holiday'),
	('2026-03-22', 'Idulfitri 1447 H', 'national_holiday'),
	('2026-03-23', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-03-24', 'Cuti bersama Idulfitri 1447 H', 'collective_leave'),
	('2026-04-03', 'Wafat Yesus Kristus', 'national_holiday'),
	('2026-04-05', 'Kebangkitan Yesus Kristus (Paskah)', 'national_holiday'),
	('2026-05-01', 'Hari Buruh Internasional', 'national_holiday'),
	('2026-05-14', 'Kenaikan Yesus Kristus', 'national_holiday'),
	('2026-05-15', 'Cuti bersama Kenaikan Yesus Kristus', 'collective_leave'),
	('2026-05-27', 'Iduladha 1447 H', 'national_holiday'),
	('2026-05-28', 'Cuti bersama Iduladha 1447 H', 'collective_leave'),
	('2026-05-31', 'Hari Raya Waisak 2570 BE', 'national_holiday'),
	('2026-06-01', 'Hari Lahir Pancasila', 'national_holiday'),
	('2026-06-16', '1 Muharam Tahun Baru Islam 1448 H', 'national_holiday'),
	('2026-08-17', 'Hari Proklamasi Kemerdekaan RI', 'national_holiday'),
	('2026-08-25', 'Maulid Nabi Muhammad SAW', 'national_holiday'),
	('2026-12-24', 'Cuti bersama Kelahiran Yesus Kristus', 'collective_leave'),
	('2026-12-25', 'Kelahiran Yesus Kristus', 'national_holiday');

/* The ladder of issue 15: the operator after 30 working minutes in
 * 'assigned' without progress, the unit's lead after 60. */
INSERT INTO guestbook_notify.sla_rules (key, stage, case_type, after, recipient, template_key, description)
VALUES
	('assigned_operator_30m', 'assigned', NULL, '30 minutes', 'operator', 'sla_reminder',
	 'Remind the operator after 30 working minutes in assigned without progress'),
	('assigned_lead_60m', 'assigned', NULL, '60 minutes', 'lead', 'sla_reminder',
	 'Remind the unit''s lead after 60 working minutes in assigned without progress');

/*
 * The messages.  Placeholders: those of every case message ({{case_code}}
 * {{case_type}} {{unit_tujuan}} {{org_unit_name}} {{summary}}
 * {{detail_url}} {{recipient_name}}) and {{stage}} (the stage, in
 * Indonesian), {{waited}} (working time waited), {{since}} (local time the
 * clock started); the digest: {{case_count}} and {{case_list}} (one entry
 * per case: code, type, unit, stage, time waited, link; in template mode
 * the lines are joined with " | " and cut to Meta's 1,024 characters).
 */
INSERT INTO guestbook_notify.templates
	(key, body, cloud_template_name, language, param_names, description)
VALUES
	('sla_reminder',
	 E'[GUESTBOOK] Pengingat: Case {{case_code}} belum ditindaklanjuti\n'
	 'Tahap: {{stage}}\n'
	 'Menunggu: {{waited}} waktu kerja, sejak {{since}}\n'
	 'Jenis: {{case_type}}\n'
	 'Unit: {{unit_tujuan}}\n'
	 'Org Unit: {{org_unit_name}}\n'
	 '{{summary}}\n'
	 '\n'
	 'Detail: {{detail_url}}',
	 'guestbook_sla_reminder', 'id',
	 ARRAY['case_code', 'stage', 'waited', 'since', 'case_type', 'unit_tujuan',
		   'org_unit_name', 'summary', 'detail_url'],
	 'SLA reminder: a case waits too long in a stage without progress (one case)'),
	('sla_digest',
	 E'[GUESTBOOK] Pengingat: {{case_count}} case belum ditindaklanjuti\n'
	 '{{case_list}}\n'
	 '\n'
	 'Mohon segera ditindaklanjuti.',
	 'guestbook_sla_digest', 'id',
	 ARRAY['case_count', 'case_list'],
	 'SLA reminder: several cases for one recipient at once (a digest)');

/*
 * The calendar tables are dumped by pg_dump and seeded by CREATE
 * EXTENSION: on restore, the COPY of the dumped rows would collide with the
 * seeds.  As for templates (_templates_upsert), an INSERT of an existing key
 * becomes an UPDATE of that row, so the admin's edits win and the restore
 * does not fail.
 */
CREATE FUNCTION guestbook_notify._sla_hours_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_business_hours h
	   SET hours = NEW.hours
	 WHERE h.weekday = NEW.weekday;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE FUNCTION guestbook_notify._sla_holidays_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_holidays h
	   SET name = NEW.name, kind = NEW.kind
	 WHERE h.day = NEW.day;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE FUNCTION guestbook_notify._sla_rules_upsert()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE guestbook_notify.sla_rules r
	   SET stage = NEW.stage, case_type = NEW.case_type, after = NEW.after,
		   recipient = NEW.recipient, template_key = NEW.template_key,
		   enabled = NEW.enabled, description = NEW.description
	 WHERE r.key = NEW.key;
	IF FOUND THEN
		RETURN NULL;
	END IF;
	RETURN NEW;
END;
$$;

CREATE TRIGGER sla_business_hours_upsert
	BEFORE INSERT ON guestbook_notify.sla_business_hours
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_hours_upsert();
CREATE TRIGGER sla_holidays_upsert
	BEFORE INSERT ON guestbook_notify.sla_holidays
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_holidays_upsert();
CREATE TRIGGER sla_rules_upsert
	BEFORE INSERT ON guestbook_notify.sla_rules
	FOR EACH ROW EXECUTE FUNCTION guestbook_notify._sla_rules_upsert();

/*
 * ---- working time ------------------------------------------------------------
 * The arithmetic is exact (microseconds) and independent of the session's
 * TimeZone: local dates and times are taken in the SLA time zone with AT
 * TIME ZONE, so zones with daylight saving work too (Indonesia's three have
 * none).  Cost: linear in the days spanned, a few rows per day, one
 * statement per window of days.
 */

/*
 * _sla_zone: the SLA time zone: p_zone, else the setting
 * guestbook_notify.sla_time_zone, else Asia/Jakarta.  WIB, WITA and WIT
 * (which PostgreSQL does not know as abbreviations) stand for Asia/Jakarta,
 * Asia/Makassar and Asia/Jayapura.  The worker passes its setting as
 * p_zone; interactive calls and pg_cron read it here.
 */
CREATE FUNCTION guestbook_notify._sla_zone(p_zone text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE upper(z) WHEN 'WIB' THEN 'Asia/Jakarta'
						 WHEN 'WITA' THEN 'Asia/Makassar'
						 WHEN 'WIT' THEN 'Asia/Jayapura'
						 ELSE z END
	  FROM (SELECT coalesce(nullif(btrim(p_zone), ''),
							nullif(btrim(current_setting('guestbook_notify.sla_time_zone', true)), ''),
							'Asia/Jakarta') AS z) s
$$;

/*
 * _sla_check_zone: p_zone if PostgreSQL knows it, else an error that says
 * what to set.
 */
CREATE FUNCTION guestbook_notify._sla_check_zone(p_zone text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM now() AT TIME ZONE p_zone;
	RETURN p_zone;
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE EXCEPTION 'unknown time zone "%" for SLA reminders', p_zone
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = 'Working time is counted in the office''s time zone (guestbook_notify.sla_time_zone).',
			  HINT = 'Use a zone name such as Asia/Jakarta (WIB), Asia/Makassar (WITA) or Asia/Jayapura (WIT).';
END;
$$;

/*
 * _sla_ranges: the working intervals between p_from and p_to, clipped to
 * them, in order: each local day's business hours (by ISO weekday) unless
 * the day is a holiday (a 'working_day' row cancels it), as absolute times
 * in zone p_zone.  A range with no lower (upper) bound starts (ends) at
 * midnight.
 */
CREATE FUNCTION guestbook_notify._sla_ranges(p_from timestamptz, p_to timestamptz, p_zone text)
RETURNS TABLE (opens timestamptz, closes timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT greatest(x.opens, p_from), least(x.closes, p_to)
	  FROM generate_series(0, (p_to AT TIME ZONE p_zone)::date
							  - (p_from AT TIME ZONE p_zone)::date) AS i(n)
	 CROSS JOIN LATERAL (SELECT (p_from AT TIME ZONE p_zone)::date + i.n AS day) d
	  JOIN guestbook_notify.sla_business_hours h
		ON h.weekday = extract(isodow FROM d.day)
	 CROSS JOIN LATERAL unnest(h.hours) AS t(r)
	 CROSS JOIN LATERAL (
		SELECT (d.day + coalesce(lower(t.r), time '00:00')) AT TIME ZONE p_zone AS opens,
			   (d.day + coalesce(upper(t.r), time '24:00')) AT TIME ZONE p_zone AS closes) x
	 WHERE p_from < p_to
	   AND x.opens < p_to AND x.closes > p_from AND x.opens < x.closes
	   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_holidays ho
						WHERE ho.day = d.day AND ho.kind <> 'working_day')
	 ORDER BY x.opens
$$;

/*
 * _sla_advance: the first moment t >= p_start by which p_seconds of working
 * time have passed since p_start (p_seconds > 0: t may be the very end of a
 * range, e.g. closing time), or, for p_seconds = 0, the first working
 * moment at or after p_start.  Looks ahead in windows (a week, four weeks,
 * then a year at a time); NULL when a whole year has no working time (every
 * weekday closed).
 */
CREATE FUNCTION guestbook_notify._sla_advance(p_start timestamptz, p_seconds numeric, p_zone text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_left numeric := p_seconds;
	v_from timestamptz := p_start;
	v_to timestamptz;
	v_hours integer;
	v_len numeric;
	v_found boolean;
	w integer := 0;
	r record;
BEGIN
	LOOP
		w := w + 1;
		-- hours, not days: "1 day" would follow the session's TimeZone
		v_hours := CASE w WHEN 1 THEN 7 * 24 WHEN 2 THEN 28 * 24 ELSE 366 * 24 END;
		v_to := v_from + make_interval(hours => v_hours);
		v_found := false;
		FOR r IN SELECT * FROM guestbook_notify._sla_ranges(v_from, v_to, p_zone) LOOP
			v_found := true;
			v_len := extract(epoch FROM r.closes - r.opens);
			IF v_len >= v_left THEN
				RETURN r.opens + make_interval(secs => v_left);
			END IF;
			v_left := v_left - v_len;
		END LOOP;
		IF NOT v_found AND w >= 3 THEN
			RETURN NULL;		-- a year without working time
		END IF;
		v_from := v_to;
	END LOOP;
END;
$$;

/* the amount of working time of a rule or a call: hours, minutes, seconds */
CREATE FUNCTION guestbook_notify._sla_check_amount(p_amount interval)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF extract(year FROM p_amount) <> 0 OR extract(month FROM p_amount) <> 0
	   OR extract(day FROM p_amount) <> 0 THEN
		RAISE EXCEPTION 'working time "%" has a day or month part', p_amount
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A day of working time is not 24 hours: it is the business hours of that day.',
				  HINT = 'Give working time in hours, minutes and seconds, e.g. ''8 hours 30 minutes''.';
	END IF;
	IF p_amount < interval '0' THEN
		RAISE EXCEPTION 'working time must not be negative: %', p_amount
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN extract(epoch FROM p_amount);
END;
$$;

/* a finite start, or an error */
CREATE FUNCTION guestbook_notify._sla_check_time(p_time timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT isfinite(p_time) THEN
		RAISE EXCEPTION 'working time needs a finite time, not %', p_time
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN p_time;
END;
$$;

/*
 * add_working_time: the earliest moment t at or after start_at such that
 * working_time_between(start_at, t) = amount.  It may be exactly a closing
 * time (15:30 + 30 minutes on a day that closes at 16:00 is 16:00);
 * next_working_moment() says when the office is open again.  amount 0
 * gives start_at.  time_zone NULL: guestbook_notify.sla_time_zone.  NULL
 * when no working time lies ahead (every weekday closed).
 */
CREATE FUNCTION guestbook_notify.add_working_time(
	start_at timestamptz, amount interval, time_zone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
	v_seconds numeric;
BEGIN
	IF start_at IS NULL OR amount IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	v_seconds := guestbook_notify._sla_check_amount(amount);
	PERFORM guestbook_notify._sla_check_time(start_at);
	IF v_seconds = 0 THEN
		RETURN start_at;
	END IF;
	RETURN guestbook_notify._sla_advance(start_at, v_seconds, v_zone);
END;
$$;

/* the working time from p_from to p_to (p_from <= p_to), in seconds */
CREATE FUNCTION guestbook_notify._sla_between(p_from timestamptz, p_to timestamptz, p_zone text)
RETURNS numeric
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT coalesce(sum(extract(epoch FROM r.closes - r.opens)), 0)
	  FROM guestbook_notify._sla_ranges(p_from, p_to, p_zone) r
$$;

/*
 * working_time_between: the working time from from_at to to_at, as an
 * interval of hours, minutes and seconds (negative when to_at is before
 * from_at).  time_zone NULL: guestbook_notify.sla_time_zone.
 */
CREATE FUNCTION guestbook_notify.working_time_between(
	from_at timestamptz, to_at timestamptz, time_zone text DEFAULT NULL)
RETURNS interval
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
BEGIN
	IF from_at IS NULL OR to_at IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	PERFORM guestbook_notify._sla_check_time(from_at), guestbook_notify._sla_check_time(to_at);
	IF to_at < from_at THEN
		RETURN -make_interval(secs => guestbook_notify._sla_between(to_at, from_at, v_zone));
	END IF;
	RETURN make_interval(secs => guestbook_notify._sla_between(from_at, to_at, v_zone));
END;
$$;

/*
 * next_working_moment: from_at itself when the office is open then, else
 * when it next opens.  time_zone NULL: guestbook_notify.sla_time_zone.
 */
CREATE FUNCTION guestbook_notify.next_working_moment(
	from_at timestamptz, time_zone text DEFAULT NULL)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_zone text;
BEGIN
	IF from_at IS NULL THEN
		RETURN NULL;
	END IF;
	v_zone := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(time_zone));
	PERFORM guestbook_notify._sla_check_time(from_at);
	RETURN guestbook_notify._sla_advance(from_at, 0, v_zone);
END;
$$;

/*
 * ---- texts of the messages ---------------------------------------------------
 */

/* a stage, as the messages say it */
CREATE FUNCTION guestbook_notify._sla_stage_text(p_stage text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE p_stage
		WHEN 'assigned' THEN 'ditugaskan ke operator'
		WHEN 'escalated_lead' THEN 'eskalasi ke Kabid/Lead'
		WHEN 'escalated_kadis' THEN 'eskalasi ke Kepala Dinas'
		ELSE p_stage END
$$;

/* a working time in Indonesian: '1 jam 5 menit', '45 menit', '20 detik' */
CREATE FUNCTION guestbook_notify._sla_duration_text(p_time interval)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN s < 60 THEN s || ' detik'
		ELSE concat_ws(' ', nullif(s / 3600, 0) || ' jam', nullif(s % 3600 / 60, 0) || ' menit')
		END
	  FROM (SELECT greatest(floor(extract(epoch FROM p_time)), 0)::bigint AS s) x
$$;

/* a moment as local time in zone p_zone: 'Jum 4 Des 2026 15.50 WIB' */
CREATE FUNCTION guestbook_notify._sla_local_text(p_time timestamptz, p_zone text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT format('%s %s %s %s %s',
				  (ARRAY['Sen', 'Sel', 'Rab', 'Kam', 'Jum', 'Sab', 'Min'])[extract(isodow FROM l)::integer],
				  extract(day FROM l),
				  (ARRAY['Jan', 'Feb', 'Mar', 'Apr', 'Mei', 'Jun', 'Jul', 'Agu', 'Sep', 'Okt',
						 'Nov', 'Des'])[extract(month FROM l)::integer],
				  extract(year FROM l),
				  to_char(l, 'HH24.MI'))
		   || ' ' || CASE p_zone
						 WHEN 'Asia/Jakarta' THEN 'WIB' WHEN 'Asia/Pontianak' THEN 'WIB'
						 WHEN 'Asia/Makassar' THEN 'WITA' WHEN 'Asia/Ujung_Pandang' THEN 'WITA'
						 WHEN 'Asia/Jayapura' THEN 'WIT'
						 ELSE p_zone END
	  FROM (SELECT p_time AT TIME ZONE p_zone AS l) x
$$;

/*
 * ---- the tick -------------------------------------------------------------------
 */

/* the clock of a stage and its occurrence (see sla_cases) */
CREATE FUNCTION guestbook_notify._sla_clock(
	p_stage text, p_stage_since timestamptz, p_assigned_at timestamptz)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_stage = 'assigned' THEN coalesce(p_assigned_at, p_stage_since)
				ELSE greatest(p_stage_since, p_assigned_at) END
$$;

CREATE FUNCTION guestbook_notify._sla_occurrence(
	p_stage text, p_stage_since timestamptz, p_assignment_id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN p_stage = 'assigned' AND p_assignment_id IS NOT NULL
				THEN p_assignment_id::text
				ELSE p_stage || '@' || (extract(epoch FROM p_stage_since) * 1000000)::bigint
					 || '/' || coalesce(p_assignment_id::text, '-') END
$$;

/*
 * _sla_follow_cases: step 1 of a schema's tick at p_now.  The open cases
 * and their latest assignments, read as the owners of cases and
 * case_assignments (_app_select); sla_cases follows them, writing only what
 * changed (gone, changed, new).  A stage that did not change keeps its
 * stage_since.  The open cases' ids are joined (unnest), never tested with
 * = ANY / <> ALL of the whole array per row: with 100,000 open cases that
 * was 10^10 comparisons (a tick cancelled by the statement timeout, with
 * or without an index on case_assignments (case_id); issue 14).
 *
 * Long for a reason: the three statements that make sla_cases follow the
 * app (delete, update, insert) share the one reading of the app's tables.
 */
CREATE FUNCTION guestbook_notify._sla_follow_cases(p_schema name, p_now timestamptz)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_cases jsonb;
	v_assign jsonb := '[]';
	v_cur jsonb;
	v_ids uuid[];
BEGIN
	-- the open cases: in a stage of sla_rules, no progress
	SELECT coalesce(jsonb_agg(r), '[]') INTO v_cases
	  FROM guestbook_notify._app_select(p_schema, 'cases', format(
			'SELECT c.id, c.code::text AS code, c.case_type::text AS case_type,'
			' c.status::text AS status, c.escalation_level::text AS level,'
			' c.org_unit_id AS unit, c.assigned_operator_id AS operator'
			' FROM %I.cases c'
			' WHERE c.status::text IN (''new'', ''assigned'', ''escalated'')'
			' AND (c.status::text <> ''new'' OR c.escalation_level::text <> ''none'')',
			p_schema)) r;
	v_ids := ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements(v_cases) e);

	IF cardinality(v_ids) > 0 THEN
		SELECT coalesce(jsonb_agg(r), '[]') INTO v_assign
		  FROM guestbook_notify._app_select(p_schema, 'case_assignments', format(
				'SELECT DISTINCT ON (a.case_id) a.case_id, a.id, a.operator_id AS operator,'
				' a.assigned_at AS at'
				' FROM pg_catalog.unnest($1::pg_catalog.uuid[]) AS k(id)'
				' JOIN %I.case_assignments a ON a.case_id OPERATOR(pg_catalog.=) k.id'
				' ORDER BY a.case_id, a.assigned_at DESC, a.id DESC', p_schema),
				ARRAY[v_ids::text]) r;
	END IF;

	-- what the app says now, one row per open case
	v_cur := (SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]')
				FROM (SELECT c.case_id, c.code, c.case_type, c.stage, a.id AS assignment_id,
							 a.at AS assigned_at, coalesce(a.operator, c.operator) AS operator_id,
							 c.unit AS org_unit_id
						FROM (SELECT (e ->> 'id')::uuid AS case_id, e ->> 'code' AS code,
									 e ->> 'case_type' AS case_type,
									 CASE WHEN e ->> 'level' = 'kadis' THEN 'escalated_kadis'
										  WHEN e ->> 'level' = 'lead' OR e ->> 'status' = 'escalated'
										  THEN 'escalated_lead'
										  ELSE 'assigned' END AS stage,
									 (e ->> 'unit')::uuid AS unit, (e ->> 'operator')::uuid AS operator
								FROM jsonb_array_elements(v_cases) e) c
						LEFT JOIN (SELECT (e ->> 'case_id')::uuid AS case_id, (e ->> 'id')::uuid AS id,
										  (e ->> 'operator')::uuid AS operator,
										  (e ->> 'at')::timestamptz AS at
									 FROM jsonb_array_elements(v_assign) e) a
						  ON a.case_id = c.case_id) x);

	-- sla_cases follows it, writing only what changed: gone, changed, new
	DELETE FROM guestbook_notify.sla_cases s
	 WHERE s.app_schema = p_schema
	   AND NOT EXISTS (SELECT 1 FROM unnest(v_ids) AS k(id) WHERE k.id = s.case_id);

	-- (a stage that did not change keeps its stage_since)
	UPDATE guestbook_notify.sla_cases s
	   SET case_code = c.code, case_type = c.case_type, stage = c.stage,
		   stage_since = CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
		   assignment_id = c.assignment_id,
		   assigned_at = c.assigned_at, operator_id = c.operator_id,
		   org_unit_id = c.org_unit_id,
		   clock_start = guestbook_notify._sla_clock(c.stage,
							CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
							c.assigned_at),
		   occurrence = guestbook_notify._sla_occurrence(c.stage,
							CASE WHEN s.stage = c.stage THEN s.stage_since ELSE p_now END,
							c.assignment_id),
		   updated_at = p_now
	  FROM jsonb_to_recordset(v_cur) AS c(case_id uuid, code text, case_type text, stage text,
										  assignment_id uuid, assigned_at timestamptz,
										  operator_id uuid, org_unit_id uuid)
	 WHERE s.app_schema = p_schema AND s.case_id = c.case_id
	   AND (s.case_code, s.case_type, s.stage, s.assignment_id, s.assigned_at, s.operator_id,
			s.org_unit_id)
		   IS DISTINCT FROM
		   (c.code, c.case_type, c.stage, c.assignment_id, c.assigned_at, c.operator_id,
			c.org_unit_id);

	INSERT INTO guestbook_notify.sla_cases
		(app_schema, case_id, case_code, case_type, stage, stage_since, assignment_id,
		 assigned_at, operator_id, org_unit_id, clock_start, occurrence, updated_at)
	SELECT p_schema, c.case_id, c.code, c.case_type, c.stage, p_now, c.assignment_id,
		   c.assigned_at, c.operator_id, c.org_unit_id,
		   guestbook_notify._sla_clock(c.stage, p_now, c.assigned_at),
		   guestbook_notify._sla_occurrence(c.stage, p_now, c.assignment_id), p_now
	  FROM jsonb_to_recordset(v_cur) AS c(case_id uuid, code text, case_type text, stage text,
										  assignment_id uuid, assigned_at timestamptz,
										  operator_id uuid, org_unit_id uuid)
	 WHERE NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_cases s
						WHERE s.app_schema = p_schema AND s.case_id = c.case_id)
	 ORDER BY c.case_id
	ON CONFLICT (app_schema, case_id) DO NOTHING;

END;
$$;

/*
 * _sla_fire_steps: step 2 of a schema's tick at p_now (a working moment).
 * The steps whose working time ran out and that did not fire yet, with
 * their recipients (the operator's users row, read as its owner; the lead
 * or kadis by _find_contact), recorded in sla_reminders (ON CONFLICT DO
 * NOTHING).  Returns the steps this tick fires, each with its reminder id,
 * recipient name, number (as given and normalized) and problem.
 *
 * Longer than most, for a reason: one statement (the WITH query) decides
 * the recipients and records the steps, so that a step is fired once even
 * when two ticks race (sla_concurrent_ticks isolation test).
 */
CREATE FUNCTION guestbook_notify._sla_fire_steps(p_schema name, p_zone text, p_now timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_ids uuid[];
	v_users jsonb := '[]';
	v_steps jsonb;
BEGIN
	-- the steps due: the working time of the clock reached the rule's
	-- (the wall-clock test first: working time never exceeds it)
	SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.case_id, x.rule_key), '[]') INTO v_steps
	  FROM (SELECT c.case_id, c.case_code, c.stage, c.clock_start, c.occurrence,
				   c.operator_id, c.org_unit_id, r.key AS rule_key, r.after,
				   r.recipient, r.template_key, w.worked
			  FROM guestbook_notify.sla_cases c
			  JOIN guestbook_notify.sla_rules r
				ON r.enabled AND r.stage = c.stage
			   AND (r.case_type IS NULL OR r.case_type = c.case_type)
			 CROSS JOIN LATERAL (SELECT make_interval(secs => guestbook_notify._sla_between(
										c.clock_start, p_now, p_zone)) AS worked) w
			 WHERE c.app_schema = p_schema
			   AND p_now - c.clock_start >= r.after
			   AND NOT EXISTS (SELECT 1 FROM guestbook_notify.sla_reminders f
								WHERE f.app_schema = c.app_schema AND f.case_id = c.case_id
								  AND f.rule_key = r.key AND f.occurrence = c.occurrence)
			   AND w.worked >= r.after) x;
	IF jsonb_array_length(v_steps) = 0 THEN
		RETURN v_steps;
	END IF;

	-- the operators, read as the owner of users
	v_ids := ARRAY(SELECT DISTINCT (e ->> 'operator_id')::uuid FROM jsonb_array_elements(v_steps) e
					WHERE e ->> 'recipient' = 'operator' AND e ->> 'operator_id' IS NOT NULL);
	IF cardinality(v_ids) > 0 THEN
		SELECT coalesce(jsonb_agg(r), '[]') INTO v_users
		  FROM guestbook_notify._app_select(p_schema, 'users', format(
				'SELECT u.id, u.full_name::text AS name, u.whatsapp_number::text AS number,'
				' u.is_active AS active FROM %I.users u WHERE u.id = ANY ($1::pg_catalog.uuid[])',
				p_schema), ARRAY[v_ids::text]) r;
	END IF;

	-- the steps with their recipients, recorded: those this tick fires
	WITH step AS (
		SELECT e.*, (e.step ->> 'case_id')::uuid AS case_id
		  FROM (SELECT x AS step, x ->> 'recipient' AS recipient,
					   (x ->> 'org_unit_id')::uuid AS unit, (x ->> 'operator_id')::uuid AS operator
				  FROM jsonb_array_elements(v_steps) x) e
	), contact AS (
		SELECT k.unit, k.recipient, f.contact_name, f.whatsapp_number, f.problem
		  FROM (SELECT DISTINCT s.unit, s.recipient FROM step s
				 WHERE s.recipient IN ('lead', 'kadis')) k
		 CROSS JOIN LATERAL guestbook_notify._find_contact(p_schema, k.unit, k.recipient) f
	), resolved AS (
		SELECT s.step, s.case_id, s.recipient,
			   CASE s.recipient WHEN 'operator' THEN coalesce(u ->> 'name', s.operator::text)
					ELSE k.contact_name END AS name,
			   CASE s.recipient WHEN 'operator' THEN u ->> 'number'
					ELSE k.whatsapp_number END AS number,
			   CASE s.recipient
					WHEN 'operator' THEN
						CASE WHEN s.operator IS NULL
							 THEN 'no active recipient: the case has no operator'
							 WHEN u IS NULL
							 THEN format('no active recipient: operator %s not found in %I.users',
										 s.operator, p_schema)
							 WHEN NOT (u ->> 'active')::boolean
							 THEN format('no active recipient: operator %s is inactive', u ->> 'name')
						END
					ELSE k.problem END AS problem
		  FROM step s
		  LEFT JOIN LATERAL (SELECT x AS u FROM jsonb_array_elements(v_users) x
							  WHERE (x ->> 'id')::uuid = s.operator) uu ON true
		  LEFT JOIN contact k ON k.unit IS NOT DISTINCT FROM s.unit AND k.recipient = s.recipient
	), fired AS (
		INSERT INTO guestbook_notify.sla_reminders AS f
			(app_schema, case_id, rule_key, occurrence, stage, clock_start, due_at,
			 fired_at, recipient_role, recipient_name)
		SELECT p_schema, r.case_id, r.step ->> 'rule_key', r.step ->> 'occurrence',
			   r.step ->> 'stage', (r.step ->> 'clock_start')::timestamptz,
			   coalesce(guestbook_notify._sla_advance((r.step ->> 'clock_start')::timestamptz,
						extract(epoch FROM (r.step ->> 'after')::interval), p_zone), p_now),
			   p_now, r.recipient, r.name
		  FROM resolved r
		 ORDER BY r.case_id, r.step ->> 'rule_key'
		ON CONFLICT ON CONSTRAINT sla_reminders_step_key DO NOTHING
		RETURNING f.id, f.case_id, f.rule_key, f.occurrence
	)
	SELECT coalesce(jsonb_agg(r.step || jsonb_build_object(
				'id', f.id, 'name', r.name, 'number', r.number, 'problem', r.problem,
				'normalized', guestbook_notify._normalize_number(r.number))
			ORDER BY f.id), '[]')
	  INTO v_steps
	  FROM fired f
	  JOIN resolved r ON r.case_id = f.case_id AND r.step ->> 'rule_key' = f.rule_key
					 AND r.step ->> 'occurrence' = f.occurrence;
	RETURN v_steps;
END;
$$;

/*
 * _sla_enqueue_case: the reminder of one case (one step, or the steps of
 * several rules at once) to one recipient; returns the queue row's id.
 */
CREATE FUNCTION guestbook_notify._sla_enqueue_case(
	p_schema name, p_zone text, p_steps jsonb)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	o record;
	v_params jsonb;
BEGIN
	SELECT x.* INTO o
	  FROM jsonb_to_record(p_steps -> 0) AS x(case_id uuid, rule_key text,
			occurrence text, stage text, clock_start timestamptz, worked interval,
			template_key text, recipient text, name text, number text, problem text);
	v_params := coalesce(guestbook_notify._case_params_by_id(p_schema, o.case_id, o.name), '{}')
				|| jsonb_build_object(
					'stage', guestbook_notify._sla_stage_text(o.stage),
					'waited', guestbook_notify._sla_duration_text(o.worked),
					'since', guestbook_notify._sla_local_text(o.clock_start, p_zone));
	RETURN guestbook_notify._enqueue_row(
		o.template_key, o.number, o.name, o.recipient, v_params, o.case_id,
		p_schema::text,
		format('sla:%s:%s:%s:%s', p_schema, o.case_id,
			   (SELECT string_agg(e ->> 'rule_key', '+' ORDER BY e ->> 'rule_key')
				  FROM jsonb_array_elements(p_steps) e),
			   o.occurrence),
		NULL, o.problem);
END;
$$;

/*
 * _sla_enqueue_digest: one message for the steps of several cases to one
 * recipient (template 'sla_digest'), the cases in the order their clocks
 * started; returns the queue row's id.
 */
CREATE FUNCTION guestbook_notify._sla_enqueue_digest(
	p_schema name, p_zone text, p_steps jsonb, p_ncases integer)
RETURNS uuid
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_first record;
	v_list text;
	v_params jsonb;
BEGIN
	SELECT x.* INTO v_first
	  FROM jsonb_to_record(p_steps -> 0) AS x(recipient text, name text, number text,
			problem text);
	SELECT string_agg(format(E'%s. %s (%s, %s): %s, menunggu %s waktu kerja sejak %s\n   %s',
							 c.n, c.p ->> 'case_code', c.p ->> 'case_type',
							 coalesce(c.p ->> 'unit_tujuan', '-'),
							 guestbook_notify._sla_stage_text(c.stage),
							 guestbook_notify._sla_duration_text(c.worked),
							 guestbook_notify._sla_local_text(c.clock_start, p_zone),
							 c.p ->> 'detail_url'),
					  E'\n' ORDER BY c.n)
	  INTO v_list
	  FROM (SELECT row_number() OVER (ORDER BY d.ord) AS n, d.*
			  FROM (SELECT DISTINCT ON (e ->> 'case_id') o.ord, e ->> 'stage' AS stage,
						   (e ->> 'worked')::interval AS worked,
						   (e ->> 'clock_start')::timestamptz AS clock_start,
						   coalesce(guestbook_notify._case_params_by_id(
									p_schema, (e ->> 'case_id')::uuid, v_first.name),
									jsonb_build_object('case_code', e ->> 'case_code')) AS p
					  FROM jsonb_array_elements(p_steps) WITH ORDINALITY AS o(e, ord)
					 ORDER BY e ->> 'case_id', o.ord) d) c;
	v_params := jsonb_build_object('recipient_name', v_first.name,
								   'case_count', p_ncases,
								   'case_list', v_list);
	RETURN guestbook_notify._enqueue_row(
		'sla_digest', v_first.number, v_first.name, v_first.recipient, v_params, NULL, p_schema::text,
		format('sla_digest:%s:%s', p_schema,
			   md5((SELECT string_agg(e ->> 'id', ',' ORDER BY (e ->> 'id')::bigint)
					  FROM jsonb_array_elements(p_steps) e))),
		NULL, v_first.problem);
END;
$$;

/*
 * _sla_tick_schema: one schema's part of the tick at p_now (see _sla_tick).
 *	 1. sla_cases follows the app's open cases (_sla_follow_cases);
 *	 2. when p_fire (p_now is a working moment): the steps due are fired and
 *		recorded with their recipients (_sla_fire_steps);
 *	 3. per recipient one message: the rule's template for one case,
 *		'sla_digest' for several (_enqueue_row: dedupe, failed rows with
 *		their reasons, opt-outs, wake at commit), and a case_events
 *		'sla_reminder' per step (_case_event).
 * Returns how many steps fired.
 */
CREATE FUNCTION guestbook_notify._sla_tick_schema(
	p_schema name, p_zone text, p_now timestamptz, p_fire boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_steps jsonb;
	g record;
	v_id uuid;
BEGIN
	PERFORM guestbook_notify._sla_follow_cases(p_schema, p_now);
	IF NOT p_fire THEN
		RETURN 0;			-- out of hours: nothing is sent, nothing is dropped
	END IF;
	v_steps := guestbook_notify._sla_fire_steps(p_schema, p_zone, p_now);

	-- one message per recipient: a number's steps together; a step without
	-- a valid number alone (a failed row that says why)
	FOR g IN
		SELECT CASE WHEN e ->> 'problem' IS NULL AND e ->> 'normalized' IS NOT NULL
					THEN e ->> 'normalized' ELSE 'step:' || (e ->> 'id') END AS rkey,
			   jsonb_agg(e ORDER BY (e ->> 'clock_start')::timestamptz, e ->> 'case_code',
							(e ->> 'after')::interval DESC) AS steps,
			   count(DISTINCT e ->> 'case_id') AS ncases
		  FROM jsonb_array_elements(v_steps) e
		 GROUP BY 1
		 ORDER BY 1
	LOOP
		IF g.ncases = 1 THEN
			v_id := guestbook_notify._sla_enqueue_case(p_schema, p_zone, g.steps);
		ELSE
			v_id := guestbook_notify._sla_enqueue_digest(p_schema, p_zone, g.steps, g.ncases::integer);
		END IF;

		UPDATE guestbook_notify.sla_reminders f
		   SET notification_id = v_id, digest = g.ncases > 1
		 WHERE f.id IN (SELECT (e ->> 'id')::bigint FROM jsonb_array_elements(g.steps) e);

		-- the app's audit trail: one case_events row per step
		PERFORM guestbook_notify._case_event(p_schema, (e ->> 'case_id')::uuid, 'sla_reminder',
					jsonb_strip_nulls(jsonb_build_object(
						'notification_id', v_id,
						'rule', e ->> 'rule_key',
						'stage', e ->> 'stage',
						'recipient_role', e ->> 'recipient',
						'recipient_name', e ->> 'name',
						'to_number', e ->> 'normalized',
						'waiting_since', e -> 'clock_start',
						'working_seconds', floor(extract(epoch FROM (e ->> 'worked')::interval)),
						'digest', g.ncases > 1,
						'error', e ->> 'problem')))
		  FROM jsonb_array_elements(g.steps) e;
	END LOOP;
	RETURN jsonb_array_length(v_steps);
END;
$$;

/*
 * _sla_tick: the SLA step at p_now in zone p_time_zone (NULL: the setting),
 * for every attached schema.  Idempotent: a step fires once per case, rule
 * and occurrence (sla_reminders' unique key).  One tick at a time per
 * database: a tick that finds another running returns NULL at once (the
 * other does the work); the unique key also holds without that lock (a
 * concurrent REPEATABLE READ tick gets a serialization failure instead of
 * a second message).  Out of working hours nothing fires: what falls due
 * then fires at the next working moment, at the first tick.  A schema
 * whose tables cannot be read (a lock not granted in time, the owner's
 * policy raising...) is skipped with a WARNING; the others go on.  Returns
 * how many steps fired.  Internal (tests pass p_now); sla_tick() is the
 * API.
 */
CREATE FUNCTION guestbook_notify._sla_tick(p_time_zone text, p_now timestamptz)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_now timestamptz := coalesce(p_now, now());
	v_zone text := guestbook_notify._sla_check_zone(guestbook_notify._sla_zone(p_time_zone));
	v_fire boolean;
	v_schema name;
	v_total integer := 0;
	v_msg text;
	v_detail text;
	v_state text;
BEGIN
	PERFORM guestbook_notify._sla_check_time(v_now);
	-- "gbnslatk": one tick at a time in this database
	IF NOT pg_try_advisory_xact_lock(7449638175642842219) THEN
		RETURN NULL;
	END IF;

	DELETE FROM guestbook_notify.sla_cases s
	 WHERE NOT EXISTS (SELECT 1 FROM guestbook_notify.attached_schemas a
						WHERE a.schema_name = s.app_schema);
	v_fire := coalesce(guestbook_notify._sla_advance(v_now, 0, v_zone) = v_now, false);

	FOR v_schema IN SELECT a.schema_name FROM guestbook_notify.attached_schemas a ORDER BY 1 LOOP
		BEGIN
			v_total := v_total + guestbook_notify._sla_tick_schema(v_schema, v_zone, v_now, v_fire);
		EXCEPTION WHEN OTHERS THEN
			GET STACKED DIAGNOSTICS v_msg = MESSAGE_TEXT, v_detail = PG_EXCEPTION_DETAIL,
									v_state = RETURNED_SQLSTATE;
			IF nullif(v_detail, '') IS NULL THEN
				RAISE WARNING 'guestbook_notify: SLA reminders of schema "%" skipped: %', v_schema, v_msg
					USING ERRCODE = v_state, HINT = 'The next tick tries again.';
			ELSE
				RAISE WARNING 'guestbook_notify: SLA reminders of schema "%" skipped: %', v_schema, v_msg
					USING ERRCODE = v_state, DETAIL = v_detail, HINT = 'The next tick tries again.';
			END IF;
		END;
	END LOOP;
	RETURN v_total;
END;
$$;

/*
 * sla_tick: the SLA step now (see _sla_tick), in time_zone (NULL: the
 * setting guestbook_notify.sla_time_zone).  The worker calls it every
 * guestbook_notify.sla_interval; pg_cron can too:
 *	 SELECT cron.schedule('* * * * *', 'SELECT guestbook_notify.sla_tick()');
 * Returns how many reminders (steps) fired, NULL when another tick was
 * running.
 */
CREATE FUNCTION guestbook_notify.sla_tick(time_zone text DEFAULT NULL)
RETURNS integer
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT guestbook_notify._sla_tick(time_zone, pg_catalog.now())
$$;

/*
 * ---- the "Terlambat" (overdue) view -----------------------------------------
 * The open cases that waited longer than their first enabled rule, as the
 * last tick saw them (a case moved on since drops out at the next tick):
 * since when they wait (waiting_since), when they became
 * overdue (overdue_since), the working time waited, and their reminders of
 * this occurrence (count, last, its recipient and queue status).
 */
CREATE VIEW guestbook_notify.sla_overdue AS
SELECT c.app_schema,
	   c.case_id,
	   c.case_code,
	   c.case_type,
	   c.stage,
	   c.clock_start AS waiting_since,
	   guestbook_notify.add_working_time(c.clock_start, r.first_after) AS overdue_since,
	   w.waited,
	   coalesce(f.reminders, 0) AS reminders,
	   f.last_reminded_at,
	   f.last_recipient_role,
	   f.last_recipient_name,
	   q.status AS last_notification_status,
	   f.notification_id AS last_notification_id
  FROM guestbook_notify.sla_cases c
 CROSS JOIN LATERAL (SELECT min(r.after) AS first_after
					   FROM guestbook_notify.sla_rules r
					  WHERE r.enabled AND r.stage = c.stage
						AND (r.case_type IS NULL OR r.case_type = c.case_type)) r
 CROSS JOIN LATERAL (SELECT guestbook_notify.working_time_between(c.clock_start, now()) AS waited) w
  LEFT JOIN LATERAL (SELECT count(*) OVER () AS reminders, f.fired_at AS last_reminded_at,
							f.recipient_role AS last_recipient_role,
							f.recipient_name AS last_recipient_name, f.notification_id
					   FROM guestbook_notify.sla_reminders f
					  WHERE f.app_schema = c.app_schema AND f.case_id = c.case_id
						AND f.occurrence = c.occurrence
					  ORDER BY f.id DESC LIMIT 1) f ON true
  LEFT JOIN guestbook_notify.notification_queue q ON q.id = f.notification_id
 WHERE r.first_after IS NOT NULL
   AND w.waited >= r.first_after;
