# Shared by the shell entry points (tests/run_tests.sh, tests/demo.sh,
# tests/bench/lib.sh): root check, dependencies, the PostgreSQL 15 tools,
# a postgres-owned copy of the tree, build and install, the mock API.
# Source it; it defines functions and variables, and runs nothing.

gbn_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# the PostgreSQL 15 tools first on PATH; pg_config and Debian's python3
# (root's PATH may start with another python without python3-yaml).
# PG_CONFIG=/path/to/pg_config selects another PostgreSQL installation
# (for instance a relocated copy, so that two checkouts can be tested side
# by side without installing into the same directories).
gbn_pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$gbn_pg_config" ] || gbn_pg_config=$(command -v pg_config || echo pg_config)
if [ -x "$gbn_pg_config" ]; then
	export PATH="$("$gbn_pg_config" --bindir):$PATH"
else
	export PATH="/usr/lib/postgresql/15/bin:$PATH"
fi
gbn_python=/usr/bin/python3
[ -x "$gbn_python" ] || gbn_python=$(command -v python3 || echo python3)

# gbn_require_root NAME: the clusters run as 'postgres', installing needs root
gbn_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$1: run as root (it installs packages and the extension; the clusters run as 'postgres')" >&2
		exit 2
	fi
}

# gbn_install_deps: Debian packages, unless SKIP_DEPS=1
gbn_install_deps() {
	if [ "${SKIP_DEPS:-0}" != 1 ]; then
		bash "$gbn_top/tests/install_deps.sh"
	fi
}

# gbn_as_pg CMD...: run as the postgres OS user, UTF-8 even where LANG is unset
gbn_as_pg() {
	runuser -u postgres -- env LANG=C.UTF-8 LC_ALL=C.UTF-8 PATH="$PATH" \
		GBN_OPENAPI_SPEC="${GBN_OPENAPI_SPEC:-}" "$@"
}

# gbn_copy_tree DST: the tree (no .git, no test output) into DST, owned by
# postgres: the clone may sit where that user cannot write or even enter
gbn_copy_tree() {
	local dst=$1
	mkdir -p "$dst"
	tar -C "$gbn_top" --exclude=.git --exclude='tmp_check*' --exclude=results \
		--exclude=output_iso -cf - . | tar -C "$dst" -xf -
	chown -R postgres: "$dst"
}

# gbn_build_install DIR [PG_CFLAGS]: build as postgres, install as root
gbn_build_install() {
	local dir=$1 cflags=${2:-}
	gbn_as_pg make -C "$dir" -s clean >/dev/null
	gbn_as_pg make -C "$dir" -s PG_CONFIG="$gbn_pg_config" PG_CFLAGS="$cflags" >/dev/null
	make -C "$dir" -s PG_CONFIG="$gbn_pg_config" install >/dev/null
}

# gbn_start_mock WORKDIR [whatsapp_mock.py args]: start the mock API on a
# free loopback port as postgres; sets gbn_mock_pid and gbn_mock_url
gbn_start_mock() {
	local work=$1 runner
	shift
	rm -f "$work/mock.port" "$work/mock.pid"
	# the shell records the mock's own pid before exec'ing it
	runuser -u postgres -- bash -c 'echo $$ >"$1"; shift; exec "$@"' mock "$work/mock.pid" \
		"$gbn_python" "$gbn_top/tests/mock/whatsapp_mock.py" --host 127.0.0.1 --port 0 \
		--port-file "$work/mock.port" "$@" >"$work/mock.out" 2>&1 &
	runner=$!
	gbn_mock_pid=""
	for _ in $(seq 100); do
		[ -z "$gbn_mock_pid" ] && [ -s "$work/mock.pid" ] && gbn_mock_pid=$(cat "$work/mock.pid")
		[ -s "$work/mock.port" ] && break
		kill -0 "$runner" 2>/dev/null || { cat "$work/mock.out" >&2; return 1; }
		sleep 0.1
	done
	[ -s "$work/mock.port" ] || { echo "the mock API did not start" >&2; cat "$work/mock.out" >&2; return 1; }
	[ -z "$gbn_mock_pid" ] && gbn_mock_pid=$(cat "$work/mock.pid")
	gbn_mock_url="http://127.0.0.1:$(cat "$work/mock.port")"
}
