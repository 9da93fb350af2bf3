#!/usr/bin/env bash
# Figures 2 and 3: drain N queued notifications (default 10,000) through the
# real trigger path, pacing off, full audit (queue row sent + attempt row +
# case_events 'contacted'), to the mock on loopback.
#
#   sudo bash tests/bench/bench_drain.sh fast   # figure 2: zero-latency mock,
#                                               # once per IN_FLIGHTS value
#   sudo bash tests/bench/bench_drain.sh slow   # figure 3: 200 ms API latency,
#                                               # max_in_flight 256, then the
#                                               # same with one request held 3 s
# Environment: DRAIN_N (10000), NOPS (recipients, 1000), WARMUP (300),
#   IN_FLIGHTS (fast: "16 64", a round per max_in_flight value; 16 is the
#   default), MAX_IN_FLIGHT (slow: 256), BATCH_SIZE (fast 100 = the default,
#   slow 256), SYNC_COMMIT (on), FSYNC (on), plus lib.sh's SKIP_DEPS,
#   SKIP_BUILD, KEEP, BENCH_RESULTS; BENCH_LABEL (appended to the figure's
#   name, for before/after runs with BENCH_EXTRA_SQL).
# Clock: from the commit timestamp of the enqueueing transaction
# (track_commit_timestamp) to the finished_at of the last attempt row.
set -euo pipefail
mode=${1:-fast}
case "$mode" in fast|slow) ;; *) echo "usage: $0 fast|slow" >&2; exit 2 ;; esac
. "$(dirname "$0")/lib.sh"
bench_init "bench_drain_$mode"
BENCH_CMD=${BENCH_CMD:-"sudo bash tests/bench/bench_drain.sh $mode"}

n=${DRAIN_N:-10000}
nops=${NOPS:-1000}
warm=${WARMUP:-300}
if [ "$mode" = fast ]; then
	delay=0
	inflights=${IN_FLIGHTS:-16 64}
	inflight=${inflights%% *}
	batch=${BATCH_SIZE:-100}
else
	delay=200
	inflight=${MAX_IN_FLIGHT:-256}
	batch=${BATCH_SIZE:-256}
fi
if [ "$mode" = fast ]; then
	rounds=$(wc -w <<<"$inflights")
else
	rounds=2		# 2nd round: one request held 3 s
fi

bench_start_mock --max-records 50000
[ "$delay" -gt 0 ] && mock_call POST /_mock/script "{\"default\": \"delay:$delay\"}" >/dev/null
bench_start_cluster "
track_commit_timestamp = on
fsync = ${FSYNC:-on}
synchronous_commit = ${SYNC_COMMIT:-on}
guestbook_notify.max_send_rate = 100000
guestbook_notify.max_in_flight = $inflight
guestbook_notify.batch_size = $batch
guestbook_notify.http_timeout = 30000
$(bench_profile_conf)
"
echo "== setup: $nops operators, $((warm + rounds * n)) cases"
bench_setup_data "$nops" $((warm + rounds * n))
bench_recipient_pacing_off
conds=$(bench_conditions)

echo "== warm-up: $warm notifications"
bench_enqueue 1 "$warm" >/dev/null
bench_wait_settled 120
psql_pg -c "CHECKPOINT" -c "VACUUM ANALYZE guestbook_notify.notification_queue"

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wpid=$(bench_worker_pid)
clk=$(getconf CLK_TCK)

