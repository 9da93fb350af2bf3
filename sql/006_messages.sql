--
-- 006_messages: render(), byte-exact text, placeholders, the 4096 cut.
--
\set SHOW_CONTEXT never
TRUNCATE guestbook_notify.notification_queue;

-- render() previews what the trigger would send, recipient included.
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000c1');
SELECT guestbook_notify.render('escalated_kadis', '00000000-0000-0000-0000-0000000000c2');

-- Text typed by visitors is sent byte-exact: quotes, backslashes, newlines,
-- tabs, emoji, text that looks like SQL, JSON, format strings, and
-- placeholders (which are never expanded inside a value).
INSERT INTO cases (id, code, case_type, status, org_unit_id, unit_tujuan,
				   visitor_name, visitor_id_number, purpose)
VALUES ('00000000-0000-0000-0000-0000000000d1', 'BYTE01', 'visitor', 'new',
		'00000000-0000-0000-0000-000000000003', E'Unit "Tujuan" \\ {{org_unit_name}}',
		E'Siti O''Neil "Ucok" \\n bukan baris baru \\',
		'{{case_code}} {{detail_url}} {{ summary }}',
		E'Baris 1\nBaris 2\r\n\tTab 😀 Halo 🇮🇩 Café ü\n''); DROP TABLE cases; --\n{"json": [1, "dua", null], "x": "\\u0041"} $1 %s %% \\\\server\\share');
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000d1') AS preview;
-- exactly the values, byte for byte
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000d1')
	   = E'[GUESTBOOK] Case BYTE01\n'
		 'Jenis: visitor\n'
		 'Unit: ' || unit_tujuan || E'\n'
		 'Org Unit: UPT Warroom\n'
		 'Nama: ' || visitor_name || E'\n'
		 'NIP/NIK: ' || visitor_id_number || E'\n'
		 'Keperluan: ' || purpose || E'\n'
		 '\n'
		 'Detail: https://guestbook.example.go.id/admin/cases/00000000-0000-0000-0000-0000000000d1'
	   AS byte_exact
  FROM cases WHERE code = 'BYTE01';
-- the queued message is the same text, and template_args are flattened
-- (no newline or tab: Cloud API template parameters may not have them)
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT q.message_text = guestbook_notify.render('assigned', q.case_id) AS same_as_preview,
	   md5(q.message_text) = md5(guestbook_notify.render('assigned', q.case_id)) AS same_bytes,
	   q.template_params ->> 'summary' = E'Nama: Siti O''Neil "Ucok" \\n bukan baris baru \\\n'
		   'NIP/NIK: {{case_code}} {{detail_url}} {{ summary }}\n'
		   'Keperluan: ' || c.purpose AS params_exact
  FROM guestbook_notify.notification_queue q JOIN cases c ON c.id = q.case_id;
CALL settle();
SELECT i, arg, arg ~ E'[\\n\\r\\t]' AS has_control
  FROM guestbook_notify.notification_queue, unnest(template_args) WITH ORDINALITY AS a(arg, i)
 ORDER BY i;

-- A surat case's summary.
SELECT guestbook_notify.render('escalated_lead', '00000000-0000-0000-0000-0000000000c2');

-- Missing values read '-'.
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000c4');

-- The renderer: one pass; a known name takes its value (JSON null: empty),
-- an unknown name is LEFT AS IS (so a typo shows), spaces inside the braces
-- are allowed, a value is never expanded again.
SELECT guestbook_notify._render_text(
	'{{a}}|{{ a }}|{{b}}|{{c}}|{{unknown}}|{{a}}{{a}}|{{{a}}}|{{}}|{{a-b}}|{a}',
	'{"a": "{{b}}", "b": null, "c": 42}');
SELECT guestbook_notify._render_text('no placeholders', '{}'),
	   guestbook_notify._render_text('', '{"a": "x"}'),
	   guestbook_notify._render_text(NULL, '{"a": "x"}'),
	   guestbook_notify._render_text('{{a}}', NULL);

-- An edited template with a typo: the typo shows in the preview.
BEGIN;
UPDATE guestbook_notify.templates
   SET body = E'Halo {{recipient_name}}: {{case_code}} / {{kode_kasus}}'
 WHERE key = 'assigned';
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000c1');
ROLLBACK;

