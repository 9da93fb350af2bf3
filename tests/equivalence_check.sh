#!/bin/bash
#
# tests/equivalence_check.sh: the C implementations of commit 0440243
# (src/normalize.c, src/render.c, src/row_check.c) against the PL/pgSQL
# functions they replaced (092217c:sql/guestbook_notify--1.0.sql), which are
# copied verbatim below into a schema "old".  Compared, byte for byte:
#   _normalize_number(text)            _render_text(text, jsonb)
#   _template_arg(text)                _template_args(text[], jsonb)
#   _case_params(uuid, text x10)       _queue_row_valid(text, text, int, text, timestamptz)
# on generated and hand-picked inputs (the generators are seeded: every run
# compares the same cases).  An error is an outcome too: old and new must
# both succeed with the same bytes, or both fail with the same SQLSTATE and
# message.
#
# The main groups call the functions as the extension does, under the
# database's default collation (C.UTF-8).  The group "collation" calls them
# with an explicit COLLATE ("C", "POSIX", ICU "und-x-icu" and a
# nondeterministic ICU collation): PL/pgSQL honours the caller's collation
# (regex classes, "=", strpos), the C code does not: it always works as
# under the database's default collation (deterministic, its LC_CTYPE).
# Those differences are intended (112 cases: Unicode spaces under "C",
# nondeterministic ICU collations where the old code raised 0A000 or
# compared case-insensitively), so the group only runs with
# EQV_COLLATIONS=1.
#
# Run as root; builds nothing: the extension must be installed (make
# install).  Starts its own throwaway cluster as the postgres OS user and
# removes it.  Prints "equivalence: N cases, M differences" and exits 1 when
# M > 0 (2, or psql's exit status, when it could not run).  Not part of run_tests.sh.
#
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
	echo "equivalence_check.sh: run as root" >&2
	exit 2
fi

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGUSER_OS=postgres
PORT=${EQV_PORT:-$((20000 + $$ % 20000))}
WORK=$(mktemp -d /tmp/gbn_equivalence.XXXXXX)
chown "$PGUSER_OS" "$WORK"
chmod 700 "$WORK"
STARTED=0

cleanup() {
	if [ "$STARTED" = 1 ]; then
		runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

[ -f "$("$PGBIN/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)/guestbook_notify.so" ] || {
	echo "equivalence_check.sh: guestbook_notify is not installed (make install)" >&2
	exit 2
}

runuser -u "$PGUSER_OS" -- "$PGBIN/initdb" -D "$WORK/data" -E UTF8 --locale=C.UTF-8 -A trust \
	>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 2; }
cat >>"$WORK/data/postgresql.conf" <<EOF
shared_preload_libraries = 'guestbook_notify'
guestbook_notify.database_name = 'nodb'
guestbook_notify.app_base_url = 'https://guestbook.example.go.id/'
port = $PORT
unix_socket_directories = '$WORK'
listen_addresses = ''
fsync = off
EOF
runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start >/dev/null ||
	{ cat "$WORK/server.log" >&2; exit 2; }
STARTED=1

