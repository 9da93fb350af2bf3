
# The trust model (issue 9): code that the app's owner controls never runs
# with the extension's rights.  The app's tables belong to app_owner, a
# role that is not a superuser and has no grant on the extension; the
# database (which app_owner owns) puts the app schema first on its default
# search_path.  app_owner plants every route that once made it a superuser:
#   - a trigger, a CHECK and a column DEFAULT on case_events calling its
#     function, which records current_user and rolsuper and tries ALTER ROLE
#     app_owner SUPERUSER;
#   - FORCE ROW LEVEL SECURITY with such a policy on every table the
#     extension reads (cases, users, org_units, org_unit_contacts) and
#     writes (case_events);
#   - functions and operators in the app schema shadowing the pg_catalog
#     names the extension's SQL uses, with exact argument types;
#   - a view swapped in for users after attach();
#   - a trigger on case_events that raises.
# Then the app works (assignments, escalations, a failure) and the admin
# and the webhook receiver call render(), enqueue(), record_status() and
# ingest_webhook().  Asserted: app_owner is never a superuser, none of its
# code ever ran as a superuser (only as app_owner), the shadows and the
# view never ran at all, and every notification went out or failed with a
# readable reason; an audit row the app refuses waits in audit_outbox,
# visible, and is written once the app takes it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GbnSafety;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The test's own queries (as a superuser) must not resolve names through
# the app's schema, which the database's search_path puts first below: that
# would run the app's code as a superuser in the test harness itself.  The
# app's sessions (as_app) and the admin calls (as_admin) use the database's
# search_path, as in real life.
$ENV{PGOPTIONS} = '-c search_path=pg_catalog,public';

my $mock = GuestbookNotify::Mock->start(token => 'token-090');
my $node = gbn_node('trust', $mock,
	settings => { recipient_interval => 0, recipient_hourly_cap => 0, message_mode => 'text' });

sub as_app
{
	my ($sql) = @_;
	# the app's own sessions: pg_catalog first, so its own statements do not
	# call its shadows (only code that must not resolve names through the
	# app's schema could)
	local $ENV{PGOPTIONS} = '-c search_path=pg_catalog,app';
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', 'app_owner' ]);
}

# a superuser calling the extension's functions with the database's
# (hostile) search_path
sub as_admin
{
	my ($sql) = @_;
	local $ENV{PGOPTIONS} = '';
	return $node->safe_psql('postgres', $sql);
}

# --- the app, owned by app_owner ------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE app_owner LOGIN NOSUPERUSER NOCREATEROLE;
	ALTER DATABASE postgres OWNER TO app_owner;
	CREATE SCHEMA app AUTHORIZATION app_owner;
	CREATE EXTENSION guestbook_notify;
});
as_app("SET search_path = app;\n" . slurp_file("$FindBin::RealBin/../schema/guestbook.sql"));
as_app("SET search_path = app;\n" . slurp_file("$FindBin::RealBin/../schema/sample_data.sql"));
$node->safe_psql('postgres', "SELECT guestbook_notify.attach('app')");
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

