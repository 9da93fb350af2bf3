
# End to end: the real worker sends through the mock WhatsApp API, the mock
# posts signed status webhooks back to the real guestbook_notify_web, which
# stores and applies them in the queue.  Scripted per recipient: delivered
# then read; a late 131026 failure; statuses out of order; a status posted
# before the send is answered (so before the worker has recorded the id);
# duplicates.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GuestbookNotifyWeb;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $SECRET = 'meta-secret-230-' . int(rand(1e9));
my $mock = GuestbookNotify::Mock->start(token => 'token-230');
my $node = gbn_node('web_e2e', $mock);
gbn_install_app($node);
gbnw_setup_role($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');
my $web = GuestbookNotifyWeb->start($node, meta_secret => $SECRET,
	conf => { maintenance_interval => '1s', log_requests => 'on' });

my $BUDI = $GuestbookNotify::BUDI_NUMBER;
my $SARI = $GuestbookNotify::SARI_NUMBER;
my $LEAD = $GuestbookNotify::LEAD_NUMBER;
my $KADIS = $GuestbookNotify::KADIS_NUMBER;
$mock->http_json('POST', '/_mock/webhooks', {
	meta_url => $web->url . '/webhooks/meta',
	meta_app_secret => $SECRET,
	scripts => {
		$BUDI => [ { status => 'sent', delay_ms => 50 }, { status => 'delivered', delay_ms => 100 },
			{ status => 'read', delay_ms => 100 } ],
		$SARI => [ { status => 'sent', delay_ms => 50 },
			{ status => 'failed', code => 131026, delay_ms => 300,
			  details => 'Receiver is incapable of receiving this message' } ],
		$LEAD => [ { status => 'read', delay_ms => 50 }, { status => 'delivered', delay_ms => 100 },
			{ status => 'sent', delay_ms => 100 } ],
		$KADIS => [ { status => 'delivered', before_answer => JSON::PP::true },
			{ status => 'read', delay_ms => 100, repeat => 3 } ] } });

my $a = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
my $l = gbn_escalate($node, 'ABC123', 'lead');
my $k = gbn_escalate($node, 'ABC123', 'kadis');
my $s = gbn_assign($node, 'SRT001', $GuestbookNotify::SARI);
ok(gbn_wait_status($node, $_, 'sent', 30), "sent by the worker ($_)") for ($a, $l, $k, $s);

sub wait_delivery
{
	my ($id, $want, $what) = @_;
	return ok(gbn_wait_until($node,
		"SELECT delivery_status FROM guestbook_notify.notification_queue WHERE id = '$id'",
		$want, 20, $what), $what);
}
wait_delivery($a, 'read', 'Budi: sent, delivered, read -> read');
my $ra = gbn_queue_row($node, $a);
ok(defined $ra->{delivered_at} && defined $ra->{read_at}, '  with delivered_at and read_at');

wait_delivery($s, 'failed', 'Sari: a late 131026 -> failed');
my $n = gbn_query_row($node, "SELECT * FROM guestbook_notify.notifications WHERE id = '$s'");
ok($n->{needs_attention}, '  needs attention');
is($n->{status}, 'sent', '  the queue status stays sent');
like($n->{last_error}, qr/^delivery failed: 131026 Message undeliverable \(Receiver is incapable/, '  last_error');
my $ev = gbn_case_events($node, $GuestbookNotify::CASE_SRT001, 'notification_failed');
is(scalar @$ev, 1, "  case_events 'notification_failed' once");

wait_delivery($l, 'read', 'Lead: read, then delivered, then sent (out of order) -> read');
ok(defined gbn_queue_row($node, $l)->{delivered_at}, '  delivered_at filled in by the late delivered');

wait_delivery($k, 'read', 'Kadis: delivered before the send was answered, then read three times -> read');
my $rk = gbn_queue_row($node, $k);
ok(defined $rk->{delivered_at}, '  the early delivered was applied');
my $first = gbn_query_row($node,
	"SELECT summary FROM guestbook_notify.webhook_inbox
	  WHERE convert_from(body, 'UTF8') LIKE '%' || " . gbn_sql_quote($rk->{provider_message_id}) . " || '%'
	  ORDER BY id LIMIT 1");
is($first->{summary}{parked}, 1, '  it had arrived before the worker recorded the id: parked, then applied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.webhook_parked_statuses'), 0,
	'nothing left parked');

# what the mock posted, and what the receiver kept
my $hooks = $mock->http_json('GET', '/_mock/webhooks');
my @posted = @{ $hooks->{posted} };
is(scalar @posted, 3 + 2 + 3 + 4, 'the mock posted 12 status webhooks');
is(scalar(grep { ($_->{http_status} // 0) == 200 } @posted), 12, 'every one answered 200');
is(scalar(grep { ($_->{attempts} // 0) == 1 } @posted), 12, '  at the first attempt (no 503 while the threads connect)');
unlike($web->log, qr/answered 503/, 'the daemon never answered 503');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE source = 'meta' AND state = 'applied'"),
	12, 'every one stored and applied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.webhook_problems'), 0,
	'no problem for the admin');
is(scalar @{ gbn_case_events($node, $GuestbookNotify::CASE_ABC123, 'contacted') }, 3,
	"the worker's audit is there too (contacted x3 for ABC123)");
like($web->log, qr/meta: webhook \(\d+ bytes\) inbox \d+ applied \{"parked": 1, "statuses": 1\}/,
	'the daemon logged the parked status (log_requests = on)');

$web->stop;
$node->stop;
$mock->stop;
done_testing();
