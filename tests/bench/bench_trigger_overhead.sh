#!/usr/bin/env bash
# Figure 5: what a notification costs the app's own transaction (issue 14).
#
# One cluster, one data set, one run. The app transaction is pgbench "assign
# a case" (INSERT INTO case_assignments + UPDATE cases SET status 'assigned',
# assigned_operator_id), -c 4 -j 2, unthrottled, synchronous_commit on, fsync
# on, shared_buffers 128MB; the app's tables hold NCASES cases and one
# earlier assignment per case (100,000), and are put back to that size after
# every run (the run's assignments deleted, VACUUM ANALYZE).  Variants, each
# an AFTER INSERT ... FOR EACH ROW trigger on case_assignments (or none):
#
#   none     no trigger: the app alone
#   gbn      guestbook_notify.attach('public') at its defaults; its worker
#            turns the events into queue rows and sends to the mock meanwhile
#   pg_net   a PL/pgSQL trigger that looks the operator up, builds the Cloud
#            API JSON and calls net.http_post().  pg_net is not installable
#            here (no Debian package, no internet), so net.http_post() is an
#            EMULATION of pg_net 0.20's SQL function: the same PL/pgSQL body
#            (content-type check over the headers, params array, INSERT into
#            an UNLOGGED net.http_request_queue with a bigserial id and no
#            index, body as bytea, net.wake()); net.wake() (C in pg_net: a
#            transaction callback) is an empty SQL function here
#   minimal  a hand-written PL/pgSQL outbox: the same look-up of the
#            operator, INSERT into a logged table whose only index is its
#            bigserial primary key
#   floor    a PL/pgSQL trigger inserting a constant 400-byte row (bigserial
#            key, no look-up)
#   gbn_noworker (not in the default list) attach() with the worker stopped
#            for the run (database_name set elsewhere, reloaded): the
#            trigger's own price, as the peers' outboxes have no consumer
#            running here; the worker resolves the events after the run
#
# Rounds are interleaved: each round runs every variant once, in an order
# rotated by one per round, so drift and other load hit all of them.  The
# TPS ratio of a variant is the median of its per-round ratios to "none" of
# the same round; the backend CPU it adds per transaction is the median of
# per-round differences.  Backend CPU = utime + stime from /proc/<pid>/stat of
# the pgbench backends, read 1.5 s after the start and 1.5 s before the end
# of the run, divided by the transactions in that window (pgbench's tps x the
# window); the worker's CPU (gbn) is read the same way and shown apart.
#
# Both app schemas: "index" = the reference schema (case_assignments has an
# index on (case_id, assigned_at)), "noindex" = only the keys the contract
# names (primary keys).  Then, on the no-index schema, the table grows
# (GROWTH) and "none"/"gbn" are measured again at each size, and the worker's
# drain of DRAIN_EVENTS events (one transaction assigning that many cases ->
# trigger_events empty) is timed at each size.
#
#   sudo bash tests/bench/bench_trigger_overhead.sh
#   sudo SKIP_DEPS=1 ROUNDS=2 DURATION=10 GROWTH= bash tests/bench/bench_trigger_overhead.sh
# Environment: ROUNDS (6), DURATION (15 s per run), CLIENTS (4), NOPS (1000),
#   NCASES (100000), VARIANTS ("none gbn pg_net minimal floor"; "none" must
#   be one), SCHEMAS ("index noindex"), GROWTH ("100000 400000 1000000":
#   earlier assignments of the no-index growth check; empty skips it),
#   GROWTH_ROUNDS (3), GROWTH_DURATION (10), DRAIN_EVENTS (10000; 0 skips),
#   MAX_SEND_RATE (unset: the default).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init bench_trigger_overhead
BENCH_CMD="sudo bash tests/bench/bench_trigger_overhead.sh"