# --- what app_owner plants --------------------------------------------------
as_app(q{
	CREATE TABLE app.spy (route text, who name, is_super boolean, at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT, SELECT ON app.spy TO PUBLIC;
	CREATE FUNCTION app.evil(route text) RETURNS boolean LANGUAGE plpgsql AS $$
	BEGIN
		INSERT INTO app.spy (route, who, is_super)
		SELECT route, current_user, r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user;
		BEGIN
			EXECUTE 'ALTER ROLE app_owner SUPERUSER';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		RETURN true;
	END $$;
	CREATE FUNCTION app.evil_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN PERFORM app.evil('trigger'); RETURN NEW; END $$;
	CREATE TRIGGER evil AFTER INSERT ON app.case_events FOR EACH ROW EXECUTE FUNCTION app.evil_trg();
	ALTER TABLE app.case_events ADD CONSTRAINT evil CHECK (app.evil('check'));
	ALTER TABLE app.case_events ALTER COLUMN actor_id
		SET DEFAULT (CASE WHEN app.evil('default') THEN NULL END)::uuid;
});
for my $t (qw(cases users org_units org_unit_contacts case_events))
{
	as_app(qq{
		ALTER TABLE app.$t ENABLE ROW LEVEL SECURITY;
		ALTER TABLE app.$t FORCE ROW LEVEL SECURITY;
		CREATE POLICY evil ON app.$t USING (app.evil('rls_$t')) WITH CHECK (app.evil('rls_$t'));
	});
}
# shadows of the pg_catalog names the extension's SQL uses, with exact
# argument types, and of operators; and the app schema first on the
# database's default search_path
my @shadows = (
	[ 'format', 'text, text, text', 'text' ], [ 'format', 'text, text', 'text' ],
	[ 'now', '', 'timestamptz' ], [ 'clock_timestamp', '', 'timestamptz' ],
	[ 'lower', 'text', 'text' ], [ 'upper', 'text', 'text' ], [ 'length', 'text', 'integer' ],
	[ 'btrim', 'text', 'text' ], [ 'left', 'text, integer', 'text' ], [ 'substr', 'text, integer', 'text' ],
	[ 'split_part', 'text, text, integer', 'text' ], [ 'md5', 'text', 'text' ],
	[ 'jsonb_build_object', 'text, uuid, text, text', 'jsonb' ], [ 'to_jsonb', 'anyelement', 'jsonb' ],
	[ 'make_interval', 'integer', 'interval' ], [ 'pg_backend_pid', '', 'integer' ],
	[ 'array_position', 'text[], text', 'integer' ], [ 'cardinality', 'anyarray', 'integer' ],
	[ 'jsonb_typeof', 'jsonb', 'text' ], [ 'to_timestamp', 'double precision', 'timestamptz' ],
	[ 'gen_random_uuid', '', 'uuid' ], [ 'pg_stat_get_activity', 'integer', 'integer' ],
	[ 'jsonb_strip_nulls', 'jsonb', 'jsonb' ], [ 'array_fill', 'anyelement, integer[]', 'anyarray' ]);
my $n = 0;
for my $s (@shadows)
{
	my ($name, $args, $ret) = @$s;
	$n++;
	my @a = map { 'a' . $_ } 1 .. scalar(split /,/, $args);
	my $body = $ret =~ /any/ ? 'NULL' : "(CASE WHEN app.evil('shadow_$name') THEN NULL END)::$ret";
	$ret = 'anyelement' if $ret eq 'anyarray' && $args =~ /anyelement/;
	as_app("CREATE FUNCTION app.\"$name\"($args) RETURNS $ret LANGUAGE sql AS \$\$ SELECT $body \$\$");
}
as_app(q{
	CREATE FUNCTION app.evil_eq(uuid, uuid) RETURNS boolean LANGUAGE sql AS $$ SELECT app.evil('shadow_op_uuid_eq') $$;
	CREATE OPERATOR app.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = app.evil_eq);
	CREATE FUNCTION app.evil_eq_text(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT app.evil('shadow_op_text_eq') $$;
	CREATE OPERATOR app.= (LEFTARG = text, RIGHTARG = text, FUNCTION = app.evil_eq_text);
	CREATE FUNCTION app.evil_cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN app.evil('shadow_op_concat') THEN '' END $$;
	CREATE OPERATOR app.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = app.evil_cat);
	ALTER DATABASE postgres SET search_path = app, pg_catalog, public;
});
pass(scalar(@shadows) . ' function shadows and 3 operator shadows planted; app first on the database search_path');

# the worker picks up the database's search_path only at connection: start
# a new one, as after a restart
$node->restart;
ok(defined gbn_wait_worker($node, 30), 'the worker runs again');

