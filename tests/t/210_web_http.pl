
# guestbook_notify_web on its HTTP side, against a real cluster (worker
# preloaded): start-up errors (unknown key, unreadable or exposed secret
# files, secrets on the command line), Meta's verification (good and bad
# token), signatures (good, tampered, missing, wrong algorithm, wrong
# secret: 401 and nothing stored), signed bodies that are malformed, of
# wrong types, not UTF-8, 3 MB, or nested 100,000 deep (stored byte-exact,
# answered 200, flagged), 413, a slow or idle client cut off, huge
# headers, the connection limit, garbage requests, and no secret in the
# log, the command line or the environment.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use Digest::SHA qw(sha256_hex);
use GuestbookNotify;
use GuestbookNotifyWeb;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = gbn_node('web_http', undef);
gbn_install_app($node);
gbnw_setup_role($node);

my $META_SECRET = 'meta-app-secret-210-' . int(rand(1e9));
my $VERIFY = 'v3r!fy tok+en/210';
my $WAHA_KEY = 'waha-hmac-key-210-' . int(rand(1e9));

# --- start-up: errors are clear and stop the daemon -------------------------------
my $conninfo = sprintf("conninfo = 'host=%s port=%d dbname=postgres user=gbn_webhook'\n",
	$node->host, $node->port);
my %ok_files = (
	'web.conf' => [ $conninfo . "meta_app_secret_file = '\@DIR\@/secret'\n", 0600 ],
	'secret' => [ "$META_SECRET\n", 0600 ]);
my ($rc, $out) = gbnw_run_daemon({%ok_files}, '--config', '@DIR@/web.conf', '--check');
is($rc, 0, '--check: a valid configuration passes') or diag($out);
like($out, qr/are valid/, '--check says so');

my @bad = (
	[ 'an unknown key', { %ok_files, 'web.conf' => [ $conninfo . "colour = blue\nmeta_app_secret_file = '\@DIR\@/secret'\n", 0600 ] },
	  qr{web\.conf:2: unknown key "colour"} ],
	[ 'a bad value', { %ok_files, 'web.conf' => [ $conninfo . "max_body_size = lots\nmeta_app_secret_file = '\@DIR\@/secret'\n", 0600 ] },
	  qr{web\.conf:2: max_body_size: "lots" is not a size} ],
	[ 'a missing secret file', { %ok_files, 'web.conf' => [ $conninfo . "meta_app_secret_file = '\@DIR\@/nope'\n", 0600 ] },
	  qr{meta_app_secret_file: could not open secret file ".*/nope": No such file} ],
	[ 'an unreadable secret file (mode 0000)', { %ok_files, secret => [ "$META_SECRET\n", 0000 ] },
	  qr{could not open secret file ".*/secret": Permission denied} ],
	[ 'a secret file others can read (0644)', { %ok_files, secret => [ "$META_SECRET\n", 0644 ] },
	  qr{can be read or written by others \(mode 0644\)} ],
	[ 'an empty secret file', { %ok_files, secret => [ "\n", 0600 ] }, qr{is empty} ],
	[ 'no conninfo', { %ok_files, 'web.conf' => [ "meta_app_secret_file = '\@DIR\@/secret'\n", 0600 ] },
	  qr{conninfo is not set} ],
	[ 'an include directive', { %ok_files, 'web.conf' => [ $conninfo . "include 'other.conf'\n", 0600 ] },
	  qr{"include" is not supported} ]);
