#!/usr/bin/env bash
# Figure 6: worker memory across 100,000 notifications. VmRSS (and its parts
# RssAnon = private heap, RssShmem = shared buffers the worker has touched)
# of the worker's pid from /proc, after a warm-up and after ROUNDS rounds of
# PER_ROUND notifications (each round: one enqueueing transaction through the
# assigned trigger, then drained), pacing off, zero-latency mock.
#
#   sudo bash tests/bench/bench_memory.sh
# Environment: ROUNDS (10), PER_ROUND (10000), WARMUP (2000), NOPS (1000).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_memory
BENCH_CMD="sudo bash tests/bench/bench_memory.sh"

rounds=${ROUNDS:-10}
per=${PER_ROUND:-10000}
warm=${WARMUP:-2000}
nops=${NOPS:-1000}
total=$(( rounds * per ))

bench_start_mock --max-records 1000
bench_start_cluster "
guestbook_notify.max_send_rate = 100000
$(bench_profile_conf)
"
echo "== setup: $nops operators, $((warm + total)) cases"
bench_setup_data "$nops" $((warm + total))
bench_recipient_pacing_off
conds=$(bench_conditions)

wpid=$(bench_worker_pid)
echo "== worker pid $wpid at start: $(bench_rss "$wpid")"
bench_enqueue 1 "$warm" >/dev/null
bench_wait_settled 120
before=$(bench_rss "$wpid")
echo "== after the warm-up ($warm): $before"
kb() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

t0=$(date +%s.%N)
for i in $(seq "$rounds"); do
	from=$(( warm + (i - 1) * per + 1 )); to=$(( warm + i * per ))
	bench_enqueue "$from" "$to" >/dev/null
	bench_wait_settled 600
	now_rss=$(bench_rss "$wpid")
	echo "   after $(( i * per )): $now_rss"
	[ "$i" = $(( rounds / 2 )) ] && mid=$now_rss
done
mid=${mid:-$before}
t1=$(date +%s.%N)
after=$(bench_rss "$wpid")
[ "$(bench_worker_pid)" = "$wpid" ] || { echo "bench_memory: the worker restarted" >&2; exit 1; }
sent=$(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'sent'")

d_rss=$(( $(kb VmRSS "$after") - $(kb VmRSS "$before") ))
d_anon=$(( $(kb RssAnon "$after") - $(kb RssAnon "$before") ))
d_shm=$(( $(kb RssShmem "$after") - $(kb RssShmem "$before") ))
d_priv=$(( d_anon + $(kb RssFile "$after") - $(kb RssFile "$before") ))
d_half=$(( $(kb VmRSS "$after") - $(kb VmRSS "$mid") ))
mb() { awk -v k="$1" 'BEGIN {printf "%+.1f MB", k / 1024}'; }
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
echo "   private (RssAnon+RssFile) $(mb "$d_priv"); VmRSS $(mb "$d_rss") = RssAnon $(mb "$d_anon") + RssShmem $(mb "$d_shm") + RssFile; across $total notifications in ${secs}s"
bench_result "6 worker memory" "resident size grows < 10 MB across 100,000" \
	"private resident (RssAnon+RssFile) $(mb "$d_priv"); VmRSS $(mb "$d_rss"), of which shared-buffer pages touched (RssShmem) $(mb "$d_shm") (bounded by shared_buffers; VmRSS over the second half: $(mb "$d_half")); before: $before; after: $after (kB)" \
	"$total notifications ($rounds rounds of $per, each queued by one transaction through the assigned trigger and drained) after a warm-up of $warm, $sent sent in total, worker pid $wpid throughout, ${secs}s, $nops recipients, recipient pacing $recipient_pacing, zero-latency mock; $conds"
bench_print_statements
