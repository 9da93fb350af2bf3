
# The Notifications page in a real browser (issue 13).  A real cluster with
# the extension, the mock WhatsApp API and the real guestbook_notify_web with
# its admin listener; tests/browser/test_page.py drives Debian's chromium
# (through Debian's chromedriver, named explicitly) and prints TAP, which is
# checked here line by line.  The failures it sees are real ones: the mock
# refuses one send (131026 at send: status 'failed') and reports another
# message undeliverable by a signed webhook after accepting it (delivery
# status 'failed'), which the admin sends again with "Kirim ulang".
# Screenshots: tmp_check/browser/*.png (their paths are printed).
# Skipped only when chromium, chromedriver or python3-selenium is absent.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use File::Path qw(make_path);
use GuestbookNotify;
use GuestbookNotifyWeb;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $ROOT = gbn_root();
my $TEST = "$ROOT/tests/browser/test_page.py";
my @missing = grep { !-x $_ } ('/usr/bin/chromium', '/usr/bin/chromedriver');
push @missing, 'python3-selenium'
  if system('/usr/bin/python3', '-c', 'import selenium') != 0;
plan skip_all => "the browser test needs @missing (apt-get install chromium chromium-driver python3-selenium)"
  if @missing;

my $SECRET = 'meta-secret-270-' . int(rand(1e9));
my $ADMIN = 'page_admin';
my $VIEWER = 'page_viewer';
my $ADMIN_PW = 'admin-pw-' . int(rand(1e9));
my $VIEWER_PW = 'viewer-pw-' . int(rand(1e9));

my $mock = GuestbookNotify::Mock->start(token => 'token-270');
my $node = gbn_node('page_browser', $mock, settings => { retry_base_delay => 100, retry_max_delay => 300 });
gbn_install_app($node);
gbnw_setup_role($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

# the page's roles log in with a password (README "Notifications page"):
# scram for them, trust for the test's own superuser as before
my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
open(my $fh, '>', $node->data_dir . '/pg_hba.conf') or die $!;
print $fh "local all +guestbook_viewer scram-sha-256\nhost all +guestbook_viewer 127.0.0.1/32 scram-sha-256\n$hba";
close $fh;
$node->reload;
$node->safe_psql('postgres', slurp_file("$ROOT/tests/browser/page_roles.sql")
	  =~ s/:admin\b/$ADMIN/gr =~ s/:viewer\b/$VIEWER/gr
	  =~ s/:admin_pw\b/'$ADMIN_PW'/gr =~ s/:viewer_pw\b/'$VIEWER_PW'/gr);

my $web = GuestbookNotifyWeb->start($node, meta_secret => $SECRET,
	conf => { maintenance_interval => '1s', admin_listen => '127.0.0.1:0',
		admin_conninfo => sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port) });
