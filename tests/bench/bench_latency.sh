#!/usr/bin/env bash
# Figure 1: commit-to-request latency at a steady 20 and 150 notifications/s.
#
#   sudo bash tests/bench/bench_latency.sh
#
# Load: pgbench -R RATE (Poisson arrivals at that mean rate), a custom script
# of one single-statement transaction inserting into case_assignments (the
# real trigger path), each on its own case, to one of NOPS operators.
# Latency = the mock's receive time of the request (time.time() when the
# request was parsed) - the commit timestamp of the app's transaction
# (pg_xact_commit_timestamp of the case_assignments row; track_commit_timestamp
# = on). The commit timestamp is taken just before the commit's WAL flush,
# so the flush is counted in the latency.
# Environment: RATES ("20 150"), DURATION (30 s per rate), NOPS (1000),
#   CLIENTS (4), MAX_SEND_RATE (100000 = pacing off), plus lib.sh's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_latency
BENCH_CMD="sudo bash tests/bench/bench_latency.sh"

rates=${RATES:-20 150}
dur=${DURATION:-30}
nops=${NOPS:-1000}
clients=${CLIENTS:-4}
total=0
for r in $rates; do total=$(( total + r * dur * 2 )); done
total=$(( total + 2000 ))

bench_start_mock --max-records 100000
bench_start_cluster "
track_commit_timestamp = on
guestbook_notify.max_send_rate = ${MAX_SEND_RATE:-100000}
$(bench_profile_conf)
"
echo "== setup: $nops operators, $total cases"
bench_setup_data "$nops" "$total"
bench_recipient_pacing_off
conds=$(bench_conditions)

cat >"$work/assign.pgb" <<'EOF'
\set op random(1, :nops)
WITH s AS (SELECT nextval('bench_seq')::integer AS n)
INSERT INTO case_assignments (case_id, operator_id)
SELECT c.id, o.id FROM s JOIN bench_cases c ON c.n = s.n JOIN bench_ops o ON o.n = :op;
EOF
chmod 644 "$work/assign.pgb"

pgb() {
	as_pg pgbench -n -h "$work" -p "$pg_port" -U postgres -f "$work/assign.pgb" \
		-D nops="$nops" -c "$clients" -j 2 "$@" postgres
}

echo "== warm-up: 5 s at 20/s"
pgb -R 20 -T 5 >/dev/null 2>&1
bench_wait_settled 60

for rate in $rates; do
	seq0=$(bench_mock_last_seq)
	echo "== $rate notifications/s for ${dur}s (pgbench -R $rate -c $clients)"
	pgb -R "$rate" -T "$dur" >"$work/pgbench.$rate.out" 2>&1 || { cat "$work/pgbench.$rate.out" >&2; exit 1; }
	grep -E "^(tps|latency average)" "$work/pgbench.$rate.out" | sed 's/^/   pgbench: /'
	bench_wait_settled 120
	bench_load_recv "$seq0"
	res=$(psql_pg -At -F' ' <<'SQL'
WITH l AS (
	SELECT (r.t - extract(epoch FROM pg_xact_commit_timestamp(ca.xmin))) * 1000 AS ms,
	       r.t AS t
	  FROM bench_recv r
	  JOIN guestbook_notify.notification_queue q ON q.provider_message_id = r.wamid
	  JOIN case_assignments ca ON ca.case_id = q.case_id)
SELECT count(*),
       round((count(*) / nullif(max(t) - min(t), 0))::numeric, 1),
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       round(max(ms)::numeric, 2),
       round(min(ms)::numeric, 2),
       count(*) FILTER (WHERE ms > 50)
  FROM l;
SQL
)
	read -r cnt got p50 p95 p99 mx mn over <<<"$res"
	echo "   $cnt requests at ${got}/s: p50 ${p50} ms, p95 ${p95} ms, p99 ${p99} ms, max ${mx} ms, min ${mn} ms; $over over 50 ms"
	bench_result "1 latency at ${rate}/s" "p99 < 50 ms" "p50 ${p50} ms, p99 ${p99} ms (max ${mx} ms, $cnt requests)" \
		"pgbench -R $rate -T $dur -c $clients (Poisson arrivals; measured ${got}/s), one INSERT INTO case_assignments per transaction (assigned trigger), $nops recipients, recipient pacing $recipient_pacing; latency = mock receive time - pg_xact_commit_timestamp of the app's transaction; zero-latency mock; $conds"
done
bench_print_statements