dur=${DURATION:-15}
rounds=${ROUNDS:-6}
clients=${CLIENTS:-4}
nops=${NOPS:-1000}
ncases=${NCASES:-100000}
variants=(${VARIANTS:-none gbn pg_net minimal floor})
schemas=${SCHEMAS:-index noindex}
growth=${GROWTH-100000 400000 1000000}
growth_rounds=${GROWTH_ROUNDS:-3}
growth_dur=${GROWTH_DURATION:-10}
drain_n=${DRAIN_EVENTS:-10000}
hz=$(getconf CLK_TCK)
[ "$dur" -ge 6 ] || { echo "DURATION must be at least 6 s" >&2; exit 2; }

bench_start_mock --max-records 1000
bench_start_cluster "
fsync = on
synchronous_commit = on
shared_buffers = 128MB
$( [ -n "${MAX_SEND_RATE:-}" ] && echo "guestbook_notify.max_send_rate = $MAX_SEND_RATE")
$(bench_profile_conf)
"
echo "== setup: $nops operators, $ncases cases, one earlier assignment per case"
bench_setup_data "$nops" "$ncases"
psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
# an office with history, inserted while detached (nothing queued); the
# history is 30 days old, so a run's own assignments are the recent ones
psql_pg -c "INSERT INTO case_assignments (case_id, operator_id, assigned_at)
            SELECT c.id, o.id, now() - interval '30 days'
              FROM bench_cases c JOIN bench_ops o ON o.n = 1 + (c.n - 1) % $nops"

# ---- the peers' triggers (one function each, on case_assignments) ----
floor_payload=$(head -c 400 /dev/zero | tr '\0' 'x')
psql_pg <<SQL
-- pg_net 0.20's request queue and http_post(), emulated (see the header)
CREATE SCHEMA net;
CREATE UNLOGGED TABLE net.http_request_queue (
	id bigserial,
	method text NOT NULL,
	url text NOT NULL,
	headers jsonb NOT NULL,
	body bytea,
	timeout_milliseconds integer NOT NULL
);
CREATE FUNCTION net.wake() RETURNS void LANGUAGE sql AS \$\$ SELECT NULL::void \$\$;
CREATE FUNCTION net._urlencode_string(s text) RETURNS text LANGUAGE sql IMMUTABLE
AS \$\$ SELECT replace(replace(s, '%', '%25'), '&', '%26') \$\$;
CREATE FUNCTION net._encode_url_with_params_array(url text, params text[]) RETURNS text
LANGUAGE sql IMMUTABLE
AS \$\$ SELECT CASE WHEN cardinality(params) = 0 THEN url
                   ELSE url || '?' || array_to_string(params, '&') END \$\$;
CREATE FUNCTION net.http_post(url text, body jsonb DEFAULT '{}'::jsonb,
	params jsonb DEFAULT '{}'::jsonb,
	headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
	timeout_milliseconds integer DEFAULT 5000)
RETURNS bigint LANGUAGE plpgsql VOLATILE PARALLEL SAFE
AS \$\$
DECLARE
	request_id bigint;
	params_array text[];
	content_type text;
BEGIN
	SELECT header_value INTO content_type
	  FROM jsonb_each_text(coalesce(headers, '{}'::jsonb)) r(header_name, header_value)
	 WHERE lower(header_name) = 'content-type'
	 LIMIT 1;
	IF content_type IS NULL THEN
		SELECT headers || '{"Content-Type": "application/json"}'::jsonb INTO headers;
	END IF;
	IF content_type <> 'application/json' THEN
		RAISE EXCEPTION 'Content-Type header must be "application/json"';
	END IF;
	SELECT coalesce(array_agg(net._urlencode_string(key) || '=' || net._urlencode_string(value)), '{}')
	  INTO params_array
	  FROM jsonb_each_text(params);
	INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
	VALUES ('POST', net._encode_url_with_params_array(url, params_array), headers,
			convert_to(body::text, 'UTF8'), timeout_milliseconds)
	RETURNING id INTO request_id;
	PERFORM net.wake();
	RETURN request_id;
END
\$\$;

CREATE FUNCTION bench_pgnet_trg() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
	u record;