-- WhatsApp's limit: at most 4096 characters, cut at a character boundary
-- with a visible marker. Multi-byte text (2-byte 'ä', 4-byte emoji).
UPDATE cases SET purpose = repeat('ä😀', 3000) WHERE code = 'BYTE01';
SELECT length(m) AS chars, octet_length(m) AS bytes,
	   right(m, 17) AS marker,
	   left(right(m, 19), 2) = 'ä' || E'\n' OR left(right(m, 19), 2) = '😀' || E'\n' AS cut_between_chars,
	   convert_from(convert_to(m, 'UTF8'), 'UTF8') = m AS valid_utf8
  FROM guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000d1') AS m;
SELECT right(guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000d1'), 19);
-- exactly 4096 characters: not cut; 4097: cut to 4096
SELECT length(guestbook_notify._render_text('{{x}}', jsonb_build_object('x', repeat('😀', 4096)))) AS l4096,
	   right(guestbook_notify._render_text('{{x}}', jsonb_build_object('x', repeat('😀', 4096))), 1) = '😀' AS uncut,
	   length(guestbook_notify._render_text('{{x}}', jsonb_build_object('x', repeat('😀', 4097)))) AS l4097,
	   right(guestbook_notify._render_text('{{x}}', jsonb_build_object('x', repeat('😀', 4097))), 16) AS marker;
-- the queued message is cut the same way
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a3');
CALL settle();
SELECT recipient_name, length(message_text), octet_length(message_text)
  FROM guestbook_notify.notification_queue ORDER BY 1;

-- the flattening of template parameters
SELECT guestbook_notify._template_arg(v) AS arg
  FROM (VALUES (E'a\nb'), (E'a\r\nb'), (E'a\tb'), ('a      b'), ('a    b'), (''), (NULL),
			   (E'  padded\n')) AS t(v);

-- invalid: unknown template
SELECT guestbook_notify.render('no_such_template', '00000000-0000-0000-0000-0000000000c1');
-- invalid: unknown case
SELECT guestbook_notify.render('assigned', '00000000-0000-0000-0000-0000000000ff');
-- invalid: NULL arguments
SELECT guestbook_notify.render(NULL, '00000000-0000-0000-0000-0000000000c1');
SELECT guestbook_notify.render('assigned', NULL);

-- Rendering is linear (issue 10.4): 200,000 unclosed '{{' render well
-- within a 1 s statement_timeout (the loops also check for interrupts).
SET statement_timeout = '1s';
SELECT length(guestbook_notify._render_text(repeat('{{', 200000) || '}}', '{}')) AS pathological;
SELECT length(guestbook_notify._render_text(repeat('{{a}}', 200000), '{"a": "xy"}')) AS many_placeholders;
RESET statement_timeout;
-- a template body is at most 4096 characters (WhatsApp's text limit)
\set VERBOSITY terse
UPDATE guestbook_notify.templates SET body = repeat('x', 4097) WHERE key = 'assigned';
\set VERBOSITY default
UPDATE guestbook_notify.templates SET body = repeat('x', 4096) WHERE key = 'custom_nothing';

-- Template parameters fit Meta's limits (issue 10.5): the body of a
-- template message, its parameters in, is at most 1024 characters.  A 1 MB
-- purpose makes the summary parameter the long one: it is cut, at a
-- character boundary and with the marker, so that the template's own text
-- (54 characters for 'assigned') and the six parameters fit in 1024.
TRUNCATE guestbook_notify.notification_queue;
UPDATE cases SET purpose = repeat('ä', 1000000) WHERE code = 'BYTE01';
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a2');
CALL settle();
SELECT a.n, length(a.arg) AS chars, right(a.arg, 16) AS ends_with
  FROM guestbook_notify.notification_queue q,
	   unnest(q.template_args) WITH ORDINALITY AS a(arg, n)
 WHERE q.case_id = '00000000-0000-0000-0000-0000000000d1'
 ORDER BY a.n;
SELECT sum(length(a)) AS args_chars, sum(length(a)) + 54 <= 1024 AS body_within_limit,
	   length(q.message_text) AS text_chars
  FROM guestbook_notify.notification_queue q, unnest(q.template_args) a
 WHERE q.case_id = '00000000-0000-0000-0000-0000000000d1'
 GROUP BY q.message_text;