for my $b (@bad)
{
	my ($what, $files, $re) = @$b;
	($rc, $out) = gbnw_run_daemon($files, '--config', '@DIR@/web.conf');
	is($rc, 1, "start-up with $what: exit status 1");
	like($out, $re, "  and a clear message") or diag($out);
	unlike($out, qr/\Q$META_SECRET\E/, '  that does not show the secret');
}
($rc, $out) = gbnw_run_daemon({%ok_files}, '--config', '@DIR@/web.conf', '--meta-app-secret', $META_SECRET);
is($rc, 2, 'a secret on the command line is refused (exit 2)');
like($out, qr/unknown argument "--meta-app-secret".*never from the command line/s, '  with the reason');
($rc, $out) = gbnw_run_daemon({});
is($rc, 2, 'no --config: usage, exit 2');
{
	# the shipped sample configuration is valid, with systemd credentials
	local $ENV{CREDENTIALS_DIRECTORY} = PostgreSQL::Test::Utils::tempdir();
	for my $c (qw(meta_app_secret meta_verify_token waha_hmac_key))
	{
		open(my $fh, '>', "$ENV{CREDENTIALS_DIRECTORY}/$c") or die $!;
		print $fh "$c-value\n";
		close $fh;
		chmod 0400, "$ENV{CREDENTIALS_DIRECTORY}/$c";
	}
	($rc, $out) = gbnw_run_daemon({}, '--config', gbn_root() . '/src/web/guestbook_notify_web.conf.sample', '--check');
	is($rc, 0, 'the shipped guestbook_notify_web.conf.sample passes --check (credential: secrets)') or diag($out);
	delete $ENV{CREDENTIALS_DIRECTORY};
	($rc, $out) = gbnw_run_daemon({}, '--config', gbn_root() . '/src/web/guestbook_notify_web.conf.sample', '--check');
	like($out, qr/CREDENTIALS_DIRECTORY is not set/, '  and says what is missing without systemd');
}

# --- the daemon -----------------------------------------------------------------
my $web = GuestbookNotifyWeb->start($node,
	meta_secret => $META_SECRET, verify_token => $VERIFY, waha_key => $WAHA_KEY,
	conf => { client_timeout => '2s', request_timeout => '4s', header_memory_limit => '16kB',
		max_connections => 16, threads => 2, log_requests => 'on' });
ok($web->alive, 'guestbook_notify_web runs');
like($web->log, qr/listening on 127\.0\.0\.1:\d+ \(meta: on, meta verification: on, waha: on; 2 threads, at most 16 connections, bodies up to 4194304 bytes\)/,
	'it logs where it listens and what it serves');
ok($web->wait_log(qr/database reachable/, 10), 'and that the database is reachable');

my $r = $web->request(path => '/healthz');
is($r->{status}, 200, 'GET /healthz: 200');
like($r->{body}, qr/"status":"ok","database":"ok"/, '  {"status":"ok","database":"ok",...}');
is($web->request(path => '/nope')->{status}, 404, 'an unknown path: 404');
is($web->request(path => '/webhooks/waha')->{status}, 405, 'GET /webhooks/waha: 405');
$r = $web->request(method => 'PUT', path => '/webhooks/meta', body => '{}');
is($r->{status}, 405, 'PUT /webhooks/meta: 405');
is($r->{headers}{allow}, 'GET, POST', '  Allow: GET, POST');

# --- Meta's verification -----------------------------------------------------------
sub enc { my $s = shift; $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord($1))/ge; return $s; }
my $q = 'hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=' . enc($VERIFY);
$r = $web->request(path => "/webhooks/meta?$q");
is($r->{status}, 200, 'verification with the right token: 200');
is($r->{body}, '1158201444', '  the body is hub.challenge');
like($r->{headers}{'content-type'}, qr{^text/plain}, '  as text/plain');
for my $c (
	[ 'a wrong token', 'hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=' . enc($VERIFY . 'x') ],
	[ 'a token prefix', 'hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=' . enc(substr($VERIFY, 0, 5)) ],
	[ 'no token', 'hub.mode=subscribe&hub.challenge=1158201444' ],
	[ 'hub.mode unsubscribe', 'hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=' . enc($VERIFY) ],
	[ 'no challenge', 'hub.mode=subscribe&hub.verify_token=' . enc($VERIFY) ],
	[ 'the token twice (right, wrong)', "$q&hub.verify_token=wrong" ],
	[ 'a challenge with markup', 'hub.mode=subscribe&hub.challenge=%3Cscript%3E&hub.verify_token=' . enc($VERIFY) ],
	[ 'a bad %-escape', 'hub.mode=subscribe&hub.challenge=1&hub.verify_token=%zz' ],
	[ 'no query string', '' ])
{
	$r = $web->request(path => '/webhooks/meta' . ($c->[1] ne '' ? "?$c->[1]" : ''));
	is($r->{status}, 403, "verification with $c->[0]: 403");
	unlike($r->{body}, qr/1158201444|script/, '  and the challenge is not echoed');
}

