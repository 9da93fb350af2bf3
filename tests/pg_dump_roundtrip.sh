#!/usr/bin/env bash
# pg_dump / pg_restore round trip of a database using guestbook_notify.
#
# Starts a throwaway cluster (initdb into a temp dir, unix socket in that dir
# only), installs the extension and the reference guestbook schema, attaches
# it, makes queue rows, attempts, an opt-out and template edits, dumps with
# pg_dump -Fc, restores into a new database, and checks that:
#   - pg_restore reports no error (the seeded templates do not collide),
#   - queue rows, attempts, opt-outs, templates and attached schemas are back,
#   - the triggers work in the restored database (an assignment enqueues),
#   - the attempts' identity and the worker interface work there.
# Run as the postgres OS user from the top of the tree (tests/run_tests.sh does:
#   runuser -u postgres -- bash tests/pg_dump_roundtrip.sh), with the
# PostgreSQL 15 binaries on PATH and the extension installed.
# Prints TAP-style lines, a summary "pg_dump round trip: N passed, M failed"
# and PASS or FAIL; exits non-zero on failure.
set -uo pipefail

[ -n "${PG_CONFIG:-}" ] && export PATH="$("$PG_CONFIG" --bindir):$PATH"
export PATH="$PATH:/usr/lib/postgresql/15/bin"
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gbn_dump.XXXXXX")
port=5432		# the socket lives in $tmp: no clash with other clusters
export PGHOST="$tmp" PGPORT="$port" PGUSER="$(id -un)"
unset PGDATABASE PGSERVICE
export PGOPTIONS="-c client_min_messages=warning"