BEGIN
	SELECT full_name, whatsapp_number INTO u FROM public.users WHERE id = NEW.operator_id;
	PERFORM net.http_post(
		url := '$mock_url/v23.0/$bench_phone_id/messages',
		body := jsonb_build_object(
			'messaging_product', 'whatsapp', 'to', u.whatsapp_number, 'type', 'template',
			'template', jsonb_build_object(
				'name', 'case_assigned', 'language', jsonb_build_object('code', 'id'),
				'components', jsonb_build_array(jsonb_build_object(
					'type', 'body', 'parameters', jsonb_build_array(
						jsonb_build_object('type', 'text', 'text', u.full_name),
						jsonb_build_object('type', 'text', 'text', NEW.case_id::text),
						jsonb_build_object('type', 'text', 'text', NEW.id::text)))))),
		headers := jsonb_build_object('Content-Type', 'application/json',
									  'Authorization', 'Bearer $bench_token'));
	RETURN NULL;
END
\$\$;

-- the minimal hand-written outbox: same look-up, one index (its key)
CREATE TABLE bench_outbox (
	id bigserial PRIMARY KEY,
	case_id uuid NOT NULL,
	operator_id uuid NOT NULL,
	assignment_id uuid NOT NULL,
	recipient_name text,
	number text,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION bench_minimal_trg() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
	u record;
BEGIN
	SELECT full_name, whatsapp_number INTO u FROM public.users WHERE id = NEW.operator_id;
	INSERT INTO bench_outbox (case_id, operator_id, assignment_id, recipient_name, number)
	VALUES (NEW.case_id, NEW.operator_id, NEW.id, u.full_name, u.whatsapp_number);
	RETURN NULL;
END
\$\$;

-- the floor: a constant 400-byte row
CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL);
CREATE FUNCTION bench_floor_trg() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO bench_floor (payload) VALUES ('$floor_payload');
	RETURN NULL;
END
\$\$;
VACUUM ANALYZE;
SQL

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

variant_on() {
	case $1 in
		none) ;;
		gbn) psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null ;;
		gbn_noworker)
			# the trigger alone: the worker leaves (its database no longer
			# served), so its CPU is not part of this variant's price
			psql_pg -c "ALTER SYSTEM SET guestbook_notify.database_name = 'bench_nobody'" \
				-c "SELECT pg_reload_conf()" >/dev/null
			for _ in $(seq 100); do
				[ -z "$(bench_worker_pid)" ] && break
				sleep 0.2
			done
			psql_pg -At -c "SELECT guestbook_notify.attach('public')" >/dev/null ;;
		pg_net|minimal|floor)
			psql_pg -c "CREATE TRIGGER bench_variant AFTER INSERT ON case_assignments
			            FOR EACH ROW EXECUTE FUNCTION bench_${1/pg_net/pgnet}_trg()" ;;
		*) echo "unknown variant $1" >&2; exit 2 ;;
	esac
}

# the variant's trigger off; the app's tables back to their history, the
# outboxes emptied (gbn: once its worker has turned the events into queue
# rows, the pending ones are deleted: each run starts with the same backlog)
variant_off() {
	case $1 in
		gbn|gbn_noworker)
			if [ "$1" = gbn_noworker ]; then
				psql_pg -c "ALTER SYSTEM RESET guestbook_notify.database_name" \
					-c "SELECT pg_reload_conf()" >/dev/null
				for _ in $(seq 100); do
					[ -n "$(bench_worker_pid)" ] && break
					sleep 0.2
				done
			fi
			psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null ||
				psql_pg -At -c "SELECT guestbook_notify.detach('public')" >/dev/null
			local left deadline=$(( $(date +%s) + 15 ))
			while :; do
				left=$(sql_val "SELECT count(*) FROM guestbook_notify.trigger_events")
				[ "$left" = 0 ] || [ "$(date +%s)" -ge "$deadline" ] && break
				sleep 0.1
			done
			if [ "$left" != 0 ]; then
				# the worker is behind (e.g. held back after a slow answer of
				# the mock on a busy machine): the rest is resolved here, after
				# the measured window
				echo "   (the worker had $left events left 15 s after the run; resolved by process_events())" >&2
				psql_pg -At -c "SELECT guestbook_notify.process_events(1000000)" >/dev/null
			fi
			psql_pg -c "DELETE FROM guestbook_notify.notification_queue
			             WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < now())" ;;
		none) ;;
		*) psql_pg -c "DROP TRIGGER bench_variant ON case_assignments" ;;
	esac
	psql_pg -c "DELETE FROM case_assignments WHERE assigned_at > now() - interval '1 day'" \
		-c "TRUNCATE bench_outbox, bench_floor, net.http_request_queue"
}

