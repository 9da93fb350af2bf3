#!/usr/bin/env bash
# Figure 4: sender pacing. max_send_rate 80 (the default), recipient pacing at
# this build's defaults; a backlog of N notifications (default 3,000, more than
# 30 s worth) to NOPS recipients, queued by one transaction through the
# assigned trigger. Measured at the mock: requests received in the 30 s from
# the first one, per-second counts, and per recipient the gaps between
# consecutive requests (a violation = a gap shorter than recipient_interval).
#
#   sudo bash tests/bench/bench_pacing.sh
# Environment: PACING_N (3000), NOPS (1000), WINDOW (30 s), MAX_SEND_RATE (80).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_pacing
BENCH_CMD="sudo bash tests/bench/bench_pacing.sh"

n=${PACING_N:-3000}
nops=${NOPS:-1000}
win=${WINDOW:-30}
rate=${MAX_SEND_RATE:-80}

bench_start_mock --max-records 100000
bench_start_cluster "
guestbook_notify.max_send_rate = $rate
$(bench_profile_conf)
"
echo "== setup: $nops operators, $n cases"
bench_setup_data "$nops" "$n"
conds=$(bench_conditions)
interval=$(sql_val "SELECT coalesce(current_setting('guestbook_notify.recipient_interval', true), '')")
cap=$(sql_val "SELECT coalesce(current_setting('guestbook_notify.recipient_hourly_cap', true), '')")
if [ -n "$interval" ]; then
	interval_ms=$(sql_val "SELECT setting::numeric * CASE unit WHEN 's' THEN 1000 WHEN 'min' THEN 60000 ELSE 1 END
	                         FROM pg_settings WHERE name = 'guestbook_notify.recipient_interval'")
	rp="recipient_interval=$interval, recipient_hourly_cap=${cap:-n/a}"
else
	interval_ms=""
	rp="not in this build"
fi

seq0=$(bench_mock_last_seq)
echo "== enqueue $n notifications in one transaction; measure ${win}s at the mock"
bench_enqueue 1 "$n" >/dev/null
sleep $(( win + 4 ))
bench_load_recv "$seq0"

res=$(psql_pg -At -F' ' <<SQL
WITH w AS (SELECT min(t) AS t0 FROM bench_recv),
	 inwin AS (SELECT r.* FROM bench_recv r, w WHERE r.t >= w.t0 AND r.t < w.t0 + $win),
	 per_s AS (SELECT floor(r.t - w.t0) AS s, count(*) AS c FROM inwin r, w GROUP BY 1),
	 gaps AS (SELECT t - lag(t) OVER (PARTITION BY recipient ORDER BY t) AS gap FROM bench_recv)
SELECT (SELECT count(*) FROM inwin),
	   round((SELECT count(*) FROM inwin) / $win.0, 2),
	   (SELECT min(c) FROM per_s), (SELECT max(c) FROM per_s), (SELECT count(*) FROM per_s),
	   (SELECT count(*) FROM bench_recv),
	   (SELECT count(DISTINCT recipient) FROM bench_recv),
	   (SELECT round(min(gap)::numeric, 3) FROM gaps),
	   (SELECT count(*) FROM gaps WHERE gap IS NOT NULL),
	   (SELECT count(*) FROM gaps WHERE gap * 1000 < nullif('${interval_ms:-0}', '')::numeric)
SQL
)
read -r inwin got cmin cmax nsec total nrec mingap ngaps viol <<<"$res"
echo "   $inwin requests in ${win}s = ${got}/s (per second: min $cmin, max $cmax over $nsec s); $total received by then to $nrec recipients"
echo "   recipient gaps: $ngaps, shortest ${mingap}s; recipient pacing: $rp"
if [ -n "$interval_ms" ]; then
	vtext="$viol violations of recipient_interval ($interval) in $ngaps repeat sends (shortest gap ${mingap} s)"
else
	vtext="recipient pacing not in this build: shortest gap to one recipient ${mingap} s ($ngaps repeat sends)"
fi
bench_result "4 pacing" "76 to 84/s over 30 s; 0 recipient-interval violations" \
	"${got}/s over ${win} s (per-second min $cmin, max $cmax); $vtext" \
	"max_send_rate=$rate, backlog of $n notifications queued by one transaction (assigned trigger) to $nops recipients, window = ${win} s from the first request the mock received, recipient pacing: $rp; zero-latency mock; $conds"
bench_print_statements