passed=0
failed=0
n=0
ok() {
	n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"
	[ $# -gt 1 ] && printf '%s\n' "$2" | sed 's/^/#   /'
}
check() {	# check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2
got:      $3"; fi
}
finish() {
	echo "1..$n"
	echo "pg_dump round trip: $passed passed, $failed failed"
	if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
		echo "PASS: pg_dump round trip"
		exit 0
	fi
	echo "FAIL: pg_dump round trip"
	exit 1
}
cleanup() {
	pg_ctl -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

psql_q() {	# psql_q DB SQL: unaligned, tuples only, stop on error
	printf '%s\n' "$2" | psql -X -q -v ON_ERROR_STOP=1 -At -d "$1"
}

# ---- the cluster --------------------------------------------------------
if ! initdb -D "$tmp/data" -E UTF8 --locale=C -A trust --no-sync >"$tmp/initdb.log" 2>&1; then
	not_ok "initdb" "$(tail -n 20 "$tmp/initdb.log")"; finish
fi
cat >>"$tmp/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$tmp'
port = $port
fsync = off
shared_preload_libraries = 'guestbook_notify'
# the worker serves 'postgres', where the extension is not installed: idle
guestbook_notify.database_name = 'postgres'
guestbook_notify.app_base_url = 'https://guestbook.example.go.id'
EOF
if ! pg_ctl -D "$tmp/data" -l "$tmp/server.log" -w start >/dev/null 2>&1; then
	not_ok "cluster starts" "$(tail -n 20 "$tmp/server.log")"; finish
fi
ok "throwaway cluster started"

# ---- the source database ------------------------------------------------
createdb src || { not_ok "createdb src"; finish; }
if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -d src \
		-c "CREATE EXTENSION guestbook_notify" \
		-f "$here/tests/schema/guestbook.sql" \
		-f "$here/tests/schema/sample_data.sql" 2>&1); then
	not_ok "extension and reference schema installed" "$out"; finish
fi
ok "extension and reference schema installed"

if ! out=$(psql -X -q -v ON_ERROR_STOP=1 -At -d src 2>&1 <<'EOF'
SELECT guestbook_notify.attach();
-- queue rows from the triggers: an assignment, an escalation, a failure
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
UPDATE cases SET escalation_level = 'lead', status = 'escalated' WHERE code = 'SRT001';
UPDATE users SET whatsapp_number = '12345' WHERE full_name = 'Sari Operator';
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
-- the worker's first step: the triggers' events become queue rows
SELECT guestbook_notify.process_events();
-- one sent (an attempt row, a delivery status), one retried (another attempt)
SELECT count(*) FROM guestbook_notify._claim_paced(2, 60, 6000, 60);
SELECT guestbook_notify._record_result(q.id,
		CASE q.template_key WHEN 'assigned' THEN 'sent' ELSE 'retry' END,
		'cloud_api', CASE q.template_key WHEN 'assigned' THEN 200 ELSE 503 END,
		NULL, NULL, CASE q.template_key WHEN 'assigned' THEN 'wamid.DUMP1' END,
		now(), 42, 60000, 8, 6000)
  FROM guestbook_notify.notification_queue q WHERE q.lease_until IS NOT NULL;
-- the audit step: 'contacted' and 'notification_failed' into case_events
SELECT guestbook_notify.write_audit();
SELECT guestbook_notify.record_status('wamid.DUMP1', 'delivered');
-- an opt-out (and the pending row it cancels), a manual message
SELECT guestbook_notify.enqueue('assigned', '0812-9000-0001', dedupe_key => 'manual:dump');
SELECT guestbook_notify.opt_out('0812-9000-0001', 'tidak mau');
SELECT guestbook_notify.enqueue('assigned', '0812-9000-0002', scheduled_at => now() + interval '1 day');
-- an edited seeded template and a new one
UPDATE guestbook_notify.templates
   SET body = E'[GUESTBOOK] Tugas baru {{case_code}}\n{{summary}}\n\nDetail: {{detail_url}}',
	   description = 'diubah admin'
 WHERE key = 'assigned';
INSERT INTO guestbook_notify.templates (key, body, cloud_template_name, param_names)
VALUES ('pengingat', 'Pengingat {{case_code}}', 'guestbook_reminder', '{case_code}');
-- an event not processed yet, and a case_events row not written yet: both
-- must survive the dump (the assignment repeats Budi on ABC123: a repeat)
INSERT INTO case_assignments (case_id, operator_id)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
SELECT guestbook_notify._case_event('public', '00000000-0000-0000-0000-0000000000c1',
									'dump_check', '{"pending": true}');
-- SLA reminders: the admin's calendar and ladder edits, next year's
-- holiday, and two reminders fired (operator and lead of ABC123, assigned
-- 2 working hours before the tick; cancelled so the claims below ignore them)
UPDATE guestbook_notify.sla_rules SET after = '45 minutes' WHERE key = 'assigned_operator_30m';
INSERT INTO guestbook_notify.sla_rules (key, stage, after, recipient)
VALUES ('escalated_lead_kadis_2h', 'escalated_lead', '2 hours', 'kadis');
UPDATE guestbook_notify.sla_business_hours SET hours = '{[07:30,11:30), [13:00,16:30)}' WHERE weekday = 5;
INSERT INTO guestbook_notify.sla_holidays (day, name) VALUES ('2027-01-01', 'Tahun Baru 2027 Masehi');
UPDATE guestbook_notify.sla_holidays SET kind = 'working_day' WHERE day = '2026-12-24';
UPDATE cases SET status = 'assigned' WHERE code = 'ABC123';
SELECT guestbook_notify._sla_tick(NULL, guestbook_notify.add_working_time(now(), '2 hours'));
SELECT guestbook_notify.cancel(q.id) FROM guestbook_notify.notification_queue q
 WHERE q.template_key = 'sla_reminder';
-- webhooks: a status applied and one parked, a reply, a WAHA session, a malformed body
SELECT state FROM guestbook_notify.webhook_receive('meta', convert_to(
  '{"entry":[{"changes":[{"field":"messages","value":{"statuses":[
    {"id":"wamid.DUMP1","status":"read","timestamp":"1750030073"},
    {"id":"wamid.NOT.YET","status":"delivered","timestamp":"1750030074"}]}}]}]}', 'UTF8'));
