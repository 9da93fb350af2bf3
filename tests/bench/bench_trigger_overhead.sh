#!/usr/bin/env bash
# Figure 5: trigger overhead. A pgbench transaction that assigns a case
# (INSERT INTO case_assignments + UPDATE cases SET status 'assigned',
# assigned_operator_id), unthrottled, with and without attach('public').
# Runs alternate (without, with, without, with, ...) so drift hits both;
# TPS ratio = mean TPS with / mean TPS without.
# With attach the worker runs at its defaults (max_send_rate 80, recipient
# pacing as built) and sends to the zero-latency mock meanwhile, so its CPU
# is part of the price; set MAX_SEND_RATE=100000 to let it send flat out.
#
#   sudo bash tests/bench/bench_trigger_overhead.sh
# Environment: DURATION (20 s per run), ROUNDS (2 pairs), CLIENTS (4),
#   NOPS (1000), NCASES (100000; each transaction picks a random case),
#   SYNC_COMMITS ("on off": one figure per synchronous_commit value; with
#   "on" this VM's WAL flush bounds TPS, with "off" the CPU does, which shows
#   the trigger's own cost), MAX_SEND_RATE (80).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_trigger_overhead
BENCH_CMD="sudo bash tests/bench/bench_trigger_overhead.sh"

dur=${DURATION:-20}
rounds=${ROUNDS:-2}
clients=${CLIENTS:-4}
nops=${NOPS:-1000}
ncases=${NCASES:-100000}

bench_start_mock --max-records 1000
bench_start_cluster "
guestbook_notify.max_send_rate = ${MAX_SEND_RATE:-80}
$(bench_profile_conf)
"
echo "== setup: $nops operators, $ncases cases"
bench_setup_data "$nops" "$ncases"
# an office with history: one earlier assignment per case (inserted while
# detached, so nothing is queued), then fresh statistics, so that plans are
# the ones an established app gets (not ones made for empty tables)
psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
psql_pg -c "INSERT INTO case_assignments (case_id, operator_id, assigned_at)
            SELECT c.id, o.id, now() - interval '30 days'
              FROM bench_cases c JOIN bench_ops o ON o.n = 1 + (c.n - 1) % $nops"
psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null
psql_pg -c "VACUUM ANALYZE"
conds=$(bench_conditions)
rp=$(bench_setting guestbook_notify.recipient_interval)

cat >"$work/assign_case.pgb" <<'EOF'
\set op random(1, :nops)
\set c random(1, :ncases)
BEGIN;
INSERT INTO case_assignments (case_id, operator_id, assigned_by)
SELECT c.id, o.id, '00000000-0000-0000-0000-0000000000a1'
  FROM bench_cases c, bench_ops o WHERE c.n = :c AND o.n = :op;
UPDATE cases SET status = 'assigned',
       assigned_operator_id = (SELECT id FROM bench_ops WHERE n = :op),
       updated_at = now()
 WHERE id = (SELECT id FROM bench_cases WHERE n = :c);
COMMIT;
EOF
chmod 644 "$work/assign_case.pgb"

pgb() {
	as_pg pgbench -n -h "$work" -p "$pg_port" -U postgres -f "$work/assign_case.pgb" \
		-D nops="$nops" -D ncases="$ncases" -c "$clients" -j 2 "$@" postgres
}

echo "== warm-up (attached): 3 s"
pgb -T 3 >/dev/null 2>&1
psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null

mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.1f", s / NR}'; }
for sc in ${SYNC_COMMITS:-on off}; do
	psql_pg -c "ALTER SYSTEM SET synchronous_commit = '$sc'" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
	conds=$(bench_conditions)
	q0=$(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue")
	tps_off=(); tps_on=()
	for i in $(seq "$rounds"); do
		for mode in off on; do
			if [ "$mode" = on ]; then
				psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null
			fi
			psql_pg -c "CHECKPOINT" -c "VACUUM ANALYZE cases, case_assignments"
			pgb -T "$dur" >"$work/pgb.$mode.$i" 2>&1 || { cat "$work/pgb.$mode.$i" >&2; exit 1; }
			t=$(awk '/^tps = / {printf "%.1f", $3}' "$work/pgb.$mode.$i")
			echo "   synchronous_commit=$sc, round $i, attach $mode: $t tps"
			if [ "$mode" = on ]; then
				tps_on+=("$t")
				psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
			else
				tps_off+=("$t")
			fi
		done
	done
	queued=$(( $(sql_val "SELECT count(*) FROM guestbook_notify.notification_queue") - q0 ))
	m_off=$(mean "${tps_off[@]}"); m_on=$(mean "${tps_on[@]}")
	ratio=$(awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "%.3f", a / b}')
	echo "   without attach: ${tps_off[*]} (mean $m_off); with attach: ${tps_on[*]} (mean $m_on); ratio $ratio"
	bench_result "5 trigger overhead (synchronous_commit=$sc)" "TPS ratio >= 0.85" \
		"ratio $ratio (with attach $m_on tps, without $m_off tps)" \
		"pgbench -c $clients -j 2 -T $dur, unthrottled, transaction = INSERT case_assignments + UPDATE cases (assign a case), runs alternating without/with x $rounds (with: ${tps_on[*]}; without: ${tps_off[*]}); $ncases cases with one earlier assignment each; with attach the worker sent meanwhile at its max_send_rate ($queued notifications queued; recipient_interval=$rp), $nops operators; $conds"
done
bench_print_statements
