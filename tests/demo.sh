#!/usr/bin/env bash
# The README's demo: a throwaway PostgreSQL 15 cluster that preloads
# guestbook_notify and talks to a local mock WhatsApp Cloud API; a case is
# assigned to an operator, escalated to the unit lead, then to the head of
# office (kadis); the script shows what the mock received and the audit rows.
# The webhook receiver (guestbook_notify_web) runs beside it: the mock posts
# signed status webhooks back after each send, so delivery receipts arrive,
# and the kadis's message fails late (131026) and turns up as "needs
# attention".
#
#   sudo bash tests/demo.sh            # on a fresh Debian 12, as root
#
# Environment:
#   SKIP_DEPS=1     do not run tests/install_deps.sh
#   SKIP_BUILD=1    use the extension already installed
#   KEEP=1          keep the scratch directory (cluster, logs) at the end
#   DEMO_TIMEOUT=N  seconds to wait for the three messages (default 30)
#   DEMO_PAGE=1     keep the Notifications page up at the end, for a person,
#                   until Ctrl-C (it is started and checked in any case)
#   DEMO_PAGE_PORT  its port on 127.0.0.1 (default 8089; a free one if taken)
# Exits non-zero if the three notifications were not sent in time.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
timeout_s=${DEMO_TIMEOUT:-30}

. "$here/tests/lib/common.sh"
gbn_require_root demo.sh
gbn_install_deps
python=$gbn_python

work=$(mktemp -d /tmp/guestbook_notify-demo.XXXXXX)
chown postgres: "$work"
chmod 755 "$work"
mock_pid=""
web_pid=""
pg_started=0