psql_db() {
	local db=$1
	shift
	runuser -u "$PGUSER_OS" -- "$PGBIN/psql" -h "$WORK" -p "$PORT" -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
q() { psql_db eqv "$@"; }

psql_db postgres -c 'CREATE DATABASE eqv' >/dev/null

# ---------------------------------------------------------------------------
# The old PL/pgSQL definitions, verbatim from 092217c, renamed to old.*
# ---------------------------------------------------------------------------
q <<'OLD_SQL'
CREATE EXTENSION guestbook_notify;
CREATE SCHEMA old;

CREATE FUNCTION old._queue_row_valid(
	p_channel text, p_status text, p_attempt_count integer,
	p_delivery_status text, p_sent_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
	RETURN coalesce(p_channel = 'whatsapp'
					AND p_status IN ('pending', 'sent', 'failed', 'cancelled')
					AND p_attempt_count >= 0
					AND (p_delivery_status IS NULL
						 OR p_delivery_status IN ('sent', 'delivered', 'read', 'failed'))
					AND (p_status <> 'sent' OR p_sent_at IS NOT NULL),
					true);
END;
$$;

CREATE FUNCTION old._normalize_number(p_number text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
	s text := regexp_replace(regexp_replace(p_number, '\(\s*0\s*\)', '', 'g'),
							 '[[:space:]()./-]', '', 'g');
BEGIN
	IF s ~ '^(\+|00)' THEN
		s := regexp_replace(s, '^(\+|00)', '');	-- international prefix
	ELSIF s ~ '^0' THEN
		s := '62' || substr(s, 2);					-- trunk prefix
	ELSIF s ~ '^8' THEN
		s := '62' || s;
	END IF;
	s := regexp_replace(s, '^620', '62');			-- "+62 0812..."
	IF s ~ '^628[1-35-9][0-9]{7,10}$' THEN
		RETURN s;
	END IF;
	RETURN NULL;
END;
$$;

CREATE FUNCTION old._render_text(p_body text, p_params jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
	rest text := p_body;
	result text := '';
	marker text;
	i int;
	j int;
	name text;
BEGIN
	IF p_body IS NULL THEN
		RETURN '';
	END IF;
	-- plain string functions (no query) keep this cheap on the trigger path
	LOOP
		i := strpos(rest, '{{');
		EXIT WHEN i = 0;
		j := strpos(substr(rest, i + 2), '}}');		-- "}}" at i + 2 + j - 1
		EXIT WHEN j = 0;
		name := btrim(substr(rest, i + 2, j - 1), E' \t\r\n');
		IF p_params ? name THEN
			result := result || left(rest, i - 1) || coalesce(p_params ->> name, '');
			rest := substr(rest, i + j + 3);
		ELSE
			-- not a placeholder we know: keep the "{" and look further
			result := result || left(rest, i);
			rest := substr(rest, i + 1);
		END IF;
	END LOOP;
	result := result || rest;
	IF length(result) > 4096 THEN
		-- chr(8230) is the ellipsis; only UTF8 databases can hold it (and
		-- only there does length() count characters rather than bytes)
		IF getdatabaseencoding() = 'UTF8' THEN
			marker := E'\n' || chr(8230) || '[pesan dipotong]';
		ELSE
			marker := E'\n...[pesan dipotong]';
		END IF;
		result := left(result, 4096 - length(marker)) || marker;
	END IF;
	RETURN result;
END;
$$;

CREATE FUNCTION old._template_arg(p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
	v text := translate(coalesce(p_value, ''), E'\t', ' ');
BEGIN
	IF strpos(v, E'\n') > 0 OR strpos(v, E'\r') > 0 THEN
		v := replace(replace(replace(v, E'\r\n', ' | '), E'\r', ' | '), E'\n', ' | ');
	END IF;
	IF strpos(v, '     ') > 0 THEN
		v := regexp_replace(v, ' {5,}', '    ', 'g');
	END IF;
	v := btrim(v);
	RETURN CASE WHEN v = '' THEN '-' ELSE v END;
END;
$$;

CREATE FUNCTION old._template_args(p_names text[], p_params jsonb)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
	n text;
	v text;
	args text[] := '{}';
BEGIN
	FOREACH n IN ARRAY coalesce(p_names, '{}') LOOP
		v := btrim(replace(replace(replace(translate(coalesce(p_params ->> n, ''), E'\t', ' '),
										   E'\r\n', ' | '), E'\r', ' | '), E'\n', ' | '));
		IF strpos(v, '     ') > 0 THEN
			v := regexp_replace(v, ' {5,}', '    ', 'g');
		END IF;
		args := args || CASE WHEN v = '' THEN '-' ELSE v END;
	END LOOP;
	RETURN args;
END;
$$;

CREATE FUNCTION old._case_params(
	p_case_id uuid, p_code text, p_case_type text, p_unit_tujuan text,
	p_org_unit_name text, p_visitor_name text, p_visitor_id_number text,
	p_purpose text, p_surat_tracking_no text, p_surat_perihal text,
	p_recipient_name text)
RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
BEGIN
	RETURN jsonb_build_object(
		'case_code', coalesce(p_code, '-'),
		'case_type', coalesce(p_case_type, '-'),
		'unit_tujuan', coalesce(nullif(p_unit_tujuan, ''), '-'),
		'org_unit_name', coalesce(nullif(p_org_unit_name, ''), '-'),
		'summary', CASE WHEN p_case_type = 'surat' THEN
						'No. Surat: ' || coalesce(nullif(p_surat_tracking_no, ''), '-') || E'\n' ||
						'Perihal: ' || coalesce(nullif(p_surat_perihal, ''), '-')
					ELSE
						'Nama: ' || coalesce(nullif(p_visitor_name, ''), '-') || E'\n' ||
						'NIP/NIK: ' || coalesce(nullif(p_visitor_id_number, ''), '-') || E'\n' ||
						'Keperluan: ' || coalesce(nullif(p_purpose, ''), '-')
					END,
		'detail_url', rtrim(coalesce(current_setting('guestbook_notify.app_base_url', true), ''), '/')
					  || '/admin/cases/' || p_case_id::text,
		'recipient_name', coalesce(p_recipient_name, ''));
END;
$$;
OLD_SQL

# ---------------------------------------------------------------------------
# Harness: outcome tokens, wrappers that catch errors, display helpers,
# result tables.
# ---------------------------------------------------------------------------
q <<'HARNESS_SQL'
CREATE SCHEMA eqv;
CREATE SCHEMA gen;

CREATE FUNCTION eqv.assert(ok boolean, msg text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF ok IS NOT TRUE THEN
		RAISE EXCEPTION '%', msg;
	END IF;
END;
$$;

-- one outcome: 'NULL', 'V:<hex of the UTF8 bytes>' or 'ERROR <sqlstate>: <message>'
CREATE FUNCTION eqv.tok(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN t IS NULL THEN 'NULL' ELSE 'V:' || encode(convert_to(t, 'UTF8'), 'hex') END $$;

-- an exact, copy-pasteable literal: control and non-ASCII characters as \uXXXX
CREATE FUNCTION eqv.lit(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	r text := '';
	c text;
	o int;
BEGIN
	IF t IS NULL THEN
		RETURN 'NULL';
	ELSIF t = '' THEN
		RETURN '''''';
	END IF;
	FOREACH c IN ARRAY regexp_split_to_array(t, '') LOOP
		o := ascii(c);
		IF c = E'\\' THEN
			r := r || E'\\\\';
		ELSIF c = '''' THEN
			r := r || E'\\''';
		ELSIF o < 32 OR o >= 127 THEN
			IF o > 65535 THEN
				r := r || E'\\U' || lpad(to_hex(o), 8, '0');
			ELSE
				r := r || E'\\u' || lpad(to_hex(o), 4, '0');
			END IF;
		ELSE
			r := r || c;
		END IF;
	END LOOP;
	RETURN 'E''' || r || '''';
END;
$$;

-- a literal, shortened around position p (characters) when long
CREATE FUNCTION eqv.short(t text, p int DEFAULT 1) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN t IS NULL THEN 'NULL'
				WHEN length(t) <= 160 THEN eqv.lit(t)
				ELSE format('(%s chars, %s bytes, md5 %s) ...%s...', length(t), octet_length(t), md5(t),
							eqv.lit(substr(t, greatest(p - 40, 1), 100)))
		   END
$$;

CREATE FUNCTION eqv.untok(tok text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN tok LIKE 'V:%' THEN convert_from(decode(substr(tok, 3), 'hex'), 'UTF8') END
$$;

-- first differing character (1-based) of two texts
CREATE FUNCTION eqv.firstdiff(a text, b text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	i int := 1;
BEGIN
	IF a IS NULL OR b IS NULL THEN
		RETURN 1;
	END IF;
	WHILE i <= least(length(a), length(b)) AND substr(a, i, 1) = substr(b, i, 1) LOOP
		i := i + 1;
	END LOOP;
	RETURN i;
END;
$$;

CREATE FUNCTION eqv.show(tok text, p int DEFAULT 1) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN tok LIKE 'V:%'
				THEN eqv.short(eqv.untok(tok), p) ||
					 CASE WHEN length(tok) <= 2 + 2 * 160 THEN ' [hex ' || substr(tok, 3) || ']' ELSE '' END
				ELSE tok END
$$;

-- wrappers: the outcome of one call of old.X or guestbook_notify.X
DO $do$
DECLARE
	ns text;
BEGIN
	FOREACH ns IN ARRAY ARRAY['old', 'guestbook_notify'] LOOP
		EXECUTE format($f$
			CREATE FUNCTION eqv.norm_%1$s(x text) RETURNS text LANGUAGE plpgsql AS $b$
			BEGIN
				RETURN eqv.tok(%2$I._normalize_number(x));
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
			CREATE FUNCTION eqv.render_%1$s(b text, p jsonb) RETURNS text LANGUAGE plpgsql AS $b$
			BEGIN
				RETURN eqv.tok(%2$I._render_text(b, p));
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
			CREATE FUNCTION eqv.targ_%1$s(v text) RETURNS text LANGUAGE plpgsql AS $b$
			BEGIN
				RETURN eqv.tok(%2$I._template_arg(v));
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
			CREATE FUNCTION eqv.targs_%1$s(a text[], p jsonb) RETURNS text LANGUAGE plpgsql AS $b$
			DECLARE
				r text[];
			BEGIN
				r := %2$I._template_args(a, p);
				-- array_out shows non-default bounds; add the dimensions anyway
				RETURN eqv.tok(coalesce(array_dims(r), '<no dims>') || ' ' || r::text);
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
			CREATE FUNCTION eqv.case_%1$s(id uuid, a1 text, a2 text, a3 text, a4 text, a5 text,
										  a6 text, a7 text, a8 text, a9 text, a10 text)
				RETURNS text LANGUAGE plpgsql AS $b$
			BEGIN
				RETURN eqv.tok(%2$I._case_params(id, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10)::text);
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
			CREATE FUNCTION eqv.qrv_%1$s(c text, s text, n int, d text, t timestamptz)
				RETURNS text LANGUAGE plpgsql AS $b$
			BEGIN
				RETURN eqv.tok(%2$I._queue_row_valid(c, s, n, d, t)::text);
			EXCEPTION WHEN others THEN
				RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
			END $b$;
		$f$, CASE ns WHEN 'old' THEN 'old' ELSE 'new' END, ns);
	END LOOP;
END
$do$;

CREATE TABLE eqv.norm (id serial, grp text, x text, o text, n text);
CREATE TABLE eqv.render (id serial, grp text, b text, p jsonb, o text, n text);
CREATE TABLE eqv.targ (id serial, grp text, v text, o text, n text);
CREATE TABLE eqv.targs (id serial, grp text, a text[], p jsonb, o text, n text);
CREATE TABLE eqv.casep (id serial, grp text, base_url text, cid uuid, a text[], o text, n text);
CREATE TABLE eqv.qrv (id serial, grp text, c text, s text, k int, d text, t timestamptz, o text, n text);
-- the collation group: any call, as SQL text, evaluated by EXECUTE
CREATE TABLE eqv.coll (id serial, fn text, call_old text, call_new text, o text, n text);

-- ---- generator helpers (deterministic after setseed) -----------------
CREATE FUNCTION gen.r(n int) RETURNS int LANGUAGE sql VOLATILE AS
$$ SELECT floor(random() * n)::int $$;		-- 0 .. n-1
CREATE FUNCTION gen.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;
CREATE FUNCTION gen.digits(n int) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text := '';
BEGIN
	FOR i IN 1..n LOOP
		s := s || floor(random() * 10)::int;
	END LOOP;
	RETURN s;
END;
$$;
HARNESS_SQL

# ---------------------------------------------------------------------------
# (a) _normalize_number
# ---------------------------------------------------------------------------
q <<'NORM_SQL'
SELECT setseed(0.4242) AS seeded \gset

CREATE FUNCTION gen.sep() RETURNS text LANGUAGE sql VOLATILE AS $$
	SELECT CASE WHEN random() < 0.7
		THEN gen.pick(ARRAY['', ' ', '-', '.', '/', '  ', ' - ', ' ', '-'])
		ELSE gen.pick(ARRAY[E'\t', E'\n', E'\r\n', E'\r', E'\v', E'\f', U&'\00A0', U&'\2003',
							U&'\3000', U&'\202F', U&'\1680', U&'\2028', U&'\2029', U&'\0085',
							U&'\200B', U&'\FEFF', U&'\2007', U&'\2000', U&'\205F', chr(28),
							chr(31), '(', ')', '()', '( )', '_', ',', '+', ' (0) ', '(0)',
							E' \t ', '--', './', U&'\3000\3000'])
	END
$$;

CREATE FUNCTION gen.trunk() RETURNS text LANGUAGE sql VOLATILE AS $$
	SELECT gen.pick(ARRAY['(0)', '( 0 )', '(0 )', '( 0)', E'(\t0\n)', U&'(\30000\3000)',
						  U&'(\00A00)', U&'(\20030\2003)', E'(\v0\f)', '((0)', '(0(0)', '(0',
						  '0)', '(00)', '(o)', '(0)(0)', '()0', '( )', '(0))', '(( 0 ))',
						  '(0)0', U&'(\FF10)', '(1)', '0', ''])
$$;

CREATE FUNCTION gen.mutate(s text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	k int := gen.r(13);
	p int := 1 + gen.r(greatest(length(s), 1));
	d int := gen.r(10);
BEGIN
	CASE k
		WHEN 0 THEN	-- a fullwidth digit
			RETURN overlay(s PLACING chr(65296 + d) FROM p FOR 1);
		WHEN 1 THEN	-- an Arabic-Indic digit
			RETURN overlay(s PLACING chr(1632 + d) FROM p FOR 1);
		WHEN 2 THEN	-- a letter
			RETURN overlay(s PLACING gen.pick(ARRAY['x', 'O', 'l', 'e', 'é']) FROM p FOR 0);
		WHEN 3 THEN
			RETURN gen.pick(ARRAY[' ', E'\t', E'\n', U&'\00A0', U&'\3000', U&'\2003', '  ']) || s;
		WHEN 4 THEN
			RETURN s || gen.pick(ARRAY[' ', E'\t', E'\n', U&'\00A0', U&'\3000', U&'\202F', E'\r\n']);
		WHEN 5 THEN
			RETURN '(' || s || ')';
		WHEN 6 THEN	-- drop a character
			RETURN overlay(s PLACING '' FROM p FOR 1);
		WHEN 7 THEN	-- one more digit
			RETURN s || d;
		WHEN 8 THEN	-- a separator somewhere
			RETURN overlay(s PLACING gen.sep() FROM p FOR 0);
		WHEN 9 THEN
			RETURN overlay(s PLACING gen.trunk() FROM p FOR 0);
		WHEN 10 THEN
			RETURN overlay(s PLACING '+' FROM p FOR 0);
		WHEN 11 THEN
			RETURN overlay(s PLACING gen.pick(ARRAY['ñ', '😀', U&'\0660', '·', '–', '—', '−']) FROM p FOR 1);
		ELSE
			RETURN s || s;
	END CASE;
END;
$$;

CREATE FUNCTION gen.number() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	len int := 6 + gen.r(9);			-- national number, 8..., 6..14 digits
	nsn text := '8' || gen.r(10) || gen.digits(len - 2);
	a text := substr(nsn, 1, 3);
	b text := substr(nsn, 4, 4);
	c text := substr(nsn, 8);
	s text;
BEGIN
	CASE gen.r(15)
		WHEN 0 THEN s := '0' || a || gen.sep() || b || gen.sep() || c;
		WHEN 1 THEN s := '+62' || gen.sep() || a || gen.sep() || b || gen.sep() || c;
		WHEN 2 THEN s := '62' || nsn;
		WHEN 3 THEN s := a || gen.sep() || b || gen.sep() || c;
		WHEN 4 THEN s := '0062' || gen.sep() || a || gen.sep() || b || gen.sep() || c;
		WHEN 5 THEN s := '+62' || gen.sep() || gen.trunk() || gen.sep() || a || gen.sep() || b || gen.sep() || c;
		WHEN 6 THEN s := '(0' || a || ')' || gen.sep() || b || '.' || c;
		WHEN 7 THEN s := '0' || a || '/' || b || '/' || c;
		WHEN 8 THEN s := gen.pick(ARRAY['620', '+620', '00620', '+62 0', '62 0', '0620', '6200', '+62-0']) || nsn;
		WHEN 9 THEN s := gen.trunk() || a || gen.sep() || b || gen.sep() || c;
		WHEN 10 THEN s := '62' || gen.sep() || gen.trunk() || gen.sep() || a || b || c;
		WHEN 11 THEN	-- a separator between any two digits
			s := '0';
			FOR i IN 1..length(nsn) LOOP
				s := s || CASE WHEN random() < 0.3 THEN gen.sep() ELSE '' END || substr(nsn, i, 1);
			END LOOP;
		WHEN 12 THEN s := gen.pick(ARRAY['+62+', '++62', '+ 62', '0 0 62 ', '00 62', '+0062', '0+62', '+(62)', '(+62)', '+6 2', '+62(0', '+62)0']) || nsn;
		WHEN 13 THEN s := gen.pick(ARRAY['+61 ', '+1 ', '0061', '6', '63', '+63', '', '6262', '0062 0']) || nsn;
		ELSE s := '0' || nsn;
	END CASE;
	WHILE random() < 0.2 LOOP
		s := gen.mutate(s);
	END LOOP;
	RETURN s;
END;
$$;

CREATE FUNCTION gen.junk() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text := '';
	cs text[] := ARRAY['0','1','2','3','4','5','6','7','8','9','0','8','6','2','0','8','6','2',
					   '+','-','(',')','.',' ','/',E'\t',E'\n',
					   U&'\00A0', U&'\3000', U&'\2003', U&'\FF10', U&'\FF18', 'é', '😀'];
BEGIN
	FOR i IN 1..gen.r(26) LOOP
		s := s || CASE WHEN random() < 0.97 THEN cs[1 + gen.r(27)] ELSE cs[28 + gen.r(7)] END;
	END LOOP;
	RETURN s;
END;
$$;

-- hand-picked
INSERT INTO eqv.norm (grp, x)
SELECT 'fixed', x FROM unnest(ARRAY[
	'', ' ', '  ', E'\t', E'\n', E'\t\n\v\f\r ', U&'\00A0', U&'\3000', '(0)', '()', '(', ')', '+', '++',
	'00', '000', '0', '8', '62', '620', '6200', '628', '+62', '0062', '(0)(0)', '( 0 )', '(0 )', '((0)',
	'6281234567', '62812345678', '628123456789', '6281234567890', '62812345678901', '628123456789012',
	'62801234567', '62841234567890', '62851234567890', '62891234567', '6281234567A', 'A6281234567',
	'0812-3456-7890', '+62 812 3456 7890', '6281234567890', '812 3456 7890', '0062 812 3456 7890',
	'+62 (0) 812 3456 7890', '(0812) 3456.7890', '0812/3456/7890', '+62 0812 3456 7890',
	'((0)812 3456 7890', '( 0 )812 3456 7890', '(0 )812 3456 7890', '( 0)812-3456-7890',
	'+62((0))8123456789', '+62(0(0))8123456789', '+62 ((0) 812 3456 789', '+62 (0)) 812 3456 789',
	'0(0)812 3456 7890', '(0)0812 3456 7890', '(0)(0)812 3456 7890', '(0)(0)(0)8123456789',
	E'0812\t3456\n7890', E'0812\v3456\f7890', E'0812\r\n3456 7890', U&'0812\00A03456\00A07890',
	U&'0812\20033456\20037890', U&'0812\30003456\30007890', U&'0812\202F3456\202F7890',
	U&'\FF10\FF18\FF11\FF12 3456 7890', U&'0812 3456 789\FF10', 'O812 3456 7890', '0812 3456 789O',
	'+62 812 3456 78901', '+62 812 3456 789012', '+62 812 3456', '+62 812 345', '+62 812 34567',
	'+62 802 3456 7890', '+62 842 3456 7890', '0842 3456 7890', '0802 3456 7890',
	'620812 3456 7890', '6200812 3456 7890', '+6208123456789', '006208123456789', '0620812345678',
	'+0812 3456 7890', '+00628123456789', '00+628123456789', '+ 62 812 3456 7890', '+(62) 812 3456 7890',
	'8', '81', '812', '8123456', '81234567', '812345678', '8123456789', '81234567890', '812345678901',
	'8123456789012', '0812345678', '08123456789', '081234567890', '0812345678901', '08123456789012',
	E'\n0812 3456 7890\n', '  0812 3456 7890  ', '0812-3456-7890-', '-0812-3456-7890', '.0812.3456.7890.',
	'/0812/3456/7890/', '(+62) (0) 812-3456-7890', '+62 (0)812-3456-7890', '62 (0) 812 3456 7890',
	'6 2 8 1 2 3 4 5 6 7 8 9 0', '0 8 1 2 3 4 5 6 7 8 9 0', '0812 3456 7890 ext. 12', 'tel: 0812 3456 7890',
	'0812😀3456 7890', 'é', '😀', U&'(\30000\3000)8123456789', U&'(\00A00\00A0)8123456789'
]) x;

-- every short prefix over a small alphabet, before a few tails
INSERT INTO eqv.norm (grp, x)
WITH RECURSIVE alpha(c) AS (
	SELECT unnest(ARRAY['0', '2', '6', '8', '+', '(', ')', ' ', U&'\3000'])
), pre(s, l) AS (
	SELECT ''::text, 0
	UNION ALL
	SELECT pre.s || alpha.c, pre.l + 1 FROM pre, alpha WHERE pre.l < 4
)
SELECT 'prefixes', pre.s || t
FROM pre, unnest(ARRAY['', '12345678', '812345678', '8123456789']) t;

-- generated numbers in all forms, and junk
INSERT INTO eqv.norm (grp, x) SELECT 'numbers', gen.number() FROM generate_series(1, 24000);
INSERT INTO eqv.norm (grp, x) SELECT 'junk', gen.junk() FROM generate_series(1, 8000);

UPDATE eqv.norm SET o = eqv.norm_old(x), n = eqv.norm_new(x);
NORM_SQL

# ---------------------------------------------------------------------------
# (b) _render_text
# ---------------------------------------------------------------------------
q <<'RENDER_SQL'
SELECT setseed(0.1717) AS seeded \gset

CREATE TABLE gen.params (p jsonb);
INSERT INTO gen.params VALUES
	(NULL), ('{}'), ('[]'), ('["a"]'), ('["case_code", "x", 1, null]'), ('"a"'), ('"case_code"'), ('1'),
	('null'), ('true'), ('{"a": {"b": 1}}'),
	('{"case_code": "C-001", "name": "Budi", "a": "{{case_code}}", "b": "}}{{", "n": null,
	   "num": 1.50, "big": 1e30, "neg": -0.0, "t": true, "f": false,
	   "o": {"x": [1, 2, {"y": null}], "s": "a\"b"}, "arr": [1, "two", null], "e": "",
	   "sp": " a ", "": "empty-key", "{x": "brace", "😀": "emoji-key", "é": "é-val",
	   " a": "spacey", "a}": "a-brace", "x": "{{x}}", "nl": "l1\nl2\r\n", "uni": "Ürün 😀 名前"}'),
	('{"a": "A", "b": "B", "x": "X"}'),
	(('{"a": "' || repeat('é', 50) || '", "b": "' || repeat('😀', 10) || '"}')::jsonb);

CREATE TABLE gen.bodies (b text);
INSERT INTO gen.bodies SELECT unnest(ARRAY[
	NULL, '', 'plain', '{{', '}}', '{', '}', '{}', '{{}}', '{{ }}', '}}{{', '{{a}}', '{{ a }}',
	E'{{\ta\n}}', E'{{\r a \r}}', E'{{\va}}', U&'{{\00A0a}}', '{{a}}{{b}}', '{{a}}{{a}}', '{{{a}}}', '{{{{a}}}}',
	'{{a', 'a}}', '{{a}', '{a}}', '{{ {{a}} }}', '{{x}}', '{{{x}}}', '{{a}}}}', '{{{{', '}}}}',
	'{{case_code}}', 'Kode {{case_code}} untuk {{ name }}.', '{{unknown}}', '{{ unknown }} and {{a}}',
	'{{n}}|{{num}}|{{big}}|{{neg}}|{{t}}|{{f}}|{{o}}|{{arr}}|{{e}}|{{sp}}|{{}}|{{{x}}|{{😀}}|{{é}}|{{ a}}|{{a}}}',
	'{{nl}}', '{{uni}}', 'é{{a}}é', '😀{{b}}😀{{a}}', '{{a}}' || repeat('x', 10), repeat('{{a}}', 20),
	'{{a }}}} {{ b}}', '{{case_code}}{{', '{{missing', 'x{{y}}z{{', E'{{a}}\n{{b}}\r\n{{x}}',
	'{{A}}', '{{ A}}', '{{a b}}', '{{a-b}}', '{{0}}', '{{1}}', '{{null}}', '{{true}}',
	'{ {a} }', '{{ }a}}', '{{a}}b}}', '{{{{a}}}}}}', '{{{a}}b}}'
]);

-- every fixed body with every params value
INSERT INTO eqv.render (grp, b, p) SELECT 'fixed', b, p FROM gen.bodies, gen.params;

-- random bodies from tokens
CREATE FUNCTION gen.body() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text := '';
	tk text[] := ARRAY['{{', '}}', '{', '}', 'a', 'b', ' ', E'\t', E'\n', E'\r', 'case_code', 'x', 'é',
					   '😀', '{{a}}', '{{ a }}', '{{b}}', '{{missing}}', '{{}}', '{{{a}}}', 'num', 'o',
					   '{{num}}', '{{o}}', '{{n}}', '{{x}}', '{{ case_code }}', '{{😀}}', '{{é}}', 'name'];
BEGIN
	FOR i IN 1..gen.r(14) LOOP
		s := s || gen.pick(tk);
	END LOOP;
	RETURN s;
END;
$$;
INSERT INTO eqv.render (grp, b, p)
SELECT 'random', gen.body(), (SELECT p FROM gen.params ORDER BY random() + g * 0 LIMIT 1)
FROM generate_series(1, 6000) g;

-- long outputs around the 4096-character limit, multibyte characters at the cut
INSERT INTO eqv.render (grp, b, p)
SELECT 'long', repeat('a', k) || repeat(c, l - k), NULL
FROM generate_series(4086, 4106) l,
	 unnest(ARRAY['é', '€', '😀', U&'\3000', 'a']) c,
	 generate_series(4070, 4086) k
WHERE k <= l;
INSERT INTO eqv.render (grp, b, p)
SELECT 'long', repeat(c, l), '{}'
FROM generate_series(4090, 4100) l, unnest(ARRAY['é', '€', '😀', 'x']) c;
-- long only after substitution, and placeholders cut in the middle
INSERT INTO eqv.render (grp, b, p)
SELECT 'long', repeat('x', k) || '{{v}}' || tail, jsonb_build_object('v', repeat(c, m))
FROM generate_series(4060, 4096, 3) k,
	 generate_series(0, 40, 4) m,
	 unnest(ARRAY['é', '😀', 'z']) c,
	 unnest(ARRAY['', 'tail', '{{v}}']) tail;
INSERT INTO eqv.render (grp, b, p)
SELECT 'long', repeat('{{a}}', n), jsonb_build_object('a', v)
FROM generate_series(1, 9) n, unnest(ARRAY[repeat('é', 455), repeat('😀', 454), repeat('ab', 228)]) v;
INSERT INTO eqv.render (grp, b, p)
SELECT 'long', repeat('é', 4077) || s, NULL
FROM unnest(ARRAY['', 'a', 'ab', '😀', '😀😀', 'a😀', '😀a', repeat('😀', 20)]) s;

UPDATE eqv.render SET o = eqv.render_old(b, p), n = eqv.render_new(b, p);
RENDER_SQL

# ---------------------------------------------------------------------------
# (c) _template_arg and _template_args
# ---------------------------------------------------------------------------
q <<'TARGS_SQL'
SELECT setseed(0.2323) AS seeded \gset

CREATE FUNCTION gen.value() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	s text := '';
	cs text[] := ARRAY[' ', ' ', ' ', ' ', E'\t', E'\r', E'\n', E'\r\n', 'a', 'b', 'é', '|', '-',
					   E'\v', U&'\00A0', '😀', '     ', '        ', ' | '];
BEGIN
	FOR i IN 1..gen.r(15) LOOP
		s := s || gen.pick(cs);
	END LOOP;
	RETURN s;
END;
$$;

INSERT INTO eqv.targ (grp, v) SELECT 'fixed', v FROM unnest(ARRAY[
	NULL, '', ' ', '  ', E'\t', E'\n', E'\r', E'\r\n', E'\n\r', E'\r\r\n', E'\r\n\n', E'a\tb', E'a\r\nb',
	E'a\rb', E'a\nb', 'a   b', 'a    b', 'a     b', 'a      b', 'a       b', 'a        b', ' a ',
	'   a   ', '     a     ', E'\ta\t', E'\t\t\t\t\tx', E'x\t \t \t', E'a \n b', E'a  \r\n  b',
	E'a\n\n\nb', E'\n', E'\n\n', '-', ' - ', E'\v\f', U&'\00A0 a \00A0', '😀     😀', 'é    é',
	repeat(' ', 100), repeat('a ', 50), 'x' || repeat(' ', 9) || 'y' || repeat(E'\t', 7) || 'z'
]) v;
INSERT INTO eqv.targ (grp, v)
SELECT 'spaces', repeat(' ', l) || 'a' || repeat(' ', m) || 'b' || repeat(' ', r)
FROM generate_series(0, 9) l, generate_series(0, 9) m, generate_series(0, 9) r;
INSERT INTO eqv.targ (grp, v) SELECT 'random', gen.value() FROM generate_series(1, 6000);
UPDATE eqv.targ SET o = eqv.targ_old(v), n = eqv.targ_new(v);

-- _template_args: every _template_arg value through params
INSERT INTO eqv.targs (grp, a, p)
SELECT 'values', ARRAY['k'], jsonb_build_object('k', v) FROM eqv.targ WHERE v IS NOT NULL;
INSERT INTO eqv.targs (grp, a, p)
SELECT 'values3', ARRAY['k1', 'k2', 'missing', 'k3'],
	   jsonb_build_object('k1', gen.value(), 'k2', gen.value(), 'k3', gen.value())
FROM generate_series(1, 2000);

-- names x params
INSERT INTO eqv.targs (grp, a, p)
SELECT 'fixed', a, p
FROM (VALUES (NULL::text[]), ('{}'), ('{NULL}'), ('{k}'), ('{k,NULL,missing}'), ('{NULL,NULL}'),
			 ('{missing}'), ('{"",k}'), ('{{k,k},{k,missing}}'), ('[0:1]={k,missing}'), ('[5:5]={k}'),
			 ('{n,num,t,f,o,arr,e,sp,nl,uni,big,neg}'), ('{" k","k ",K}'), ('{{{k}}}'), ('{😀,é}'),
			 ('{{k,NULL},{NULL,n}}')) an(a),
	unnest(ARRAY[
		NULL, '{}', '[]', '["k"]', '"k"', '1', 'null', '{"k": 1}', '{"k": true}', '{"k": null}',
		'{"k": {"a": [1, " x ", null]}}', '{"k": 1e30}', '{"k": -0.0}', '{"k": 1.500}',
		'{"k": "  a     b  "}', '{"k": "a\tb\r\nc\rd\ne"}', '{"k": ""}', '{"k": "     "}',
		'{"": "empty", "k": "v"}', '{"😀": "e1", "é": "e2", " k": "sp", "k ": "sp2", "K": "up"}',
		'{"n": null, "num": 1.50, "t": true, "f": false, "o": {"x": [1, {"y": "  z   z  "}]},
		  "arr": [1, "two", null], "e": "", "sp": "      ", "nl": "l1\nl2\r\nl3\rl4",
		  "uni": "Ürün\t😀     名前", "big": 12345678901234567890.123, "neg": -0}'
	]::jsonb[]) p;

UPDATE eqv.targs SET o = eqv.targs_old(a, p), n = eqv.targs_new(a, p);
TARGS_SQL

# ---------------------------------------------------------------------------
# (d) _case_params, under several guestbook_notify.app_base_url values
# (a PGC_SIGHUP setting: ALTER SYSTEM, reload, wait for new sessions to
# see it)
# ---------------------------------------------------------------------------
q <<'CASE_GEN_SQL'
CREATE FUNCTION gen.case_rows(p_url text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	vals text[] := ARRAY[NULL, '', 'x', ' ', 'Budi Santoso', E'a\nb', 'é😀', E'"q\\', '-', E'\t', 'surat'];
	types text[] := ARRAY['surat', 'visitor', NULL, 'other', '', 'Surat', ' surat', 'surat '];
	base text[] := ARRAY['GB-2026-0001', 'visitor', 'Bidang TIK', 'Dinas Kominfo', 'Budi Santoso',
						 '3201010101010001', 'Rapat koordinasi', '005/123/2026', 'Undangan', 'Pak Kadis'];
	ids uuid[] := ARRAY[NULL, '00000000-0000-0000-0000-000000000000',
						'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'];
	a text[];
BEGIN
	PERFORM setseed(0.3131);
	-- every case type x every value in every single argument
	FOR t IN 1..cardinality(types) LOOP
		FOR pos IN 1..10 LOOP
			CONTINUE WHEN pos = 2;
			FOR v IN 1..cardinality(vals) LOOP
				a := base;
				a[2] := types[t];
				a[pos] := vals[v];
				INSERT INTO eqv.casep (grp, base_url, cid, a)
				VALUES ('sweep', p_url, ids[1 + (pos + v) % 4], a);
			END LOOP;
		END LOOP;
	END LOOP;
	-- all NULL, all empty
	FOR t IN 1..cardinality(types) LOOP
		FOR i IN 1..4 LOOP
			INSERT INTO eqv.casep (grp, base_url, cid, a)
			VALUES ('blank', p_url, ids[i], ARRAY[NULL, types[t], NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL]),
				   ('blank', p_url, ids[i], ARRAY['', types[t], '', '', '', '', '', '', '', '']);
		END LOOP;
	END LOOP;
	-- random combinations
	FOR i IN 1..1500 LOOP
		a := ARRAY[]::text[];
		FOR pos IN 1..10 LOOP
			a := a || CASE WHEN pos = 2 THEN gen.pick(types)
						   WHEN random() < 0.5 THEN base[pos] ELSE gen.pick(vals) END;
		END LOOP;
		INSERT INTO eqv.casep (grp, base_url, cid, a) VALUES ('random', p_url, ids[1 + gen.r(4)], a);
	END LOOP;
END;
$$;
CASE_GEN_SQL

set_base_url() {
	local url=$1 seen i
	psql_db eqv -v "u=$url" >/dev/null <<'SET_SQL'
ALTER SYSTEM SET guestbook_notify.app_base_url = :'u';
SELECT pg_reload_conf();
SET_SQL
	for i in $(seq 1 200); do
		seen=$(psql_db eqv -At -c 'SHOW guestbook_notify.app_base_url')
		[ "$seen" = "$url" ] && return 0
		sleep 0.05
	done
	echo "equivalence_check.sh: guestbook_notify.app_base_url did not become '$url'" >&2
	exit 2
}

for url in 'https://guestbook.example.go.id/' 'https://guestbook.example.go.id' '' '/' '///' \
	'https://x.example///' 'http://ü.example/päth/' 'https://a.example/x/ /'; do
	set_base_url "$url"
	psql_db eqv -v "u=$url" <<'CASE_RUN_SQL'
SELECT eqv.assert(current_setting('guestbook_notify.app_base_url') = :'u', 'app_base_url not in effect') \gset
SELECT gen.case_rows(:'u') \gset
UPDATE eqv.casep
   SET o = eqv.case_old(cid, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]),
	   n = eqv.case_new(cid, a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10])
 WHERE base_url = :'u' AND o IS NULL;
CASE_RUN_SQL
done
set_base_url 'https://guestbook.example.go.id/'

# ---------------------------------------------------------------------------
# (e) _queue_row_valid: the product of small value sets
# ---------------------------------------------------------------------------
q <<'QRV_SQL'
INSERT INTO eqv.qrv (grp, c, s, k, d, t)
SELECT 'product', c, s, k, d, t
FROM unnest(ARRAY[NULL, 'whatsapp', 'WhatsApp', 'whatsapp ', 'sms', '']) c,
	 unnest(ARRAY[NULL, 'pending', 'sent', 'failed', 'cancelled', 'SENT', 'sent ', 'other', '']) s,
	 unnest(ARRAY[NULL, -2147483648, -1, 0, 1, 2147483647]::int[]) k,
	 unnest(ARRAY[NULL, 'sent', 'delivered', 'read', 'failed', 'pending', 'Read', '']) d,
	 unnest(ARRAY[NULL, '2026-01-01 00:00+00', 'infinity', '-infinity']::timestamptz[]) t;
UPDATE eqv.qrv SET o = eqv.qrv_old(c, s, k, d, t), n = eqv.qrv_new(c, s, k, d, t);
QRV_SQL

# ---------------------------------------------------------------------------
# The collation group: the same functions called with an explicit COLLATE
# ---------------------------------------------------------------------------
if [ "${EQV_COLLATIONS:-0}" = 1 ]; then
	q <<'COLL_SQL'
DO $$
BEGIN
	CREATE COLLATION eqv.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
EXCEPTION WHEN others THEN
	RAISE NOTICE 'no ICU: nondeterministic collation cases skipped';
END $$;

CREATE FUNCTION gen.coll_call(fn text, args text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO eqv.coll (fn, call_old, call_new)
	VALUES (fn, format('eqv.%s_old(%s)', fn, args), format('eqv.%s_new(%s)', fn, args))
$$;

DO $$
DECLARE
	colls text[] := ARRAY['"C"', '"POSIX"', '"C.utf8"', '"und-x-icu"', 'eqv.ci'];
	coll text;
	x text;
BEGIN
	FOREACH coll IN ARRAY colls LOOP
		CONTINUE WHEN to_regcollation(coll) IS NULL;
		-- numbers: each white space character between the groups, and some plain ones
		FOREACH x IN ARRAY ARRAY[' ', E'\t', E'\n', E'\v', E'\f', E'\r', chr(28), chr(31), U&'\0085',
								 U&'\00A0', U&'\1680', U&'\2000', U&'\2003', U&'\2007', U&'\200B',
								 U&'\2028', U&'\2029', U&'\202F', U&'\205F', U&'\3000', U&'\FEFF'] LOOP
			PERFORM gen.coll_call('norm', format('%s COLLATE %s', eqv.lit('0812' || x || '3456' || x || '7890'), coll));
			PERFORM gen.coll_call('norm', format('%s COLLATE %s', eqv.lit('+62 (' || x || '0' || x || ') 812 3456 789'), coll));
		END LOOP;
		FOREACH x IN ARRAY ARRAY['0812-3456-7890', '+62 812 3456 7890', '(0812) 3456.7890', 'junk', ''] LOOP
			PERFORM gen.coll_call('norm', format('%s COLLATE %s', eqv.lit(x), coll));
		END LOOP;
		-- the row check
		PERFORM gen.coll_call('qrv', format('%L COLLATE %s, %L, 0, %L, now()', c, coll, s, d))
		FROM unnest(ARRAY['whatsapp', 'WhatsApp', 'WHATSAPP']) c,
			 unnest(ARRAY['sent', 'SENT', 'Pending']) s,
			 unnest(ARRAY['read', 'READ']) d;
		-- rendering and arguments
		PERFORM gen.coll_call('render', format('%L COLLATE %s, %L', b, coll, '{"a": "A", "A": "up"}'))
		FROM unnest(ARRAY['{{a}} and {{A}}', 'no placeholder', '']) b;
		PERFORM gen.coll_call('targ', format('%s COLLATE %s', eqv.lit(v), coll))
		FROM unnest(ARRAY[E'a\tb', 'a      b', 'plain']) v;
		PERFORM gen.coll_call('targs', format('%L::text[] COLLATE %s, %L', '{k}', coll, '{"k": " a      b "}'));
		-- case type compared with "surat"
		PERFORM gen.coll_call('case', format('NULL, %L, %L COLLATE %s, NULL, NULL, %L, NULL, NULL, %L, %L, NULL',
											 'c', t, coll, 'Budi', '005', 'Undangan'))
		FROM unnest(ARRAY['surat', 'Surat', 'SURAT', 'visitor']) t;
	END LOOP;
END $$;

DO $$
DECLARE
	r record;
	vo text;
	vn text;
BEGIN
	FOR r IN SELECT * FROM eqv.coll LOOP
		EXECUTE 'SELECT ' || r.call_old INTO vo;
		EXECUTE 'SELECT ' || r.call_new INTO vn;
		UPDATE eqv.coll SET o = vo, n = vn WHERE id = r.id;
	END LOOP;
END $$;
COLL_SQL
fi

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
q <<'REPORT_SQL'
CREATE VIEW eqv.all_cases AS
	SELECT '_normalize_number' AS fn, grp, id,
		   format('_normalize_number(%s)', eqv.short(x)) AS input, o, n FROM eqv.norm
	UNION ALL
	SELECT '_render_text', grp, id,
		   format('_render_text(%s, %s)', eqv.short(b), coalesce(quote_literal(p::text) || '::jsonb', 'NULL')), o, n
	FROM eqv.render
	UNION ALL
	SELECT '_template_arg', grp, id, format('_template_arg(%s)', eqv.short(v)), o, n FROM eqv.targ
	UNION ALL
	SELECT '_template_args', grp, id,
		   format('_template_args(%s, %s)', coalesce(eqv.lit(a::text) || '::text[]', 'NULL'),
				  coalesce(eqv.lit(p::text) || '::jsonb', 'NULL')), o, n
	FROM eqv.targs
	UNION ALL
	SELECT '_case_params', grp, id,
		   format('[app_base_url=%s] _case_params(%s, %s)', eqv.lit(base_url), coalesce(quote_literal(cid), 'NULL'),
				  (SELECT string_agg(eqv.lit(e), ', ' ORDER BY i) FROM unnest(a) WITH ORDINALITY u(e, i))), o, n
	FROM eqv.casep
	UNION ALL
	SELECT '_queue_row_valid', grp, id,
		   format('_queue_row_valid(%s, %s, %s, %s, %s)', eqv.lit(c), eqv.lit(s), coalesce(k::text, 'NULL'),
				  eqv.lit(d), coalesce(quote_literal(t), 'NULL')), o, n
	FROM eqv.qrv
	UNION ALL
	SELECT 'collation:' || fn, 'collation', id, call_new, o, n FROM eqv.coll;

\pset footer off
\echo
\echo '== cases and differences per function (outcomes of the old version: value / NULL / error) =='
SELECT fn AS function, count(*) AS cases, count(*) FILTER (WHERE o IS DISTINCT FROM n) AS differences,
	   count(*) FILTER (WHERE o LIKE 'V:%') AS "old: value",
	   count(*) FILTER (WHERE o = 'NULL') AS "old: NULL",
	   count(*) FILTER (WHERE o LIKE 'ERROR%') AS "old: error",
	   count(DISTINCT o) AS "distinct outcomes"
FROM eqv.all_cases GROUP BY fn ORDER BY fn;
SELECT count(*) FILTER (WHERE r LIKE E'%\n\u2026[pesan dipotong]') AS "_render_text: cut",
	   count(*) FILTER (WHERE length(r) = 4096) AS "4096 chars",
	   count(*) FILTER (WHERE length(r) BETWEEN 4090 AND 4095) AS "4090..4095 chars",
	   count(*) FILTER (WHERE length(r) BETWEEN 4097 AND 4200) AS "over 4096"
FROM (SELECT eqv.untok(o) AS r FROM eqv.render) x;

\echo
\echo '== differences (at most 200 per function) =='
\pset format unaligned
\pset tuples_only on
\pset recordsep '\n\n'
SELECT format(E'%s [%s #%s]\n  input: %s\n  old:   %s\n  new:   %s', fn, grp, id, input,
			  eqv.show(o, eqv.firstdiff(eqv.untok(o), eqv.untok(n))),
			  eqv.show(n, eqv.firstdiff(eqv.untok(o), eqv.untok(n))))
FROM (SELECT *, row_number() OVER (PARTITION BY fn ORDER BY id) AS rn
	  FROM eqv.all_cases WHERE o IS DISTINCT FROM n) d
WHERE rn <= 200
ORDER BY fn, id;
REPORT_SQL

read -r N M < <(q -At -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE o IS DISTINCT FROM n) FROM eqv.all_cases")
NULLS=$(q -At -c "SELECT count(*) FROM eqv.all_cases WHERE o IS NULL OR n IS NULL")
if [ "$NULLS" != 0 ]; then
	echo "equivalence_check.sh: $NULLS cases were not evaluated" >&2
	exit 2
fi
echo
echo "equivalence: $N cases, $M differences"
[ "$M" = 0 ]
