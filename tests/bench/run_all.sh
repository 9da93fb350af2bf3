#!/usr/bin/env bash
# Runs every benchmark of guestbook_notify on this machine and writes
# tests/bench/RESULTS.md (the table of figures, their conditions and how to
# reproduce each). Each benchmark starts its own throwaway cluster (as the
# postgres OS user, in a temp dir, on a free port, the extension preloaded)
# and its own mock WhatsApp API on a free loopback port, and cleans up.
#
#   sudo bash tests/bench/run_all.sh                 # deps, build, all figures
#   sudo SKIP_DEPS=1 SKIP_BUILD=1 bash tests/bench/run_all.sh
#   sudo REPEAT=2 bash tests/bench/run_all.sh        # each figure twice
#   sudo ONLY="latency drain_fast" bash tests/bench/run_all.sh
#
# Environment:
#   SKIP_DEPS=1   do not run tests/install_deps.sh
#   SKIP_BUILD=1  use the extension already installed (only if it is current)
#   REPEAT=N      run each benchmark N times (default 1); RESULTS.md shows all
#   ONLY="..."    a subset of: mock_ceiling latency drain_fast drain_slow
#                 pacing trigger_overhead memory before_after webhooks (the default
#                 is all of them; before_after = figure 2 with the claim as
#                 it was before the profiling fixes, tests/bench/before/)
#   NOTE="..."    a remark for RESULTS.md (e.g. "machine busy with test runs")
#   RESULTS=file  where to write the table (default tests/bench/RESULTS.md)
# The scripts' own settings (DRAIN_N, RATES, DURATION, ...) pass through.
set -euo pipefail
bench_dir=$(cd "$(dirname "$0")" && pwd)
here=$(cd "$bench_dir/../.." && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if [ "$(id -u)" -ne 0 ]; then
	echo "run_all.sh: run as root (it installs the extension; the clusters run as 'postgres')" >&2
	exit 2
fi
if [ "${SKIP_DEPS:-0}" != 1 ]; then
	bash "$here/tests/install_deps.sh"
	# perf for profiling (optional)
	command -v perf >/dev/null || apt-get install -y -qq --no-install-recommends linux-perf >/dev/null 2>&1 || true
fi

all="mock_ceiling latency drain_fast drain_slow pacing trigger_overhead memory before_after webhooks"
only=${ONLY:-$all}
repeat=${REPEAT:-1}
results_md=${RESULTS:-$bench_dir/RESULTS.md}
raw=$(mktemp /tmp/gbn-bench-results.XXXXXX)
logdir=$(mktemp -d /tmp/gbn-bench-logs.XXXXXX)
build=""
cleanup() { [ -n "$build" ] && rm -rf "$build"; rm -f "$raw"; }
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != 1 ]; then
	build=$(mktemp -d /tmp/gbn-bench-build.XXXXXX)
	chown postgres: "$build"
	# shellcheck source=lib.sh
	( set -e; . "$bench_dir/lib.sh"; bench_build "$build/src" )
