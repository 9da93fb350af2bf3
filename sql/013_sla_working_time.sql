--
-- 013_sla_working_time: the working-time arithmetic of the SLA reminders --
-- weekends, holidays, the Friday prayer break, a due time exactly at
-- closing, the three Indonesian time zones, a zone with daylight saving,
-- and the session's TimeZone not mattering.
--
\set SHOW_CONTEXT never
-- 012 dropped the extension; the app's tables are still there
CREATE EXTENSION guestbook_notify;
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';
SET intervalstyle = 'postgres';

-- The seeded calendar: Monday to Thursday 07:30-16:00, Friday with the
-- prayer break, the weekend closed; 2026's 17 national holidays and 8 days
-- of cuti bersama; the zone; the ladder of issue 15.
SELECT weekday, hours FROM guestbook_notify.sla_business_hours ORDER BY weekday;
SELECT extract(year FROM day) AS year, kind, count(*)
  FROM guestbook_notify.sla_holidays GROUP BY 1, 2 ORDER BY 1, 2;
SELECT day, to_char(day, 'Dy') AS dow, kind, name
  FROM guestbook_notify.sla_holidays ORDER BY day;
SHOW guestbook_notify.sla_time_zone;
SHOW guestbook_notify.sla_interval;
SELECT key, stage, case_type, after, recipient, template_key, enabled
  FROM guestbook_notify.sla_rules ORDER BY after;

-- The issue's case: a case assigned on Friday at 15:50 WIB under a
-- 30-minute rule is due on Monday at 07:50 (10 minutes on Friday, 20 on
-- Monday) -- never at night.
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS due;
-- ... and on Tuesday at 07:50 when Monday is a holiday
BEGIN;
INSERT INTO guestbook_notify.sla_holidays (day, name, kind)
VALUES ('2026-12-07', 'Libur daerah (uji)', 'local_holiday');
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS due;
ROLLBACK;

-- add_working_time: the earliest moment by which the working time has
-- passed; working_time_between of the result gives the amount back.
SELECT label, start_at, amount,
	   guestbook_notify.add_working_time(start_at, amount) AS due,
	   guestbook_notify.working_time_between(
			start_at, guestbook_notify.add_working_time(start_at, amount)) = amount AS inverse
  FROM (VALUES
	(1, 'inside a day', timestamptz '2026-12-02 09:00+07', interval '2 hours'),
	(2, 'before opening', '2026-12-02 06:00+07', '30 minutes'),
	(3, 'after closing', '2026-12-02 17:00+07', '30 minutes'),
	(4, 'on a Saturday', '2026-12-05 10:00+07', '30 minutes'),
	(5, 'in the Friday prayer break', '2026-12-04 12:00+07', '30 minutes'),
	(6, 'across the Friday prayer break', '2026-12-04 11:00+07', '1 hour'),
	(7, 'due exactly at closing', '2026-12-03 15:30+07', '30 minutes'),
	(8, 'a microsecond more', '2026-12-03 15:30+07', '30 minutes 0.000001 seconds'),
	(9, 'a whole Monday', '2026-12-07 07:30+07', '8 hours 30 minutes'),
	(10, 'a whole Monday and a minute', '2026-12-07 07:30+07', '8 hours 31 minutes'),
	(11, 'cuti bersama 24 Dec, Natal 25 Dec, the weekend', '2026-12-23 15:50+07', '30 minutes'),
	(12, 'Nyepi and Lebaran 2026: closed 18 to 24 March', '2026-03-17 15:00+07', '2 hours'),
	(13, 'seconds', '2026-12-07 15:59:50+07', '15 seconds'),
	(14, 'zero', '2026-12-05 10:00+07', '0'),
	(15, 'all of 2026''s working time', '2026-01-01 00:00+07', '1971 hours'))
	AS t(n, label, start_at, amount)
 ORDER BY n;

