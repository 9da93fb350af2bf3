#!/usr/bin/env bash
# Runs every test of guestbook_notify: pg_regress, pg_isolation_regress and
# the TAP tests (prove), on throwaway clusters started as the 'postgres' OS user.
#
#   sudo bash tests/run_tests.sh            # install deps, build, install, test
#   sudo bash tests/run_tests.sh regress    # only one suite: regress|isolation|tap
#
# Environment:
#   SKIP_DEPS=1      do not apt-get install (the packages are already there)
#   SCRATCH=DIR      where the postgres-owned copy of the tree goes
#   PROVE_TESTS=...  a subset of TAP files, e.g. tests/t/010_deliver.pl
#   WERROR=0         build without -Werror
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
suite=${1:-all}
case "$suite" in
	all|regress|isolation|tap) ;;
	*) echo "usage: $0 [all|regress|isolation|tap]" >&2; exit 2 ;;
esac

. "$here/tests/lib/common.sh"
gbn_require_root run_tests.sh
gbn_install_deps
pg_config=$gbn_pg_config

# A copy the 'postgres' user owns: the clone may sit where it cannot write.
scratch=${SCRATCH:-/tmp/guestbook_notify-test}
rm -rf "$scratch"
gbn_copy_tree "$scratch"
# Meta's OpenAPI spec is in the tree (tests/openapi/): the TAP tests validate
# every Cloud API request against it and fail without it.
chown -R postgres: "$scratch"
as_pg() { gbn_as_pg "$@"; }

cflags="-Wall -Wextra -Wno-unused-parameter"
[ "${WERROR:-1}" = 1 ] && cflags="$cflags -Werror"

echo "== build (PG_CFLAGS=$cflags)"
gbn_build_install "$scratch" "$cflags"

status=0
summary=()
run() {
	local name=$1; shift
	echo "== $name"
	if as_pg "$@"; then
		summary+=("$name: passed")
	else
		summary+=("$name: FAILED")
		status=1
		for f in "$scratch"/regression.diffs "$scratch"/output_iso/regression.diffs; do
			if [ -s "$f" ]; then echo "--- $f"; head -c 20000 "$f"; fi
		done
	fi
}

if [ "$suite" = all ] || [ "$suite" = regress ]; then
	run "pg_regress" make -C "$scratch" PG_CONFIG="$pg_config" installcheck \
		ISOLATION= TAP_TESTS=
fi
if [ "$suite" = all ] || [ "$suite" = regress ]; then
	run "pg_dump round trip" bash -c "cd '$scratch' && bash tests/pg_dump_roundtrip.sh"
fi
if [ "$suite" = all ] || [ "$suite" = isolation ]; then
	run "pg_isolation_regress" make -C "$scratch" PG_CONFIG="$pg_config" installcheck \
		REGRESS= TAP_TESTS=
fi
if [ "$suite" = all ] || [ "$suite" = tap ]; then
	prove_tests=${PROVE_TESTS:-tests/t/*.pl}
	run "prove" make -C "$scratch" PG_CONFIG="$pg_config" prove \
		PROVE_TESTS="$prove_tests" PROVE_FLAGS="-I tests/lib --timer"
	if [ $status -ne 0 ]; then
		for f in "$scratch"/tmp_check/log/*; do
			if [ -f "$f" ]; then echo "--- $f (tail)"; tail -n 60 "$f"; fi
		done
	fi
fi

echo "== summary"
printf '%s\n' "${summary[@]}"
npass=$(printf '%s\n' "${summary[@]}" | grep -c ': passed$' || true)
nfail=$(printf '%s\n' "${summary[@]}" | grep -c ': FAILED$' || true)
echo "suites: $npass passed, $nfail failed"
exit $status
