#!/usr/bin/env bash
# The webhook receiver's C under sanitizers and valgrind, on fuzz input.
# Not part of tests/run_tests.sh (minutes of CPU); run by hand, as root:
#
#   bash src/web/fuzz.sh
#
#  1. libFuzzer (clang -fsanitize=fuzzer,address,undefined) on the parsers
#     (fuzz_targets.c: query string, configuration file, WAHA event id with
#     json-c, signature headers, log escaping, Content-Length, values) for
#     FUZZ_SECONDS (60).
#  2. guestbook_notify_web built with -fsanitize=address,undefined, against a
#     throwaway cluster with the extension, fed FUZZ_COUNT (3000) random and
#     malformed requests by fuzz_http.py (signed and unsigned bodies, JSON
#     mutations, deep nesting, huge headers, broken chunking, early closes).
#     Any sanitizer report, a crash or a failed /healthz fails.
#  3. The same sources without sanitizers under valgrind memcheck, fed
#     FUZZ_VALGRIND_COUNT (300) requests: 0 errors, nothing definitely lost.
#
# Environment: FUZZ_SECONDS, FUZZ_COUNT, FUZZ_VALGRIND_COUNT, FUZZ_SEED (1),
#   SKIP_DEPS=1, SKIP_BUILD=1 (the extension is installed already), KEEP=1.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/tests/lib/common.sh"
gbn_require_root fuzz.sh
gbn_install_deps
for t in clang valgrind; do
	command -v $t >/dev/null || { echo "fuzz.sh: $t is needed (apt-get install $t)" >&2; exit 2; }
done