-- A due time exactly at closing is reminded when the office opens again:
-- next_working_moment is the moment itself inside the hours, else the next
-- opening.
SELECT label, t, guestbook_notify.next_working_moment(t) AS next
  FROM (VALUES
	(1, 'open', timestamptz '2026-12-03 10:00+07'),
	(2, 'exactly at opening', '2026-12-03 07:30+07'),
	(3, 'exactly at closing', '2026-12-03 16:00+07'),
	(4, 'a microsecond before closing', '2026-12-03 15:59:59.999999+07'),
	(5, 'in the Friday prayer break', '2026-12-04 11:30+07'),
	(6, 'Friday closing', '2026-12-04 16:00+07'),
	(7, 'Saturday night', '2026-12-05 23:00+07'),
	(8, 'cuti bersama', '2026-12-24 09:00+07'),
	(9, 'New Year''s Eve after hours', '2026-12-31 20:00+07')) AS x(n, label, t)
 ORDER BY n;

-- working_time_between: the working time between two moments.
SELECT label, guestbook_notify.working_time_between(a, b) AS worked
  FROM (VALUES
	(1, 'Friday 11:00-14:00 (prayer break)', timestamptz '2026-12-04 11:00+07', timestamptz '2026-12-04 14:00+07'),
	(2, 'Friday 15:50 to Monday 07:50', '2026-12-04 15:50+07', '2026-12-07 07:50+07'),
	(3, 'the same, backwards', '2026-12-07 07:50+07', '2026-12-04 15:50+07'),
	(4, 'the same moment', '2026-12-07 09:00+07', '2026-12-07 09:00+07'),
	(5, 'a night', '2026-12-07 16:00+07', '2026-12-08 07:30+07'),
	(6, 'a whole week', '2026-12-07 00:00+07', '2026-12-14 00:00+07'),
	(7, 'Christmas week (two days off)', '2026-12-21 00:00+07', '2026-12-28 00:00+07'),
	(8, 'the year 2026', '2026-01-01 00:00+07', '2027-01-01 00:00+07')) AS x(n, label, a, b)
 ORDER BY n;

-- Time zones.  The zone is the office's: WIB, WITA and WIT offices get the
-- same local answer (Monday 07:50), at different absolute moments.
SELECT zone, guestbook_notify._sla_zone(zone) AS zone_name,
	   guestbook_notify.add_working_time(timestamp '2026-12-04 15:50' AT TIME ZONE guestbook_notify._sla_zone(zone),
										 '30 minutes', zone)
		   AT TIME ZONE guestbook_notify._sla_zone(zone) AS due_local,
	   guestbook_notify.add_working_time(timestamp '2026-12-04 15:50' AT TIME ZONE guestbook_notify._sla_zone(zone),
										 '30 minutes', zone) AT TIME ZONE 'UTC' AS due_utc
  FROM (VALUES ('Asia/Jakarta'), ('Asia/Makassar'), ('Asia/Jayapura'), ('WIB'), ('wita'), ('WIT'))
	AS z(zone);
-- One moment, Friday 15:50 WIB, is 16:50 WITA and 17:50 WIT: after closing
-- there, so the clock starts on Monday at 07:30 local.
SELECT zone, guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes', zone) AS due_in_wib,
	   guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes', zone)
		   AT TIME ZONE guestbook_notify._sla_zone(zone) AS due_local
  FROM (VALUES ('Asia/Jakarta'), ('Asia/Makassar'), ('Asia/Jayapura')) AS z(zone);
-- Without a zone argument, the setting decides.
SET guestbook_notify.sla_time_zone = 'Asia/Jayapura';
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS due_wit_setting;
RESET guestbook_notify.sla_time_zone;

-- Daylight saving is not assumed away.  In Europe/Berlin the clocks go
-- forward on Sunday 29 March 2026: Friday 15:50 CET + 30 minutes is Monday
-- 07:50 CEST (05:50 UTC, not 06:50).  They go back on Sunday 25 October: the
-- week around it has its 41 working hours, and a day open around the clock
-- has 23 hours in March and 25 in October.
SELECT guestbook_notify.add_working_time(timestamp '2026-03-27 15:50' AT TIME ZONE 'Europe/Berlin',
										 '30 minutes', 'Europe/Berlin') AT TIME ZONE 'UTC' AS due_utc;