cleanup() {
	local rc=$?
	set +e
	if [ -n "$web_pid" ]; then
		kill "$web_pid" 2>/dev/null
	fi
	if [ "$pg_started" = 1 ]; then
		runuser -u postgres -- pg_ctl -D "$work/data" -m fast -w stop >/dev/null 2>&1
	fi
	if [ -n "$mock_pid" ]; then
		kill "$mock_pid" 2>/dev/null
		wait 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		echo "== kept $work (cluster data, postgres.log, mock.jsonl)"
	else
		rm -rf "$work"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_pg() { gbn_as_pg "$@"; }

# --- build and install, from a copy the postgres user owns ------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	echo "== build and install guestbook_notify"
	gbn_copy_tree "$work/src"
	gbn_build_install "$work/src"
fi

# --- the mock WhatsApp API ------------------------------------------------
echo "== start the mock WhatsApp Cloud API (loopback)"
token="demo-token-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
gbn_start_mock "$work" --token "$token" --log "$work/mock.jsonl" || exit 1
mock_pid=$gbn_mock_pid
mock_url=$gbn_mock_url
echo "   $(head -n1 "$work/mock.out")"

# --- a throwaway cluster --------------------------------------------------
echo "== initdb a throwaway cluster in $work/data"
pg_port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg initdb -D "$work/data" -U postgres -E UTF8 --locale=C.UTF-8 -A trust --no-sync >"$work/initdb.log" 2>&1 \
	|| { cat "$work/initdb.log" >&2; exit 1; }
cat >>"$work/data/postgresql.conf" <<EOF

# --- guestbook_notify demo ---
port = $pg_port
listen_addresses = ''
unix_socket_directories = '$work'
shared_preload_libraries = 'guestbook_notify'
guestbook_notify.database_name = 'postgres'
guestbook_notify.provider = 'cloud_api'
guestbook_notify.api_url = '$mock_url/v23.0'
guestbook_notify.phone_number_id = '106540352242922'
guestbook_notify.access_token = '$token'
guestbook_notify.app_base_url = 'https://guestbook.example.go.id'
guestbook_notify.message_mode = 'template'
EOF
as_pg pg_ctl -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
pg_started=1

psql_pg() { as_pg psql -X -v ON_ERROR_STOP=1 -h "$work" -p "$pg_port" -U postgres -d postgres "$@"; }

echo "== CREATE EXTENSION, the reference guestbook schema, sample data, attach('public')"
psql_pg -q -c 'CREATE EXTENSION guestbook_notify'
psql_pg -q -f "$here/tests/schema/guestbook.sql"
psql_pg -q -f "$here/tests/schema/sample_data.sql"
psql_pg -q -At -c "SELECT guestbook_notify.attach('public')" >/dev/null

# --- the webhook receiver ---------------------------------------------------
echo "== start the webhook receiver guestbook_notify_web (loopback), as a role that may only store webhooks"
psql_pg -q <<'SQL'
CREATE ROLE guestbook_webhook LOGIN;
GRANT EXECUTE ON FUNCTION guestbook_notify.webhook_receive(text, bytea, text),
      guestbook_notify.webhook_store(text, bytea, text),
      guestbook_notify.webhook_retry(integer),
      guestbook_notify.webhook_maintenance(interval, integer) TO guestbook_webhook;
SQL
# the Notifications page (same daemon, its admin listener): two login roles,
# as the README's "Roles of the page", asked for a password by pg_hba.conf
page_admin_pw="admin-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
page_viewer_pw="viewer-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
psql_pg -q -v admin=demo_admin -v viewer=demo_viewer -v admin_pw="'$page_admin_pw'" \
	-v viewer_pw="'$page_viewer_pw'" -f "$here/tests/browser/page_roles.sql"
sed -i '1i local all +guestbook_viewer scram-sha-256' "$work/data/pg_hba.conf"
psql_pg -q -At -c 'SELECT pg_reload_conf()' >/dev/null
page_port=${DEMO_PAGE_PORT:-8089}
"$python" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$page_port" 2>/dev/null \
	|| page_port=0
app_secret="demo-app-secret-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
mkdir -p "$work/web"
printf '%s' "$app_secret" >"$work/web/meta_app_secret"
cat >"$work/web/web.conf" <<EOF
listen = '127.0.0.1:0'
conninfo = 'host=$work port=$pg_port dbname=postgres user=guestbook_webhook'
meta_app_secret_file = '$work/web/meta_app_secret'
maintenance_interval = 2s
log_requests = on
admin_listen = '127.0.0.1:$page_port'
admin_conninfo = 'host=$work port=$pg_port dbname=postgres'
EOF
chown -R postgres: "$work/web"
chmod 600 "$work/web/meta_app_secret"
web_bin="$("$gbn_pg_config" --bindir)/guestbook_notify_web"
runuser -u postgres -- bash -c 'echo $$ >"$1"; shift; exec "$@"' web "$work/web/pid" \
	"$web_bin" --config "$work/web/web.conf" >"$work/web/web.log" 2>&1 &
for _ in $(seq 100); do
	grep -q 'listening on' "$work/web/web.log" 2>/dev/null && break
	sleep 0.1
done
web_pid=$(cat "$work/web/pid" 2>/dev/null || true)
web_url=$(sed -n 's/.*listening on \(127\.0\.0\.1:[0-9]*\) .*/http:\/\/\1/p' "$work/web/web.log" | head -n1)
if [ -z "$web_url" ]; then
	echo "demo.sh: FAILED: guestbook_notify_web did not start" >&2
	cat "$work/web/web.log" >&2
	exit 1
fi
echo "   $(grep 'listening on' "$work/web/web.log" | sed 's/.*LOG:  //')"
page_url=$(sed -n 's/.*Notifications page on \(127\.0\.0\.1:[0-9]*\) .*/http:\/\/\1/p' "$work/web/web.log" | head -n1)
echo "   $(grep 'Notifications page on' "$work/web/web.log" | sed 's/.*LOG:  //')"
# the mock posts signed status webhooks back after each send, as Meta would:
# the operator's message is delivered then read, the lead's delivered, and
# the kadis's accepted but undeliverable a moment later (131026)
"$python" - "$mock_url" "$web_url" "$app_secret" <<'PY'
import json, sys, urllib.request
mock, web, secret = sys.argv[1:4]
conf = {"meta_url": web + "/webhooks/meta", "meta_app_secret": secret,
        "scripts": {
            "6281234567890": [{"status": "sent", "delay_ms": 200},
                              {"status": "delivered", "delay_ms": 500},
                              {"status": "read", "delay_ms": 800}],
            "6281377778888": [{"status": "sent", "delay_ms": 200},
                              {"status": "delivered", "delay_ms": 500}],
            "6281299990000": [{"status": "sent", "delay_ms": 200},
                              {"status": "failed", "code": 131026, "delay_ms": 1200,
                               "details": "Receiver is incapable of receiving this message"}]}}
req = urllib.request.Request(mock + "/_mock/webhooks", data=json.dumps(conf).encode(), method="POST")
urllib.request.urlopen(req, timeout=10).read()
PY

# --- the scenario ------------------------------------------------------------
echo "== assign case ABC123 to the operator Budi, escalate it to lead, then to kadis"
psql_pg -q <<'SQL'
BEGIN;
INSERT INTO case_assignments (case_id, operator_id, assigned_by)
VALUES ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-0000000000a2',
        '00000000-0000-0000-0000-0000000000a1');