# --- signatures -------------------------------------------------------------------
my $body = gbnw_meta_status_body('wamid.SIG.1', 'delivered');
my $n0 = gbnw_inbox_count($node);
$r = $web->post_meta($body);
is($r->{status}, 200, 'a body with the right X-Hub-Signature-256: 200');
is(gbnw_inbox_count($node), $n0 + 1, '  stored');
is($node->safe_psql('postgres',
	"SELECT encode(sha256(body), 'hex') FROM guestbook_notify.webhook_inbox ORDER BY id DESC LIMIT 1"),
	sha256_hex($body), '  byte-exact');

my $sig = gbnw_meta_sign($META_SECRET, $body);
(my $tampered = $body) =~ s/delivered/read/;
my @rejects = (
	[ 'a tampered body', $tampered, signature => $sig ],
	[ 'no signature header', $body, signature => undef ],
	[ 'a signature made with another secret', $body, signature => gbnw_meta_sign('other', $body) ],
	[ 'sha1= in X-Hub-Signature-256 (wrong algorithm)', $body,
	  signature => 'sha1=' . Digest::SHA::hmac_sha1_hex($body, $META_SECRET) ],
	[ 'only the legacy X-Hub-Signature (SHA-1)', $body, signature => undef,
	  headers => { 'X-Hub-Signature' => 'sha1=' . Digest::SHA::hmac_sha1_hex($body, $META_SECRET) } ],
	[ 'a truncated signature', $body, signature => substr($sig, 0, 40) ],
	[ 'the signature without sha256=', $body, signature => substr($sig, 7) ],
	[ 'an empty signature', $body, signature => '' ]);
for my $x (@rejects)
{
	my ($what, $b, %o) = @$x;
	$r = $web->post_meta($b, %o);
	is($r->{status}, 401, "$what: 401");
}
is(gbnw_inbox_count($node), $n0 + 1, 'nothing of those was stored');
like($web->log, qr/meta: webhook from 127\.0\.0\.1 refused \(401\): signature does not match the body/,
	'the log says why (mismatch)');
like($web->log, qr/refused \(401\): signature missing/, '(missing)');
like($web->log, qr/refused \(401\): signature wrong algorithm/, '(wrong algorithm)');

# WAHA: HMAC-SHA512 of the raw body
my $wb = gbnw_waha_event('session.status', { status => 'WORKING' }, id => 'evt_210_1');
is($web->post_waha($wb)->{status}, 200, 'WAHA: the right X-Webhook-Hmac: 200');
is($web->post_waha($wb, signature => gbnw_waha_sign('other', $wb))->{status}, 401, 'WAHA: another key: 401');
is($web->post_waha($wb, algorithm => 'sha256')->{status}, 401, 'WAHA: X-Webhook-Hmac-Algorithm sha256: 401');
is($web->post_waha($wb, signature => undef)->{status}, 401, 'WAHA: no X-Webhook-Hmac: 401');
is($web->post_waha($wb, signature => substr(gbnw_waha_sign($WAHA_KEY, $wb), 0, 64))->{status}, 401,
	'WAHA: a SHA-256-sized signature: 401');
is(gbnw_inbox_count($node, "source = 'waha'"), 1, 'WAHA: only the signed event was stored');

