#!/usr/bin/env bash
# Figure W: signed status webhooks applied per second by guestbook_notify_web.
#
#   sudo bash tests/bench/bench_webhooks.sh
#
# The worker first sends N messages (default 3,000) through the real trigger
# path to the mock API, so the queue holds N sent rows with the wamids the
# mock returned.  Then tests/bench/webhook_load.py posts 3 signed Meta status
# webhooks per message (sent, then delivered, then read: 3N in all) to the
# daemon over keep-alive connections on loopback; each one is verified
# (HMAC-SHA256), stored in webhook_inbox and applied to its queue row in one
# committed transaction before it is answered 200.  Rate = 200 answers /
# wall time; every row is then checked to be 'read' and every webhook
# 'applied'.  Meta plans about 3 status webhooks per message: 240/s at the
# default 80 msg/s tier, 3,000/s at 1,000 msg/s.
#
# Environment: N (3000), WARMUP (300 webhooks, not timed), WEB_THREADS (4,
#   the daemon's default), CONNECTIONS (16), SYNC_COMMIT (on), FSYNC (on),
#   plus lib.sh's SKIP_DEPS, SKIP_BUILD, KEEP, BENCH_RESULTS.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_webhooks
BENCH_CMD=${BENCH_CMD:-"sudo bash tests/bench/bench_webhooks.sh"}

n=${N:-3000}
warm=${WARMUP:-300}
threads=${WEB_THREADS:-4}
conns=${CONNECTIONS:-16}
nops=${NOPS:-1000}
secret="bench-app-secret-$(od -An -N6 -tx8 /dev/urandom | tr -d ' ')"
web_pid=""

web_cleanup() {
	local rc=$?
	if [ -n "$web_pid" ]; then
		kill "$web_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$web_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	(exit $rc)
	bench_cleanup
}
trap web_cleanup EXIT

bench_start_mock --max-records 20000
bench_start_cluster "
fsync = ${FSYNC:-on}
synchronous_commit = ${SYNC_COMMIT:-on}
guestbook_notify.max_send_rate = 100000
guestbook_notify.max_in_flight = 64
"
echo "== setup: $nops operators, $n cases, the worker sends $n messages to the mock"
bench_setup_data "$nops" "$n"
bench_recipient_pacing_off
bench_enqueue 1 "$n"
bench_wait_settled 300
sent=$(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'sent' AND provider_message_id IS NOT NULL")
[ "$sent" = "$n" ] || { echo "bench_webhooks: only $sent of $n sent" >&2; exit 1; }
sql_val "SELECT provider_message_id FROM guestbook_notify.notification_queue ORDER BY sent_at, id" >"$work/wamids.txt"
chmod 644 "$work/wamids.txt"

echo "== the daemon's role and configuration"
psql_pg <<SQL
CREATE ROLE guestbook_webhook LOGIN;
GRANT EXECUTE ON FUNCTION guestbook_notify.webhook_receive(text, bytea, text),
      guestbook_notify.webhook_store(text, bytea, text),
      guestbook_notify.webhook_retry(integer),
      guestbook_notify.webhook_maintenance(interval, integer) TO guestbook_webhook;
CHECKPOINT;
SQL
mkdir -p "$work/web"
printf '%s' "$secret" >"$work/web/meta_app_secret"
cat >"$work/web/web.conf" <<EOF
listen = '127.0.0.1:0'
conninfo = 'host=$work port=$pg_port dbname=postgres user=guestbook_webhook'
meta_app_secret_file = '$work/web/meta_app_secret'
threads = $threads
max_connections = $((conns + 16))
EOF
chown -R postgres: "$work/web"
chmod 600 "$work/web/meta_app_secret"
bin="$("$bench_pg_config" --bindir)/guestbook_notify_web"
runuser -u postgres -- bash -c 'echo $$ >"$1"; shift; exec "$@"' web "$work/web/pid" \
	"$bin" --config "$work/web/web.conf" >"$work/web/web.log" 2>&1 &
for _ in $(seq 100); do
	grep -q 'listening on' "$work/web/web.log" 2>/dev/null && break
	sleep 0.1
done
web_pid=$(cat "$work/web/pid")
web_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/web/web.log" | head -n1)
[ -n "$web_port" ] || { cat "$work/web/web.log" >&2; exit 1; }
echo "   $(grep 'listening on' "$work/web/web.log" | sed 's/.*LOG:  //')"

conds=$(bench_conditions)
echo "== $((3 * n)) signed status webhooks (sent, delivered, read per message), $conns connections, daemon threads $threads"
out=$("$bench_python" "$bench_here/tests/bench/webhook_load.py" --url "http://127.0.0.1:$web_port/webhooks/meta" \
	--secret "$secret" --wamids "$work/wamids.txt" --connections "$conns" --warmup "$warm")
echo "   $out"
rate=$("$bench_python" -c 'import json,sys; print(json.loads(sys.argv[1])["per_second"])' "$out")
ok=$("$bench_python" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["ok"] == d["sent"])' "$out")
lat=$("$bench_python" -c 'import json,sys; l=json.loads(sys.argv[1])["latency_ms"]; print("p50 %s ms, p99 %s ms" % (l["p50"], l["p99"]))' "$out")

read_rows=$(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue WHERE delivery_status = 'read' AND delivered_at IS NOT NULL")
applied=$(sql_val "SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE state = 'applied'")
problems=$(sql_val "SELECT count(*) FROM guestbook_notify.webhook_problems")
echo "   checked: $read_rows of $n rows read (with delivered_at), $applied of $((3 * n)) webhooks applied, $problems problems"
if [ "$ok" != True ] || [ "$read_rows" != "$n" ] || [ "$applied" != $((3 * n)) ] || [ "$problems" != 0 ]; then
	echo "bench_webhooks: FAILED: not every webhook was answered 200 and applied" >&2
	tail -n 20 "$work/web/web.log" >&2
	exit 1
fi

ratio80=$("$bench_python" -c "print('%.1f' % ($rate / 240.0))")
ratio1000=$("$bench_python" -c "print('%.2f' % ($rate / 3000.0))")
bench_result W ">= 240/s (3 status webhooks per message at 80 msg/s)" \
	"$rate signed status webhooks applied/s ($lat): ${ratio80}x the 80 msg/s tier (240/s); ${ratio1000}x the 1,000 msg/s tier (3,000/s)" \
	"$conds; $((3 * n - warm)) webhooks timed after $warm warm-up, one Meta status each ($(printf '%s' "$out" | sed -n 's/.*"body_bytes": \([0-9]*\).*/\1/p') bytes), signed HMAC-SHA256, $conns keep-alive connections, daemon threads=$threads, each stored (webhook_inbox) and applied to its queue row in one committed transaction before the 200; loopback, no TLS/nginx; load generator (python3 asyncio) on the same 2 cores"
