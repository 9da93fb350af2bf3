#!/usr/bin/env bash
# Figure P: latency of the Notifications page on a queue of 1,000,000 rows.
#
#   sudo bash tests/bench/bench_page.sh
#
# A throwaway cluster (as postgres, lib.sh) gets the extension, the
# reference schema and a year of notifications written straight into
# notification_queue by tests/bench/page_data.sql (INSERT ... SELECT
# generate_series, deterministic: the status, delivery-status, recipient,
# template and date mix is described there), its attempt rows and case
# events; then ANALYZE.  guestbook_notify_web starts with its admin
# listener; tests/bench/page_load.py logs in as an admin role (password,
# scram) and times N GETs per scenario over one keep-alive connection --
# every status tab, the template and recipient-role filters, a date range,
# search by case code, number suffix and recipient name, pages 2 and 20
# through the keyset cursor (id="next-page"), the CSV is not timed -- and
# prints p50/p95/max per scenario.  Every list page carries the tab
# counts, so every request includes them.  Then EXPLAIN (ANALYZE, BUFFERS)
# of the page's statements as it runs them (auto_explain, nested).  Target: p95 < 100 ms.
#
# The worker runs (it sends the few due rows to the mock, then idles);
# retention is 0 so that the year stays in the queue (the worst case: with
# the default 90 days most of it would move to the archive).
#
# Environment: ROWS (1000000), N (200 requests per scenario), WARMUP (5),
#   MAX_SECONDS (40: a scenario stops after that long, with at least 20 timed),
#   plus lib.sh's SKIP_DEPS, SKIP_BUILD, KEEP, BENCH_RESULTS; PAGE_ONLY=load
#   stops after loading (with KEEP=1, to explore the plans by hand).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_page
BENCH_CMD=${BENCH_CMD:-"sudo bash tests/bench/bench_page.sh"}

rows=${ROWS:-1000000}
nreq=${N:-200}
warm=${WARMUP:-5}
max_s=${MAX_SECONDS:-40}
admin=bench_page_admin
admin_pw="pw-$(od -An -N6 -tx8 /dev/urandom | tr -d ' ')"
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
guestbook_notify.retention = 0
shared_buffers = '256MB'
shared_preload_libraries = 'guestbook_notify,pg_stat_statements'
pg_stat_statements.track = all
"
psql_pg -c 'CREATE EXTENSION guestbook_notify' -c 'CREATE EXTENSION pg_stat_statements'
psql_pg -f "$bench_here/tests/schema/guestbook.sql"
psql_pg -f "$bench_here/tests/schema/sample_data.sql"
psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null

echo "== loading $rows notifications (page_data.sql)"
t0=$(date +%s)
psql_pg -v rows="$rows" -f "$bench_here/tests/bench/page_data.sql"
psql_pg -c 'VACUUM ANALYZE'
t1=$(date +%s)
echo "   loaded and analysed in $((t1 - t0)) s"
psql_pg -P pager=off -c "SELECT status, delivery_status, count(*) FROM guestbook_notify.notification_queue GROUP BY 1, 2 ORDER BY 1, 2"
psql_pg -P pager=off -c "SELECT pg_size_pretty(pg_total_relation_size('guestbook_notify.notification_queue')) AS queue_with_indexes,
	(SELECT count(*) FROM guestbook_notify.notification_attempts) AS attempts,
	(SELECT count(*) FROM public.cases) AS cases"
if [ "${PAGE_ONLY:-}" = load ]; then
	echo "== PAGE_ONLY=load: psql -h $work -p $pg_port -U postgres"
	exit 0
fi

echo "== the page's admin role"
psql_pg -v admin="$admin" -v admin_pw="'$admin_pw'" -v viewer=bench_page_viewer \
	-v viewer_pw="'unused-$admin_pw'" -f "$bench_here/tests/browser/page_roles.sql"
# password login for the page's roles (scram), trust for the rest as before
sed -i "1i local all +guestbook_viewer scram-sha-256" "$work/data/pg_hba.conf"
psql_pg -c 'SELECT pg_reload_conf()' >/dev/null

mkdir -p "$work/web"
cat >"$work/web/web.conf" <<EOF
listen = '127.0.0.1:0'
admin_listen = '127.0.0.1:0'
admin_conninfo = 'host=$work port=$pg_port dbname=postgres'
conninfo = 'host=$work port=$pg_port dbname=postgres user=postgres'
EOF
chown -R postgres: "$work/web"
bin="$("$bench_pg_config" --bindir)/guestbook_notify_web"
runuser -u postgres -- bash -c 'echo $$ >"$1"; shift; exec "$@"' web "$work/web/pid" \
	"$bin" --config "$work/web/web.conf" >"$work/web/web.log" 2>&1 &
