
# The worker's life cycle, on one node:
#  1. (first) the extension is not installed in database_name: the
#     launcher runs, the database's worker says so once and leaves -- no
#     restart loop, no error -- and CREATE EXTENSION brings it back within
#     seconds; it delivers once the app is attached;
#  2. wake at commit: with naptime 60 s a row inserted without wake() waits
#     (no polling) and a ROLLBACK wakes nobody, but an assignment's COMMIT is
#     delivered at once (with the waiting row);
#  3. SIGTERM mid-request: pg_terminate_backend() ends the worker promptly,
#     the row it had in flight goes back to pending (lease cleared, the try
#     not counted), a new worker comes back and sends it;
#  4. DROP EXTENSION ... CASCADE while the worker runs: it leaves, no error
#     loop; CREATE EXTENSION again and a worker is back and delivers;
#  5. two workers (guestbook_notify.workers = 2, restart) share one queue of
#     2,000 rows: both send, nothing is sent twice.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GbnSafety;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $WORKER = 'guestbook_notify worker';

my $mock = GuestbookNotify::Mock->start(token => 'token-070');
# the extension is NOT created here (gbn_node does not install anything)
my $node = gbn_node('lifecycle', $mock,
	settings => {
		naptime            => 200,
		http_timeout       => 30000,    # a hung request stays in flight
		lease_timeout      => 60,
		recipient_interval => 0,
		recipient_hourly_cap => 0,
		max_send_rate      => 100000 });

# worker_status() without the extension: the C function, declared outside
# the extension's schema, so it survives DROP EXTENSION.
$node->safe_psql('postgres', q{
	CREATE FUNCTION public.gbn_ws(OUT pid integer, OUT database name, OUT state text,
		OUT paused_reason text, OUT in_flight integer, OUT sent bigint, OUT failed bigint,
		OUT retried bigint, OUT audit_pending bigint, OUT events_pending bigint,
		OUT last_error text)
	RETURNS SETOF record LANGUAGE c VOLATILE
	AS '$libdir/guestbook_notify', 'guestbook_notify_worker_status'});

# The worker's pid, sampled every 0.25 s for $secs: returns the list of
# distinct "pid sets" seen (one element "<pid>" when it stayed the same).
sub sample_pids
{
	my ($secs) = @_;
	my %seen;
	my $deadline = time() + $secs;
	while (time() < $deadline)
	{
		$seen{ join(' ', gbn_worker_pids($node)) } = 1;
		usleep(250_000);
	}
	return sort keys %seen;
}

# Server log lines after $off that the worker wrote at WARNING or worse.
sub worker_problems
{
	my ($off, $pid) = @_;
	my @l = grep { /\[\Q$pid\E\]/ && /\b(WARNING|ERROR|FATAL|PANIC):/ }
	  split /\n/, gs_log_since($node, $off);
	return @l;
}

sub ws_state
{
	my $r = gbn_query_row($node, 'SELECT state FROM public.gbn_ws() LIMIT 1');
	return $r ? $r->{state} : '';
}

# ---------------------------------------------------------------------------
# 4a. no extension yet
# ---------------------------------------------------------------------------
# The launcher serves the database: its worker starts, finds no extension,
# says so once and leaves; the launcher does not start it again until
# CREATE EXTENSION (no restart loop).
ok(gbn_wait_until($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guestbook_notify launcher'",
		'1', 30, 'the launcher'), 'the launcher runs');
ok($node->wait_for_log(qr/extension not installed in database "postgres"; the worker leaves/, 0),
	'no extension: the worker says so and leaves');
my $off = gbn_log_offset($node);
my @sets = sample_pids(3);
is_deeply(\@sets, [''], 'no extension: no worker runs for 3 s (no restart loop)');
ok(gbn_wait_until($node, "SELECT state = 'waiting for CREATE EXTENSION' FROM public.gbn_ws() LIMIT 1",
		't', 5, 'worker state'), "no extension: worker_status() says 'waiting for CREATE EXTENSION'");
my @bad = grep { /\b(WARNING|ERROR|FATAL|PANIC):/ } split /\n/, gs_log_since($node, $off);
is(scalar @bad, 0, 'no extension: no WARNING/ERROR/FATAL in the log')
  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));
my $restarts = () = gs_log_since($node, $off) =~ /guestbook_notify worker started/g;
is($restarts, 0, 'no extension: the worker did not restart');

