
# Several guestbook databases on one server (issue 16; issue 10 items 3
# and 8), one node, three mock WhatsApp APIs (G: the server-wide settings,
# A and B: the senders of two agencies, each with its own token):
#  1. gb_a and gb_b, created after the server started and listed in
#     database_name, each with its own sender: api_url and phone_number_id by
#     ALTER DATABASE ... SET, the token by set_access_token(); each message
#     goes through its own sender with its own token, none through G;
#  2. the token is picked up without a reload or restart: removed (NULL),
#     the worker sends with the server's token (refused by B: paused), set
#     again, the same row is sent; the token is in no log line, no dump,
#     no pg_stat_activity text (log_statement = all, a bind parameter too);
#  3. (issue 10.3) commits that call wake() in gb_unserved (extension
#     installed, no worker) do not wake gb_a's worker: its CPU from
#     /proc/<pid>/stat, idle vs. 10 s of pgbench commits there;
#  4. gb_late, listed, created after start: served within seconds, the
#     first notification timed;
#  5. gb_late removed from the list and reloaded: its workers leave, and a
#     plain DROP DATABASE succeeds; gb_drop dropped while listed (the
#     hook makes its workers leave first): plain DROP succeeds too;
#  6. gb_force dropped WITH (FORCE) while listed: nothing loops (log lines
#     counted over 6 s);
#  7. gb_ren renamed to gb_ren2 while listed: RENAME succeeds, it is no
#     longer served; listed under its new name, served again;
#  8. '*': CREATE EXTENSION in a new database is picked up within seconds;
#  9. (issue 10.8) workers = 8 with max_worker_processes = 8: those that
#     cannot start are logged and shown as not started in worker_status(),
#     and max_send_rate is split by the workers that run (the send rate
#     measured at the mock).
# The server log lines written while databases are created, dropped and
# renamed are printed (diag).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GbnSafety;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $WORKER = 'guestbook_notify worker';
sub rand_token { my ($p) = @_; return $p . join('', map { ('a' .. 'z', 0 .. 9)[ rand 36 ] } 1 .. 32); }

my $token_g  = rand_token('EAAG-080-global-');
my $token_a  = rand_token('EAAG-080-agency-a-');
my $token_b  = rand_token('EAAG-080-agency-b-');
my $token_b2 = rand_token('EAAG-080-agency-b-bind-');
my $PNID_G = '100000000000001';
my $PNID_A = '100000000000002';
my $PNID_B = '100000000000003';
my $mock_g = GuestbookNotify::Mock->start(name => 'global', token => $token_g, phone_number_id => $PNID_G);
my $mock_a = GuestbookNotify::Mock->start(name => 'agency_a', token => $token_a, phone_number_id => $PNID_A);
my $mock_b = GuestbookNotify::Mock->start(name => 'agency_b', token => $token_b, phone_number_id => $PNID_B);

my $LIST = 'gb_a, gb_b, gb_late, gb_drop, gb_force, gb_ren';
my $node = gbn_node('databases', $mock_g,
	settings => {
		database_name        => $LIST,
		phone_number_id      => $PNID_G,
		naptime              => 200,
		recipient_interval   => 0,
		recipient_hourly_cap => 0 },
	conf => "max_worker_processes = 32\nlog_line_prefix = '%m [%p] %q%d '\n");

