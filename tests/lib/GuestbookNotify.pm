
# Copyright: guestbook_notify contributors

=pod

=head1 NAME

GuestbookNotify - helpers for guestbook_notify's TAP tests

=head1 SYNOPSIS

  use lib 'tests/lib';          # prove -I tests/lib does this
  use GuestbookNotify;

  my $mock = GuestbookNotify::Mock->start(token => 'good-token');
  my $node = gbn_node('main', $mock, settings => { max_attempts => 5 });
  gbn_install_app($node);
  my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
  gbn_wait_status($node, $id, 'sent', 30) or BAIL_OUT('not sent');
  my $reqs = $mock->requests(number => '6281234567890');
  ...
  $node->stop; $mock->stop;

=head1 DESCRIPTION

Starts the mock WhatsApp API (tests/mock/whatsapp_mock.py) on a free loopback
port, makes a PostgreSQL::Test::Cluster node that preloads guestbook_notify
and points it at the mock, creates the extension, the reference guestbook
schema, the sample data and attach('public'), and offers bounded wait helpers.

Files are located relative to this module (tests/lib/../..), so the tests do
not depend on where the repository sits. Meta's OpenAPI spec is part of the
repository (tests/openapi/business-messaging-api_v23.0.yaml; $ENV{GBN_OPENAPI_SPEC}
may name another copy) and is mandatory: every mock validates every Cloud API
request against it, and a missing spec, missing python3-yaml/python3-jsonschema
or a validator crash fails the test (never a skip).

=cut

package GuestbookNotify;

use strict;
use warnings;

use Carp;
use Cwd qw(abs_path);
use Exporter 'import';
use File::Basename qw(dirname);
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(gbn_settle 
  gbn_root gbn_python gbn_openapi_spec gbn_node gbn_default_settings
  gbn_install_app gbn_sql_json gbn_query_rows gbn_query_row gbn_wait_until
  gbn_wait_status gbn_worker_pids gbn_wait_worker gbn_worker_status
  gbn_assign gbn_escalate gbn_add_operator gbn_add_case gbn_queue_row
  gbn_attempts gbn_case_events gbn_validate_openapi gbn_openapi_ok gbn_log_offset
  gbn_set_conf gbn_sql_quote gbn_wait_requests gbn_lacks_secret
);

# Fixed ids and numbers of tests/schema/sample_data.sql
our $CASE_ABC123 = '00000000-0000-0000-0000-0000000000c1';
our $CASE_SRT001 = '00000000-0000-0000-0000-0000000000c2';
our $RESEPSIONIS = '00000000-0000-0000-0000-0000000000a1';
our $BUDI = '00000000-0000-0000-0000-0000000000a2';    # operator 0812-3456-7890
our $SARI = '00000000-0000-0000-0000-0000000000a3';    # operator +62 813 2222 3333
our $BUDI_NUMBER  = '6281234567890';
our $SARI_NUMBER  = '6281322223333';
our $LEAD_NUMBER  = '6281377778888';                   # Kabid TIK (unit BID-TIK)
our $KADIS_NUMBER = '6281299990000';                   # Kepala Dinas (root unit)
our $PHONE_NUMBER_ID = '106540352242922';
our $APP_BASE_URL    = 'https://guestbook.example.go.id';

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');

=pod

=head2 Locations

gbn_root() is the repository root; gbn_python() the python3 that has the
Debian packages (/usr/bin/python3 when present: a pyenv or venv python earlier
in PATH may lack python3-yaml/jsonschema); gbn_openapi_spec() the spec path
(it croaks when the file is missing).

=cut

sub gbn_root { return $ROOT; }

sub gbn_python
{
	return $ENV{GBN_PYTHON} if $ENV{GBN_PYTHON};
	return -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
}

sub gbn_openapi_spec
{
	my $f = $ENV{GBN_OPENAPI_SPEC};
	$f = "$ROOT/tests/openapi/business-messaging-api_v23.0.yaml"
	  unless defined $f && $f ne '';
	croak "Meta's OpenAPI spec is missing: $f (tests/openapi/ holds it in the repository"
	  . (defined $ENV{GBN_OPENAPI_SPEC} && $ENV{GBN_OPENAPI_SPEC} ne ''
		? '; GBN_OPENAPI_SPEC points elsewhere' : '') . "): the tests cannot run without it"
	  unless -f $f;
	return $f;
}

=pod

=head2 Nodes