for round in $(seq "$rounds"); do
	from=$(( warm + (round - 1) * n + 1 )); to=$(( warm + round * n ))
	held=""
	if [ "$mode" = fast ]; then
		inflight=$(cut -d' ' -f"$round" <<<"$(echo $inflights)")
		psql_pg -c "ALTER SYSTEM SET guestbook_notify.max_in_flight = $inflight" -c "SELECT pg_reload_conf()" >/dev/null
		sleep 0.5
		conds=$(bench_conditions)
	fi
	if [ "$mode" = slow ] && [ "$round" = 2 ]; then
		# the first notification of this round goes to operator 1 + (from-1) % nops
		op=$(( 1 + (from - 1) % nops ))
		held=$(printf '62812%08d' "$op")
		mock_call POST /_mock/script "{\"number\": \"$held\", \"responses\": [\"delay:3000\"]}" >/dev/null
	fi
	mock_call POST /_mock/reset_peak >/dev/null
	seq0=$(bench_mock_last_seq)
	wcpu0=$(cpu_of "$wpid"); mcpu0=$(cpu_of "$mock_pid")
	echo "== round $round: enqueue $n notifications (cases $from..$to) in one transaction${held:+, the first request to $held held 3 s}"
	bench_perf_start "$wpid"
	bench_enqueue "$from" "$to" >/dev/null
	bench_wait_settled 600
	bench_perf_stop
	wcpu1=$(cpu_of "$wpid"); mcpu1=$(cpu_of "$mock_pid")
	peak=$(mock_call GET /_mock/stats | "$bench_python" -c 'import json,sys; print(json.load(sys.stdin)["in_flight_peak"])')

	res=$(psql_pg -At -F' ' <<SQL
WITH r AS (
	SELECT q.id, q.status, c.n FROM guestbook_notify.notification_queue q
	  JOIN bench_cases c ON c.id = q.case_id WHERE c.n BETWEEN $from AND $to),
a AS (
	SELECT a.* FROM guestbook_notify.notification_attempts a JOIN r ON r.id = a.notification_id),
t AS (
	SELECT (SELECT max(pg_xact_commit_timestamp(ca.xmin)) FROM case_assignments ca
	          JOIN bench_cases c ON c.id = ca.case_id WHERE c.n BETWEEN $from AND $to) AS t0,
	       (SELECT max(finished_at) FROM a) AS t1)
SELECT round(extract(epoch FROM t1 - t0)::numeric, 3),
       round(($n / extract(epoch FROM t1 - t0))::numeric, 0),
       (SELECT count(*) FROM r WHERE status = 'sent'),
       (SELECT count(*) FROM a),
       (SELECT count(*) FROM case_events e JOIN r ON (e.details->>'notification_id')::uuid = r.id
         WHERE e.event_type = 'contacted'),
       (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1) FROM a),
       (SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1) FROM a),
       (SELECT round(max(duration_ms)::numeric, 1) FROM a),
       (SELECT round(max(duration_ms)::numeric, 1) FROM a JOIN guestbook_notify.notification_queue q
          ON q.id = a.notification_id WHERE q.to_number = '${held:-none}' AND a.attempt_no = 1
          AND a.duration_ms > 2500),
       (SELECT round(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms)::numeric, 1) FROM a
         WHERE duration_ms < 2500),
       (SELECT round(max(duration_ms)::numeric, 1) FROM a WHERE duration_ms < 2500),
       (SELECT count(*) FROM a, (SELECT h.started_at, h.finished_at FROM a h
          JOIN guestbook_notify.notification_queue q ON q.id = h.notification_id
         WHERE q.to_number = '${held:-none}' AND h.attempt_no = 1 AND h.duration_ms > 2500) h
         WHERE a.finished_at > h.started_at AND a.finished_at < h.finished_at AND a.duration_ms < 2500)
  FROM t;
SQL
)
	read -r secs rate sent attempts contacted p50 p99 dmax heldms op99 omax after_held <<<"$res"
	wcpu=$(awk -v a="$wcpu0" -v b="$wcpu1" -v c="$clk" 'BEGIN {printf "%.2f", (b - a) / c}')
	mcpu=$(awk -v a="$mcpu0" -v b="$mcpu1" -v c="$clk" 'BEGIN {printf "%.2f", (b - a) / c}')
	echo "   $n in ${secs}s = $rate/s; sent=$sent attempts=$attempts case_events contacted=$contacted;"
	echo "   request duration p50=${p50}ms p99=${p99}ms max=${dmax}ms; mock in_flight_peak=$peak;"
	echo "   worker CPU ${wcpu}s, mock CPU ${mcpu}s"
	c="$n notifications queued by one transaction through the assigned trigger, $nops recipients, recipient pacing $recipient_pacing, mock delay ${delay} ms, mock in_flight_peak $peak, audit: $sent sent / $attempts attempt rows / $contacted case_events; clock from the enqueueing commit (track_commit_timestamp) to the last attempt's finished_at; warm-up $warm; worker CPU ${wcpu}s, mock CPU ${mcpu}s; $conds"
	if [ "$mode" = fast ]; then
		bench_result "2 drain, zero-latency mock, max_in_flight $inflight${BENCH_LABEL:+ [$BENCH_LABEL]}" ">= 3,000/s" "$rate/s ($n in ${secs}s)" "$c"
	elif [ "$round" = 1 ]; then
		bench_result "3 drain, 200 ms API latency" ">= 800/s" "$rate/s ($n in ${secs}s); request p50 ${p50} ms, p99 ${p99} ms" "$c"
	else
		echo "   held request: ${heldms:-?} ms; the others: p99 ${op99} ms, max ${omax} ms; $after_held others finished while it was held"
		bench_result "3b one request held 3 s" "the others finish in their normal time" \
			"held request ${heldms:-?} ms; the other $((n - 1)): p99 ${op99} ms, max ${omax} ms; drain $rate/s ($n in ${secs}s)" "$c"
	fi
	[ "$sent" = "$n" ] || { echo "bench_drain: only $sent of $n sent" >&2; exit 1; }
done
bench_print_statements
