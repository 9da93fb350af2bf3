
# The access token is superuser-only and masked: a non-superuser cannot read
# it through SHOW, pg_settings or current_setting(), and it never appears in
# the server log (sends, errors, debug logging, a token change by reload),
# in pg_stat_activity, or in the extension's tables.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $token = 'EAAG-secret-060-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
my $mock = GuestbookNotify::Mock->start(token => $token);
my $node = gbn_node('secrets', $mock, conf => "log_min_messages = debug1\n");
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

$node->safe_psql('postgres', q{
	CREATE ROLE app_user LOGIN;
	CREATE ROLE settings_reader LOGIN IN ROLE pg_read_all_settings;
	GRANT USAGE ON SCHEMA guestbook_notify TO app_user;
});

sub leaks
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $role ]);
	my $all = ($out // '') . "\n" . ($err // '');
	return ($all =~ /\Q$token\E/ ? 1 : 0, $ret, $out, $err);
}

for my $role (qw(app_user settings_reader postgres))
{
	for my $q ('SHOW guestbook_notify.access_token',
		"SELECT current_setting('guestbook_notify.access_token')",
		"SELECT current_setting('guestbook_notify.access_token', true)",
		"SELECT setting, reset_val, boot_val FROM pg_settings WHERE name = 'guestbook_notify.access_token'",
		"SELECT string_agg(setting, ',') FROM pg_settings")
	{
		my ($leak, $ret, $out, $err) = leaks($role, $q);
		ok(!$leak, "$role: $q does not reveal the token")
		  or diag("out: $out\nerr: $err");
	}
}

my ($leak, $ret, $out, $err) = leaks('app_user', 'SHOW guestbook_notify.access_token');
ok($ret != 0 || $out eq '********', "app_user: SHOW is refused or masked ('$out' / $err)");
($leak, $ret, $out) = leaks('postgres', 'SHOW guestbook_notify.access_token');
is($out, '********', 'superuser: SHOW shows the mask');
($leak, $ret, $out) = leaks('app_user',
	"SELECT count(*) FROM pg_settings WHERE name = 'guestbook_notify.access_token' AND setting <> '********'");
is($out, '0', 'app_user: pg_settings has no unmasked access_token row');

# use the token: a send, an error with a 190, debug logging on
my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
ok(gbn_wait_status($node, $id, 'sent', 30), 'a notification is sent with the token');
is($mock->requests->[0]{auth}, 'ok', 'the token reached the mock');

my ($leak2) = leaks('postgres', 'SELECT string_agg(query, E\'\\n\') FROM pg_stat_activity');
ok(!$leak2, 'pg_stat_activity does not show the token');

my $dump = '';
IPC::Run::run([ 'pg_dump', '-d', $node->connstr('postgres') ], '>', \$dump);
gbn_lacks_secret($dump, $token, 'no table holds the token (pg_dump)');

# a token change by reload; the old one is rejected meanwhile (190, paused)
my $token2 = 'EAAG-rotated-060-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
$mock->config(token => $token2);
my $lead = gbn_escalate($node, 'ABC123', 'lead');
ok($mock->wait_requests(2, 30), 'the worker tried with the old token');
gbn_set_conf($node, access_token => $token2);
ok(gbn_wait_status($node, $lead, 'sent', 30), 'sent after the token change');

# log_statement = all (the TAP default) while a superuser sets the token, and a
# failing statement that carries it (its STATEMENT line)
my $token3 = 'EAAG-third-060-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET guestbook_notify.access_token = '$token3'");
my ($r3) = $node->psql('postgres',
	"ALTER SYSTEM SET guestbook_notify.access_token = '$token3', 'extra'");
isnt($r3, 0, 'a bad ALTER SYSTEM naming the token fails');
$node->reload;
ok(gbn_wait_until($node, "SELECT count(*) > 0 FROM pg_stat_activity", 't', 5), 'reloaded');

$node->stop;
my $log = slurp_file($node->logfile);
gbn_lacks_secret($log, $token3, 'a token set by ALTER SYSTEM under log_statement = all is not logged');
gbn_lacks_secret($log, $token, 'the token never appears in the server log');
gbn_lacks_secret($log, $token2, 'the new token never appears in the server log (reload included)');
like($log, qr/parameter "guestbook_notify.access_token" changed to "\*+"/,
	'the reload was logged, masked');
my $mocklog = slurp_file($mock->{log});
gbn_lacks_secret($mocklog, $token, 'the mock masks it in its own log too');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