ok($web->wait_log(qr/Notifications page on [^\s]+:\d+/, 10), 'the daemon logs its admin listener');
my ($admin_port) = $web->log =~ /Notifications page on [^\s]+:(\d+)/;
ok($admin_port, "the admin listener's port: " . ($admin_port // 'none'));

# --- real failures --------------------------------------------------------------
my $SARI = $GuestbookNotify::SARI_NUMBER;
my $BUDI = $GuestbookNotify::BUDI_NUMBER;
my $REFUSED = '6281255550101';
$mock->script(number => $REFUSED, responses => ['#131026']);
$mock->http_json('POST', '/_mock/webhooks', {
	meta_url => $web->url . '/webhooks/meta',
	meta_app_secret => $SECRET,
	scripts => {
		$BUDI => [ { status => 'sent', delay_ms => 20 }, { status => 'delivered', delay_ms => 20 } ],
		$SARI => [ { status => 'sent', delay_ms => 20 },
			{ status => 'failed', code => 131026, delay_ms => 100,
			  details => 'Receiver is incapable of receiving this message' } ] } });

my $ok_id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
my $late = gbn_assign($node, 'SRT001', $GuestbookNotify::SARI);
my $op = gbn_add_operator($node, 'Dewi <b>Operator</b>', $REFUSED);
gbn_add_case($node, 'XSS270', visitor_name => q{<script>document.title='pwned'</script>Tamu});
my $refused = gbn_assign($node, 'XSS270', $op);
ok(gbn_wait_status($node, $refused, 'failed', 30), 'the mock refused one send: failed');
ok(gbn_wait_until($node,
	"SELECT delivery_status FROM guestbook_notify.notification_queue WHERE id = '$late'",
	'failed', 30), 'another was accepted, then reported undeliverable by webhook: delivery failed');
ok(gbn_wait_until($node,
	"SELECT delivery_status FROM guestbook_notify.notification_queue WHERE id = '$ok_id'",
	'delivered', 30), 'a third was delivered');
note('the late failure as stored: ' . $node->safe_psql('postgres',
	"SELECT delivery_error FROM guestbook_notify.notification_queue WHERE id = '$late'"));
# from now on Sari's messages arrive: the resend will be delivered
$mock->http_json('POST', '/_mock/webhooks', {
	meta_url => $web->url . '/webhooks/meta',
	meta_app_secret => $SECRET,
	scripts => { $SARI => [ { status => 'sent', delay_ms => 20 }, { status => 'delivered', delay_ms => 200 } ] } });

# --- the browser ---------------------------------------------------------------------
my $out = "$PostgreSQL::Test::Utils::tmp_check/browser";
make_path($out);
my @psql = ('psql', '-X', '-h', $node->host, '-p', '' . $node->port,
	'-d', 'postgres');
my @cmd = ('/usr/bin/python3', $TEST, '--url', "http://127.0.0.1:$admin_port",
	'--admin', "$ADMIN:$ADMIN_PW", '--viewer', "$VIEWER:$VIEWER_PW", '--out', $out,
	'--failed-ids', "$refused,$late", '--resend-id', $late, '--resend-number', $SARI,
	'--failed-error', '131026',
	'--psql', JSON::PP->new->encode(\@psql));
my ($stdout, $stderr) = ('', '');
IPC::Run::run(\@cmd, '<', \undef, '>', \$stdout, '2>', \$stderr, IPC::Run::timeout(240));
my $rc = $? >> 8;
note("test_page.py exit $rc");
diag("test_page.py stderr:\n$stderr") if $stderr =~ /\S/ && $rc != 0;

# its TAP, one test here per test there
my ($plan) = $stdout =~ /^1\.\.(\d+)/m;
if ($stdout =~ /^1\.\.0 # SKIP (.*)$/m)
{
	BAIL_OUT("test_page.py skipped although chromium is here: $1");
}
my $n = 0;
for my $line (split /\n/, $stdout)
{
	if ($line =~ /^(not )?ok \d+ - (.*)$/)
	{
		$n++;
		ok(!$1, "browser: $2");
	}
	elsif ($line =~ /^# (.*)$/)
	{
		note($1);
	}
}
ok($plan && $plan == $n && $n >= 30, "the browser test ran to its end ($n of " . ($plan // '?') . ' tests)');
is($rc, 0, 'test_page.py exits 0');
for my $png (qw(list.png detail.png after_resend.png list_after_resend.png viewer_detail.png))
{
	ok(-s "$out/$png" > 10_000, "screenshot $out/$png");
	diag("screenshot: $out/$png") if -s "$out/$png";
}

# what the browser did, seen from the database
my $new = $node->safe_psql('postgres',
	"SELECT id FROM guestbook_notify.notification_queue WHERE resent_from = '$late'");
ok($new, "the click queued a new row ($new)");
is($node->safe_psql('postgres',
	"SELECT status || '/' || delivery_status FROM guestbook_notify.notification_queue WHERE id = '$late'"),
	'sent/failed', 'the failed row itself is unchanged');
is(gbn_query_row($node, "SELECT count(*) AS n FROM guestbook_notify.notification_queue WHERE resent_from = '$late'")->{n},
	1, 'one click, one new row');
is(scalar @{ $mock->requests(number => $SARI) }, 2,
	'the mock saw Sari\'s message twice (the first send, the resend)');
gbn_openapi_ok($mock, 'every request the mock received (4 sends) validates against Meta\'s OpenAPI spec',
	min => 4);

$web->stop;
$node->stop;
$mock->stop;
done_testing();