my $t_create = time();
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 10);
ok(defined $pid, sprintf('CREATE EXTENSION: the worker is back within seconds (%.1f s)', time() - $t_create));
my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
ok(defined $id, 'after CREATE EXTENSION + attach, an assignment enqueues');
ok(gbn_wait_status($node, $id, 'sent', 15), 'and it is delivered');
is(join(' ', gbn_worker_pids($node)), $pid, 'by the same worker (no restart was needed)');

# ---------------------------------------------------------------------------
# 1. wake at commit, not a poll
# ---------------------------------------------------------------------------
gbn_set_conf($node, naptime => '60s');
# the reload makes the worker look once, then nap 60 s
usleep(1_500_000);
is(gbn_query_row($node, "SELECT setting FROM pg_settings WHERE name = 'guestbook_notify.naptime'")->{setting},
	'60000', 'naptime is 60 s');

# a row inserted without wake(): only a poll would find it
my $CTL_NUMBER = '6281500000901';
my $ctl = $node->safe_psql('postgres', qq{
	INSERT INTO guestbook_notify.notification_queue
		(to_number, recipient_role, template_key, template_name, template_language,
		 template_params, template_args, message_text, dedupe_key)
	SELECT '$CTL_NUMBER', 'manual', template_key, template_name, template_language,
		   template_params, template_args, message_text, 'test070:control'
	  FROM guestbook_notify.notification_queue WHERE id = '$id'
	RETURNING id});
ok($ctl ne '', 'a control row is queued without wake()');

# an aborted assignment
$node->safe_psql('postgres', qq{
	BEGIN;
	INSERT INTO public.case_assignments (case_id, operator_id, assigned_by)
	SELECT id, '$GuestbookNotify::SARI', '$GuestbookNotify::RESEPSIONIS' FROM public.cases WHERE code = 'SRT001';
	ROLLBACK;});
usleep(2_500_000);
my $c = gbn_queue_row($node, $ctl);
is($c->{status}, 'pending', 'naptime 60 s: the control row is still pending after 2.5 s (nobody polled)');
is($c->{attempt_count}, 0, 'and was never claimed');
ok(!defined $c->{lease_until}, 'and is not leased');
is(scalar @{ $mock->requests(number => $CTL_NUMBER) }, 0,
	'ROLLBACK woke nobody: no request for the control row');
is(scalar @{ $mock->requests(number => $GuestbookNotify::SARI_NUMBER) }, 0,
	'the aborted assignment sent nothing');
is($node->safe_psql('postgres', q{SELECT count(*) FROM guestbook_notify.notification_queue q
	JOIN public.cases c ON c.id = q.case_id WHERE c.code = 'SRT001'}), '0',
	'and left no queue row');

my $t0 = time();
my $sid = gbn_assign($node, 'SRT001', $GuestbookNotify::SARI);
ok(defined $sid, 'a committed assignment enqueues');
ok(gbn_wait_status($node, $sid, 'sent', 10), 'and is delivered');
my $wake_s = time() - $t0;
cmp_ok($wake_s, '<', 3, sprintf('within %.3f s of the commit, with naptime 60 s: the commit woke the worker', $wake_s));
ok(gbn_wait_status($node, $ctl, 'sent', 3), 'the woken worker also took the control row');
is(join(' ', gbn_worker_pids($node)), $pid, 'same worker pid');

# ---------------------------------------------------------------------------
# 3. SIGTERM mid-request
# ---------------------------------------------------------------------------
my $HANG = '6281388880001';
$mock->script(number => $HANG, responses => ['hang']);    # the first request hangs, then ok
my $op = gbn_add_operator($node, 'Operator Hang', $HANG);
gbn_add_case($node, 'HANG1');
my $hid = gbn_assign($node, 'HANG1', $op);
ok(defined $hid, 'a notification to the hanging number is queued');
ok($mock->wait_requests(1, 10, number => $HANG), 'its request is in flight at the mock');
my $st = $mock->stats;
is($st->{hung}, 1, 'the mock holds one hung request');
my $before = gbn_queue_row($node, $hid);
is($before->{status}, 'pending', 'row pending while in flight');
is($before->{attempt_count}, 1, 'attempt_count 1 while in flight (counted at claim)');
ok(defined $before->{lease_until}, 'row leased');
is($before->{leased_by}, $pid, 'leased by the worker');