# ---------------------------------------------------------------------------
# helpers (every wait bounded)
# ---------------------------------------------------------------------------
sub wait_q
{
	my ($db, $sql, $expected, $timeout, $what) = @_;
	my $deadline = time() + ($timeout // 30);
	my ($ret, $out, $err);
	while (1)
	{
		($ret, $out, $err) = $node->psql($db, $sql);
		return 1 if $ret == 0 && ($out // '') eq $expected;
		last if time() > $deadline;
		usleep(100_000);
	}
	diag("timed out after ${timeout}s waiting for $what: $sql => " . ($out // '') . ' ' . ($err // ''));
	return 0;
}

# pids of the workers connected to $db
sub workers_of
{
	my ($db) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity"
		  . " WHERE backend_type = '$WORKER' AND datname = " . gbn_sql_quote($db));
	return grep { $_ ne '' } split / /, $out;
}

sub wait_workers
{
	my ($db, $n, $timeout) = @_;
	my $deadline = time() + $timeout;
	my @p;
	while (time() <= $deadline)
	{
		@p = workers_of($db);
		return 1 if scalar(@p) == $n;
		usleep(50_000);
	}
	diag("database $db: " . scalar(@p) . " worker(s) after ${timeout}s, expected $n");
	return 0;
}

# a case assignment in $db as the app does it; the new notification's id
sub assign
{
	my ($db, $code, $operator) = @_;
	my $c = gbn_sql_quote($code);
	$node->safe_psql($db, qq{
		BEGIN;
		INSERT INTO public.case_assignments (case_id, operator_id, assigned_by)
		SELECT id, '$operator', '$GuestbookNotify::RESEPSIONIS' FROM public.cases WHERE code = $c;
		UPDATE public.cases SET status = 'assigned', assigned_operator_id = '$operator' WHERE code = $c;
		COMMIT;});
	return $node->safe_psql($db, qq{
		SELECT q.id FROM public.case_assignments a
		  JOIN public.cases c ON c.id = a.case_id
		  LEFT JOIN guestbook_notify.notification_queue q ON q.case_id = c.id AND q.template_key = 'assigned'
		 WHERE c.code = $c ORDER BY q.created_at DESC NULLS LAST LIMIT 1});
}

# the queue row of the newest assignment of $code, once the worker made it
sub newest_row
{
	my ($db, $code, $timeout) = @_;
	my $deadline = time() + ($timeout // 15);
	while (time() <= $deadline)
	{
		my $id = $node->safe_psql($db, qq{
			SELECT q.id FROM guestbook_notify.notification_queue q JOIN public.cases c ON c.id = q.case_id
			 WHERE c.code = @{[gbn_sql_quote($code)]} AND q.template_key = 'assigned'
			 ORDER BY q.created_at DESC LIMIT 1});
		return $id if $id ne '';
		usleep(50_000);
	}
	return undef;
}

sub wait_status
{
	my ($db, $id, $status, $timeout) = @_;
	return wait_q($db, "SELECT status FROM guestbook_notify.notification_queue WHERE id = '$id'",
		$status, $timeout, "row $id in $db to be $status");
}

sub add_operator
{
	my ($db, $name, $number) = @_;
	return $node->safe_psql($db,
		"INSERT INTO public.users (full_name, role, org_unit_id, whatsapp_number) VALUES ("
		  . gbn_sql_quote($name) . ", 'operator', '00000000-0000-0000-0000-000000000003', "
		  . gbn_sql_quote($number) . ") RETURNING id");
}

sub add_case
{
	my ($db, $code) = @_;
	$node->safe_psql($db, qq{
		INSERT INTO public.cases (code, case_type, status, org_unit_id, unit_tujuan,
			visitor_name, visitor_id_number, purpose)
		VALUES (@{[gbn_sql_quote($code)]}, 'visitor', 'new', '00000000-0000-0000-0000-000000000003',
			'UPT Warroom', 'Tamu $code', '3201010101010001', 'Keperluan $code')});
	return;
}

# set_access_token as a superuser would, with every statement logged
sub set_token
{
	my ($db, $token) = @_;
	$node->safe_psql($db, "SET log_statement = 'all';\nSELECT guestbook_notify.set_access_token("
		  . (defined $token ? gbn_sql_quote($token) : 'NULL') . ')');
	return;
}

# the per-database sender: ALTER DATABASE ... SET (not secret)
sub set_sender
{
	my ($db, $mock, $pnid) = @_;
	$node->safe_psql('postgres', qq{
		ALTER DATABASE $db SET guestbook_notify.api_url = '@{[$mock->url]}/v23.0';
		ALTER DATABASE $db SET guestbook_notify.phone_number_id = '$pnid';});
	return;
}

# as the README says: after ALTER DATABASE ... SET, pg_reload_conf() (a
# worker that connected before the ALTER applies it then); a moment for
# the workers to take the signal
sub reload_db
{
	my ($db) = @_;
	$node->safe_psql($db, 'SELECT pg_reload_conf()');
	usleep(500_000);
	return;
}

# the server log's lines about databases and workers since $off
# (the test's own queries left out: the statements shown are the DDL)
sub log_lines
{
	my ($off) = @_;
	return grep {
		/statement: / ? /statement: .*(CREATE|DROP|ALTER) (DATABASE|EXTENSION)|set_access_token/i
		  : /^\S/ && /guestbook_notify|FATAL|PANIC|ERROR|WARNING|exited with exit code|terminat|does not exist|database_name/
	} split /\n/, gs_log_since($node, $off);
}

sub show_log
{
	my ($what, $off) = @_;
	my @l = log_lines($off);
	diag("server log while $what (" . scalar(@l) . " line(s)):");
	diag("  $_") for @l;
	return @l;
}

# utime + stime of a process, in clock ticks
sub cpu_ticks
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return undef;
	my $s = <$fh>;
	close $fh;
	$s =~ s/^.*\)\s+//s;    # after "pid (comm) "
	my @f = split /\s+/, $s;
	return $f[11] + $f[12];    # fields 14 and 15 of the line
}
my $HZ = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

# worker_status() from 'postgres', where the extension is not installed
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.gbn_ws(OUT pid integer, OUT database name, OUT state text,
		OUT paused_reason text, OUT in_flight integer, OUT sent bigint, OUT failed bigint,
		OUT retried bigint, OUT audit_pending bigint, OUT events_pending bigint,
		OUT last_error text)
	RETURNS SETOF record LANGUAGE c VOLATILE
	AS '$libdir/guestbook_notify', 'guestbook_notify_worker_status'});

