
# Copyright: guestbook_notify contributors
#
# The OpenAPI check itself (no PostgreSQL): validate_openapi.py --self-test
# rejects each known defect for its own reason (no recipient_type, no
# language.policy, User-Agent guestbook_notify/1.0, missing or malformed
# Authorization, wrong Content-Type, unknown path) and accepts the requests
# the extension sends; the mock records a verdict for every Cloud API request
# (the User-Agent the extension sends today passes, the 1.0 one does not) and
# leaves WAHA alone; the assertion the other tests end with would fail on an
# invalid request; a missing spec or missing Python packages stop the mock
# from starting (a failure, never a skip). Loopback only, bounded in time.

use strict;
use warnings;
use lib 'tests/lib';
use GuestbookNotify;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = gbn_root();
my $py = gbn_python();
my $validator = "$root/tests/mock/validate_openapi.py";

# --- the vendored spec is the one documented --------------------------------------
my $spec = gbn_openapi_spec();
like($spec, qr{tests/openapi/business-messaging-api_v23\.0\.yaml$}, 'the spec is the vendored copy')
  unless $ENV{GBN_OPENAPI_SPEC};
my ($sum, $serr) = ('', '');
IPC::Run::run([ 'sha256sum', $spec ], '>', \$sum, '2>', \$serr, IPC::Run::timeout(30));
my $readme = slurp_file("$root/tests/openapi/README.md");
my ($hash) = $sum =~ /^([0-9a-f]{64})/;
ok(defined $hash && index($readme, $hash) >= 0, 'its sha256 is the one tests/openapi/README.md records')
  unless $ENV{GBN_OPENAPI_SPEC};
like(slurp_file("$root/tests/openapi/LICENSE"), qr/MIT License.*Copyright \(c\) Meta Platforms, Inc\. and affiliates/s,
	'the MIT license notice is vendored with it');