# CPU ticks (utime + stime) of the pids
cpu_ticks() {
	local t=0 p v
	for p in "$@"; do
		v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# run_one VARIANT DURATION TAG -> "tps backend_us_per_tx worker_us_per_tx"
run_one() {
	local v=$1 d=$2 tag=$3 pid pids wpid="" ts t0 t1 c0 c1 w0=0 w1=0 tps p
	variant_on "$v"
	psql_pg -c "VACUUM ANALYZE cases, case_assignments" -c "CHECKPOINT"
	[ "$v" = gbn ] && wpid=$(bench_worker_pid)
	ts=$(date +%s.%N)
	pgb -T "$d" >"$work/pgb.$tag" 2>&1 &
	pid=$!
	# the clients' backends (all of them connected), then a window from
	# 1.5 s after the start to 1.5 s before the end (a busy machine makes
	# the psql calls slow: the window is placed by the clock)
	for _ in $(seq 50); do
		sleep 0.2
		pids=$(sql_val "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
		                 WHERE application_name = 'pgbench' AND backend_type = 'client backend'")
		[ "$(wc -w <<<"$pids")" -ge "$clients" ] && break
	done
	sleep "$(awk -v ts="$ts" -v now="$(date +%s.%N)" 'BEGIN {s = ts + 1.5 - now; print (s > 0 ? s : 0)}')"
	t0=$(date +%s.%N); c0=$(cpu_ticks $pids); [ -n "$wpid" ] && w0=$(cpu_ticks "$wpid")
	sleep "$(awk -v ts="$ts" -v d="$d" -v now="$(date +%s.%N)" 'BEGIN {s = ts + d - 1.5 - now; print (s > 0 ? s : 0)}')"
	t1=$(date +%s.%N)
	for p in $pids; do
		[ -e "/proc/$p" ] || { echo "run_one $tag: backend $p ended before the window did" >&2; exit 1; }
	done
	c1=$(cpu_ticks $pids); [ -n "$wpid" ] && w1=$(cpu_ticks "$wpid")
	wait "$pid" || { cat "$work/pgb.$tag" >&2; exit 1; }
	tps=$(awk '/^tps = / {printf "%.1f", $3}' "$work/pgb.$tag")
	variant_off "$v" >/dev/null
	awk -v tps="$tps" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v hz="$hz" \
		'BEGIN {n = tps * (t1 - t0); printf "%s %.1f %.1f\n", tps, c / hz * 1e6 / n, w / hz * 1e6 / n}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) printf "%.3f", a[(NR + 1) / 2]; else printf "%.3f", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
med0() { printf '%.0f' "$(median "$@")"; }
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%s-%s", lo, hi}'; }

label() {
	case $1 in
		none) echo "none (the app alone)" ;;
		gbn) echo "guestbook_notify, attach() at defaults" ;;
		gbn_noworker) echo "guestbook_notify trigger alone (worker stopped during the run)" ;;
		pg_net) echo "pg_net-style trigger (net.http_post EMULATED, see header)" ;;
		minimal) echo "minimal PL/pgSQL outbox (operator look-up, bigserial key)" ;;
		floor) echo "floor: constant 400-byte row" ;;
	esac
}

echo "== warm-up: 3 s per variant"
for v in "${variants[@]}"; do
	variant_on "$v"; pgb -T 3 >/dev/null 2>&1; variant_off "$v" >/dev/null
done

