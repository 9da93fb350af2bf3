#!/usr/bin/env bash
# Figure 6: worker memory across 100,000 notifications. VmRSS (and its parts
# RssAnon = private heap, RssShmem = shared buffers the worker has touched)
# of the worker's pid from /proc, in rounds of PER_ROUND notifications (each
# round: one enqueueing transaction through the assigned trigger, then
# drained), pacing off, zero-latency mock.
#
# Two windows of ROUNDS x PER_ROUND (100,000) each, after a start of START
# (2,000) notifications:
#   cold:   the first 100,000 -- VmRSS also counts every shared-buffer page
#           the worker maps for the first time (RssShmem), up to
#           shared_buffers; that is not memory the worker allocated;
#   steady: the next 100,000 -- the figure: a long-running worker has mapped
#           the shared buffers it uses, so what still grows is its own.
#
#   sudo bash tests/bench/bench_memory.sh
# Environment: ROUNDS (10), PER_ROUND (10000), START (2000), NOPS (1000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_memory
BENCH_CMD="sudo bash tests/bench/bench_memory.sh"

rounds=${ROUNDS:-10}
per=${PER_ROUND:-10000}
warm=${START:-2000}
nops=${NOPS:-1000}
total=$(( rounds * per ))

bench_start_mock --max-records 1000
bench_start_cluster "
guestbook_notify.max_send_rate = 100000
$(bench_profile_conf)
"
echo "== setup: $nops operators, $((warm + 2 * total)) cases"
bench_setup_data "$nops" $((warm + 2 * total))
bench_recipient_pacing_off
conds=$(bench_conditions)

wpid=$(bench_worker_pid)
echo "== worker pid $wpid at start: $(bench_rss "$wpid")"
bench_enqueue 1 "$warm" >/dev/null
bench_wait_settled 120
start_rss=$(bench_rss "$wpid")
echo "== after the start ($warm): $start_rss"
kb() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }
mb() { awk -v k="$1" 'BEGIN {printf "%+.1f MB", k / 1024}'; }

# window FIRST_CASE: ROUNDS rounds of PER_ROUND from case FIRST_CASE; sets
# win_after, win_mid (the RSS half-way) and win_secs
window() {
	local first=$1 i from to t0 t1 now_rss
	win_mid=""
	t0=$(date +%s.%N)
	for i in $(seq "$rounds"); do
		from=$(( first + (i - 1) * per )); to=$(( first + i * per - 1 ))
		bench_enqueue "$from" "$to" >/dev/null
		bench_wait_settled 600
		now_rss=$(bench_rss "$wpid")
		echo "   after $(( i * per )): $now_rss"
		[ "$i" = $(( rounds / 2 )) ] && win_mid=$now_rss
	done
	t1=$(date +%s.%N)
	win_after=$(bench_rss "$wpid")
	win_mid=${win_mid:-$win_after}
	win_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
}
# growth from $1 to $2: "private ..; VmRSS .. = RssAnon .. + RssShmem .."
growth() {
	local d_rss d_anon d_shm d_priv
	d_rss=$(( $(kb VmRSS "$2") - $(kb VmRSS "$1") ))
	d_anon=$(( $(kb RssAnon "$2") - $(kb RssAnon "$1") ))
	d_shm=$(( $(kb RssShmem "$2") - $(kb RssShmem "$1") ))
	d_priv=$(( d_anon + $(kb RssFile "$2") - $(kb RssFile "$1") ))
	echo "VmRSS $(mb "$d_rss") (private RssAnon+RssFile $(mb "$d_priv"), shared-buffer pages RssShmem $(mb "$d_shm"))"
}

echo "== cold window: notifications $((warm + 1))..$((warm + total))"
window $(( warm + 1 ))
cold_after=$win_after
cold=$(growth "$start_rss" "$cold_after")
cold_secs=$win_secs
echo "   cold: $cold in ${cold_secs}s"

echo "== steady window: notifications $((warm + total + 1))..$((warm + 2 * total))"
window $(( warm + total + 1 ))
steady=$(growth "$cold_after" "$win_after")
steady_half=$(growth "$win_mid" "$win_after")
echo "   steady: $steady in ${win_secs}s; second half: $steady_half"
[ "$(bench_worker_pid)" = "$wpid" ] || { echo "bench_memory: the worker restarted" >&2; exit 1; }
sent=$(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'sent'")

bench_result "6 worker memory" "resident size grows < 10 MB across 100,000" \
	"steady: $steady; cold (the first $total after start): $cold, RssShmem bounded by shared_buffers; RSS after start: $start_rss; after cold: $cold_after; after steady: $win_after (kB)" \
	"steady = notifications $((warm + total + 1))..$((warm + 2 * total)) of one worker (cold = the $total before them, after a start of $warm); $rounds rounds of $per per window, each queued by one transaction through the assigned trigger and drained; $sent sent in total, worker pid $wpid throughout, steady ${win_secs}s, cold ${cold_secs}s, $nops recipients, recipient pacing $recipient_pacing, zero-latency mock; $conds"
bench_print_statements