ok(wait_q('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guestbook_notify launcher'",
		'1', 30, 'the launcher'), 'the launcher runs');

# ---------------------------------------------------------------------------
# 1. two databases, two senders
# ---------------------------------------------------------------------------
my $off = gbn_log_offset($node);
my $t_create = time();
$node->safe_psql('postgres', 'CREATE DATABASE gb_a');
$node->safe_psql('postgres', 'CREATE DATABASE gb_b');
set_sender('gb_a', $mock_a, $PNID_A);
set_sender('gb_b', $mock_b, $PNID_B);
gbn_install_app($node, db => 'gb_a');
gbn_install_app($node, db => 'gb_b');
set_token('gb_a', $token_a);
set_token('gb_b', $token_b);
ok(wait_workers('gb_a', 1, 10), 'gb_a (created after start, listed): its worker runs');
ok(wait_workers('gb_b', 1, 10), 'gb_b: its worker runs');
reload_db('gb_a');
note(sprintf('gb_a and gb_b created and installed, workers up %.1f s after CREATE DATABASE', time() - $t_create));
my @create_lines = show_log('gb_a and gb_b were created, installed and given their senders', $off);
ok((grep { /serving database "gb_a"/ } @create_lines), 'the launcher logged that it serves gb_a');
ok((grep { /database "gb_a" has its own access token/ } @create_lines), "gb_a's worker logged that it has its own token");
is(scalar(grep { /FATAL|PANIC/ } @create_lines), 0, 'no FATAL while the databases were created');

my $B_NUMBER = '6281500000802';
my $op_b = add_operator('gb_b', 'Operator B', $B_NUMBER);
my $ida = assign('gb_a', 'ABC123', $GuestbookNotify::BUDI);
my $idb = assign('gb_b', 'ABC123', $op_b);
$ida = newest_row('gb_a', 'ABC123');
$idb = newest_row('gb_b', 'ABC123');
ok(defined $ida && defined $idb, 'an assignment in each database is queued');
ok(wait_status('gb_a', $ida, 'sent', 15), "gb_a's notification is sent");
ok(wait_status('gb_b', $idb, 'sent', 15), "gb_b's notification is sent");
my $ra = $mock_a->requests;
my $rb = $mock_b->requests;
is(scalar @$ra, 1, 'sender A received one request');
is(scalar @$rb, 1, 'sender B received one request');
is($ra->[0]{recipient}, $GuestbookNotify::BUDI_NUMBER, "A's request is gb_a's message (Budi)");
is($rb->[0]{recipient}, $B_NUMBER, "B's request is gb_b's message (operator B)");
is($ra->[0]{auth}, 'ok', "A's request carries gb_a's token");
is($rb->[0]{auth}, 'ok', "B's request carries gb_b's token");
is($ra->[0]{phone_number_id}, $PNID_A, "A's request is sent as gb_a's phone number id");
is($rb->[0]{phone_number_id}, $PNID_B, "B's request is sent as gb_b's phone number id");
is(scalar @{ $mock_g->requests }, 0, 'the server-wide sender received nothing');
my $wamid_a = $node->safe_psql('gb_a', "SELECT provider_message_id FROM guestbook_notify.notification_queue WHERE id = '$ida'");
like($wamid_a, qr/^wamid\./, "gb_a's row has the wamid sender A returned");

