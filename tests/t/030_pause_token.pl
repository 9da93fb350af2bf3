
# An expired access token (Graph error 190) pauses sending: nothing else is
# sent, no attempt is spent, worker_status() says why, one loud log line.
# ALTER SYSTEM SET access_token + reload resumes and delivers everything.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);

my $good = 'GoodToken-030-' . int(rand(1e9));
my $bad  = 'ExpiredToken-030-' . int(rand(1e9));
my $mock = GuestbookNotify::Mock->start(token => $good);
my $node = gbn_node('pause', $mock,
	settings => { access_token => $bad, max_in_flight => 4 });
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');
my $log_offset = gbn_log_offset($node);

# three notifications: the operator, the lead, the kadis
my @ids = (gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI),
	gbn_escalate($node, 'ABC123', 'lead'),
	gbn_escalate($node, 'ABC123', 'kadis'));
is(scalar(grep { defined } @ids), 3, 'three notifications enqueued');
my $idlist = join(',', map { "'$_'" } grep { defined } @ids);

ok($mock->wait_requests(1, 30), 'the worker tried to send');
my $first = $mock->requests->[0];
is($first->{auth}, 'wrong', 'with the expired token');
is($first->{response}{code}, 190, 'the mock answered 190');

# the pause: after the first 190 (and whatever was already in flight), no more requests
ok(gbn_wait_until($node,
		"SELECT count(*) > 0 FROM guestbook_notify.notification_attempts WHERE outcome = 'paused'",
		't', 30, "a 'paused' attempt row"), "the 190 answer is recorded as 'paused'");
sleep(1.0);
my $n1 = $mock->stats->{requests};
sleep(3.0);
my $n2 = $mock->stats->{requests};
is($n2, $n1, "paused: nothing else is sent ($n1 requests, all before the pause)");
cmp_ok($n1, '<=', 4, 'at most the requests already in flight (max_in_flight 4) saw the 190');

my $rows = gbn_sql_json($node,
	"SELECT id, status, attempt_count, last_error FROM guestbook_notify.notification_queue WHERE id IN ($idlist)");
is(scalar(grep { $_->{status} eq 'pending' } @$rows), 3, 'the three rows are still pending');
is(scalar(grep { $_->{attempt_count} == 0 } @$rows), 3, 'no attempt was spent (attempt_count 0)')
  or diag(explain $rows);

my $status = gbn_worker_status($node);
ok(defined $status && @$status, 'guestbook_notify.worker_status() answers');
my $status_text = JSON::PP->new->canonical->encode($status // []);
note("worker_status: $status_text");
my ($ws) = grep { ($_->{pid} // 0) == $pid } @{ $status // [] };
like($ws->{state} // '', qr/paused/, 'worker_status().state is paused');
like($ws->{paused_reason} // '', qr/190/, 'worker_status().paused_reason names the code');
like($ws->{paused_reason} // '', qr/access token/i, '... and the access token');

my $log = slurp_file($node->logfile, $log_offset);
my @loud = grep { /\b(WARNING|ERROR|LOG):.*paus/i } split /\n/, $log;
cmp_ok(scalar @loud, '>=', 1, 'a loud log line says sending is paused');
cmp_ok(scalar @loud, '<=', 2, 'only one (not one per row or per poll)') or diag(join("\n", @loud));
like(join("\n", @loud), qr/190|access token/i, 'the log line names the cause');

# --- fix the token ----------------------------------------------------------------
my $before_fix = $mock->last_seq;
gbn_set_conf($node, access_token => $good);
for my $id (grep { defined } @ids)
{
	ok(gbn_wait_status($node, $id, 'sent', 30), "resumed after the reload: $id sent");
}
my $after = $mock->requests(since => $before_fix);
is(scalar @$after, 3, 'three requests after the fix, one per row');
is(scalar(grep { $_->{auth} eq 'ok' } @$after), 3, 'all with the new token');
$rows = gbn_sql_json($node,
	"SELECT id, attempt_count FROM guestbook_notify.notification_queue WHERE id IN ($idlist)");
is(scalar(grep { $_->{attempt_count} == 1 } @$rows), 3, 'each row counts one attempt (the paused tries are free)');
($ws) = grep { ($_->{pid} // 0) == $pid } @{ gbn_worker_status($node) // [] };
ok(!defined $ws->{paused_reason}, 'worker_status().paused_reason is cleared');
unlike($ws->{state} // '', qr/paused/, 'worker_status().state is no longer paused');

is(join(' ', gbn_worker_pids($node)), $pid, 'the same worker throughout');

# neither token was ever written to the server log
$log = slurp_file($node->logfile);
gbn_lacks_secret($log, $bad, 'the expired token is not in the server log');
gbn_lacks_secret($log, $good, 'the new token is not in the server log (not even "parameter ... changed to")');

$node->stop;
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