my $CASE = '00000000-0000-0000-0000-0000000000c1';
my $SRT  = '00000000-0000-0000-0000-0000000000c2';
sub newest
{
	my ($where) = @_;
	gbn_settle($node);
	return $node->safe_psql('postgres', "SELECT id FROM guestbook_notify.notification_queue WHERE $where ORDER BY created_at DESC LIMIT 1");
}

# --- the app works ----------------------------------------------------------
as_app("INSERT INTO app.case_assignments (case_id, operator_id) VALUES ('$CASE', '$GuestbookNotify::BUDI')");
my $a1 = newest("template_key = 'assigned' AND case_id = '$CASE'");
ok(gbn_wait_status($node, $a1, 'sent', 30), 'an assignment is sent');
as_app("UPDATE app.cases SET status = 'escalated', escalation_level = 'lead' WHERE id = '$CASE'");
my $e1 = newest("template_key = 'escalated_lead' AND case_id = '$CASE'");
ok(gbn_wait_status($node, $e1, 'sent', 30), 'an escalation to the lead is sent (contacts read through the RLS policy)');
as_app(q{INSERT INTO app.users (id, full_name, role, whatsapp_number) VALUES
	('00000000-0000-0000-0000-0000000000b9', 'Tanpa Nomor', 'operator', NULL)});
as_app("INSERT INTO app.case_assignments (case_id, operator_id) VALUES ('$SRT', '00000000-0000-0000-0000-0000000000b9')");
my $f1 = newest("template_key = 'assigned' AND case_id = '$SRT'");
ok(gbn_wait_status($node, $f1, 'failed', 30), 'an assignment to an operator without a number fails');
like(gbn_queue_row($node, $f1)->{last_error}, qr/no WhatsApp number/, 'with a readable reason');

# the admin's calls (a superuser here) and the webhook receiver's
like(as_admin("SELECT guestbook_notify.render('assigned', '$CASE')"),
	qr/ABC123/, 'render() reads the case (as its owner)');
my $m1 = as_admin("SELECT guestbook_notify.enqueue('assigned', '0812-5555-0001', '$CASE', '{}', 'manual:trust')");
ok(gbn_wait_status($node, $m1, 'sent', 30), 'enqueue() with a case is sent');
my $wamid = gbn_queue_row($node, $a1)->{provider_message_id};
as_admin("SELECT guestbook_notify.record_status('$wamid', 'failed',
	error => '[{\"code\": 131026, \"title\": \"Message undeliverable\"}]')");
my $ewamid = gbn_queue_row($node, $e1)->{provider_message_id};
as_admin(qq{SELECT guestbook_notify.ingest_webhook('{"entry": [{"changes": [{"field": "messages",
	"value": {"statuses": [{"id": "$ewamid", "status": "failed", "timestamp": "1750030073",
	"errors": [{"code": 131047, "title": "Re-engagement message"}]}]}}]}]}')});

ok(gbn_wait_until($node, q{SELECT count(*) FROM guestbook_notify.audit_outbox}, '0', 30, 'the audit outbox to drain'),
	'every case_events row is written')
  or diag(explain(gbn_sql_json($node, 'SELECT event_type, attempts, last_error FROM guestbook_notify.audit_outbox')));
my $ev = gbn_sql_json($node, "SELECT event_type, count(*) AS n FROM app.case_events GROUP BY 1 ORDER BY 1");
my %ev = map { $_->{event_type} => $_->{n} } @$ev;
is($ev{contacted}, 3, "case_events 'contacted': the assignment, the escalation, the manual message");
is($ev{notification_failed}, 3, "case_events 'notification_failed': the missing number, record_status, ingest_webhook");