SELECT state FROM guestbook_notify.webhook_receive('meta', convert_to(
  '{"entry":[{"changes":[{"field":"messages","value":{"messages":[
    {"from":"6281290000003","id":"wamid.IN.DUMP","timestamp":"1750030075","type":"text","text":{"body":"Terima kasih"}}]}}]}]}', 'UTF8'));
SELECT state FROM guestbook_notify.webhook_receive('waha', convert_to(
  '{"id":"evt_DUMP","event":"session.status","session":"default","timestamp":1750030076000,"payload":{"status":"SCAN_QR_CODE"}}', 'UTF8'), 'evt_DUMP');
SELECT state FROM guestbook_notify.webhook_receive('meta', '\xff00');
EOF
); then
	not_ok "source data made" "$out"; finish
fi
ok "source data made"

# What must survive, as text: every row of our tables, ids included.
fingerprint() {
	psql_q "$1" "
	SELECT 'queue', count(*), md5(string_agg(q::text, '|' ORDER BY q.id))
	  FROM guestbook_notify.notification_queue q
	UNION ALL
	SELECT 'attempts', count(*), md5(string_agg(a::text, '|' ORDER BY a.id))
	  FROM guestbook_notify.notification_attempts a
	UNION ALL
	SELECT 'opt_outs', count(*), md5(string_agg(o::text, '|' ORDER BY o.number))
	  FROM guestbook_notify.opt_outs o
	UNION ALL
	SELECT 'templates', count(*), md5(string_agg(t::text, '|' ORDER BY t.key))
	  FROM guestbook_notify.templates t
	UNION ALL
	SELECT 'attached', count(*), string_agg(schema_name, ',' ORDER BY schema_name)
	  FROM guestbook_notify.attached_schemas
	UNION ALL
	SELECT 'events', count(*), md5(string_agg(e::text, '|' ORDER BY e.id))
	  FROM guestbook_notify.trigger_events e
	UNION ALL
	SELECT 'audit_outbox', count(*), md5(string_agg(o::text, '|' ORDER BY o.id))
	  FROM guestbook_notify.audit_outbox o
	UNION ALL
	SELECT 'assignment_state', count(*), md5(string_agg(s::text, '|' ORDER BY s.case_id))
	  FROM guestbook_notify.assignment_state s
	UNION ALL
	SELECT 'case_events', count(*), md5(string_agg(e::text, '|' ORDER BY e.id))
	  FROM public.case_events e
	UNION ALL
	SELECT 'sla_rules', count(*), md5(string_agg(r::text, '|' ORDER BY r.key))
	  FROM guestbook_notify.sla_rules r
	UNION ALL
	SELECT 'sla_business_hours', count(*), md5(string_agg(h::text, '|' ORDER BY h.weekday))
	  FROM guestbook_notify.sla_business_hours h
	UNION ALL
	SELECT 'sla_holidays', count(*), md5(string_agg(h::text, '|' ORDER BY h.day))
	  FROM guestbook_notify.sla_holidays h
	UNION ALL
	SELECT 'sla_cases', count(*), md5(string_agg(c::text, '|' ORDER BY c.case_id))
	  FROM guestbook_notify.sla_cases c
	UNION ALL
	SELECT 'sla_reminders', count(*), md5(string_agg(r::text, '|' ORDER BY r.id))
	  FROM guestbook_notify.sla_reminders r
	UNION ALL
	SELECT 'webhook_inbox', count(*), md5(string_agg(i::text, '|' ORDER BY i.id))
	  FROM guestbook_notify.webhook_inbox i
	UNION ALL
	SELECT 'parked', count(*), md5(string_agg(p::text, '|' ORDER BY p.provider_message_id))
	  FROM guestbook_notify.webhook_parked_statuses p
	UNION ALL
	SELECT 'inbound', count(*), md5(string_agg(m::text, '|' ORDER BY m.id))
	  FROM guestbook_notify.inbound_messages m
	UNION ALL
	SELECT 'sessions', count(*), md5(string_agg(s::text, '|' ORDER BY s.session))
	  FROM guestbook_notify.provider_sessions s" 2>&1
}
summary() {
	psql_q "$1" "
	SELECT status || '/' || coalesce(delivery_status, '-') || '/' || attempt_count || '/' || template_key
	  FROM guestbook_notify.notification_queue ORDER BY 1" 2>&1 | tr '\n' ' '
}
src_fp=$(fingerprint src)
src_summary=$(summary src)
echo "# source: $src_summary"
src_counts=$(printf '%s\n' "$src_fp" | cut -d'|' -f1,2 | tr '\n' ' ')
check "source has queue rows, attempts, an opt-out, templates, attached schema, SLA state, webhooks" \
	"queue|7 attempts|2 opt_outs|1 templates|8 attached|1 events|1 audit_outbox|3 assignment_state|2 case_events|2 sla_rules|3 sla_business_hours|7 sla_holidays|26 sla_cases|2 sla_reminders|2 webhook_inbox|4 parked|1 inbound|1 sessions|1 " "$src_counts"

