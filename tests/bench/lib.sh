# tests/bench/lib.sh -- sourced by every tests/bench/*.sh script.
#
# Gives each benchmark its own throwaway world, all on loopback:
#   bench_init NAME          root check, deps (unless SKIP_DEPS=1), build and
#                            install from a postgres-owned copy (unless
#                            SKIP_BUILD=1), a temp dir, cleanup on exit
#   bench_start_mock ARGS    tests/mock/whatsapp_mock.py on a free port
#   bench_start_cluster CONF initdb + start (as postgres, unique port), the
#                            extension preloaded and pointed at the mock;
#                            CONF = extra postgresql.conf lines
#   bench_setup_data NOPS NCASES
#                            reference schema + NOPS operators (distinct
#                            numbers) + NCASES cases numbered 1..NCASES
#                            (bench_cases(n, id)), then attach('public')
#   bench_enqueue FROM TO    one transaction: assign cases FROM..TO (the real
#                            trigger path), operator = 1 + (n-1) % NOPS
#   bench_wait_settled T     wait (T s at most) until no row is pending
#   bench_conditions         one line of the conditions every figure shares
#   bench_result FIG TARGET MEASURED CONDITIONS
#                            print the figure; append it to $BENCH_RESULTS
#
# Environment: SKIP_DEPS=1, SKIP_BUILD=1, KEEP=1 (keep the temp dir),
# BENCH_RESULTS=file (run_all.sh collects figures there).

set -euo pipefail

bench_here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$bench_here/tests/lib/common.sh"
bench_pg_config=$gbn_pg_config
bench_python=$gbn_python
bench_token="bench-token-$(od -An -N6 -tx8 /dev/urandom | tr -d ' ')"
bench_phone_id=106540352242922

work=""
mock_pid=""
mock_url=""
pg_port=""
pg_started=0
bench_name=""

bench_cleanup() {
	local rc=$?
	set +e
	if [ "$pg_started" = 1 ]; then
		runuser -u postgres -- pg_ctl -D "$work/data" -m immediate -w stop >/dev/null 2>&1
	fi
	if [ -n "$mock_pid" ]; then
		kill "$mock_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$mock_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	if [ -n "$work" ]; then
		if [ "${KEEP:-0}" = 1 ]; then
			echo "== kept $work"
		else
			rm -rf "$work"
		fi
	fi
	exit $rc
}

as_pg() { gbn_as_pg "$@"; }

bench_init() {
	bench_name=$1
	gbn_require_root "$bench_name"
	gbn_install_deps
	command -v pgbench >/dev/null || { echo "$bench_name: pgbench not found" >&2; exit 2; }
	work=$(mktemp -d "/tmp/gbn-bench-$bench_name.XXXXXX")
	chown postgres: "$work"
	chmod 755 "$work"
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	if [ "${SKIP_BUILD:-0}" != 1 ]; then
		bench_build "$work/src"
	fi
}

# build and install from a postgres-owned copy of the tree
bench_build() {
	local dst=$1
	echo "== build and install guestbook_notify (from a copy in $dst)"
	gbn_copy_tree "$dst"
	gbn_build_install "$dst"
}

