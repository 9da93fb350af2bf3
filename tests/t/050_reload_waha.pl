
# Settings reloads take effect without a restart: max_in_flight bounds the
# requests in flight; switching provider to WAHA sends POST /api/sendText with
# X-Api-Key and chatId 62...@c.us, end to end with the audit.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $mock = GuestbookNotify::Mock->start(token => 'token-050', waha_key => 'waha-key-050');
my $node = gbn_node('reload', $mock, settings => { max_in_flight => 2, batch_size => 32 });
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

my $k = 0;
sub burst
{
	my ($n) = @_;
	my (@ops, @codes);
	# the operators and cases first, then all the assignments in one go, so
	# that the requests overlap
	for (1 .. $n)
	{
		$k++;
		push @ops, gbn_add_operator($node, "Operator $k", sprintf('62815000%05d', $k));
		gbn_add_case($node, "W$k");
		push @codes, "W$k";
	}
	$node->safe_psql('postgres', join('', map {
		"INSERT INTO public.case_assignments (case_id, operator_id)"
		  . " SELECT id, '$ops[$_]' FROM public.cases WHERE code = '$codes[$_]';\n" } 0 .. $#ops));
	return map { GuestbookNotify::newest_notification($node, $_, 'assigned') } @codes;
}

# --- max_in_flight -------------------------------------------------------------------
$mock->script(default => 'delay:400');
my @ids = burst(8);
ok(gbn_wait_status($node, $_, 'sent', 60), "sent $_") for @ids;
my $peak = $mock->stats->{in_flight_peak};
cmp_ok($peak, '<=', 2, "max_in_flight 2: at most 2 requests in flight (peak $peak)");
cmp_ok($peak, '>=', 2, 'and the worker used both');

gbn_set_conf($node, max_in_flight => 8);
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.max_in_flight')", '8', 10);
$mock->reset_peak;
@ids = burst(8);
ok(gbn_wait_status($node, $_, 'sent', 60), "sent $_") for @ids;
$peak = $mock->stats->{in_flight_peak};
cmp_ok($peak, '>', 2, "after reload to max_in_flight 8 more go in parallel (peak $peak)");
cmp_ok($peak, '<=', 8, 'but never more than 8');
$mock->script(default => 'ok');

# --- switch to WAHA --------------------------------------------------------------------
my $seq = $mock->last_seq;
gbn_set_conf($node, provider => 'waha', api_url => $mock->url,
	phone_number_id => 'default', access_token => $mock->waha_key);
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.provider')", 'waha', 10);

my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
ok(defined $id, 'assignment enqueued');
ok(gbn_wait_status($node, $id, 'sent', 30), 'sent through WAHA');
my $reqs = $mock->requests(since => $seq);
is(scalar @$reqs, 1, 'one request');
my $r = $reqs->[0] // {};
is($r->{provider}, 'waha', 'to the WAHA endpoint');
is($r->{path}, '/api/sendText', 'POST /api/sendText');
is($r->{auth}, 'ok', 'X-Api-Key carries the configured key');
ok(!exists $r->{headers}{authorization}, 'no Bearer token sent to WAHA');
is($r->{body}{chatId}, "$GuestbookNotify::BUDI_NUMBER\@c.us", 'chatId 62...@c.us');
is($r->{body}{session}, 'default', 'session = phone_number_id');
is($r->{response}{status}, 201, 'WAHA answered 201');

my $row = gbn_queue_row($node, $id);
is($r->{body}{text}, $row->{message_text}, 'text = message_text, byte-exact');
is($row->{provider}, 'waha', 'queue row provider waha');
is($row->{provider_message_id}, $r->{response}{id}, 'provider_message_id = the WAHA message id');
my $att = gbn_attempts($node, $id);
is(scalar @$att, 1, 'one attempt row');
is($att->[0]{http_status}, 201, 'attempt http_status 201');
is($att->[0]{provider}, 'waha', 'attempt provider waha');
my $ev = gbn_case_events($node, $GuestbookNotify::CASE_ABC123, 'contacted');
is(scalar @$ev, 1, "one 'contacted' event");
is(($ev->[0]{details} // {})->{provider_message_id}, $r->{response}{id}, 'the event carries the WAHA id');

# a WAHA 500 is retried like any 5xx
$seq = $mock->last_seq;
$mock->script(number => $GuestbookNotify::LEAD_NUMBER, responses => ['500']);
my $lead = gbn_escalate($node, 'ABC123', 'lead');
ok(gbn_wait_status($node, $lead, 'sent', 30), 'WAHA: 500 then sent');
is(scalar @{ $mock->requests(since => $seq) }, 2, 'WAHA: two tries');

# and back to the Cloud API
$seq = $mock->last_seq;
gbn_set_conf($node, provider => 'cloud_api', api_url => $mock->url . '/v23.0',
	phone_number_id => $GuestbookNotify::PHONE_NUMBER_ID, access_token => $mock->token);
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.provider')", 'cloud_api', 10);
my $kadis = gbn_escalate($node, 'ABC123', 'kadis');
ok(gbn_wait_status($node, $kadis, 'sent', 30), 'back on the Cloud API: sent');
$reqs = $mock->requests(since => $seq);
is($reqs->[0]{provider}, 'cloud_api', 'to the Cloud API endpoint');

is(join(' ', gbn_worker_pids($node)), $pid, 'reloads did not restart the worker');

$node->stop;
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