# ---------------------------------------------------------------------------
# 2. the token follows set_access_token() at once; it is never shown
# ---------------------------------------------------------------------------
my $pid_b = (workers_of('gb_b'))[0];
set_token('gb_b', undef);    # gb_b now sends with the server's token: B refuses it (190)
my $seq_b = $mock_b->last_seq;
add_case('gb_b', 'TOK001');
my $idt = assign('gb_b', 'TOK001', $op_b);
$idt = newest_row('gb_b', 'TOK001');
ok($mock_b->wait_requests(1, 10, since => $seq_b), 'without its token, gb_b still sends to B');
is($mock_b->requests(since => $seq_b)->[0]{auth}, 'wrong', '... with the server-wide token (refused: 190)');
ok(wait_q('postgres', "SELECT count(*) > 0 FROM public.gbn_ws() WHERE database = 'gb_b' AND paused_reason IS NOT NULL",
		't', 10, 'gb_b paused'), 'gb_b is paused on the 190 (gb_a is not)');
is($node->safe_psql('postgres', "SELECT count(*) FROM public.gbn_ws() WHERE database = 'gb_a' AND paused_reason IS NOT NULL"),
	'0', 'the pause is per database: gb_a is not paused');
# the token again, as a bind parameter this time (pgbench -M extended), logged
my $t_tok = time();
{
	my ($out, $err) = ('', '');
	my $script = "$PostgreSQL::Test::Utils::tmp_check/080_set_token.sql";
	open(my $fh, '>', $script) or die $!;
	print $fh "SELECT guestbook_notify.set_access_token(:tok);\n";
	close $fh;
	local $ENV{PGOPTIONS} = '-c log_statement=all';
	my $ok = IPC::Run::run([ 'pgbench', '-n', '-M', 'extended', '-t', '1', '-D', "tok=$token_b",
			'-f', $script, $node->connstr('gb_b') ], '>', \$out, '2>', \$err);
	ok($ok, 'set_access_token() with the token as a bind parameter (pgbench -M extended)')
	  or diag($err);
}
ok(wait_status('gb_b', $idt, 'sent', 15), 'the token is picked up at commit: the row is sent (no reload, no restart)');
my $tok_s = time() - $t_tok;
is($mock_b->requests(since => $seq_b)->[-1]{auth}, 'ok', 'with gb_b\'s own token');
is(join(' ', workers_of('gb_b')), $pid_b, 'by the same worker process');
note(sprintf('token change to delivery: %.2f s', $tok_s));

# pg_stat_activity keeps no token once set_access_token() ran: a session
# still running after the call shows the masked text
{
	my ($in, $out, $err) = ('', '', '');
	local $ENV{PGAPPNAME} = 'gbn080_token';
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('gb_b'), '-c',
			"SELECT guestbook_notify.set_access_token('$token_b'); SELECT pg_sleep(3)" ],
		\$in, \$out, \$err);
	my $seen = '';
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		$seen = $node->safe_psql('postgres', q{SELECT coalesce(string_agg(query, ' | '), '') FROM pg_stat_activity
			WHERE application_name = 'gbn080_token' AND wait_event = 'PgSleep'});
		last if $seen ne '';
		usleep(50_000);
	}
	$h->finish;
	like($seen, qr/set_access_token\(\.\.\.\)/, 'pg_stat_activity shows set_access_token(...) masked');
	gbn_lacks_secret($seen, $token_b, 'pg_stat_activity does not show the token');
}
my $dump = '';
IPC::Run::run([ 'pg_dump', '-d', $node->connstr('gb_b') ], '>', \$dump);
like($dump, qr/CREATE EXTENSION IF NOT EXISTS guestbook_notify/, 'pg_dump of gb_b works');
gbn_lacks_secret($dump, $token_b, 'pg_dump of gb_b does not carry its token');
my $dbrs = $node->safe_psql('postgres', 'SELECT coalesce(string_agg(array_to_string(setconfig, \',\'), \' \'), \'\') FROM pg_db_role_setting');
gbn_lacks_secret($dbrs, $token_b, 'pg_db_role_setting does not hold it');
like($dbrs, qr/phone_number_id=$PNID_B/, 'pg_db_role_setting holds the non-secret per-database settings');