$off = gbn_log_offset($node);
$t0 = time();
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"), 't', 'pg_terminate_backend(worker)');
my $gone = 0;
while (time() - $t0 < 10)
{
	my $alive = -e "/proc/$pid";
	if ($alive && open(my $fh, '<', "/proc/$pid/stat"))
	{
		my $s = <$fh> // '';
		close $fh;
		$alive = 0 if $s =~ /^\d+ \(.*\) Z/;
	}
	if (!$alive)
	{
		$gone = time() - $t0;
		last;
	}
	usleep(20_000);
}
ok($gone > 0, 'the worker process exited');
cmp_ok($gone || 99, '<', 2, sprintf('within %.3f s of SIGTERM, with a request hanging', $gone || 99));

my $after = gbn_queue_row($node, $hid);
is($after->{status}, 'pending', 'the row is pending again');
ok(!defined $after->{lease_until}, 'its lease is cleared');
ok(!defined $after->{leased_by}, 'leased_by is cleared');
is($after->{attempt_count}, 0, 'the aborted try is not counted (attempt_count back to 0)');
is(scalar @{ gbn_attempts($node, $hid) }, 0, 'no attempt row for the aborted try');
like(gs_log_since($node, $off), qr/1 request\(s\) in flight were aborted; 1 notification\(s\) were put back/,
	'the worker logged that it put the row back');

