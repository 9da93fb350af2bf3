#!/usr/bin/env bash
# The mock's own ceiling in requests/s (tests/mock/mock_ceiling.py: it starts
# its own mock on loopback and loads it with keep-alive connections, one
# request in flight per connection, as libcurl does), so the figures above
# can be read against it.
#
#   sudo bash tests/bench/bench_mock_ceiling.sh      (root not needed)
# Environment: DURATION (5 s), PROCS (2), CONNS (16 per process).
set -euo pipefail
bench_here=$(cd "$(dirname "$0")/../.." && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
dur=${DURATION:-5}
out=$("$python" "$bench_here/tests/mock/mock_ceiling.py" --duration "$dur" \
	--procs "${PROCS:-2}" --conns "${CONNS:-16}" --json)
read -r rps n procs conns cpu lat50 lat99 non2xx <<<"$("$python" -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["requests_per_s"], d["requests"], d["procs"], d["conns_per_proc"], d["mock_cpu_s"],
      d["latency_ms"]["p50"], d["latency_ms"]["p99"], d["non_2xx"])' "$out")"
echo
echo "FIGURE mock ceiling: $rps requests/s"
echo "  conditions: mock_ceiling.py, $n requests in ${dur}s, $procs client processes x $conns keep-alive connections on the same $(nproc) cores, mock CPU ${cpu}s of ${dur}s, request p50 ${lat50} ms p99 ${lat99} ms, non-2xx $non2xx"
if [ -n "${BENCH_RESULTS:-}" ]; then
	printf '%s\t%s\t%s\t%s\t%s\n' "mock ceiling" "(reference)" "$rps requests/s" \
		"mock_ceiling.py: $procs client processes x $conns keep-alive connections, ${dur}s, on the same $(nproc) cores as the mock (mock CPU ${cpu}s of ${dur}s); Cloud API text messages, validated and recorded" \
		"bash tests/bench/bench_mock_ceiling.sh" >>"$BENCH_RESULTS"
fi
