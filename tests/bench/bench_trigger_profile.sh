#!/usr/bin/env bash
# Figure 5's profile: where the backend's time goes in the "assign a case"
# transaction, without the extension and with attach('public').  One
# pgbench client (so one backend to follow), unthrottled, DURATION s per
# variant; synchronous_commit on, fsync on, shared_buffers 128MB, NCASES
# cases with one earlier assignment each (as bench_trigger_overhead.sh).
# For each variant: the backend's CPU per transaction (utime + stime from
# /proc/<pid>/stat over the run / pgbench's transactions) and `perf record
# -g` (cpu-clock, -F 999) of that backend: the share of its samples under
# the trigger (ExecCallTriggerFunc, inclusive) and under the commit, and the
# top symbols by self time.  Written to /tmp/bench_trigger_profile.<variant>.txt.
#
# To profile another build, install it into its own prefix and point
# PG_CONFIG at it with SKIP_BUILD=1, e.g. the build before the core reshape
# (1fe5b7e^: the C trigger with its look-ups and rendering):
#   git worktree add /tmp/old-src 1fe5b7e^ && (cd /tmp/old-src && make PG_CONFIG=... install)
#   sudo PG_CONFIG=/opt/pg-old/usr/lib/postgresql/15/bin/pg_config SKIP_BUILD=1 \
#     bash tests/bench/bench_trigger_profile.sh
# Environment: DURATION (20), NCASES (100000), NOPS (1000), INDEX (1: keep the
# reference schema's index on case_assignments(case_id, assigned_at); 0: drop it).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_trigger_profile
command -v perf >/dev/null || { echo "perf not found (apt-get install linux-perf)" >&2; exit 2; }

dur=${DURATION:-20}
nops=${NOPS:-1000}
ncases=${NCASES:-100000}
hz=$(getconf CLK_TCK)

bench_start_mock --max-records 1000
bench_start_cluster "
fsync = on
synchronous_commit = on
shared_buffers = 128MB
"
bench_setup_data "$nops" "$ncases"
psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
psql_pg -c "INSERT INTO case_assignments (case_id, operator_id, assigned_at)
            SELECT c.id, o.id, now() - interval '30 days'
              FROM bench_cases c JOIN bench_ops o ON o.n = 1 + (c.n - 1) % $nops"
[ "${INDEX:-1}" = 1 ] || psql_pg -c "DROP INDEX case_assignments_case_idx"
psql_pg -c "VACUUM ANALYZE"
build=$(sql_val "SELECT extversion FROM pg_extension WHERE extname = 'guestbook_notify'")
so=$("$bench_pg_config" --pkglibdir)/guestbook_notify.so

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

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

for v in none gbn; do
	if [ "$v" = gbn ]; then
		psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null
	fi
	psql_pg -c "CHECKPOINT"
	as_pg pgbench -n -h "$work" -p "$pg_port" -U postgres -f "$work/assign_case.pgb" \
		-D nops="$nops" -D ncases="$ncases" -c 1 -T "$((dur + 8))" postgres >"$work/pgb.$v" 2>&1 &
	pgb_pid=$!
	bpid=""
	for _ in $(seq 50); do
		sleep 0.2
		bpid=$(sql_val "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND backend_type = 'client backend'")
		[ -n "$bpid" ] && break
	done
	sleep 0.5
	t0=$(date +%s.%N); c0=$(cpu_ticks "$bpid")
	perf record -F 999 -g -p "$bpid" -o "$work/perf.$v.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep "$dur"
	kill -INT "$perf_pid"; wait "$perf_pid" || true
	t1=$(date +%s.%N)
	[ -e "/proc/$bpid" ] || { echo "the pgbench backend ended early:" >&2; cat "$work/pgb.$v" >&2; exit 1; }
	c1=$(cpu_ticks "$bpid")
	wait "$pgb_pid" || { cat "$work/pgb.$v" >&2; exit 1; }
	tps=$(awk '/^tps = / {printf "%.1f", $3}' "$work/pgb.$v")
	us=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v tps="$tps" -v a="$t0" -v b="$t1" \
		'BEGIN {printf "%.0f", c / hz * 1e6 / (tps * (b - a))}')
	out=/tmp/bench_trigger_profile.$v.txt
	{
		echo "# build $build ($so), variant $v: pgbench -c 1, $tps tps, backend CPU $us us per transaction"
		echo "# $(bench_conditions)"
		echo "-- inclusive share of the backend's samples (children)"
		perf report -i "$work/perf.$v.data" --children --sort symbol --stdio -g none 2>/dev/null \
			| grep -E '\] (ExecCallTriggerFunc|AfterTriggerEndQuery|CommitTransaction|exec_simple_query|ExecInsert|ExecUpdate|pg_plan_queries|pg_parse_query|pg_analyze_and_rewrite_fixedparams|XLogFlush|gbn_[a-z_0-9]+|SPI_execute_plan|_SPI_execute_plan|SPI_execute_plan_with_paramlist|ExecutorStart|standard_ExecutorStart|heap_insert|ExecInsertIndexTuples|ExecConstraints|ExecOnConflictUpdate|ExecCheckIndexConstraints|GetNewObjectId)( |$)' \
			| head -40 || true
		echo "-- self, top 30 symbols"
		perf report -i "$work/perf.$v.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
			| grep -v '^#' | grep '%' | head -30 || true
		if [ "$v" = gbn ]; then
			echo "-- under the trigger function (perf script, tests/bench/perf_under.awk)"
			perf script -i "$work/perf.$v.data" -F comm,ip,sym 2>/dev/null \
				| awk -v TRG='gbn_trg_assigned|gbn_trg_event' -f "$bench_here/tests/bench/perf_under.awk"
		fi
	} >"$out"
	echo "== $v: $tps tps, backend CPU $us us/tx -> $out"
	cat "$out"
	if [ "$v" = gbn ]; then
		psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
	fi
done