UPDATE cases SET status = 'assigned', assigned_operator_id = '00000000-0000-0000-0000-0000000000a2',
       updated_at = now() WHERE code = 'ABC123';
COMMIT;
UPDATE cases SET status = 'escalated', escalation_level = 'lead', updated_at = now() WHERE code = 'ABC123';
UPDATE cases SET escalation_level = 'kadis', updated_at = now() WHERE code = 'ABC123';
SQL

echo "== wait (at most ${timeout_s}s) for the three notifications"
count_sql="SELECT count(*) FILTER (WHERE q.status = 'sent') || '/' || count(*)
             FROM guestbook_notify.notification_queue q
             JOIN cases c ON c.id = q.case_id WHERE c.code = 'ABC123'"
deadline=$(( $(date +%s) + timeout_s ))
state=""
while :; do
	state=$(psql_pg -At -c "$count_sql")
	[ "$state" = "3/3" ] && break
	if [ "$(date +%s)" -ge "$deadline" ]; then
		break
	fi
	sleep 0.2
done
echo "   sent/enqueued: $state"

# --- what the mock received ------------------------------------------------------
echo
echo "== (a) messages the mock WhatsApp API received"
"$python" - "$mock_url" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
reqs = json.load(urllib.request.urlopen(url + "/_mock/requests?provider=cloud_api", timeout=10))["requests"]
if not reqs:
    print("   (none)")
for r in reqs:
    resp = r.get("response") or {}
    print("-- #%d %s %s  recipient %s  auth %s  -> HTTP %s %s" % (
        r["seq"], r["method"], r["path"], r.get("recipient"), r.get("auth"),
        resp.get("status"), resp.get("id", "")))
    print(json.dumps(r.get("body"), indent=2, ensure_ascii=False))
PY

echo
echo "== (b) the audit rows"
psql_pg -P pager=off <<'SQL'
\echo notification_queue
SELECT q.template_key, q.recipient_role AS role, q.to_number, q.status, q.attempt_count AS attempts,
       q.provider, q.provider_message_id, q.sent_at, q.last_error
  FROM guestbook_notify.notification_queue q ORDER BY q.created_at, q.id;
\echo notification_attempts
SELECT q.template_key, a.attempt_no, a.outcome, a.http_status, a.error_code,
       round(a.duration_ms::numeric, 1) AS ms, a.provider_message_id
  FROM guestbook_notify.notification_attempts a
  JOIN guestbook_notify.notification_queue q ON q.id = a.notification_id
 ORDER BY a.id;
\echo case_events (contacted / notification_failed)
SELECT e.id, c.code, e.event_type, jsonb_pretty(e.details) AS details
  FROM case_events e JOIN cases c ON c.id = e.case_id
 WHERE e.event_type IN ('contacted', 'notification_failed') ORDER BY e.id;
\echo the message sent to the operator (message_text)
SELECT message_text FROM guestbook_notify.notification_queue
 WHERE template_key = 'assigned' ORDER BY created_at LIMIT 1;
SQL

if [ "$state" != "3/3" ]; then
	echo "demo.sh: FAILED: only $state notifications of case ABC123 were sent within ${timeout_s}s" >&2
	echo "--- postgres.log (tail)" >&2
	tail -n 40 "$work/postgres.log" >&2
	exit 1
fi

# --- the webhooks that came back ---------------------------------------------------
echo
echo "== (c) delivery receipts and a late failure, through the webhook receiver"
receipts_sql="SELECT count(*) FILTER (WHERE q.delivery_status = 'read' AND q.recipient_role = 'operator')
                     + count(*) FILTER (WHERE q.delivery_status = 'delivered' AND q.recipient_role = 'lead')
                     + count(*) FILTER (WHERE q.delivery_status = 'failed' AND q.recipient_role = 'kadis')
                FROM guestbook_notify.notification_queue q"
deadline=$(( $(date +%s) + timeout_s ))
receipts=""
while :; do
	receipts=$(psql_pg -At -c "$receipts_sql")
	[ "$receipts" = 3 ] && break
	[ "$(date +%s)" -ge "$deadline" ] && break
	sleep 0.2