# ---- dump and restore ---------------------------------------------------
if ! out=$(pg_dump -Fc -f "$tmp/src.dump" src 2>&1); then
	not_ok "pg_dump -Fc" "$out"; finish
fi
ok "pg_dump -Fc"
createdb dst || { not_ok "createdb dst"; finish; }
pg_restore -d dst "$tmp/src.dump" >"$tmp/restore.log" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s "$tmp/restore.log" ]; then
	ok "pg_restore without errors or warnings"
else
	not_ok "pg_restore without errors or warnings" "exit $rc: $(head -c 3000 "$tmp/restore.log")"
fi

# ---- what came back -----------------------------------------------------
dst_fp=$(fingerprint dst)
while IFS= read -r line; do
	name=${line%%|*}
	check "restored $name identical" "$line" "$(printf '%s\n' "$dst_fp" | grep "^$name|")"
done <<<"$src_fp"
check "restored queue statuses" "$src_summary" "$(summary dst)"
check "edited seeded template kept" "diubah admin|[GUESTBOOK] Tugas baru {{case_code}}" \
	"$(psql_q dst "SELECT description || '|' || split_part(body, E'\n', 1) FROM guestbook_notify.templates WHERE key = 'assigned'" 2>&1)"
check "edited SLA ladder, hours and holidays kept" "00:45:00|{[07:30:00,11:30:00),[13:00:00,16:30:00)}|working_day|Tahun Baru 2027 Masehi" \
	"$(psql_q dst "SELECT (SELECT after FROM guestbook_notify.sla_rules WHERE key = 'assigned_operator_30m')
		|| '|' || (SELECT hours FROM guestbook_notify.sla_business_hours WHERE weekday = 5)
		|| '|' || (SELECT kind FROM guestbook_notify.sla_holidays WHERE day = '2026-12-24')
		|| '|' || (SELECT name FROM guestbook_notify.sla_holidays WHERE day = '2027-01-01')" 2>&1)"
check "opt-out kept" "6281290000001|tidak mau" \
	"$(psql_q dst "SELECT number || '|' || reason FROM guestbook_notify.opt_outs" 2>&1)"
check "triggers restored" \
	"case_assignments.guestbook_notify_assigned cases.guestbook_notify_escalated cases.guestbook_notify_escalated_insert " \
	"$(psql_q dst "SELECT tgrelid::regclass || '.' || tgname FROM pg_trigger WHERE tgname LIKE 'guestbook_notify%' ORDER BY 1" 2>&1 | tr '\n' ' ')"

# ---- the restored database works ----------------------------------------
check "the restored event and audit row are processed and written" "0|0|1" \
	"$(psql_q dst "
		SELECT guestbook_notify.process_events() \\g /dev/null
		SELECT guestbook_notify.write_audit() \\g /dev/null
		SELECT (SELECT count(*) FROM guestbook_notify.trigger_events) || '|' ||
			   (SELECT count(*) FROM guestbook_notify.audit_outbox) || '|' ||
			   (SELECT count(*) FROM case_events WHERE event_type = 'dump_check')" 2>&1)"