secs=${FUZZ_SECONDS:-60}
count=${FUZZ_COUNT:-3000}
vcount=${FUZZ_VALGRIND_COUNT:-300}
seed=${FUZZ_SEED:-1}
work=$(mktemp -d /tmp/gbnw-fuzz.XXXXXX)
chown postgres: "$work"
chmod 755 "$work"
pg_started=0
daemon_pid=""
cleanup() {
	local rc=$?
	set +e
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	[ "$pg_started" = 1 ] && runuser -u postgres -- pg_ctl -D "$work/data" -m immediate -w stop >/dev/null 2>&1
	if [ "${KEEP:-0}" = 1 ]; then echo "== kept $work"; else rm -rf "$work"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
as_pg() { gbn_as_pg "$@"; }

gbn_copy_tree "$work/src"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
	echo "== build and install guestbook_notify"
	gbn_build_install "$work/src"
fi
web="$work/src/src/web"
pkgs="libmicrohttpd json-c openssl"
inc="-I$web -I$("$gbn_pg_config" --includedir) $(pkg-config --cflags $pkgs)"
libs="-L$("$gbn_pg_config" --libdir) -lpq $(pkg-config --libs $pkgs) -lpthread"
srcs="main.c config.c crypto.c db.c http.c log.c util.c"

# --- 1. libFuzzer on the parsers --------------------------------------------
echo "== 1. libFuzzer on the parsers, ${secs}s"
(cd "$web" && clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-DGBN_VERSION='"fuzz"' $inc fuzz_targets.c config.c crypto.c log.c util.c $libs -o "$work/fuzz_targets")
mkdir -p "$work/corpus"
printf '\000hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=abc%%20d' >"$work/corpus/q"
printf "\001listen = '127.0.0.1:8088'\nconninfo = 'dbname=x'\nwaha_hmac_key_file = x # c\n" >"$work/corpus/c"
printf '\002{"id":"evt_1","event":"message.ack","payload":{"id":"x","ack":2}}' >"$work/corpus/j"
printf '\003sha256=0bef45ae0c5d7a7564f7a7b0bac0ba5da9104135a7f24d59e31c07047c44f6a3\n{"entry":[]}' >"$work/corpus/m"
printf '\0048f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8\n{}' >"$work/corpus/w"
printf '\005a\nb\001\377' >"$work/corpus/e"
printf '\00612345' >"$work/corpus/l"
printf '\007[::1]:8088' >"$work/corpus/v"
chown -R postgres: "$work/corpus" "$work/fuzz_targets"
as_pg "$work/fuzz_targets" -max_total_time="$secs" -max_len=65536 -seed="$seed" -print_final_stats=1 \
	"$work/corpus" >"$work/libfuzzer.log" 2>&1 || { tail -n 40 "$work/libfuzzer.log"; echo "fuzz.sh: FAILED (libFuzzer)" >&2; exit 1; }
grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ *DONE' "$work/libfuzzer.log" | sed 's/^/   /'
echo "   libFuzzer: no crash, no sanitizer report"

# --- a throwaway cluster ------------------------------------------------------
pg_port=$("$gbn_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg initdb -D "$work/data" -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$work/initdb.log" 2>&1
cat >>"$work/data/postgresql.conf" <<EOF
port = $pg_port
listen_addresses = ''
unix_socket_directories = '$work'
fsync = off
shared_preload_libraries = 'guestbook_notify'
guestbook_notify.database_name = 'postgres'
guestbook_notify.api_url = 'http://127.0.0.1:9/v23.0'
EOF
as_pg pg_ctl -D "$work/data" -l "$work/postgres.log" -w start >/dev/null
pg_started=1
as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$pg_port" -d postgres <<'SQL'
CREATE EXTENSION guestbook_notify;
CREATE ROLE guestbook_webhook LOGIN;
GRANT EXECUTE ON FUNCTION guestbook_notify.webhook_receive(text, bytea, text),
      guestbook_notify.webhook_store(text, bytea, text),
      guestbook_notify.webhook_retry(integer),
      guestbook_notify.webhook_maintenance(interval, integer) TO guestbook_webhook;
SQL
secret="fuzz-app-secret"
waha="fuzz-waha-key"
mkdir -p "$work/cfg"
printf '%s' "$secret" >"$work/cfg/meta"
printf '%s' "verify-token" >"$work/cfg/verify"
printf '%s' "$waha" >"$work/cfg/waha"
cat >"$work/cfg/web.conf" <<EOF
listen = '127.0.0.1:0'
conninfo = 'host=$work port=$pg_port dbname=postgres user=guestbook_webhook'
meta_app_secret_file = '$work/cfg/meta'
meta_verify_token_file = '$work/cfg/verify'
waha_hmac_key_file = '$work/cfg/waha'
client_timeout = 1s
request_timeout = 3s
maintenance_interval = 1s
EOF
chown -R postgres: "$work/cfg"
chmod 600 "$work/cfg/meta" "$work/cfg/verify" "$work/cfg/waha"

# start_daemon LOG CMD...: as postgres; sets daemon_pid and daemon_port
start_daemon() {
	local log=$1
	shift
	rm -f "$work/daemon.pid"
	runuser -u postgres -- env ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
		bash -c 'echo $$ >"$1"; shift; exec "$@"' d "$work/daemon.pid" "$@" >"$log" 2>&1 &
	for _ in $(seq 300); do
		grep -q 'listening on' "$log" 2>/dev/null && break
		sleep 0.1
	done
	daemon_pid=$(cat "$work/daemon.pid")
	daemon_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n1)
	[ -n "$daemon_port" ] || { cat "$log" >&2; echo "fuzz.sh: the daemon did not start" >&2; exit 1; }
}
stop_daemon() {
	kill -TERM "$daemon_pid"
	for _ in $(seq 600); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
	daemon_pid=""
}

# --- 2. the daemon under ASan and UBSan -------------------------------------
echo "== 2. guestbook_notify_web with -fsanitize=address,undefined, $count fuzz requests"
(cd "$web" && gcc -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	-Wall -Wextra -Werror -Wno-unused-parameter -DGBN_VERSION='"fuzz"' $inc $srcs $libs -o "$work/gbnw-asan")
chown postgres: "$work/gbnw-asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	start_daemon "$work/asan.log" "$work/gbnw-asan" --config "$work/cfg/web.conf"
as_pg "$gbn_python" "$web/fuzz_http.py" --port "$daemon_port" --secret "$secret" --waha-key "$waha" \
	--count "$count" --seed "$seed" | sed 's/^/   /'
stop_daemon
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:|SUMMARY:' "$work/asan.log" || ! grep -q 'LOG:  stopped' "$work/asan.log"; then
	grep -E -A30 'AddressSanitizer|LeakSanitizer|runtime error:' "$work/asan.log" | head -n 80
	echo "fuzz.sh: FAILED (sanitizer report or no clean stop)" >&2
	exit 1
fi
echo "   sanitizers: no report; stopped cleanly; $(grep -c 'webhook stored\|applied' "$work/asan.log" || true) stored-webhook log lines"
stored=$(as_pg psql -X -At -h "$work" -p "$pg_port" -d postgres -c "SELECT count(*) || ' stored (' || count(*) FILTER (WHERE state = 'malformed') || ' malformed)' FROM guestbook_notify.webhook_inbox")
echo "   webhook_inbox: $stored"

# --- 3. valgrind ------------------------------------------------------------
echo "== 3. guestbook_notify_web under valgrind memcheck, $vcount fuzz requests"
(cd "$web" && gcc -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -DGBN_VERSION='"fuzz"' $inc $srcs $libs -o "$work/gbnw-plain")
chown postgres: "$work/gbnw-plain"
start_daemon "$work/valgrind.log" valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --track-origins=yes "$work/gbnw-plain" --config "$work/cfg/web.conf"
as_pg "$gbn_python" "$web/fuzz_http.py" --port "$daemon_port" --secret "$secret" --waha-key "$waha" \
	--count "$vcount" --seed "$((seed + 1))" | sed 's/^/   /'
stop_daemon
grep -E 'ERROR SUMMARY|definitely lost' "$work/valgrind.log" | sed 's/^==[0-9]*== /   /'
if ! grep -q 'ERROR SUMMARY: 0 errors' "$work/valgrind.log"; then
	grep -B5 -A25 'Invalid\|uninitialised\|definitely lost in' "$work/valgrind.log" | head -n 80
	echo "fuzz.sh: FAILED (valgrind)" >&2
	exit 1
fi
echo "== fuzz.sh OK"