for _ in $(seq 100); do
	grep -q 'Notifications page on' "$work/web/web.log" 2>/dev/null && break
	sleep 0.1
done
web_pid=$(cat "$work/web/pid")
admin_port=$(sed -n 's/.*Notifications page on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$work/web/web.log" | head -n1)
[ -n "$admin_port" ] || { cat "$work/web/web.log" >&2; exit 1; }
echo "   $(grep 'Notifications page on' "$work/web/web.log" | sed 's/.*LOG:  //')"

conds=$(bench_conditions)
psql_pg -c 'SELECT pg_stat_statements_reset()' >/dev/null
echo "== $nreq GETs per scenario (after $warm warm-up), one keep-alive connection"
"$bench_python" "$bench_here/tests/bench/page_load.py" --url "http://127.0.0.1:$admin_port" \
	--role "$admin" --password "$admin_pw" -n "$nreq" --warmup "$warm" --max-seconds "$max_s" \
	--cases "$(( (rows + 3) / 4 ))" --json "$work/page_load.json" | tee "$work/page_load.txt"

echo "== slowest statements (pg_stat_statements, the page's connection)"
psql_pg -P pager=off -c "SELECT calls, round(mean_exec_time::numeric, 2) AS mean_ms,
	round(max_exec_time::numeric, 2) AS max_ms, left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
   FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
  WHERE r.rolname = '$admin' ORDER BY mean_exec_time DESC LIMIT 12"

echo "== EXPLAIN (ANALYZE, BUFFERS) of the page's statements, as it runs them (auto_explain of the nested statements)"
cat >"$work/explain.sql" <<'SQL'
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = on;
\echo -- page_counts, no filter; page_list of Perlu tindakan; page_counts with the template filter
SELECT count(*) FROM guestbook_notify.page_counts('{}');
SELECT count(*) FROM guestbook_notify.page_list('attention', '{}', NULL, NULL, 51);
SELECT count(*) FROM guestbook_notify.page_counts('{"template": "escalated_kadis"}');
SQL
chmod 644 "$work/explain.sql"
log_from=$(wc -c <"$work/postgres.log")
psql_pg -P pager=off -f "$work/explain.sql" >/dev/null
sleep 0.5
tail -c +$((log_from + 1)) "$work/postgres.log" | grep -v '^\s*$' >"$work/explain.txt" || true
# the plans, slowest statement first: one block per logged statement
"$bench_python" - "$work/explain.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n(?=\S.*LOG:  duration: )", "\n" + text)
plans = []
for b in blocks:
    m = re.search(r"LOG:  duration: ([0-9.]+) ms  plan:", b)
    if m:
        plans.append((float(m.group(1)), b.strip()))
plans.sort(key=lambda p: -p[0])
print("%d statements logged; the 6 slowest:" % len(plans))
for d, b in plans[:6]:
    lines = [l for l in b.splitlines() if "CONTEXT:" not in l and "PL/pgSQL function" not in l]
    print("\n".join(l[:220] for l in lines[:40]))
    print("--")
PY

worst=$("$bench_python" -c 'import json,sys; d=json.load(open(sys.argv[1])); w=max(d["scenarios"], key=lambda s: s["p95"]); print("%s p95 %.1f ms" % (w["name"], w["p95"]))' "$work/page_load.json")
missed=$("$bench_python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(", ".join(s["name"] for s in d["scenarios"] if s["p95"] >= 100) or "none")' "$work/page_load.json")
summary=$("$bench_python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print("; ".join("%s %.1f/%.1f (n=%d)" % (s["name"], s["p50"], s["p95"], s["n"]) for s in d["scenarios"]))' "$work/page_load.json")
bench_result P "p95 < 100 ms per scenario on 1,000,000 rows" \
	"worst $worst; over 100 ms: $missed (p50/p95 ms: $summary)" \
	"$conds; $rows rows over 365 days (page_data.sql), retention 0, up to $nreq GETs per scenario after $warm warm-up (at most ${max_s} s per scenario) over one keep-alive HTTP/1.1 connection to the admin listener on loopback, logged in as a password role with the guestbook_admin grants; client (python3) on the same 2 cores"