fi

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
status=0
for r in $(seq "$repeat"); do
	for b in $only; do
		case "$b" in
			mock_ceiling) cmd=(bash "$bench_dir/bench_mock_ceiling.sh") ;;
			latency) cmd=(bash "$bench_dir/bench_latency.sh") ;;
			drain_fast) cmd=(bash "$bench_dir/bench_drain.sh" fast) ;;
			drain_slow) cmd=(bash "$bench_dir/bench_drain.sh" slow) ;;
			pacing) cmd=(bash "$bench_dir/bench_pacing.sh") ;;
			trigger_overhead) cmd=(bash "$bench_dir/bench_trigger_overhead.sh") ;;
			memory) cmd=(bash "$bench_dir/bench_memory.sh") ;;
			webhooks) cmd=(bash "$bench_dir/bench_webhooks.sh") ;;
			before_after)
				# figure 2 with the claim as it was before the profiling fixes
				for v in claim_v0 claim_v0_index_only; do
					echo "=================== before_after: $v (run $r of $repeat) ==================="
					SKIP_DEPS=1 SKIP_BUILD=1 BENCH_RESULTS="$raw" IN_FLIGHTS=16 BENCH_LABEL="before: $v" \
						BENCH_CMD="sudo IN_FLIGHTS=16 BENCH_EXTRA_SQL=\"\$(cat tests/bench/before/$v.sql)\" bash tests/bench/bench_drain.sh fast" \
						BENCH_EXTRA_SQL="$(cat "$bench_dir/before/$v.sql")" \
						bash "$bench_dir/bench_drain.sh" fast 2>&1 | tee "$logdir/before_after.$v.$r.log" \
						|| status=1
				done
				continue ;;
			*) echo "run_all.sh: unknown benchmark $b" >&2; exit 2 ;;
		esac
		echo "=================== $b (run $r of $repeat) ==================="
		if ! SKIP_DEPS=1 SKIP_BUILD=1 BENCH_RESULTS="$raw" BENCH_RUN="$r" "${cmd[@]}" 2>&1 \
				| tee "$logdir/$b.$r.log"; then
			echo "run_all.sh: $b FAILED (log: $logdir/$b.$r.log)" >&2
			printf '%s\t%s\t%s\t%s\t%s\n' "$b" "" "FAILED (see the log)" "" "" >>"$raw"
			status=1
		fi
	done
done

commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here" status --porcelain 2>/dev/null | grep -qE '^( M|M |\?\?) (src|sql)/' && echo " + uncommitted changes in src/ or sql/" || true)
"$python" - "$raw" "$results_md" "$started" "$commit$dirty" "$load_before" "$repeat" "${NOTE:-}" <<'PY'
import collections, os, sys
raw, out, started, commit, load, repeat, note = sys.argv[1:8]
rows = collections.OrderedDict()
with open(raw, encoding="utf-8") as f:
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 5:
            continue
        fig, target, measured, cond, cmd = parts[:5]
        r = rows.setdefault(fig, {"target": target, "measured": [], "cond": cond, "cmd": cmd})
        r["measured"].append(measured)
        r["cond"] = cond or r["cond"]
        r["cmd"] = cmd or r["cmd"]
esc = lambda s: s.replace("|", "\\|")
def order(k):
    return (0, k) if k[0].isdigit() else (1, k)
cpu = "?"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
with open(out, "w", encoding="utf-8") as f:
    f.write("# guestbook_notify — benchmark results\n\n")
    f.write("Written by `tests/bench/run_all.sh` (do not edit by hand; the method and the profiling notes are in "
            "[README.md](README.md)).\n\n")
    f.write("- run: %s, %d cores (%s), build %s\n" % (started, os.cpu_count(), cpu, commit))
    f.write("- load average before the run: %s; each figure was run %s time(s); runs are separated by `;`\n" % (load, repeat))
    if note:
        f.write("- note: %s\n" % note)
    f.write("- reproduce everything: `sudo bash tests/bench/run_all.sh` (add `REPEAT=2`, `SKIP_DEPS=1`, `SKIP_BUILD=1` as needed)\n\n")
    f.write("## Summary\n\n| Figure | Target | Measured (each run) |\n|---|---|---|\n")
    for fig in sorted(rows, key=order):
        r = rows[fig]
        f.write("| %s | %s | %s |\n" % (esc(fig), esc(r["target"]), esc(" ; ".join(r["measured"]))))
    f.write("\n## Conditions and how to reproduce each figure\n\n")
    f.write("| Figure | Target | Measured | Conditions | Reproduce |\n|---|---|---|---|---|\n")
    for fig in sorted(rows, key=order):
        r = rows[fig]
        f.write("| %s | %s | %s | %s | `%s` |\n" % (esc(fig), esc(r["target"]), esc(" ; ".join(r["measured"])),
                                                  esc(r["cond"]), r["cmd"]))
print("== wrote %s" % out)
PY
echo "== logs in $logdir"
exit $status