done
echo "-- guestbook_notify_web's log (the signed webhooks the mock posted back)"
sed 's/^/   /' "$work/web/web.log"
psql_pg -P pager=off <<'SQL'
\echo the Notifications page: delivery status, and the late failure that needs attention
SELECT n.recipient_role AS role, n.to_number, n.status, n.delivery_status,
       n.delivered_at IS NOT NULL AS delivered, n.read_at IS NOT NULL AS read,
       n.needs_attention, n.last_error
  FROM guestbook_notify.notifications n ORDER BY n.created_at, n.id;
\echo webhook_inbox (each signed body, stored before it was answered 200)
SELECT i.id, i.source, i.state, i.summary, octet_length(i.body) AS bytes
  FROM guestbook_notify.webhook_inbox i ORDER BY i.id;
\echo case_events notification_failed (written once, by the late failure)
SELECT c.code, e.event_type, e.details ->> 'error' AS error, e.details ->> 'recipient_role' AS role
  FROM case_events e JOIN cases c ON c.id = e.case_id
 WHERE e.event_type = 'notification_failed' ORDER BY e.id;
SQL
if [ "$receipts" != 3 ]; then
	echo "demo.sh: FAILED: the delivery receipts and the late failure did not all arrive within ${timeout_s}s" >&2
	exit 1
fi

# --- the Notifications page --------------------------------------------------------
echo
echo "== (d) the Notifications page: demo_admin logs in over HTTP and finds the late failure"
if [ -z "$page_url" ]; then
	echo "demo.sh: FAILED: the Notifications page did not start" >&2
	exit 1
fi
"$python" - "$page_url" "$page_admin_pw" <<'PY'
import http.cookiejar, re, sys, urllib.parse, urllib.request
url, pw = sys.argv[1:3]
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
form = op.open(url + "/login", timeout=10).read().decode()
fields = {}
for tag in re.findall(r'<input[^>]*>', form):
    n, v = re.search(r'name="([^"]*)"', tag), re.search(r'value="([^"]*)"', tag)
    if n:
        fields[n.group(1)] = v.group(1) if v else ""
fields.update(role="demo_admin", password=pw)
try:
    op.open(urllib.request.Request(url + "/login", data=urllib.parse.urlencode(fields).encode(),
                                   headers={"Origin": url}), timeout=10)
    sys.exit("demo.sh: the login was not answered with a redirect")
except urllib.error.HTTPError as e:
    if e.code not in (302, 303) or "/notifications" not in (e.headers.get("Location") or ""):
        sys.exit("demo.sh: login as demo_admin failed: HTTP %d" % e.code)
page = op.open(url + "/notifications?tab=attention", timeout=10).read().decode()
rows = re.findall(r'<tr[^>]*data-id="([^"]*)"[^>]*data-status="([^"]*)"', page)
print("   'Perlu tindakan' lists %d row(s): %s" % (len(rows), ", ".join("%s (%s)" % r for r in rows)))
if not rows:
    sys.exit("demo.sh: the page's 'Perlu tindakan' tab is empty")
PY
echo "== demo OK: the operator, the lead and the kadis were messaged, with their audit rows;"
echo "   the receipts came back (operator read, lead delivered) and the kadis's late failure needs attention"
echo "   on the Notifications page: $page_url"
echo "     admin (may act, sees personal data): demo_admin / $page_admin_pw"
echo "     viewer (read only, masked):          demo_viewer / $page_viewer_pw"
echo "   (from another machine: ssh -L ${page_url##*:}:127.0.0.1:${page_url##*:} this-host, then the same URL)"
echo "   screenshots of the page in a real browser: run"
echo "     sudo PROVE_TESTS=tests/t/270_page_browser.pl bash tests/run_tests.sh tap"
echo "   and look in /tmp/guestbook_notify-test/tmp_check/browser/ (\$SCRATCH/tmp_check/browser/ with SCRATCH set):"
echo "   list.png, detail.png, after_resend.png, list_after_resend.png, detail_after_resend.png, viewer_detail.png"
if [ "${DEMO_PAGE:-0}" = 1 ]; then
	echo "== DEMO_PAGE=1: the page stays up until Ctrl-C"
	while kill -0 "$web_pid" 2>/dev/null; do sleep 1; done
	echo "demo.sh: guestbook_notify_web stopped" >&2
fi
