
# SIGKILL of the worker, 5 times, during a drain of 2,000 messages.
#
# A SIGKILL of a backend makes the postmaster reinitialise the whole cluster
# (crash recovery); the queue is a logged table, so nothing is lost, and the
# restarted worker takes over the rows the dead one had leased (their
# leaseholder is gone). Delivery is at-least-once: a request may have reached
# the provider before the kill and its result not been committed, so the
# duplicates are at most what was in flight: kills x max_in_flight.

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

my $N = 2000;
my $KILLS = 5;
my $MAX_IN_FLIGHT = 8;

my $mock = GuestbookNotify::Mock->start(token => 'token-120');
my $node = gbn_node('sigkill', $mock,
	settings => {
		max_in_flight => $MAX_IN_FLIGHT, http_timeout => 3000, lease_timeout => 30,
		recipient_interval => 0, max_send_rate => 100000 },
	conf => "restart_after_crash = on\nlog_min_messages = warning\n");
gbn_install_app($node, sample => 0);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

# answers take 20-40 ms: ~250 messages/s, so the drain lasts long enough to
# be killed in the middle, with requests in flight at every kill
$mock->script(default => 'delay:25');
is(gs_enqueue($node, n => $N, recipients => $N), $N, "$N rows enqueued");
my $t0 = time();

my $kills = 0;
my @at;
for my $k (1 .. $KILLS)
{
	my $want = int($N * $k / ($KILLS + 2));
	my $deadline = time() + 60;
	my $sent = 0;
	while (time() < $deadline)
	{
		$sent = gs_query($node,
			"SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'sent'", 30) // 0;
		last if $sent >= $want;
		usleep(50_000);
	}
	my $w = '';
	for (1 .. 300)
	{
		$w = gs_query($node,
			"SELECT pid FROM pg_stat_activity WHERE backend_type = 'guestbook_notify worker' LIMIT 1", 30) // '';
		last if $w ne '';
		usleep(100_000);
	}
	BAIL_OUT('no worker to kill') if $w eq '';
	my $inflight = $mock->stats->{in_flight};
	kill 'KILL', $w or die "kill $w: $!";
	$kills++;
	push @at, "$sent sent, $inflight in flight at the mock";
	note("kill $k: SIGKILL worker $w with $sent rows sent and $inflight requests in flight at the mock");
	# wait until the cluster has gone through crash recovery and is back
	usleep(300_000);
	ok(defined gs_query($node, 'SELECT 1', 60), "kill $k: the server is back after crash recovery");
}
is($kills, $KILLS, "$KILLS SIGKILLs during the drain");

ok(gs_wait_drained($node, 120), 'the queue drains after the kills');
my $elapsed = time() - $t0;
my $acc = gs_account($node, $mock, n => $N);
is($acc->{rows}, $N, "all $N rows are in the queue");
is($acc->{lost}, 0, 'lost: 0') or diag('lost rows: ' . join(' ', @{ $acc->{lost_tags} }[0 .. 19]));
is($acc->{status}{sent} // 0, $N, 'every row ends sent');
my $limit = $kills * $MAX_IN_FLIGHT;
cmp_ok($acc->{duplicates}, '<=', $limit,
	"duplicates $acc->{duplicates} <= kills x max_in_flight = $kills x $MAX_IN_FLIGHT = $limit");
my $ev = gs_query($node, "SELECT count(*) FROM guestbook_notify.notification_attempts a "
	  . "JOIN guestbook_notify.notification_queue q ON q.id = a.notification_id "
	  . "WHERE q.dedupe_key LIKE 'safety:%' AND a.outcome = 'sent'", 30);
is($ev, $N, 'one sent attempt row per row');

my $log = slurp_file($node->logfile);
my $crashes = () = $log =~ /terminated by signal 9: Killed/g;
is($crashes, $kills, "the server log shows $kills crash restarts");

note(sprintf("FIGURES 120_crash_sigkill: rows=%d kills=%d lost=%d duplicates=%d (limit %d = %d x max_in_flight %d) "
		  . "requests=%d accepted=%d drain=%.1fs",
		$N, $kills, $acc->{lost}, $acc->{duplicates}, $limit, $kills, $MAX_IN_FLIGHT,
		$acc->{requests}, $acc->{accepted}, $elapsed));
note("kills at: " . join('; ', @at));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