table_md=""
for schema in $schemas; do
	case $schema in
		index) psql_pg -c "CREATE INDEX IF NOT EXISTS case_assignments_case_idx ON case_assignments (case_id, assigned_at)" ;;
		noindex) psql_pg -c "DROP INDEX IF EXISTS case_assignments_case_idx" ;;
	esac
	psql_pg -c "VACUUM ANALYZE"
	conds=$(bench_conditions)
	hist=$(sql_val "SELECT count(*) FROM case_assignments")
	echo "== schema '$schema': $hist earlier assignments, $rounds rounds x ${#variants[@]} variants x $dur s"
	declare -A tps=() cpu=() wcpu=()
	load_avgs=()
	for r in $(seq "$rounds"); do
		n=${#variants[@]}
		load_avgs+=("$(cut -d' ' -f1 /proc/loadavg)")
		for k in $(seq 0 $((n - 1))); do
			v=${variants[$(( (k + r - 1) % n ))]}
			read -r t c w < <(run_one "$v" "$dur" "$schema.$v.$r")
			[ -n "${w:-}" ] || { echo "run $schema.$v.$r failed" >&2; exit 1; }
			tps[$v.$r]=$t; cpu[$v.$r]=$c; wcpu[$v.$r]=$w
			echo "   $schema round $r: $v $t tps, backend ${c} us/tx$( [ "$v" = gbn ] && echo ", worker ${w} us/tx")"
		done
	done
	lines=""
	for v in "${variants[@]}"; do
		ratios=(); adds=(); ts=(); ws=()
		for r in $(seq "$rounds"); do
			ratios+=("$(awk -v a="${tps[$v.$r]}" -v b="${tps[none.$r]}" 'BEGIN {printf "%.3f", a / b}')")
			adds+=("$(awk -v a="${cpu[$v.$r]}" -v b="${cpu[none.$r]}" 'BEGIN {printf "%.1f", a - b}')")
			ts+=("${tps[$v.$r]}"); ws+=("${wcpu[$v.$r]}")
		done
		mr=$(median "${ratios[@]}"); ma=$(med0 "${adds[@]}"); mt=$(med0 "${ts[@]}")
		extra=""
		[ "$v" = gbn ] && extra=" (worker: $(med0 "${ws[@]}") us/tx more, not in the backend figure)"
		echo "   $schema: $v: ratio median $mr (per round: ${ratios[*]}), tps median $mt, backend CPU added $ma us/tx (per round: ${adds[*]})$extra"
		lines+="| $(label "$v") | $mr ($(minmax "${ratios[@]}")) | $mt | $( [ "$v" = none ] && echo "$(med0 $(for r in $(seq "$rounds"); do echo "${cpu[none.$r]}"; done)) us (the app's own)" || printf '%+d us' "$ma") |"$'\n'
		if [ "$v" != none ]; then
			bench_result "5 trigger overhead, $schema schema: $v" \
				"$( [ "$v" = gbn ] && echo 'TPS ratio >= 0.85 and within 10 % of minimal' || echo 'comparison')" \
				"ratio $mr (median of per-round ratios ${ratios[*]}), backend CPU added $ma us/tx$extra" \
				"$(label "$v"); pgbench -c $clients -j 2 -T $dur, assign a case, $rounds interleaved rounds (rotated order), $hist earlier assignments (case_assignments $( [ "$schema" = index ] && echo 'with' || echo 'without') an index on case_id), $ncases cases, $nops operators; load average at each round start: ${load_avgs[*]}; $conds"
		fi
	done
	table_md+="
Schema **$schema** ($hist earlier assignments; case_assignments $( [ "$schema" = index ] && echo 'with the index (case_id, assigned_at)' || echo 'with primary keys only')); load average at each round's start: ${load_avgs[*]}

| variant | TPS ratio to none, median of $rounds rounds (min-max) | TPS (median) | backend CPU per transaction |
|---|---|---|---|
$lines"
	unset tps cpu wcpu
done
echo
echo "== figure 5, one run ($(date -u '+%Y-%m-%d %H:%M UTC'); pgbench -c $clients -j 2, $rounds interleaved rounds of $dur s; backend CPU from /proc/<pid>/stat of the pgbench backends)"
echo "$table_md"

# ---- the cost must not grow with case_assignments (primary keys only) ----
if [ -n "$growth" ]; then
	psql_pg -c "DROP INDEX IF EXISTS case_assignments_case_idx"
	echo "== growth (no index): none/gbn x $growth_rounds rounds of $growth_dur s at each size; worker drain of $drain_n events"
	growth_md="| earlier assignments | none TPS (median) | gbn TPS (median) | gbn ratio (median of per-round) | worker: $drain_n events resolved (s) | events/s |"$'\n'"|---|---|---|---|---|---|"$'\n'
	for size in $growth; do
		have=$(sql_val "SELECT count(*) FROM case_assignments")
		if [ "$size" -gt "$have" ]; then
			psql_pg -c "INSERT INTO case_assignments (case_id, operator_id, assigned_at)
			            SELECT c.id, o.id, now() - interval '60 days' + g * interval '1 ms'
			              FROM generate_series(1, $((size - have))) g
			              JOIN bench_cases c ON c.n = 1 + (g - 1) % $ncases
			              JOIN bench_ops o ON o.n = 1 + (g - 1) % $nops"
		fi
		psql_pg -c "VACUUM ANALYZE"
		have=$(sql_val "SELECT count(*) FROM case_assignments")
		gr=(); gn=(); gg=()
		for r in $(seq "$growth_rounds"); do
			for v in none gbn; do
				read -r t _ _ < <(run_one "$v" "$growth_dur" "growth.$have.$v.$r")
				[ "$v" = none ] && gn+=("$t") || gg+=("$t")
			done
			gr+=("$(awk -v a="${gg[-1]}" -v b="${gn[-1]}" 'BEGIN {printf "%.3f", a / b}')")
		done
		drain="-"; rate="-"
		if [ "$drain_n" -gt 0 ]; then
			# one transaction assigns drain_n cases; the worker resolves the
			# events (looks the app's tables up as their owner, renders,
			# dedupes, writes queue rows); clock: that commit -> no event left
			variant_on gbn
			psql_pg -c "INSERT INTO bench_marks VALUES ('drain_$have', now())
			            ON CONFLICT (name) DO UPDATE SET at = EXCLUDED.at" \
				-c "INSERT INTO case_assignments (case_id, operator_id)
			        SELECT c.id, o.id FROM bench_cases c JOIN bench_ops o ON o.n = 1 + (c.n - 1) % $nops
			         WHERE c.n <= $drain_n"
			t0=$(date +%s.%N)
			for _ in $(seq 6000); do
				[ "$(sql_val "SELECT count(*) FROM guestbook_notify.trigger_events")" = 0 ] && break
				sleep 0.05
			done
			t1=$(date +%s.%N)
			drain=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
			rate=$(awk -v d="$drain" -v n="$drain_n" 'BEGIN {printf "%.0f", n / d}')
			variant_off gbn >/dev/null
		fi
		echo "   $have assignments: none ${gn[*]}, gbn ${gg[*]} tps, ratios ${gr[*]}; $drain_n events resolved in $drain s ($rate/s)"
		growth_md+="| $have | $(med0 "${gn[@]}") | $(med0 "${gg[@]}") | $(median "${gr[@]}") ($(minmax "${gr[@]}")) | $drain | $rate |"$'\n'
		bench_result "5b no-index growth, $have earlier assignments" "flat: TPS and drain independent of the table size" \
			"gbn ratio $(median "${gr[@]}") (none $(med0 "${gn[@]}") tps, gbn $(med0 "${gg[@]}") tps); worker resolved $drain_n events in $drain s ($rate/s)" \
			"case_assignments with primary keys only, $have rows; pgbench -c $clients -j 2 -T $growth_dur x $growth_rounds rounds (none, gbn); drain: one transaction of $drain_n assignments, commit -> trigger_events empty (polled every 50 ms); load average $(cut -d' ' -f1-3 /proc/loadavg); $(bench_conditions)"
	done
	echo
	echo "== growth of case_assignments without the index"
	echo "$growth_md"
fi
bench_print_statements