# ---------------------------------------------------------------------------
# 3. (issue 10.3) commits in a database no worker serves
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE gb_unserved');
gbn_install_app($node, db => 'gb_unserved');
is(scalar(workers_of('gb_unserved')), 0, 'gb_unserved (not listed) has no worker');
my $pid_a = (workers_of('gb_a'))[0];
usleep(1_000_000);    # let gb_a's worker settle
sub worker_cpu_during
{
	my ($pid, $secs, $load) = @_;
	my $c0 = cpu_ticks($pid);
	my $t0 = time();
	my $extra = $load ? $load->() : do { usleep($secs * 1e6); undef };
	my $dt = time() - $t0;
	my $c1 = cpu_ticks($pid);
	return ((($c1 // 0) - ($c0 // 0)) / $HZ / $dt, $dt, $extra);
}
sub pgbench_wake
{
	my ($db, $secs) = @_;
	my $script = "$PostgreSQL::Test::Utils::tmp_check/080_wake.sql";
	open(my $fh, '>', $script) or die $!;
	print $fh "SELECT guestbook_notify.wake();\n";
	close $fh;
	my ($out, $err) = ('', '');
	local $ENV{PGOPTIONS} = '-c log_statement=none';
	IPC::Run::run([ 'pgbench', '-n', '-c', '2', '-j', '2', '-T', $secs, '-f', $script,
			$node->connstr($db) ], '>', \$out, '2>', \$err);
	my ($tx) = $out =~ /number of transactions actually processed: (\d+)/;
	return $tx // 0;
}
my ($idle_cpu, $idle_s) = worker_cpu_during($pid_a, 10);
my ($busy_cpu, $busy_s, $commits) = worker_cpu_during($pid_a, 10, sub { pgbench_wake('gb_unserved', 10) });
my ($own_cpu, $own_s, $own_commits) = worker_cpu_during($pid_a, 5, sub { pgbench_wake('gb_a', 5) });
diag(sprintf('FIGURES 10.3: gb_a worker CPU idle %.2f%% of a core (%.1f s); during %d commits with wake() in gb_unserved (%.0f/s over %.1f s): %.2f%%; control, %d commits with wake() in gb_a itself (%.0f/s): %.2f%%',
		100 * $idle_cpu, $idle_s, $commits, $commits / $busy_s, $busy_s, 100 * $busy_cpu,
		$own_commits, $own_commits / $own_s, 100 * $own_cpu));
cmp_ok($commits, '>', 1000, 'pgbench committed in gb_unserved (each commit calls wake())');
cmp_ok($busy_cpu, '<', 0.10, sprintf("gb_a's worker stays under 10%% of a core during commits in gb_unserved (%.2f%%)", 100 * $busy_cpu));
cmp_ok($busy_cpu, '<=', $idle_cpu + 0.02, sprintf('no more than idle (%.2f%%) + 2 points', 100 * $idle_cpu));
is(join(' ', workers_of('gb_a')), $pid_a, "gb_a's worker is the same process throughout");
$node->safe_psql('postgres', 'DROP DATABASE gb_unserved');

# ---------------------------------------------------------------------------
# 4. a listed database created after start: served within seconds
# ---------------------------------------------------------------------------
$off = gbn_log_offset($node);
my $t0 = time();
$node->safe_psql('postgres', 'CREATE DATABASE gb_late');
set_sender('gb_late', $mock_a, $PNID_A);    # the same sender as gb_a
gbn_install_app($node, db => 'gb_late');
set_token('gb_late', $token_a);
my $t_ready = time();
ok(wait_workers('gb_late', 1, 10), 'gb_late: a worker within seconds');
my $t_worker = time();
reload_db('gb_late');
my $seq_a = $mock_a->last_seq;
my $t_assign = time();
assign('gb_late', 'SRT001', $GuestbookNotify::SARI);
my $idl = newest_row('gb_late', 'SRT001');
ok(defined $idl && wait_status('gb_late', $idl, 'sent', 15), "gb_late's first notification is sent");
my $t_sent = time();
my $first_s = $t_sent - $t_assign;
diag(sprintf('FIGURES new database: CREATE DATABASE to installed %.2f s; installed to worker seen %.2f s; first notification: assignment commit to sent %.3f s (%.2f s after CREATE DATABASE)',
		$t_ready - $t0, $t_worker - $t_ready, $first_s, $t_sent - $t0));
cmp_ok($first_s, '<', 5, 'the first notification in the new database is sent within seconds');
my $rl = $mock_a->requests(since => $seq_a);
ok(@$rl == 1 && $rl->[0]{auth} eq 'ok' && $rl->[0]{recipient} eq $GuestbookNotify::SARI_NUMBER,
	"through gb_late's sender (A), with its token");
show_log('gb_late was created and served', $off);

# ---------------------------------------------------------------------------
# 5. removed from the list and reloaded: its workers leave; plain DROP works
# ---------------------------------------------------------------------------
$off = gbn_log_offset($node);
$LIST = 'gb_a, gb_b, gb_drop, gb_force, gb_ren';
$t0 = time();
gbn_set_conf($node, database_name => $LIST);
ok(wait_workers('gb_late', 0, 10), 'gb_late removed from the list and reloaded: its workers leave');
my $leave_s = time() - $t0;
note(sprintf('workers left %.2f s after the reload', $leave_s));
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE gb_late');
is($ret, 0, 'then a plain DROP DATABASE gb_late succeeds') or diag($err);
my @l = show_log('gb_late was removed from the list, reloaded and dropped', $off);
ok((grep { /database "gb_late" is no longer served/ } @l), 'one line says gb_late is no longer served');
is(scalar(grep { /FATAL|PANIC|exited with exit code [1-9]/ } @l), 0,
	'its worker left without a FATAL or an exit code (asked to leave, not killed mid-transaction)');
ok((grep { /worker shutting down/ } @l), 'it logged that it shut down');

# a listed database dropped without a step of the admin's: the hook asks its
# workers to leave first
$node->safe_psql('postgres', 'CREATE DATABASE gb_drop');
gbn_install_app($node, db => 'gb_drop');
ok(wait_workers('gb_drop', 1, 10), 'gb_drop (listed) is served');
$off = gbn_log_offset($node);
$t0 = time();
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE gb_drop');
is($ret, 0, sprintf('a plain DROP DATABASE of a served database succeeds while it is listed (%.2f s)', time() - $t0))
  or diag($err);
usleep(3_000_000);
@l = show_log('gb_drop (listed, served) was dropped with a plain DROP DATABASE', $off);
is(scalar(grep { /FATAL|PANIC|exited with exit code [1-9]/ } @l), 0, 'no FATAL, no worker exiting in error');
is(scalar(grep { /worker started for database "gb_drop"/ } @l), 0, 'no worker started again for it');

# ---------------------------------------------------------------------------
# 6. DROP DATABASE ... WITH (FORCE) while listed: nothing loops
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE gb_force');
gbn_install_app($node, db => 'gb_force');
ok(wait_workers('gb_force', 1, 10), 'gb_force (listed) is served');
$off = gbn_log_offset($node);
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE gb_force WITH (FORCE)');
is($ret, 0, 'DROP DATABASE gb_force WITH (FORCE) succeeds') or diag($err);
my $off_after = gbn_log_offset($node);
usleep(6_000_000);
@l = show_log('gb_force (listed, served) was dropped WITH (FORCE), and 6 s after', $off);
my @later = log_lines($off_after);
is(scalar(grep { /FATAL|PANIC/ } @l), 0, 'no FATAL line (no worker restarting into the dropped database)');
is(scalar(grep { /exited with exit code [1-9]/ } @l), 0, 'no process exited in error');
is(scalar(grep { /worker started/ } @later), 0, 'no worker started in the 6 s after the drop');
cmp_ok(scalar(@later), '<=', 2, sprintf('at most 2 log lines in the 6 s after the drop (%d): nothing loops', scalar @later));
is($node->safe_psql('postgres', "SELECT count(*) FROM public.gbn_ws() WHERE database = 'gb_force'"), '0',
	'worker_status() no longer lists gb_force');

# ---------------------------------------------------------------------------
# 7. ALTER DATABASE ... RENAME while listed
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE gb_ren');
gbn_install_app($node, db => 'gb_ren');
ok(wait_workers('gb_ren', 1, 10), 'gb_ren (listed) is served');
$off = gbn_log_offset($node);
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE gb_ren RENAME TO gb_ren2');
is($ret, 0, 'ALTER DATABASE gb_ren RENAME TO gb_ren2 succeeds while it is served') or diag($err);
usleep(3_000_000);
is(scalar(workers_of('gb_ren2')), 0, 'gb_ren2 is not listed: no worker serves it');
@l = show_log('gb_ren (listed, served) was renamed to gb_ren2', $off);
is(scalar(grep { /FATAL|PANIC|exited with exit code [1-9]/ } @l), 0, 'no FATAL, no worker exiting in error');
ok((grep { /database "gb_ren" is no longer served/ } @l), 'one line says gb_ren is no longer served');
$off = gbn_log_offset($node);
$LIST = 'gb_a, gb_b, gb_ren2';
gbn_set_conf($node, database_name => $LIST);
ok(wait_workers('gb_ren2', 1, 10), 'listed under its new name and reloaded: gb_ren2 is served');
# its sender by ALTER DATABASE ... SET on the running worker: no reload, the
# worker applies it at commit (the hook announces it)
my $off_set = gbn_log_offset($node);
my $off_noreload = $off_set;
set_sender('gb_ren2', $mock_b, $PNID_B);
ok($node->wait_for_log(qr/database "gb_ren2"'s settings changed \(ALTER DATABASE \.\.\. SET/, $off_set),
	'ALTER DATABASE gb_ren2 SET ...: its running worker applies it without a reload');
$off_set = gbn_log_offset($node);
set_token('gb_ren2', $token_b);
ok($node->wait_for_log(qr/database "gb_ren2" has its own access token/, $off_set),
	'set_access_token(): its worker takes the token');
unlike(gs_log_since($node, $off_noreload), qr/parameter "[^"]*" changed|received SIGHUP/, 'no reload happened meanwhile');
$seq_b = $mock_b->last_seq;
my $idr = assign('gb_ren2', 'ABC123', $GuestbookNotify::SARI);
$idr = newest_row('gb_ren2', 'ABC123');
ok(defined $idr && wait_status('gb_ren2', $idr, 'sent', 15), 'and delivers');
my $rr = $mock_b->requests(since => $seq_b);
ok(@$rr == 1 && $rr->[0]{auth} eq 'ok' && $rr->[0]{phone_number_id} eq $PNID_B,
	'through its new sender B, as its phone number id, with its token');
show_log('gb_ren2 was listed under its new name', $off);

# ---------------------------------------------------------------------------
# 8. '*': every database with the extension, CREATE EXTENSION picked up
# ---------------------------------------------------------------------------
gbn_set_conf($node, database_name => '*');
$node->safe_psql('postgres', 'CREATE DATABASE gb_star');
ok(wait_q('postgres', "SELECT state FROM public.gbn_ws() WHERE database = 'gb_star'",
		'waiting for CREATE EXTENSION', 10, 'gb_star waiting'),
	"'*': gb_star (no extension) is shown as waiting for CREATE EXTENSION");
ok(wait_workers('gb_star', 0, 5), "'*': and has no worker");
$off = gbn_log_offset($node);
$t0 = time();
$node->safe_psql('gb_star', 'CREATE EXTENSION guestbook_notify');
ok(wait_workers('gb_star', 1, 10), "'*': CREATE EXTENSION in gb_star starts its worker");
my $star_s = time() - $t0;
diag(sprintf("FIGURES '*': CREATE EXTENSION to worker running %.2f s", $star_s));
cmp_ok($star_s, '<', 5, 'within seconds');
ok(wait_workers('gb_a', 1, 5) && wait_workers('gb_b', 1, 5) && wait_workers('gb_ren2', 1, 5),
	"'*': the other databases with the extension are served");
show_log("CREATE EXTENSION in gb_star under '*'", $off);

my $all_log = slurp_file($node->logfile);
for ([ 'A', $token_a ], [ 'B', $token_b ], [ 'G', $token_g ])
{
	gbn_lacks_secret($all_log, $_->[1], "token $_->[0] is in no line of the server log (log_statement = all, bind parameters)");
}
like($all_log, qr/set_access_token\(\.\.\. \(value hidden\)/, 'the logged set_access_token() statements are masked');
like($all_log, qr/parameters: \(hidden\)/, 'the bind parameter of set_access_token($1) is masked');

# ---------------------------------------------------------------------------
# 9. (issue 10.8) workers = 8 with max_worker_processes = 8
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'ALTER DATABASE gb_a SET guestbook_notify.max_send_rate = 60');
gbn_set_conf($node, database_name => 'gb_a', workers => 8);
$node->append_conf('postgresql.conf', "max_worker_processes = 8\n");
$off = gbn_log_offset($node);
$node->restart;
my $deadline = time() + 20;
my ($ws, @running);
while (time() < $deadline)
{
	$ws = gbn_sql_json($node, 'SELECT * FROM public.gbn_ws()', 'postgres');
	@running = grep { defined $_->{pid} } @$ws;
	last if @$ws == 8 && @running > 0 && !grep { !defined $_->{pid} && $_->{state} !~ /^not started/ } @$ws;
	usleep(200_000);
}
my $others = $node->safe_psql('postgres',
	"SELECT string_agg(backend_type, ', ') FROM pg_stat_activity WHERE backend_type IN ('guestbook_notify launcher', 'logical replication launcher')");
my @not = grep { !defined $_->{pid} } @$ws;
diag(sprintf('FIGURES 10.8: workers = 8, max_worker_processes = 8 (also taken: %s): %d running, %d not started: %s',
		$others, scalar @running, scalar @not, join('; ', map { $_->{state} } @not)));
is(scalar @$ws, 8, 'worker_status() shows 8 rows for gb_a');
cmp_ok(scalar @running, '<', 8, 'fewer than 8 could start');
cmp_ok(scalar @running, '>=', 1, 'some run');
is(scalar(grep { $_->{state} =~ /^not started: no background worker slot free \(max_worker_processes = 8\)/ } @not),
	8 - scalar(@running), 'each one that could not start is shown as not started, with the reason');
like(gs_log_since($node, $off), qr/only ${\ scalar @running} of 8 worker\(s\) could start for database "gb_a": no background worker slot free/,
	'and logged');

# the send rate: max_send_rate 60, split by the workers that run (not by 8)
my $N = 360;
$seq_a = $mock_a->last_seq;
my $got = $node->safe_psql('gb_a', qq{
	SELECT count(guestbook_notify.enqueue('assigned', '62815' || lpad(g::text, 8, '0'), NULL,
		jsonb_build_object('case_code', 'R' || g), 'rate:' || g)) FROM generate_series(1, $N) g});
is($got, $N, "$N messages to $N numbers queued in gb_a");
ok($mock_a->wait_requests($N, 30, since => $seq_a), 'all reach sender A');
my @times = sort { $a <=> $b } map { $_->{time} } @{ $mock_a->requests(since => $seq_a) };
# after the first 20 (each worker's bucket starts with up to ~2 tokens)
my $span = $times[-1] - $times[20];
my $rate = ($#times - 20) / ($span || 1);
my $split8 = 60 * scalar(@running) / 8;
diag(sprintf('FIGURES 10.8: max_send_rate 60 (ALTER DATABASE gb_a SET), %d running workers: requests 21..%d in %.2f s = %.1f/s (split by 8 would give %.1f/s)',
		scalar @running, scalar @times, $span, $rate, $split8));
cmp_ok($rate, '>', 54, 'the sender\'s rate is max_send_rate: split by the workers that run, not by 8');
cmp_ok($rate, '<', 66, 'and not above it');
my $ws2 = gbn_sql_json($node, 'SELECT * FROM public.gbn_ws() WHERE pid IS NOT NULL', 'postgres');
my $sending = grep { $_->{sent} > 0 } @$ws2;
note("running workers that sent: $sending of " . scalar @$ws2);

$node->stop;
gbn_openapi_ok($mock_a, undef, min => $N);
gbn_openapi_ok($mock_b, undef, min => 2);
gbn_openapi_ok($mock_g, undef, min => 0);
$mock_a->stop;
$mock_b->stop;
$mock_g->stop;
done_testing();
