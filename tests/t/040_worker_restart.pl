
# pg_terminate_backend() of the worker: the postmaster starts a new one (new
# pid) and it finishes the queue, including the rows the old one had leased
# (at-least-once: a duplicate only for what was in flight). Then a clean
# shutdown.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $mock = GuestbookNotify::Mock->start(token => 'token-040');
my $node = gbn_node('restart', $mock,
	settings => { lease_timeout => 10, max_in_flight => 4, http_timeout => 10000 });
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

# slow answers, so requests are in flight when the worker dies
$mock->script(default => 'delay:2000');
my @ids;
for my $i (1 .. 8)
{
	my $number = sprintf('62813000%05d', $i);
	my $op = gbn_add_operator($node, "Operator $i", $number);
	gbn_add_case($node, "K$i");
	push @ids, gbn_assign($node, "K$i", $op);
}
is(scalar(grep { defined } @ids), 8, 'eight notifications enqueued');
my $idlist = join(',', map { "'$_'" } grep { defined } @ids);

ok(gbn_wait_until($node, "SELECT count(*) > 0 FROM guestbook_notify.notification_queue "
		  . "WHERE lease_until > now() AND leased_by = $pid", 't', 30, 'rows leased by the worker'),
	'the worker has rows in flight');
my $in_flight = $mock->stats->{in_flight};
note("requests in flight at the mock when the worker is terminated: $in_flight");

my $t = $node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
is($t, 't', 'pg_terminate_backend(worker)');
$mock->script(default => 'ok');

my $new = gbn_wait_worker($node, 60, $pid);
ok(defined $new, 'a new worker comes back');
isnt($new // 0, $pid, 'with a new pid');

for my $id (grep { defined } @ids)
{
	ok(gbn_wait_status($node, $id, 'sent', 60), "row $id sent");
}
my $rows = gbn_sql_json($node,
	"SELECT status, count(*) AS n FROM guestbook_notify.notification_queue WHERE id IN ($idlist) GROUP BY 1");
is_deeply($rows, [ { status => 'sent', n => 8 } ], 'all eight sent, nothing lost');
my $total = $mock->stats->{requests};
cmp_ok($total, '>=', 8, 'at least one request per row');
cmp_ok($total, '<=', 8 + 4, "duplicates bounded by what was in flight (max_in_flight 4): $total requests");
my $ev = gbn_sql_json($node, "SELECT count(*) AS n FROM public.case_events WHERE event_type = 'contacted'");
is($ev->[0]{n}, 8, "one 'contacted' event per row");

# a clean shutdown with the worker running
$node->stop('fast');
command_like([ 'pg_controldata', $node->data_dir ], qr/Database cluster state:\s+shut down\n/,
	'the cluster shut down cleanly');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
