
# A primary and a streaming standby. The primary cannot send (its api_url is
# invalid), so its rows stay pending and replicate; the standby's worker
# points at a working mock and must send nothing while it is a standby.
# After promotion the standby delivers everything that is queued.

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

my $N = 200;

my $mock_p = GuestbookNotify::Mock->start(token => 'token-150-p', name => 'primary_mock');
my $mock_s = GuestbookNotify::Mock->start(token => 'token-150-s', name => 'standby_mock');

my $primary = gbn_node('primary', $mock_p,
	settings => { recipient_interval => 0, lease_timeout => 30 },
	conf => "wal_level = replica\nmax_wal_senders = 4\n", start => 0);
$primary->append_conf('postgresql.conf', "hot_standby = on\n");
$primary->start;
gbn_install_app($primary, sample => 0);
ok(defined gbn_wait_worker($primary, 30), 'the primary runs its worker');

# the primary sends a first batch normally
is(gs_enqueue($primary, n => 20, recipients => 20), 20, '20 rows on the primary');
ok(gs_wait_drained($primary, 60, q{dedupe_key LIKE 'safety:%'}), 'the primary sends them');
is($mock_p->stats->{accepted}, 20, 'the primary mock got them');

# standby from a base backup
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf',
	"guestbook_notify.api_url = '" . $mock_s->url . "/v23.0'\n"
	  . "guestbook_notify.access_token = '" . $mock_s->token . "'\n");
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
my $spid = gbn_wait_worker($standby, 30);
ok(defined $spid, 'the standby runs the worker process (waiting)');

# the primary stops sending: an invalid api_url
gbn_set_conf($primary, api_url => 'not a url');
ok(gbn_wait_until($primary,
		"SELECT state FROM guestbook_notify.worker_status()", 'invalid settings', 30,
		'the primary worker stops sending'), 'the primary worker stops sending (invalid api_url)');

is(gs_enqueue($primary, n => $N, from => 1001, recipients => $N, base => 1000), $N,
	"$N rows queued on the primary");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'pending'"),
	$N, "the standby sees the $N pending rows");

# the standby must not send, however long it waits
usleep(3_000_000);
is($mock_s->stats->{requests}, 0, 'nothing was sent from the standby (3 s with due rows)');
my $st = gbn_worker_status($standby);
is($st && $st->[0]{state}, 'standby', 'worker_status() on the standby says standby');
is($mock_p->stats->{requests}, 20, 'and nothing from the primary either');

# promote: the primary goes away first (no split brain)
$primary->stop('fast');
$standby->promote;
ok(gbn_wait_until($standby, 'SELECT pg_is_in_recovery()', 'f', 60, 'promotion'), 'the standby is promoted');
my $t0 = time();
ok(gs_wait_drained($standby, 90, q{dedupe_key LIKE 'safety:%'}), 'the promoted server drains the queue');
my $drain = time() - $t0;
my $acc = gs_account($standby, $mock_s, n => $N, from => 1001);
is($acc->{lost}, 0, 'lost: 0');
is($acc->{status}{sent} // 0, $N, "all $N sent after promotion");
is($acc->{duplicates}, 0, 'no duplicates');
is(join(' ', gbn_worker_pids($standby)), $spid, 'by the same worker process that waited on the standby');

note(sprintf("FIGURES 150_standby: sent_from_standby=0 (3 s with %d due rows); after promotion sent=%d lost=%d duplicates=%d in %.1fs",
		$N, $acc->{status}{sent} // 0, $acc->{lost}, $acc->{duplicates}, $drain));

$standby->stop('fast');
gbn_openapi_ok($mock_p, 'the primary\'s mock: its 20 requests validated in full against Meta\'s OpenAPI spec',
	min => 20);
gbn_openapi_ok($mock_s, "the standby's mock: its $N requests validated in full against Meta's OpenAPI spec",
	min => $N);
$mock_p->stop;
$mock_s->stop;
done_testing();