my $new = gbn_wait_worker($node, 15, $pid);
ok(defined $new, 'a new worker comes back (the launcher starts it again)');
isnt($new // 0, $pid, 'with a new pid');
$mock->http_json('POST', '/_mock/release', {});
ok(gbn_wait_status($node, $hid, 'sent', 15), 'the row is sent by the new worker');
my $hrow = gbn_queue_row($node, $hid);
is($hrow->{attempt_count}, 1, 'sent row: attempt_count 1');
my $hatt = gbn_attempts($node, $hid);
is(scalar @$hatt, 1, 'one attempt row');
is($hatt->[0]{outcome} // '', 'sent', 'attempt outcome sent');
is(scalar @{ $mock->requests(number => $HANG) }, 2, 'the mock saw two requests: the hung one and the good one');
$pid = $new;

# ---------------------------------------------------------------------------
# 3b. The queue table locked (TRUNCATE, VACUUM FULL, LOCK TABLE) while the
#     worker is idle, an assignment committed meanwhile: the worker neither
#     spins nor gets stuck; it says why it waits and sends once the lock goes.
# ---------------------------------------------------------------------------
sub worker_cpu_ticks
{
	my ($p) = @_;
	open(my $fh, '<', "/proc/$p/stat") or return 0;
	my $s = <$fh> // '';
	close $fh;
	$s =~ s/^.*\) //;
	my @f = split / /, $s;
	return $f[11] + $f[12];    # utime + stime (fields 14 and 15)
}
gbn_add_case($node, 'LOCK1');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe('LOCK TABLE guestbook_notify.notification_queue IN ACCESS EXCLUSIVE MODE');
my $cpu0 = worker_cpu_ticks($pid);
my $lid_case = $node->safe_psql('postgres', "SELECT id FROM public.cases WHERE code = 'LOCK1'");
$node->safe_psql('postgres', qq{INSERT INTO public.case_assignments (case_id, operator_id)
	VALUES ('$lid_case', '$GuestbookNotify::SARI')});
ok(gbn_wait_until($node, 'SELECT state FROM public.gbn_ws() LIMIT 1',
		'waiting: the queue table is locked', 10, 'the worker to see the lock'),
	"queue locked: worker_status() says 'waiting: the queue table is locked'");
usleep(3_000_000);
my $cpu_ticks = worker_cpu_ticks($pid) - $cpu0;
cmp_ok($cpu_ticks, "<", 30, "queue locked ~3 s: the worker used $cpu_ticks CPU ticks (no busy loop)");
$locker->query_safe('COMMIT');
$locker->quit;
ok(gbn_wait_until($node, q{SELECT count(*) FROM guestbook_notify.notification_queue q
	JOIN public.cases c ON c.id = q.case_id WHERE c.code = 'LOCK1' AND q.status = 'sent'}, '1', 10,
		'the row committed during the lock to be sent'),
	'lock released: the assignment committed during the lock is sent');
is(ws_state(), 'idle', 'and the worker is idle again');

# ---------------------------------------------------------------------------
# 4b. DROP EXTENSION while the worker runs, then CREATE it again
# ---------------------------------------------------------------------------
gbn_set_conf($node, naptime => '200ms');    # let the worker look often
usleep(500_000);
$off = gbn_log_offset($node);
$node->safe_psql('postgres', 'DROP EXTENSION guestbook_notify CASCADE');
ok(gbn_wait_until($node, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'guestbook_notify worker'",
		'0', 10, 'the worker to leave'), 'after DROP EXTENSION: the worker leaves');
@sets = sample_pids(3);
is_deeply(\@sets, [''], 'after DROP EXTENSION: no worker for 3 s (no restart loop)');
is(ws_state(), 'waiting for CREATE EXTENSION', "after DROP EXTENSION: worker_status() says 'waiting for CREATE EXTENSION'");
my @bad2 = grep { /\b(WARNING|ERROR|FATAL|PANIC):/ } split /\n/, gs_log_since($node, $off);
is(scalar @bad2, 0, 'after DROP EXTENSION: no WARNING/ERROR/FATAL in the log')
  or diag(join("\n", @bad2[ 0 .. ($#bad2 < 9 ? $#bad2 : 9) ]));
$restarts = () = gs_log_since($node, $off) =~ /guestbook_notify worker started/g;
is($restarts, 0, 'after DROP EXTENSION: no worker started');

$node->safe_psql('postgres', "CREATE EXTENSION guestbook_notify; SELECT guestbook_notify.attach('public')");
my $back = gbn_wait_worker($node, 10);
ok(defined $back, 'after CREATE EXTENSION again: a worker is back');
my $rid = gbn_assign($node, 'ABC123', $GuestbookNotify::SARI);
ok(defined $rid, 'after CREATE EXTENSION again + attach, an assignment enqueues');
ok(gbn_wait_status($node, $rid, 'sent', 15), 'and it is delivered');
is(join(' ', gbn_worker_pids($node)), $back // '', 'by that worker');
@bad = worker_problems($off, $back // 0);
is(scalar @bad, 0, 'no WARNING/ERROR/FATAL from the worker through the drop and re-create')
  or diag(join("\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]));

# ---------------------------------------------------------------------------
# 2. two workers on one queue
# ---------------------------------------------------------------------------
my $N = 2000;
gbn_set_conf($node, workers => 2);
$node->restart;
my @pids;
my $deadline = time() + 30;
while (time() < $deadline)
{
	@pids = gbn_worker_pids($node);
	last if @pids == 2;
	usleep(100_000);
}
is(scalar @pids, 2, "workers = 2: two worker processes (@pids)");
$mock->reset;

$t0 = time();
is(gs_enqueue($node, n => $N, recipients => $N), $N, "$N rows to $N numbers enqueued in one transaction");
ok(gs_wait_drained($node, 40), 'the queue drains');
my $drain = time() - $t0;

my $ws = gbn_worker_status($node) // [];
my @live = grep { defined $_->{pid} } @$ws;
is(scalar @live, 2, 'worker_status(): two workers with a pid');
is(join(' ', sort { $a <=> $b } map { $_->{pid} } @live), join(' ', sort { $a <=> $b } @pids),
	'worker_status() pids = the pg_stat_activity pids');
my $total = 0;
for my $w (@live)
{
	cmp_ok($w->{sent}, '>', 0, "worker $w->{pid} sent some ($w->{sent})");
	$total += $w->{sent};
}
is($total, $N, "the workers' sent counters add up to $N");

my $reqs = $mock->requests;
is(scalar @$reqs, $N, "the mock received exactly $N requests");
my (%rcpt, %tag);
for my $q (@$reqs)
{
	$rcpt{ $q->{recipient} // '' }++;
	$tag{$_}++ for gs_tags_of_request($q);
}
is(scalar keys %rcpt, $N, "$N distinct recipients");
is(scalar keys %tag, $N, "$N distinct tags");
is(scalar(grep { $_ > 1 } values %tag), 0, 'no tag sent twice');
my $acc = gs_account($node, $mock, n => $N);
is($acc->{lost}, 0, 'nothing lost');
is($acc->{duplicates}, 0, 'no duplicates');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE q.status = 'sent' AND q.attempt_count = 1
							AND (SELECT count(*) FROM guestbook_notify.notification_attempts a
								  WHERE a.notification_id = q.id) = 1)
	  FROM guestbook_notify.notification_queue q WHERE q.dedupe_key LIKE 'safety:%'}),
	$N, 'every row is sent, with attempt_count 1 and exactly one attempt row');

note(sprintf('FIGURES 070_workers_lifecycle: wake=%.3fs sigterm_exit=%.3fs drain_2workers=%.1fs sent=%s',
		$wake_s, $gone, $drain, join('/', map { $_->{sent} } @live)));

$node->stop;
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
