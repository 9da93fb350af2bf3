#!/usr/bin/env bash
# The SLA tick's first step (_sla_follow_cases: the open cases and their
# latest assignments, read as the tables' owners) with NCASES open cases,
# timed with and without the reference schema's index on
# case_assignments (case_id, assigned_at), twice each (sla_cases empty, then
# nothing changed).  The worker's own tick is off (sla_interval = 0); the
# function is called by hand under a 120 s statement timeout.  EXPLAIN=1
# logs the plans of its statements over 200 ms (auto_explain) instead.
# Found by figure 5 (issue 14): with 100,000 open cases the tick compared
# each row with every open case and was cancelled every minute.
#
#   sudo SKIP_DEPS=1 bash tests/bench/bench_sla_follow.sh
# Environment: NCASES (100000), EXPLAIN (0).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_sla_follow
bench_start_mock --max-records 1000
bench_start_cluster "guestbook_notify.sla_interval = 0
shared_buffers = 128MB"
bench_setup_data 1000 ${NCASES:-100000}
psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
psql_pg -c "INSERT INTO case_assignments (case_id, operator_id, assigned_at)
            SELECT c.id, o.id, now() - interval '30 days'
              FROM bench_cases c JOIN bench_ops o ON o.n = 1 + (c.n - 1) % 1000"
psql_pg -c "UPDATE cases SET status = 'assigned'"
psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null
psql_pg -c "VACUUM ANALYZE"
if [ "${EXPLAIN:-0}" = 1 ]; then
	psql_pg -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 200" -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" -c "SET statement_timeout = '300s'" -c "SELECT guestbook_notify._sla_follow_cases('public', now())" >/dev/null
	grep -B2 -A30 "duration:" "$work/postgres.log" | head -150
	exit 0
fi
for idx in with without; do
	[ $idx = without ] && psql_pg -c "DROP INDEX case_assignments_case_idx"
	for i in 1 2; do
		psql_pg -c "TRUNCATE guestbook_notify.sla_cases CASCADE" >/dev/null 2>&1 || true
		t0=$(date +%s.%N)
		psql_pg -c "SET statement_timeout = '120s'" -c "SELECT guestbook_notify._sla_follow_cases('public', now())" >/dev/null
		t1=$(date +%s.%N)
		echo "$idx index, run $i (sla_cases empty first): $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s"
		t0=$(date +%s.%N)
		psql_pg -c "SET statement_timeout = '120s'" -c "SELECT guestbook_notify._sla_follow_cases('public', now())" >/dev/null
		t1=$(date +%s.%N)
		echo "$idx index, run $i (again, nothing changed): $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') s"
	done
done
if [ "${EXPLAIN:-0}" = 1 ]; then
	psql_pg -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 500" -c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_analyze = on" -c "SELECT guestbook_notify._sla_follow_cases('public', now())" >/dev/null
	grep -A25 "duration:" "$work/postgres.log" | head -120
fi