SELECT guestbook_notify.working_time_between(
		timestamp '2026-10-19 00:00' AT TIME ZONE 'Europe/Berlin',
		timestamp '2026-10-26 00:00' AT TIME ZONE 'Europe/Berlin', 'Europe/Berlin') AS dst_week;
BEGIN;
UPDATE guestbook_notify.sla_business_hours SET hours = '{[00:00,24:00)}' WHERE weekday = 7;
SELECT d AS sunday, guestbook_notify.working_time_between(
		d::timestamp AT TIME ZONE 'Europe/Berlin',
		(d + 1)::timestamp AT TIME ZONE 'Europe/Berlin', 'Europe/Berlin') AS open_all_day
  FROM (VALUES (date '2026-03-15'), ('2026-03-29'), ('2026-10-25')) AS x(d);
ROLLBACK;

-- The session's TimeZone changes how results print, never what they are.
SET timezone = 'America/New_York';
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS due_printed_in_new_york,
	   guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes')
		   = '2026-12-07 07:50+07' AS same_moment,
	   guestbook_notify.working_time_between('2026-01-01 00:00+07', '2027-01-01 00:00+07') AS year_2026;
SET timezone = 'Asia/Jakarta';

-- The admin edits the calendar.
BEGIN;
-- a 'working_day' row cancels a holiday (an INSERT of a seeded day
-- updates it: the pg_dump restore path); Christmas Eve is worked
INSERT INTO guestbook_notify.sla_holidays (day, name, kind)
VALUES ('2026-12-24', 'Masuk kerja', 'working_day');
SELECT day, name, kind FROM guestbook_notify.sla_holidays WHERE day = '2026-12-24';
SELECT guestbook_notify.add_working_time('2026-12-23 15:50+07', '30 minutes') AS due;
-- several ranges a day: a lunch break on Monday, in any order, overlaps merged
UPDATE guestbook_notify.sla_business_hours
   SET hours = '{[13:00,16:00), [07:30,12:00), [11:00,11:30)}' WHERE weekday = 1;
SELECT hours FROM guestbook_notify.sla_business_hours WHERE weekday = 1;
SELECT guestbook_notify.add_working_time('2026-12-07 11:45+07', '30 minutes') AS due_after_lunch;
-- an INSERT of a weekday updates it too
INSERT INTO guestbook_notify.sla_business_hours (weekday, hours) VALUES (6, '{[08:00,12:00)}');
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS due_saturday_open;
-- every day closed: no working time ahead
UPDATE guestbook_notify.sla_business_hours SET hours = '{}';
SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes') AS never,
	   guestbook_notify.next_working_moment('2026-12-04 15:50+07') AS never_open,
	   guestbook_notify.working_time_between('2026-12-01 00:00+07', '2026-12-31 00:00+07') AS none;
ROLLBACK;

-- Invalid inputs, each an error that says what to do.
SELECT * FROM show_error($$SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '1 day')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '-5 minutes')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.add_working_time('2026-12-04 15:50+07', '30 minutes', 'Mars/Olympus')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.working_time_between('-infinity', '2026-12-04 15:50+07')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.next_working_moment('infinity')$$);
-- NULL in, NULL out
SELECT guestbook_notify.add_working_time(NULL, '30 minutes') IS NULL AS a,
	   guestbook_notify.add_working_time('2026-12-04 15:50+07', NULL) IS NULL AS b,
	   guestbook_notify.working_time_between(NULL, now()) IS NULL AS c,
	   guestbook_notify.next_working_moment(NULL) IS NULL AS d;
-- the tables' rules
\set VERBOSITY terse
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient) VALUES ('r1', 'assigned', '1 day', 'operator');
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient) VALUES ('r2', 'assigned', '0', 'operator');
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient) VALUES ('r3', 'closed', '1 hour', 'operator');
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient) VALUES ('r4', 'assigned', '1 hour', 'resepsionis');
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient) VALUES ('Bad Key', 'assigned', '1 hour', 'lead');
INSERT INTO guestbook_notify.sla_business_hours (weekday, hours) VALUES (8, '{}');
INSERT INTO guestbook_notify.sla_holidays (day, name, kind) VALUES ('2027-01-01', 'Tahun Baru', 'holiday');
\set VERBOSITY default