# --- signed bodies that are not what they should be: stored, 200, flagged --------
my $big_ok = gbnw_meta_status_body('wamid.BIG.1', 'read');
$big_ok =~ s/^\{/{"padding":"@{['x' x (3 * 1024 * 1024)]}",/;
my @odd = (
	[ 'not JSON', 'this is not json', 'malformed' ],
	[ 'JSON of the wrong shape ("entry" a number)', '{"object":"whatsapp_business_account","entry":5}', 'malformed' ],
	[ 'a JSON array', '[1,2,3]', 'malformed' ],
	[ 'statuses of the wrong types', '{"entry":[{"changes":[{"value":{"statuses":[{"id":7,"status":true}]}}]}]}', 'applied' ],
	[ 'invalid UTF-8', "\xff\xfe{\"entry\":[]}\xc3", 'malformed' ],
	[ 'a \\u0000 escape', '{"entry":[],"x":"a\\u0000b"}', 'malformed' ],
	[ 'an empty body', '', 'malformed' ],
	[ '100,000 levels of nesting', ('[' x 100000) . (']' x 100000), 'malformed' ],
	[ 'a 3 MB body of one status and padding', $big_ok, 'applied' ],
	[ '3 MB of garbage', join('', map { chr(int(rand(256))) } 1 .. 4096) x 768, 'malformed' ]);
for my $x (@odd)
{
	my ($what, $b, $state) = @$x;
	my $before = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM guestbook_notify.webhook_inbox');
	$r = $web->post_meta($b);
	is($r->{status}, 200, "signed, $what: 200");
	my $row = gbn_query_row($node,
		"SELECT state, needs_attention, encode(sha256(body), 'hex') AS sha, octet_length(body) AS len
		   FROM guestbook_notify.webhook_inbox WHERE id > $before ORDER BY id");
	is($row->{sha}, sha256_hex($b), sprintf('  stored byte-exact (%d bytes)', length $b));
	is($row->{state}, $state, "  state $state");
	is($row->{needs_attention}, $state eq 'malformed' || $what =~ /wrong types/ ? 1 : 0,
		'  flagged for the admin when it could not be applied in full')
	  unless $what =~ /3 MB body of one/;
}
is($node->safe_psql('postgres',
	"SELECT count(*) FROM guestbook_notify.webhook_problems WHERE state = 'malformed'"), 8,
	'webhook_problems lists the 8 malformed bodies');
is($web->request(path => '/healthz')->{status}, 200, 'and the daemon is still well');

# --- 413 ---------------------------------------------------------------------------
my $cnt = gbnw_inbox_count($node);
my $huge = 'x' x (4 * 1024 * 1024 + 1);
$r = $web->request(method => 'POST', path => '/webhooks/meta', body => $huge,
	headers => { 'X-Hub-Signature-256' => gbnw_meta_sign($META_SECRET, $huge) });
is($r->{status}, 413, 'a body 1 byte over max_body_size (Content-Length): 413');
is($r->{headers}{connection}, 'close', '  and the connection is closed');
$r = $web->request(method => 'POST', path => '/webhooks/meta', body => $huge,
	header_lines => [ 'Expect: 100-continue' ],
	headers => { 'X-Hub-Signature-256' => gbnw_meta_sign($META_SECRET, $huge) });
is($r->{status}, 413, 'the same with Expect: 100-continue: 413 before the body');
my @chunks = map { [ sprintf("%x\r\n%s\r\n", 1 << 20, 'y' x (1 << 20)), 0 ] } 1 .. 5;
$r = $web->request(method => 'POST', path => '/webhooks/meta', chunks => [ @chunks, [ "0\r\n\r\n", 0 ] ],
	no_length => 1, header_lines => [ 'Transfer-Encoding: chunked' ],
	headers => { 'X-Hub-Signature-256' => 'sha256=' . ('0' x 64) });
ok($r->{status} == 413 || ($r->{status} == 0 && $r->{closed}),
	"a chunked body growing past max_body_size is cut off (status $r->{status})");
is(gbnw_inbox_count($node), $cnt, 'nothing stored');
# a small chunked body is fine
my $small = gbnw_meta_status_body('wamid.CHUNKED.1', 'sent');
$r = $web->request(method => 'POST', path => '/webhooks/meta', no_length => 1,
	header_lines => [ 'Transfer-Encoding: chunked' ],
	chunks => [ [ sprintf("%x\r\n%s\r\n", length($small), $small), 0 ], [ "0\r\n\r\n", 0 ] ],
	headers => { 'X-Hub-Signature-256' => gbnw_meta_sign($META_SECRET, $small) });
is($r->{status}, 200, 'a signed chunked body within the limit: 200');

# --- slow and idle clients -----------------------------------------------------------
$cnt = gbnw_inbox_count($node);
my $slow = gbnw_meta_status_body('wamid.SLOW.1', 'read');
my $t0 = time();
$r = $web->request(method => 'POST', path => '/webhooks/meta',
	headers => { 'X-Hub-Signature-256' => gbnw_meta_sign($META_SECRET, $slow) },
	chunks => [ [ substr($slow, 0, 10), 0 ], [ substr($slow, 10), 30 ] ], timeout => 20);
my $dt = time() - $t0;
ok($r->{status} != 200 && $r->{closed}, 'a client that stops sending its body is cut off');
ok($dt >= 1.5 && $dt < 8, sprintf('  after about client_timeout (2 s): %.1f s', $dt));
my @trickle = map { [ substr($slow, $_, 1), 0.4 ] } 0 .. length($slow) - 1;
$t0 = time();
$r = $web->request(method => 'POST', path => '/webhooks/meta',
	headers => { 'X-Hub-Signature-256' => gbnw_meta_sign($META_SECRET, $slow) },
	chunks => \@trickle, timeout => 20);
$dt = time() - $t0;
ok($r->{status} != 200, 'a client trickling its body a byte every 0.4 s is cut off');
ok($dt >= 3.5 && $dt < 10, sprintf('  after about request_timeout (4 s): %.1f s', $dt));
like($web->log, qr/cut off: not complete after request_timeout \(4000 ms/, '  the log says so');
is(gbnw_inbox_count($node), $cnt, 'neither was stored');

# --- headers too big, connection limit, garbage ---------------------------------------
$r = $web->request(method => 'GET', path => '/healthz', headers => { 'X-Big' => 'h' x 65536 });
ok($r->{status} != 200, "a 64 kB header is refused (status $r->{status})");
my @idle;
for (1 .. 16)
{
	push @idle, IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $web->port, Proto => 'tcp')
	  or last;
}
usleep(300_000);
$r = $web->request(path => '/healthz', timeout => 1.2);	# before client_timeout closes the idle ones
isnt($r->{status}, 200, 'with max_connections (16) connections open, one more is not served');
close $_ for @idle;
usleep(500_000);
is($web->request(path => '/healthz')->{status}, 200, 'once they close, it is served again');

my @garbage = (
	"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
	"GET /healthz HTTP/9.9\r\n\r\n",
	"BREW /webhooks/meta HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
	"GET /webhooks/meta?" . ('a=b&' x 6000) . " HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /\x00/webhooks/meta HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=%00&hub.challenge=1 HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /webhooks/meta HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
	"POST /webhooks/waha HTTP/1.1\r\nHost: x\r\nX-Webhook-Hmac: \xff\xff\r\nContent-Length: 2\r\n\r\n{}",
	join('', map { chr(int(rand(256))) } 1 .. 20000));
my $alive = 1;
for my $g (@garbage)
{
	$r = $web->request(raw => $g, timeout => 5);
	$alive &&= $web->alive;
}
ok($alive, 'garbage requests (' . scalar(@garbage) . ') never stop the daemon');
is(gbnw_inbox_count($node), $cnt, 'and store nothing');
is($web->request(path => '/healthz')->{status}, 200, 'it still answers');

# --- secrets stay secret ----------------------------------------------------------------
my $log = $web->log;
gbn_lacks_secret($log, $META_SECRET, 'the log has no Meta app secret');
gbn_lacks_secret($log, $VERIFY, 'nor the verify token');
gbn_lacks_secret($log, $WAHA_KEY, 'nor the WAHA key');
my $cmdline = slurp_file('/proc/' . $web->pid . '/cmdline');
unlike($cmdline, qr/\Q$META_SECRET\E|\Q$WAHA_KEY\E/, 'the command line has no secret');
my $environ = eval { slurp_file('/proc/' . $web->pid . '/environ') } // '';
unlike($environ, qr/\Q$META_SECRET\E|\Q$WAHA_KEY\E/, 'the environment has no secret');
is(-r '/proc/' . $web->pid . '/environ' && eval { slurp_file('/proc/' . $web->pid . '/environ') } ne '' ? 'readable' : 'not readable',
	'not readable', 'the process is not dumpable (its /proc files are closed to its own user)');

ok($web->stop, 'SIGTERM stops it');
is($web->{exit}, 0, '  with exit status 0');
like($web->log, qr/received signal 15, stopping.*stopped/s, '  and says so');

$node->stop;
done_testing();