bench_free_port() {
	"$bench_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_start_mock [extra whatsapp_mock.py args]
bench_start_mock() {
	gbn_start_mock "$work" --token "$bench_token" --phone-number-id "$bench_phone_id" "$@" || exit 1
	mock_pid=$gbn_mock_pid
	mock_url=$gbn_mock_url
}

# mock_call METHOD PATH [JSON body]
mock_call() {
	"$bench_python" - "$mock_url" "$1" "$2" "${3:-}" <<'PY'
import sys, urllib.request
url, method, path, body = sys.argv[1:5]
req = urllib.request.Request(url + path, method=method, data=body.encode() if body else None)
print(urllib.request.urlopen(req, timeout=30).read().decode())
PY
}

# bench_start_cluster "extra postgresql.conf lines"
bench_start_cluster() {
	pg_port=$(bench_free_port)
	as_pg initdb -D "$work/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
		>"$work/initdb.log" 2>&1 || { cat "$work/initdb.log" >&2; exit 1; }
	cat >>"$work/data/postgresql.conf" <<EOF

# --- guestbook_notify benchmark ($bench_name) ---
port = $pg_port
listen_addresses = ''
unix_socket_directories = '$work'
max_connections = 100
shared_preload_libraries = 'guestbook_notify'
guestbook_notify.database_name = 'postgres'
guestbook_notify.provider = 'cloud_api'
guestbook_notify.api_url = '$mock_url/v23.0'
guestbook_notify.phone_number_id = '$bench_phone_id'
guestbook_notify.access_token = '$bench_token'
guestbook_notify.app_base_url = 'https://guestbook.example.go.id'
guestbook_notify.message_mode = 'template'
${1:-}
${BENCH_EXTRA_CONF:-}
EOF
	as_pg pg_ctl -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
	pg_started=1
}

psql_pg() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$pg_port" -U postgres -d postgres "$@"; }
sql_val() { psql_pg -At -c "$1"; }

# set guestbook_notify.X = value when this build has the setting (reload)
bench_set_if_exists() {
	local name=$1 value=$2
	if [ "$(sql_val "SELECT count(*) FROM pg_settings WHERE name = 'guestbook_notify.$name'")" = 1 ]; then
		psql_pg -c "ALTER SYSTEM SET guestbook_notify.$name = '$value'"
		psql_pg -c "SELECT pg_reload_conf()" >/dev/null
		return 0
	fi
	return 1
}

bench_setting() {
	sql_val "SELECT coalesce(current_setting('$1', true), 'n/a')"
}

# Recipient pacing (the per-number interval) off, when the build has it.
# Prints what it did, for the conditions.
bench_recipient_pacing_off() {
	local did=""
	bench_set_if_exists recipient_interval 0 && did="recipient_interval=0"
	bench_set_if_exists recipient_hourly_cap 0 && did="$did recipient_hourly_cap=0"
	sleep 0.3
	if [ -n "$did" ]; then
		recipient_pacing="off ($did)"
	else
		recipient_pacing="off (not in this build)"
	fi
}

# bench_setup_data NOPS NCASES
bench_setup_data() {
	local nops=$1 ncases=$2
	bench_nops=$nops
	psql_pg -c 'CREATE EXTENSION guestbook_notify'
	psql_pg -f "$bench_here/tests/schema/guestbook.sql"
	psql_pg -f "$bench_here/tests/schema/sample_data.sql"
	psql_pg <<SQL
CREATE TABLE bench_ops (n integer PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_ops SELECT g, gen_random_uuid() FROM generate_series(1, $nops) g;
-- distinct valid numbers 62812NNNNNNNN (0812 + 8 digits)
INSERT INTO users (id, full_name, role, org_unit_id, whatsapp_number)
SELECT id, 'Operator ' || n, 'operator', '00000000-0000-0000-0000-000000000003',
       '0812' || lpad(n::text, 8, '0')
  FROM bench_ops;
CREATE TABLE bench_cases (n integer PRIMARY KEY, id uuid NOT NULL);
INSERT INTO bench_cases SELECT g, gen_random_uuid() FROM generate_series(1, $ncases) g;
INSERT INTO cases (id, code, case_type, status, org_unit_id, unit_tujuan,
                   visitor_name, visitor_id_number, purpose)
SELECT id, 'B' || n, 'visitor', 'new', '00000000-0000-0000-0000-000000000003', 'UPT Warroom',
       'Pengunjung ' || n, '32010101' || lpad(n::text, 8, '0'),
       'Konsultasi layanan nomor ' || n
  FROM bench_cases;
CREATE SEQUENCE bench_seq;
-- marks: named timestamps the scripts take
CREATE TABLE bench_marks (name text PRIMARY KEY, at timestamptz NOT NULL);
-- the mock's receive times
CREATE TABLE bench_recv (seq bigint, wamid text, recipient text, t double precision);
VACUUM ANALYZE;
SQL
	psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null
	# an experiment (e.g. an index) to measure before changing the install script
	if [ -n "${BENCH_EXTRA_SQL:-}" ]; then
		echo "== BENCH_EXTRA_SQL: $BENCH_EXTRA_SQL"
		psql_pg -c "$BENCH_EXTRA_SQL"
	fi
}

# bench_enqueue FROM TO: one transaction assigning cases FROM..TO
bench_enqueue() {
	psql_pg -c "INSERT INTO case_assignments (case_id, operator_id)
	            SELECT c.id, o.id FROM bench_cases c
	              JOIN bench_ops o ON o.n = 1 + (c.n - 1) % $bench_nops
	             WHERE c.n BETWEEN $1 AND $2 ORDER BY c.n"
}

# bench_wait_settled TIMEOUT_S: until nothing is pending
bench_wait_settled() {
	local timeout=$1
	local deadline=$(( $(date +%s) + timeout ))
	while :; do
		local n
		# pending rows, and trigger events the worker has not turned into rows yet
		n=$(sql_val "SELECT (SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'pending')
			+ (SELECT count(*) FROM guestbook_notify.trigger_events)")
		[ "$n" = 0 ] && return 0
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "$bench_name: still $n pending after ${timeout}s" >&2
			sql_val "SELECT * FROM guestbook_notify.worker_status()" >&2
			tail -n 20 "$work/postgres.log" >&2
			return 1
		fi
		sleep 0.25
	done
}

bench_worker_pid() {
	sql_val "SELECT pid FROM guestbook_notify.worker_status() LIMIT 1"
}

# load the mock's receive times (requests after seq SINCE) into bench_recv
bench_load_recv() {
	local since=${1:-0}
	"$bench_python" - "$mock_url" "$since" >"$work/recv.tsv" <<'PY'
import json, sys, urllib.request
url, since = sys.argv[1], int(sys.argv[2])
while True:
    d = json.load(urllib.request.urlopen("%s/_mock/requests?provider=cloud_api&since=%d&limit=20000"
                                         % (url, since), timeout=60))
    for r in d["requests"]:
        resp = r.get("response") or {}
        print("%d\t%s\t%s\t%.6f" % (r["seq"], resp.get("id") or "\\N", r.get("recipient") or "\\N", r["time"]))
        since = r["seq"]
    if d["count"] < 20000:
        break
PY
	chmod 644 "$work/recv.tsv"
	psql_pg -c "TRUNCATE bench_recv" -c "\\copy bench_recv FROM '$work/recv.tsv'"
}

bench_mock_last_seq() {
	mock_call GET "/_mock/requests?limit=1&since=999999999" | "$bench_python" -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])'
}

bench_rss() {	# VmHWM VmRSS RssAnon RssFile RssShmem of pid, in kB
	awk '/^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):/ {printf "%s=%s ", $1, $2} END {print ""}' "/proc/$1/status" | tr -d ':'
}

bench_conditions() {
	local cpu
	cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
	echo "cores=$(nproc) ($cpu), PG $(sql_val 'SHOW server_version'), fsync=$(bench_setting fsync), synchronous_commit=$(bench_setting synchronous_commit), shared_buffers=$(bench_setting shared_buffers), max_in_flight=$(bench_setting guestbook_notify.max_in_flight), batch_size=$(bench_setting guestbook_notify.batch_size), max_send_rate=$(bench_setting guestbook_notify.max_send_rate)$( [ "$(bench_setting guestbook_notify.max_send_rate)" = 100000 ] && echo ' (pacing off)'), message_mode=$(bench_setting guestbook_notify.message_mode), loadavg before=$(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_result FIGURE TARGET MEASURED CONDITIONS
bench_result() {
	echo
	echo "FIGURE $1: $3"
	echo "  target:     $2"
	echo "  conditions: $4"
	if [ -n "${BENCH_RESULTS:-}" ]; then
		printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${BENCH_CMD:-sudo bash tests/bench/$bench_name.sh}" >>"$BENCH_RESULTS"
	fi
}

# Profiling aids (off by default):
#   BENCH_STATEMENTS=1  preload pg_stat_statements (track = all) and print the
#                       top statements at the end (bench_print_statements)
#   BENCH_PERF=1        perf record the worker while a measured round runs
bench_profile_conf() {
	if [ "${BENCH_STATEMENTS:-0}" = 1 ]; then
		printf "shared_preload_libraries = 'guestbook_notify,pg_stat_statements'\npg_stat_statements.track = all\n"
	fi
}
bench_print_statements() {
	[ "${BENCH_STATEMENTS:-0}" = 1 ] || return 0
	psql_pg -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
	psql_pg -P pager=off -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
	        round(mean_exec_time::numeric, 3) AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
	   FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20"
}
perf_pid=""
bench_perf_start() {
	[ "${BENCH_PERF:-0}" = 1 ] || return 0
	perf record -F 499 -g -p "$1" -o "$work/perf.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
}
bench_perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
	perf_pid=""
	{
		echo "-- by shared object"
		perf report -i "$work/perf.data" --no-children -g none --sort dso --stdio 2>/dev/null \
			| grep -v '^#' | grep '%' | head -12
		echo "-- by symbol"
		perf report -i "$work/perf.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null \
			| grep -v '^#' | grep '%' | head -40
	} >"/tmp/$bench_name.perf.txt" || true
	echo "== perf profile of the worker: /tmp/$bench_name.perf.txt"
	head -30 "/tmp/$bench_name.perf.txt"
}
