
# An immediate shutdown (pg_ctl stop -m immediate: no checkpoint, the
# worker gets no chance to give its leases back) in the middle of a drain,
# then a restart: crash recovery replays the queue, the new worker takes
# over the rows the old one had leased, and every row ends sent. Duplicates
# at most what was in flight (max_in_flight).

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

my $N = 1000;
my $MAX_IN_FLIGHT = 8;

my $mock = GuestbookNotify::Mock->start(token => 'token-130');
my $node = gbn_node('immediate', $mock,
	settings => {
		max_in_flight => $MAX_IN_FLIGHT, http_timeout => 3000, lease_timeout => 30,
		recipient_interval => 0, max_send_rate => 100000 });
gbn_install_app($node, sample => 0);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

$mock->script(default => 'delay:25');
is(gs_enqueue($node, n => $N, recipients => $N), $N, "$N rows enqueued");
my $t0 = time();
ok(gbn_wait_until($node,
		"SELECT count(*) >= $N / 3 FROM guestbook_notify.notification_queue WHERE status = 'sent'",
		't', 60, 'a third sent'), 'the drain is under way');
my $before = $node->safe_psql('postgres',
	"SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'sent'");
my $inflight = $mock->stats->{in_flight};
$node->stop('immediate');
note("immediate shutdown with $before rows sent and $inflight requests in flight at the mock");
my $sent_while_down = $mock->stats->{requests};
usleep(500_000);
is($mock->stats->{requests} - $sent_while_down, 0, 'nothing is sent while the server is down');
$node->start;
ok(defined gbn_wait_worker($node, 30), 'the worker runs again after the restart');
like(slurp_file($node->logfile), qr/database system was interrupted|was not properly shut down/,
	'the restart went through crash recovery');

ok(gs_wait_drained($node, 120), 'the queue drains after the restart');
my $elapsed = time() - $t0;
my $acc = gs_account($node, $mock, n => $N);
is($acc->{rows}, $N, "all $N rows are in the queue");
is($acc->{lost}, 0, 'lost: 0') or diag('lost rows: ' . join(' ', @{ $acc->{lost_tags} }[0 .. 19]));
is($acc->{status}{sent} // 0, $N, 'every row ends sent');
cmp_ok($acc->{duplicates}, '<=', $MAX_IN_FLIGHT,
	"duplicates $acc->{duplicates} <= max_in_flight $MAX_IN_FLIGHT (one interruption)");

note(sprintf("FIGURES 130_immediate_shutdown: rows=%d lost=%d duplicates=%d (limit %d) sent_before_stop=%d "
		  . "in_flight_at_stop=%d requests=%d drain=%.1fs",
		$N, $acc->{lost}, $acc->{duplicates}, $MAX_IN_FLIGHT, $before, $inflight,
		$acc->{requests}, $elapsed));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