check "the SLA reminders fired before the dump do not fire again after the restore" "0|2" \
	"$(psql_q dst "
		SELECT guestbook_notify._sla_tick(NULL, (SELECT max(fired_at) FROM guestbook_notify.sla_reminders))
			|| '|' || (SELECT count(*) FROM guestbook_notify.sla_reminders)" 2>&1)"
check "an assignment in the restored database enqueues (edited template)" \
	"pending|6281322224444|[GUESTBOOK] Tugas baru SRT001" \
	"$(psql_q dst "
		UPDATE users SET whatsapp_number = '0813-2222-4444' WHERE full_name = 'Sari Operator';
		INSERT INTO case_assignments (case_id, operator_id)
		VALUES ('00000000-0000-0000-0000-0000000000c2', '00000000-0000-0000-0000-0000000000a3');
		SELECT guestbook_notify.process_events() \\g /dev/null
		SELECT status || '|' || to_number || '|' || split_part(message_text, E'\n', 1)
		  FROM guestbook_notify.notification_queue WHERE to_number = '6281322224444'" 2>&1)"
check "an escalation in the restored database enqueues" "escalated_kadis|pending" \
	"$(psql_q dst "
		UPDATE cases SET escalation_level = 'kadis' WHERE code = 'SRT001';
		SELECT guestbook_notify.process_events() \\g /dev/null
		SELECT template_key || '|' || status FROM guestbook_notify.notification_queue
		 WHERE template_key = 'escalated_kadis'" 2>&1)"
check "the same assignment again is deduplicated after the restore" "1" \
	"$(psql_q dst "
		INSERT INTO case_assignments (case_id, operator_id)
		VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2');
		SELECT guestbook_notify.process_events() \\g /dev/null
		SELECT count(*) FROM guestbook_notify.notification_queue
		 WHERE template_key = 'assigned' AND case_id = '00000000-0000-0000-0000-0000000000c1'" 2>&1)"
check "the worker interface works after the restore (attempt ids continue)" "2|sent" \
	"$(psql_q dst "
		SELECT count(*) FROM guestbook_notify._claim_paced(100, 60, 0, 0) \\g /dev/null
		SELECT count(guestbook_notify._record_result(q.id, 'sent', 'cloud_api', 200, NULL, NULL,
				'wamid.R' || q.id, now(), 1, NULL, 8, 0))
		  FROM guestbook_notify.notification_queue q WHERE q.lease_until IS NOT NULL \\g /dev/null
		SELECT count(*) || '|' || min(outcome) FROM guestbook_notify.notification_attempts WHERE id > 2" 2>&1)"
check "opted-out number still refused after the restore" "cancelled|recipient opted out" \
	"$(psql_q dst "
		SELECT guestbook_notify.enqueue('assigned', '081290000001') \\g /dev/null
		SELECT status || '|' || last_error FROM guestbook_notify.notification_queue
		 WHERE to_number = '6281290000001' AND dedupe_key IS NULL" 2>&1)"
check "webhooks after the restore: inbox ids continue, a WAHA duplicate is still one" "5|applied|duplicate" \
	"$(psql_q dst "
		SELECT inbox_id || '|' || state FROM guestbook_notify.webhook_receive('meta', convert_to('{\"entry\":[]}', 'UTF8'));
		SELECT state FROM guestbook_notify.webhook_receive('waha', '\\x7b7d', 'evt_DUMP')" 2>&1 | tr '\n' '|' | sed 's/|$//')"
check "DROP EXTENSION CASCADE in the restored database keeps the app's rows" "3|2" \
	"$(psql_q dst "
		DROP EXTENSION guestbook_notify CASCADE;
		SELECT count(*) || '|' || (SELECT count(*) FROM cases) FROM case_assignments
		 WHERE case_id = '00000000-0000-0000-0000-0000000000c1'" 2>&1)"

finish