# --- the self-test ----------------------------------------------------------------
my $out = '';
IPC::Run::run([ $py, $validator, '--self-test', '--spec', $spec ], '>&', \$out, IPC::Run::timeout(120));
my $rc = $? >> 8;
is($rc, 0, 'validate_openapi.py --self-test passes') or diag($out);
note($out);
for my $case (
	[ 'body without recipient_type',                  qr/'recipient_type' is a required property/ ],
	[ 'template without language.policy',             qr/'policy' is a required property/ ],
	[ 'User-Agent guestbook_notify/1.0 (before 1.1)', qr/header User-Agent 'guestbook_notify\/1\.0'/ ],
	[ 'no Authorization',                             qr/header Authorization: required but missing/ ],
	[ 'Authorization without the Bearer scheme',      qr/does not match '\^Bearer/ ],
	[ 'Authorization Bearer with an empty token',     qr/Authorization/ ],
	[ 'Content-Type application/json; charset=utf-8', qr/header Content-Type .* is not one of/ ],
	[ 'Content-Type text/plain',                      qr/header Content-Type/ ],
	[ 'unknown path (/message)',                      qr/unknown operation/ ],
	[ 'unknown path (no version segment)',            qr/unknown operation/ ])
{
	my ($name, $why) = @$case;
	like($out, qr/^ok   self-test: \Q$name\E -> rejected \(.*$why/m, "self-test rejects: $name");
}
like($out, qr/^ok   self-test: template message, the request the extension sends -> valid$/m,
	'self-test accepts the template request');
like($out, qr/^ok   self-test: text message, the request the extension sends -> valid$/m,
	'self-test accepts the text request');

# --- the mock's verdicts ----------------------------------------------------------
my $mock = GuestbookNotify::Mock->start(token => 'token-005', waha_key => 'waha-005');

# One raw HTTP/1.1 request, headers exactly as given; returns the status.
sub raw_post
{
	my ($path, $headers, $body) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mock->port,
		Proto => 'tcp', Timeout => 10) or die "connect: $!";
	binmode $sock;
	print $sock "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
	  . join('', map { "$_->[0]: $_->[1]\r\n" } @$headers)
	  . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
	local $/;
	my $resp = <$sock> // '';
	close $sock;
	my ($status) = $resp =~ m{^HTTP/1\.\d (\d+)};
	return $status // 0;
}

my $control = slurp_file("$root/guestbook_notify.control");
my ($version) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
my $ua = "guestbook_notify/$version.0";    # GBN_USER_AGENT in src/guestbook_notify.h
my $body = JSON::PP->new->canonical->encode({
	messaging_product => 'whatsapp', recipient_type => 'individual', to => '+6281234567890',
	type => 'template',
	template => { name => 'guestbook_assigned', language => { policy => 'deterministic', code => 'id' },
		components => [ { type => 'body', parameters => [ { type => 'text', text => 'ABC123' } ] } ] } });
my @good = ([ 'User-Agent', $ua ], [ 'Authorization', 'Bearer token-005' ],
	[ 'Content-Type', 'application/json' ], [ 'Accept', 'application/json' ]);
my $path = "/v23.0/$GuestbookNotify::PHONE_NUMBER_ID/messages";

is(raw_post($path, \@good, $body), 200, "the extension's request ($ua) is answered");
my $v = $mock->validation;
ok($v->{enabled}, 'the mock validates (started with --openapi-spec)');
is_deeply([ @$v{qw(checked valid invalid crashed)} ], [ 1, 1, 0, 0 ], "User-Agent $ua: valid")
  or diag(explain($v));

my @old_ua = map { $_->[0] eq 'User-Agent' ? [ 'User-Agent', 'guestbook_notify/1.0' ] : $_ } @good;
raw_post($path, \@old_ua, $body);
my @charset = map { $_->[0] eq 'Content-Type' ? [ 'Content-Type', 'application/json; charset=utf-8' ] : $_ } @good;
raw_post($path, \@charset, $body);
raw_post("/v23.0/$GuestbookNotify::PHONE_NUMBER_ID/message", \@good, $body);
raw_post('/api/sendText', [ [ 'X-Api-Key', 'waha-005' ], [ 'Content-Type', 'application/json' ] ],
	'{"session":"default","chatId":"6281234567890@c.us","text":"x"}');

$v = $mock->validation;
is_deeply([ @$v{qw(checked valid invalid crashed)} ], [ 4, 1, 3, 0 ],
	'three invalid requests counted, WAHA not checked') or diag(explain($v));
is(($v->{not_checked} // {})->{waha}, 1, 'the WAHA request is listed as not checked');
my @errs = map { join('; ', @{ $_->{errors} }) } @{ $v->{invalid_requests} };
like($errs[0] // '', qr/^header User-Agent 'guestbook_notify\/1\.0': .* does not match/,
	'User-Agent guestbook_notify/1.0 (before 1.1) is rejected');
like($errs[1] // '', qr/^header Content-Type 'application\/json; charset=utf-8': .* is not one of/,
	'Content-Type with a charset is rejected (byte-exact enum)');
like($errs[2] // '', qr/^unknown operation/, 'an unknown path is rejected');

my $reqs = $mock->requests;
is(scalar(grep { exists $_->{openapi} } @$reqs), 4, 'each Cloud API-side request carries its verdict');
ok(!exists $reqs->[-1]{openapi}, 'the WAHA request carries none');
is_deeply($reqs->[0]{header_lines}[-1], [ 'Content-Length', length($body) ], 'every header line is recorded');
is((grep { $_->[0] eq 'Authorization' } @{ $reqs->[0]{header_lines} })[0][1], 'Bearer ***(9 chars)',
	'the token is masked in the record');

# the command-line view of the same verdicts
($rc, $out) = gbn_validate_openapi($mock);
is($rc, 1, 'validate_openapi.py --url reports the invalid requests (exit 1)') or diag($out);
like($out, qr/^INVALID seq 2 POST .*User-Agent/m, 'and names them');
$mock->stop;    # flushes and closes its log
my $mocklog = slurp_file($mock->{log});
is(scalar(() = $mocklog =~ /"openapi"/g), 4, 'the mock\'s log has the four verdicts');
unlike($mocklog, qr/token-005/, 'and not the token');

# a fresh mock with only valid traffic passes the assertion the other tests use
$mock = GuestbookNotify::Mock->start(token => 'token-005');
raw_post($path, \@good, $body);
gbn_openapi_ok($mock, 'gbn_openapi_ok passes on a valid request');
($rc, $out) = gbn_validate_openapi($mock);
is($rc, 0, 'validate_openapi.py --url: exit 0') or diag($out);
$mock->stop;

# --- mandatory: no spec, no packages -> no mock (a failure, not a skip) ------------
{
	local $ENV{GBN_OPENAPI_SPEC} = "$root/tests/openapi/no-such-spec.yaml";
	my $m = eval { GuestbookNotify::Mock->start(token => 't') };
	ok(!$m, 'a missing spec: the mock does not start');
	like($@, qr/OpenAPI spec is missing: .*no-such-spec\.yaml/, 'with a clear message');
	$m->stop if $m;
}
my ($o, $e) = ('', '');
# python3 -S: no site-packages, so neither yaml nor jsonschema
IPC::Run::run([ $py, '-S', "$root/tests/mock/whatsapp_mock.py", '--port', '0', '--openapi-spec', $spec ],
	'<', \'', '>', \$o, '2>', \$e, IPC::Run::timeout(60));
is($? >> 8, 2, 'without python3-yaml/python3-jsonschema the mock exits with status 2');
like($e, qr/python3-yaml is not installed/, 'saying what is missing');
IPC::Run::run([ $py, '-S', $validator, '--self-test', '--spec', $spec ],
	'<', \'', '>', \$o, '2>', \$e, IPC::Run::timeout(60));
is($? >> 8, 2, 'and so does validate_openapi.py');

done_testing();