# --- a view swapped in for users --------------------------------------------
as_app(q{
	ALTER TABLE app.users RENAME TO users_real;
	CREATE VIEW app.users AS SELECT u.*, app.evil('view') AS evil FROM app.users_real u;
});
as_app("INSERT INTO app.case_assignments (case_id, operator_id) VALUES ('$CASE', '00000000-0000-0000-0000-0000000000a3')");
my $v1 = newest("template_key = 'assigned' AND case_id = '$CASE' AND recipient_name IS DISTINCT FROM 'Budi Operator'");
ok(gbn_wait_status($node, $v1, 'failed', 30), 'with a view in place of users, the notification fails');
like(gbn_queue_row($node, $v1)->{last_error} // '', qr/app\.users is a view, not a table/,
	'with a readable reason naming the view');
as_app(q{DROP VIEW app.users; ALTER TABLE app.users_real RENAME TO users;});

# --- a trigger on case_events that raises -------------------------------------
as_app(q{
	CREATE FUNCTION app.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'the app refuses %', NEW.event_type; END $$;
	CREATE TRIGGER refuse BEFORE INSERT ON app.case_events FOR EACH ROW EXECUTE FUNCTION app.refuse();
});
as_app("INSERT INTO app.case_assignments (case_id, operator_id) VALUES ('$SRT', '$GuestbookNotify::BUDI')");
my $r1 = newest("template_key = 'assigned' AND case_id = '$SRT' AND recipient_name = 'Budi Operator'");
ok(gbn_wait_status($node, $r1, 'sent', 30), 'the app refusing case_events: the notification is sent all the same');
ok(gbn_wait_until($node, "SELECT audit_pending AND audit_error LIKE '%the app refuses contacted%'
	FROM guestbook_notify.notifications WHERE id = '$r1'", 't', 15, 'audit pending'),
	'its case_events row waits, with the app\'s error, shown in the notifications view');
ok(gbn_wait_until($node, "SELECT bool_or(audit_pending > 0) FROM guestbook_notify.worker_status()", 't', 15,
		'worker_status audit_pending'), 'and counted in worker_status().audit_pending');
like(slurp_file($node->logfile), qr/could not write the case_events row "contacted" into schema "app": the app refuses contacted/,
	'and a WARNING in the server log');
as_app(q{DROP TRIGGER refuse ON app.case_events});
$node->safe_psql('postgres', 'UPDATE guestbook_notify.audit_outbox SET next_try_at = now()');
ok(gbn_wait_until($node, q{SELECT count(*) FROM guestbook_notify.audit_outbox}, '0', 30, 'the outbox'),
	'once the app takes it, the kept row is written');
is($node->safe_psql('postgres', "SELECT count(*) FROM app.case_events WHERE event_type = 'contacted'
	AND details ->> 'notification_id' = '$r1'"), '1', 'exactly once');

# --- the verdict ----------------------------------------------------------------
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'app_owner'"), 'f',
	'app_owner is still not a superuser');
my $spy = gbn_sql_json($node, 'SELECT route, who, is_super, count(*) AS n FROM app.spy GROUP BY 1, 2, 3 ORDER BY 1, 2');
note('the app\'s code ran as: ' . join(', ', map { "$_->{route}=$_->{who}" . ($_->{is_super} ? '(SUPERUSER)' : '') . "x$_->{n}" } @$spy));
is(scalar(grep { $_->{is_super} } @$spy), 0, 'none of the app\'s code ever ran as a superuser');
is(scalar(grep { $_->{who} ne 'app_owner' } @$spy), 0, 'it ran as app_owner only (the owner of the tables)');
my %ran = map { $_->{route} => 1 } @$spy;
ok($ran{$_}, "the app's $_ did run (as its owner)") for qw(trigger check default rls_cases rls_users rls_org_units rls_org_unit_contacts rls_case_events);
is(scalar(grep { /^shadow/ } keys %ran), 0, 'no shadow function or operator ever ran')
  or diag(join(' ', grep { /^shadow/ } keys %ran));
ok(!$ran{view}, 'the view swapped in for users never ran');
gbn_openapi_ok($mock, '090_trust') if defined &gbn_openapi_ok;

$node->stop('fast');
$mock->stop;
done_testing();