gbn_node($name, $mock, settings => {...}, conf => "raw lines", start => 1)
makes, configures and starts a node. settings keys are guestbook_notify.*
names without the prefix; they override gbn_default_settings($mock) (small
retry delays and timeouts so the tests are quick). A value of undef drops the
setting. The worker serves the database 'postgres'.

=cut

sub gbn_default_settings
{
	my ($mock) = @_;
	my %s = (
		database_name    => 'postgres',
		provider         => 'cloud_api',
		api_url          => $mock ? $mock->url . '/v23.0' : 'http://127.0.0.1:9/v23.0',
		phone_number_id  => $PHONE_NUMBER_ID,
		access_token     => $mock ? $mock->{token} : 'test-token',
		app_base_url     => $APP_BASE_URL,
		message_mode     => 'template',
		max_send_rate    => 100000,
		max_in_flight    => 16,
		http_timeout     => 5000,
		connect_timeout  => 2000,
		max_attempts     => 5,
		retry_base_delay => 100,
		retry_max_delay  => 400,
		naptime          => 200,
	);
	return %s;
}

sub gbn_sql_quote
{
	my ($v) = @_;
	$v =~ s/'/''/g;
	return "'$v'";
}

sub gbn_node
{
	my ($name, $mock, %o) = @_;
	my %set = (gbn_default_settings($mock), %{ $o{settings} // {} });
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $conf = "shared_preload_libraries = 'guestbook_notify'\n";
	for my $k (sort keys %set)
	{
		next unless defined $set{$k};
		$conf .= "guestbook_notify.$k = " . gbn_sql_quote($set{$k}) . "\n";
	}
	$conf .= $o{conf} if defined $o{conf};
	$node->append_conf('postgresql.conf', $conf);
	$node->start unless defined $o{start} && !$o{start};
	return $node;
}

=pod

gbn_install_app($node, schema => 'public', sample => 1): CREATE EXTENSION,
the reference schema (tests/schema/guestbook.sql), the sample data and
attach(schema).

=cut

sub gbn_install_app
{
	my ($node, %o) = @_;
	my $schema = $o{schema} // 'public';
	my $db = $o{db} // 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION IF NOT EXISTS guestbook_notify');
	my $sp = $schema eq 'public' ? '' : "CREATE SCHEMA IF NOT EXISTS \"$schema\"; SET search_path = \"$schema\", public;\n";
	$node->safe_psql($db, $sp . slurp_file("$ROOT/tests/schema/guestbook.sql"));
	$node->safe_psql($db, $sp . slurp_file("$ROOT/tests/schema/sample_data.sql"))
	  unless defined $o{sample} && !$o{sample};
	$node->safe_psql($db, "SELECT guestbook_notify.attach(" . gbn_sql_quote($schema) . ")");
	return;
}

=pod

=head2 Queries

gbn_sql_json($node, $sql) runs $sql (one SELECT) and returns its rows as an
array of hashes (via json_agg). gbn_query_row returns the first row or undef.

=cut

sub gbn_sql_json
{
	my ($node, $sql, $db) = @_;
	my $out = $node->safe_psql($db // 'postgres',
		"SELECT coalesce(json_agg(t), '[]') FROM ($sql) t");
	return JSON::PP->new->utf8->decode($out);
}
sub gbn_query_rows { return gbn_sql_json(@_); }

sub gbn_query_row
{
	my $rows = gbn_sql_json(@_);
	return $rows->[0];
}

sub gbn_queue_row
{
	my ($node, $id) = @_;
	return gbn_query_row($node,
		"SELECT * FROM guestbook_notify.notification_queue WHERE id = '$id'");
}

sub gbn_attempts
{
	my ($node, $id) = @_;
	return gbn_sql_json($node,
		"SELECT * FROM guestbook_notify.notification_attempts WHERE notification_id = '$id' ORDER BY attempt_no, id");
}

sub gbn_case_events
{
	my ($node, $case_id, $type) = @_;
	my $t = defined $type ? ' AND event_type = ' . gbn_sql_quote($type) : '';
	return gbn_sql_json($node,
		"SELECT * FROM public.case_events WHERE case_id = '$case_id'$t ORDER BY id");
}

=pod

=head2 Waiting (every wait is bounded)

gbn_wait_until($node, $sql, $expected, $timeout_s, $what) polls every 0.1 s
until psql prints $expected (default 't'); returns 1, or 0 after $timeout_s
with a diag of the last output. gbn_wait_status($node, $id, $status, $timeout)
waits for a queue row's status.

=cut

sub gbn_wait_until
{
	my ($node, $sql, $expected, $timeout, $what) = @_;
	$expected //= 't';
	$timeout  //= 30;
	my $deadline = time() + $timeout;
	my ($ret, $out, $err) = (0, '', '');
	while (1)
	{
		($ret, $out, $err) = $node->psql('postgres', $sql);
		$out //= '';
		$err //= '';
		return 1 if $ret == 0 && $out eq $expected;
		last if time() > $deadline;
		usleep(100_000);
	}
	diag(sprintf("timed out after %ds waiting for %s\n  query: %s\n  expected: %s\n  last output: %s\n  stderr: %s",
		$timeout, $what // 'a condition', $sql, $expected, $out, $err));
	return 0;
}

sub gbn_wait_status
{
	my ($node, $id, $status, $timeout) = @_;
	my $st = ref $status ? join(',', map { gbn_sql_quote($_) } @$status) : gbn_sql_quote($status);
	my $ok = gbn_wait_until($node,
		"SELECT status IN ($st) FROM guestbook_notify.notification_queue WHERE id = '$id'",
		't', $timeout // 30, "notification $id to reach status " . (ref $status ? "@$status" : $status));
	unless ($ok)
	{
		my $row = gbn_queue_row($node, $id);
		diag('row now: ' . JSON::PP->new->canonical->encode($row // {}));
	}
	return $ok;
}

=pod

=head2 The worker

gbn_worker_pids($node) lists the pids of backend_type 'guestbook_notify
worker'; gbn_wait_worker($node, $timeout, $not_pid) waits for one (other than
$not_pid) and returns its pid or undef. gbn_worker_status($node) returns the
rows of guestbook_notify.worker_status() as hashes (undef if the function
does not exist).

=cut

sub gbn_worker_pids
{
	my ($node) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'guestbook_notify worker'");
	return grep { $_ ne '' } split / /, $out;
}

sub gbn_wait_worker
{
	my ($node, $timeout, $not_pid) = @_;
	my $deadline = time() + ($timeout // 30);
	while (time() <= $deadline)
	{
		my @p = grep { !defined $not_pid || $_ != $not_pid } gbn_worker_pids($node);
		return $p[0] if @p;
		usleep(100_000);
	}
	diag('no guestbook_notify worker in pg_stat_activity after ' . ($timeout // 30) . 's'
		  . (defined $not_pid ? " (other than pid $not_pid)" : ''));
	return undef;
}

sub gbn_worker_status
{
	my ($node) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT coalesce(json_agg(s), '[]') FROM guestbook_notify.worker_status() s");
	return undef if $ret != 0;
	return JSON::PP->new->utf8->decode($out);
}

=pod

=head2 The app

gbn_assign($node, $case_code, $operator_id) inserts a case_assignments row as
the app does (and updates cases); returns the id of the newest 'assigned'
notification of that case (undef if none was enqueued).
gbn_escalate($node, $case_code, 'lead'|'kadis') sets escalation_level and
returns the newest escalated_<level> notification id.
gbn_add_operator($node, $name, $number) and gbn_add_case($node, $code, %cols)
add rows and return their ids.

=cut

sub gbn_assign
{
	my ($node, $code, $operator) = @_;
	my $c = gbn_sql_quote($code);
	$node->safe_psql('postgres', qq{
		BEGIN;
		INSERT INTO public.case_assignments (case_id, operator_id, assigned_by)
		SELECT id, '$operator', '$RESEPSIONIS' FROM public.cases WHERE code = $c;
		UPDATE public.cases SET status = 'assigned', assigned_operator_id = '$operator',
		       updated_at = now() WHERE code = $c;
		COMMIT;
	});
	return newest_notification($node, $code, 'assigned');
}

sub gbn_escalate
{
	my ($node, $code, $level) = @_;
	my $c = gbn_sql_quote($code);
	$node->safe_psql('postgres', qq{
		UPDATE public.cases SET status = 'escalated', escalation_level = '$level',
		       updated_at = now() WHERE code = $c;
	});
	return newest_notification($node, $code, "escalated_$level");
}

=pod

gbn_settle($node, $timeout_s) waits until the worker has turned every trigger
event into a queue row (guestbook_notify.trigger_events empty); returns 1, or
0 after the timeout (default 20 s) with a diag.

=cut

sub gbn_settle
{
	my ($node, $timeout, $db) = @_;
	$db //= 'postgres';
	my $deadline = time() + ($timeout // 20);
	while (1)
	{
		my ($ret, $out) = $node->psql($db, 'SELECT count(*) FROM guestbook_notify.trigger_events');
		return 1 if $ret == 0 && defined $out && $out eq '0';
		last if time() > $deadline;
		usleep(20_000);
	}
	diag('trigger events still waiting for the worker after ' . ($timeout // 20) . ' s');
	return 0;
}

sub newest_notification
{
	my ($node, $code, $key) = @_;
	gbn_settle($node);
	my $id = $node->safe_psql('postgres', qq{
		SELECT q.id FROM guestbook_notify.notification_queue q
		  JOIN public.cases c ON c.id = q.case_id
		 WHERE c.code = @{[gbn_sql_quote($code)]} AND q.template_key = '$key'
		 ORDER BY q.created_at DESC, q.id LIMIT 1});
	return $id eq '' ? undef : $id;
}

sub gbn_add_operator
{
	my ($node, $name, $number, $unit) = @_;
	$unit //= '00000000-0000-0000-0000-000000000003';
	return $node->safe_psql('postgres',
		"INSERT INTO public.users (full_name, role, org_unit_id, whatsapp_number) VALUES ("
		  . gbn_sql_quote($name) . ", 'operator', '$unit', " . gbn_sql_quote($number) . ") RETURNING id");
}

sub gbn_add_case
{
	my ($node, $code, %c) = @_;
	my %cols = (
		code => $code, case_type => 'visitor', status => 'new',
		org_unit_id => '00000000-0000-0000-0000-000000000003', unit_tujuan => 'UPT Warroom',
		visitor_name => "Pengunjung $code", visitor_id_number => '3201010101010001',
		purpose => "Keperluan $code", %c);
	my @k = sort keys %cols;
	return $node->safe_psql('postgres',
		'INSERT INTO public.cases (' . join(', ', @k) . ') VALUES ('
		  . join(', ', map { gbn_sql_quote($cols{$_}) } @k) . ') RETURNING id');
}

=pod

=head2 Settings

gbn_set_conf($node, name => value, ...) writes guestbook_notify.* settings with
ALTER SYSTEM (statement logging off for that session, so secrets stay out of
the server log) and reloads. A value of undef means ALTER SYSTEM RESET.

=cut

sub gbn_set_conf
{
	my ($node, %set) = @_;
	my $sql = "SET log_statement = 'none';\nSET log_min_error_statement = 'panic';\n";
	for my $k (sort keys %set)
	{
		$sql .= defined $set{$k}
		  ? "ALTER SYSTEM SET guestbook_notify.$k = " . gbn_sql_quote($set{$k}) . ";\n"
		  : "ALTER SYSTEM RESET guestbook_notify.$k;\n";
	}
	$node->safe_psql('postgres', $sql);
	$node->reload;
	return;
}

=pod

gbn_lacks_secret($text, $secret, $test_name) passes when $secret does not
occur in $text; on failure it shows the offending lines with the secret
replaced by <SECRET> (the test output must not leak it either).

=cut

sub gbn_lacks_secret
{
	my ($text, $secret, $name) = @_;
	my @hits = grep { index($_, $secret) >= 0 } split /\n/, $text // '';
	my $ok = ok(!@hits, $name);
	unless ($ok)
	{
		s/\Q$secret\E/<SECRET>/g for @hits;
		diag(scalar(@hits) . " line(s):\n" . join("\n", @hits[ 0 .. ($#hits < 9 ? $#hits : 9) ]));
	}
	return $ok;
}

sub gbn_log_offset
{
	my ($node) = @_;
	return -s $node->logfile // 0;
}

=pod

=head2 OpenAPI

Every mock runs with --openapi-spec: it validates each request except WAHA's
in full (operation sendMessage from method + path, path/query/header
parameters, bearer security, body) as it arrives, before masking the token.

gbn_openapi_ok($mock, $name, min => N) is one test: the mock validated at
least N requests (default 1; 0 allowed) and every one of them was valid, and
the validator never crashed. It diags the invalid ones. Call it once at the
end of every test file that talks Cloud API to the mock.

gbn_validate_openapi($mock) runs tests/mock/validate_openapi.py --url on the
mock (the command-line view of the same verdicts); returns (exit code, output).

=cut

sub gbn_openapi_ok
{
	my ($mock, $name, %o) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $min = $o{min} // 1;
	$name //= 'every Cloud API request the mock received validated in full against Meta\'s OpenAPI spec';
	my $s = eval { $mock->validation };
	my @why;
	if (!$s)
	{
		push @why, "could not ask the mock for its verdicts: $@";
	}
	elsif (!$s->{enabled})
	{
		push @why, 'the mock does not validate (started without --openapi-spec)';
	}
	else
	{
		push @why, "$s->{invalid} invalid request(s)" if $s->{invalid};
		push @why, "the validator crashed $s->{crashed} time(s)" if $s->{crashed};
		push @why, "only $s->{checked} request(s) validated, expected at least $min"
		  if $s->{checked} < $min;
	}
	my $ok = ok(!@why, $name);
	if ($s && $s->{enabled})
	{
		my $summary = sprintf('%s: %d checked, %d valid, %d invalid, %d crashed; not checked (not in Meta\'s spec): %s',
			$s->{spec}, $s->{checked}, $s->{valid}, $s->{invalid}, $s->{crashed},
			join(', ', map { "$_ $s->{not_checked}{$_}" } sort keys %{ $s->{not_checked} }) || 'none');
		$ok ? note($summary) : diag($summary);
	}
	unless ($ok)
	{
		diag($_) for @why;
		for my $r (@{ ($s // {})->{invalid_requests} // [] }[0 .. 9])
		{
			next unless $r;
			diag("  seq $r->{seq} $r->{method} $r->{path}: " . join('; ', @{ $r->{errors} }));
		}
	}
	return $ok;
}

sub gbn_validate_openapi
{
	my ($mock, @extra) = @_;
	my $out = '';
	IPC::Run::run([ gbn_python(), "$ROOT/tests/mock/validate_openapi.py",
			'--require-some', '--url', $mock->url, @extra ],
		'>&', \$out);
	return ($? >> 8, $out);
}

sub gbn_wait_requests
{
	my ($mock, $n, $timeout, %filter) = @_;
	return $mock->wait_requests($n, $timeout, %filter);
}

# ==========================================================================
package GuestbookNotify::Mock;

use strict;
use warnings;

use Carp;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(usleep time);

my @RUNNING;

=pod

=head1 GuestbookNotify::Mock

  my $mock = GuestbookNotify::Mock->start(token => 'T', waha_key => 'K', name => 'mock');
  $mock->url; $mock->port;
  $mock->script(number => '6281...', responses => ['500', '#131026', {kind => 'hang'}]);
  $mock->script(default => 'ok'); $mock->script(chaos => {...});
  $mock->config(token => 'new');      $mock->reset;
  $mock->requests(number => '628...', since => $seq, provider => 'waha');  # arrayref
  $mock->stats;                        # hashref
  $mock->wait_requests($n, $timeout, number => '628...');   # 1/0
  $mock->validation;                   # hashref: GET /_mock/validation
  $mock->stop;

The mock runs with --log in the test's log directory
(tmp_check/log/<name>_<test>.jsonl) so failures can be inspected, and with
--openapi-spec (gbn_openapi_spec()): it cannot start without the spec and the
Python packages the validator needs.

=cut

sub start
{
	my ($class, %o) = @_;
	my $name = $o{name} // 'mock';
	my $self = bless {
		name     => $name,
		token    => $o{token} // 'test-token-' . int(rand(1e9)),
		waha_key => $o{waha_key} // 'test-waha-key',
	}, $class;
	my $dir = $PostgreSQL::Test::Utils::log_path // PostgreSQL::Test::Utils::tempdir();
	my $base = $PostgreSQL::Test::Utils::test_logfile // "$dir/mock";
	$base =~ s/\.log$//;
	$self->{port_file} = "${base}_$name.port";
	$self->{log}       = "${base}_$name.jsonl";
	$self->{stderr}    = "${base}_$name.stderr";
	unlink $self->{port_file};
	my $spec = GuestbookNotify::gbn_openapi_spec();
	my @cmd = (GuestbookNotify::gbn_python(), GuestbookNotify::gbn_root() . '/tests/mock/whatsapp_mock.py',
		'--host', '127.0.0.1', '--port', '0', '--port-file', $self->{port_file},
		'--token', $self->{token}, '--waha-key', $self->{waha_key}, '--log', $self->{log},
		'--openapi-spec', $spec);
	push @cmd, '--phone-number-id', $o{phone_number_id} if $o{phone_number_id};
	my $pid = fork();
	croak "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $self->{stderr});
		open(STDERR, '>>', $self->{stderr});
		exec(@cmd) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	push @RUNNING, $self;
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		if (-s $self->{port_file})
		{
			open(my $fh, '<', $self->{port_file}) or croak $!;
			my $p = <$fh>;
			close $fh;
			chomp $p;
			$self->{port} = $p;
			last;
		}
		if (waitpid($pid, WNOHANG) == $pid)
		{
			croak "the mock exited at start: " . PostgreSQL::Test::Utils::slurp_file($self->{stderr});
		}
		usleep(50_000);
	}
	croak "the mock did not report its port within 20s" unless $self->{port};
	note("mock WhatsApp API $name on " . $self->url . " (pid $pid, log $self->{log})");
	return $self;
}

sub url  { my $s = shift; return "http://127.0.0.1:$s->{port}"; }
sub port { return $_[0]->{port}; }
sub token { return $_[0]->{token}; }
sub waha_key { return $_[0]->{waha_key}; }

# Minimal HTTP/1.1 client (Connection: close); returns ($status, $body).
sub http
{
	my ($self, $method, $path, $body) = @_;
	$body = defined $body ? (ref $body ? JSON::PP->new->utf8->canonical->encode($body) : $body) : '';
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
		Proto => 'tcp', Timeout => 10)
	  or croak "cannot connect to the mock on port $self->{port}: $!";
	binmode $sock;
	print $sock "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$self->{port}\r\nConnection: close\r\n"
	  . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n" . $body;
	my $resp = '';
	my $deadline = time() + 30;
	while (time() < $deadline)
	{
		my $n = sysread($sock, my $chunk, 1 << 20);
		last if !defined $n || $n == 0;
		$resp .= $chunk;
	}
	close $sock;
	my ($head, $content) = split /\r\n\r\n/, $resp, 2;
	my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
	croak "no answer from the mock for $method $path" unless $status;
	return ($status, $content // '');
}

sub http_json
{
	my ($self, $method, $path, $body) = @_;
	my ($status, $content) = $self->http($method, $path, $body);
	croak "mock $method $path: HTTP $status: $content" if $status != 200;
	return JSON::PP->new->utf8->decode($content);
}

sub script
{
	my ($self, %o) = @_;
	return $self->http_json('POST', '/_mock/script', \%o);
}

sub config
{
	my ($self, %o) = @_;
	$self->{token} = $o{token} if exists $o{token};
	$self->{waha_key} = $o{waha_key} if exists $o{waha_key};
	return $self->http_json('POST', '/_mock/config', \%o);
}

sub reset
{
	my ($self) = @_;
	return $self->http_json('POST', '/_mock/reset', {});
}

sub reset_peak { return $_[0]->http_json('POST', '/_mock/reset_peak', {}); }

sub requests
{
	my ($self, %f) = @_;
	my @q;
	for my $k (qw(since number provider limit))
	{
		push @q, "$k=$f{$k}" if defined $f{$k};
	}
	my $r = $self->http_json('GET', '/_mock/requests' . (@q ? '?' . join('&', @q) : ''));
	return $r->{requests};
}

sub stats { return $_[0]->http_json('GET', '/_mock/stats'); }

sub validation { return $_[0]->http_json('GET', '/_mock/validation'); }

sub last_seq
{
	my ($self) = @_;
	return $self->http_json('GET', '/_mock/requests?limit=1&since=999999999')->{last_seq};
}

sub wait_requests
{
	my ($self, $n, $timeout, %f) = @_;
	my $deadline = time() + ($timeout // 30);
	my $got = 0;
	while (1)
	{
		$got = scalar @{ $self->requests(%f) };
		return 1 if $got >= $n;
		last if time() > $deadline;
		usleep(100_000);
	}
	diag("timed out after " . ($timeout // 30) . "s waiting for $n request(s) at the mock ("
		  . join(', ', map { "$_=$f{$_}" } sort keys %f) . "): got $got");
	return 0;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{pid};
	kill 'TERM', $self->{pid};
	my $deadline = time() + 10;
	while (time() < $deadline)
	{
		last if waitpid($self->{pid}, WNOHANG) == $self->{pid};
		usleep(50_000);
	}
	if (kill 0, $self->{pid})
	{
		kill 'KILL', $self->{pid};
		waitpid($self->{pid}, 0);
	}
	delete $self->{pid};
	@RUNNING = grep { $_ != $self } @RUNNING;
	return;
}

END
{
	my $rc = $?;
	$_->stop for @RUNNING;
	$? = $rc;
}

1;
