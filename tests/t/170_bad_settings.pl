
# Bad settings give one clear log line and no sending, never a crash loop:
# an unknown provider, a malformed api_url, plain http:// to a host that is
# not loopback, a zero or negative max_send_rate, max_in_flight,
# recipient_interval or recipient_hourly_cap, an empty token. Each is set
# with a reload while rows are due; then the good settings come back and
# the rows are sent. A server started with a bad setting does the same.

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

my $mock = GuestbookNotify::Mock->start(token => 'token-170');
my $node = gbn_node('badsettings', $mock, settings => { recipient_interval => 0 });
gbn_install_app($node, sample => 0);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

my @bad = (
	[ { provider => 'smoke_signal' }, qr/provider "smoke_signal"/ ],
	[ { api_url => 'not a url' }, qr/api_url "not a url"/ ],
	[ { api_url => 'http://example.com/v23.0' }, qr/plain http:\/\/ to a host that is not loopback/ ],
	[ { api_url => 'ftp://127.0.0.1/v23.0' }, qr/must start with https:\/\// ],
	[ { api_url => 'https://graph.facebook.com' }, qr/must end with the Graph API version/ ],
	[ { api_url => 'https://graph.facebook.com/v23' }, qr/must end with the Graph API version/ ],
	[ { max_send_rate => 0 }, qr/max_send_rate/ ],
	[ { max_send_rate => -5 }, qr/max_send_rate/ ],
	[ { max_in_flight => 0 }, qr/max_in_flight/ ],
	[ { recipient_interval => -1 }, qr/recipient_interval/ ],
	[ { recipient_hourly_cap => -3 }, qr/recipient_hourly_cap/ ],
	[ { access_token => '' }, qr/access_token is not set/ ],
);
my $k = 0;
for my $case (@bad)
{
	my ($set, $re) = @$case;
	my $name = join(', ', map { "$_ = '$set->{$_}'" } sort keys %$set);
	$k++;
	my $off = gbn_log_offset($node);
	gbn_set_conf($node, %$set);
	ok(gbn_wait_until($node, 'SELECT state FROM guestbook_notify.worker_status()', 'invalid settings', 20,
			"$name: state"), "$name: the worker stops sending (state 'invalid settings')");
	my $before = $mock->stats->{requests};
	is(gs_enqueue($node, n => 2, from => 100 * $k, recipients => 2, base => 100 * $k), 2, "$name: rows due");
	usleep(1_200_000);
	is($mock->stats->{requests} - $before, 0, "$name: nothing is sent");
	my $log = gs_log_since($node, $off);
	like($log, qr/guestbook_notify: not sending: .*$re/, "$name: a clear log line")
	  and note(($log =~ /(guestbook_notify: not sending: [^\n]*)/)[0]);
	my $lines = () = $log =~ /not sending:/g;
	is($lines, 1, "$name: said once, not in a loop");
	unlike($log, qr/terminated by signal|exited with exit code/, "$name: no worker exit");
	is(join(' ', gbn_worker_pids($node)), $pid, "$name: the same worker process");
	gbn_set_conf($node, map { $_ => undef } keys %$set);
	ok(gs_wait_drained($node, 20), "$name: back to good settings, the rows are sent");
}

# a server started with a bad setting: no crash loop either
$node->stop('fast');
$node->append_conf('postgresql.conf', "guestbook_notify.provider = 'carrier_pigeon'\n");
my $off = gbn_log_offset($node);
$node->start;
my $p = gbn_wait_worker($node, 30);
ok(defined $p, 'started with provider = carrier_pigeon: the worker runs');
usleep(2_000_000);
is(join(' ', gbn_worker_pids($node)), $p, 'and stays up (no restart loop)');
my $log = gs_log_since($node, $off);
like($log, qr/not sending: .*provider "carrier_pigeon"/, 'with a clear log line');
my $before = $mock->stats->{requests};
gs_enqueue($node, n => 1, from => 5000, recipients => 1, base => 5000);
usleep(1_000_000);
is($mock->stats->{requests} - $before, 0, 'and sends nothing');

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
