
# Copyright: guestbook_notify contributors

=pod

=head1 NAME

GuestbookNotifyWeb - helpers for the TAP tests of guestbook_notify_web

=head1 SYNOPSIS

  use GuestbookNotify;
  use GuestbookNotifyWeb;

  gbnw_setup_role($node);                       # the daemon's role and its GRANTs
  my $web = GuestbookNotifyWeb->start($node, meta_secret => 'S', verify_token => 'T',
                                      waha_key => 'K', conf => { client_timeout => '2s' });
  my $r = $web->post_meta(gbnw_meta_status_body('wamid.X', 'delivered'));
  is($r->{status}, 200);
  my $r2 = $web->request(method => 'GET', path => '/healthz');
  $web->stop;

=head1 DESCRIPTION

Starts the installed guestbook_notify_web (found on PATH: make prove puts
PostgreSQL's bindir first, where make install put it) with a configuration
file and secret files in the test's temporary directory, against a
PostgreSQL::Test::Cluster node, on a port the system picks (read back from
its "listening on" log line).  request() is a raw HTTP/1.1 client over one
socket (Connection: close) so that the tests control every byte, header
and pause.

=cut

package GuestbookNotifyWeb;

use strict;
use warnings;

use Carp;
use Digest::SHA qw(hmac_sha256_hex hmac_sha512_hex sha256_hex);
use Exporter 'import';
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(
  gbnw_bin gbnw_setup_role gbnw_meta_sign gbnw_waha_sign gbnw_meta_status_body
  gbnw_meta_text_body gbnw_meta_button_body gbnw_waha_event gbnw_json
  gbnw_inbox_count gbnw_run_daemon
);

our $ROLE = 'gbn_webhook';
my @RUNNING;
my $JSON = JSON::PP->new->utf8->canonical;

sub gbnw_json { return $JSON->encode($_[0]); }

=pod

=head2 gbnw_bin()

The daemon's path: $ENV{GBNW_BIN}, else guestbook_notify_web on PATH.

=cut

sub gbnw_bin
{
	return $ENV{GBNW_BIN} if $ENV{GBNW_BIN};
	for my $d (split /:/, $ENV{PATH} // '')
	{
		return "$d/guestbook_notify_web" if -x "$d/guestbook_notify_web";
	}
	croak 'guestbook_notify_web not found on PATH (make install puts it in PostgreSQL\'s bindir)';
}

=pod

=head2 gbnw_setup_role($node, $role)

CREATE ROLE $role LOGIN with EXECUTE on the four webhook functions only, as
the README says.

=cut

sub gbnw_setup_role
{
	my ($node, $role) = @_;
	$role //= $ROLE;
	$node->safe_psql('postgres', qq{
		CREATE ROLE $role LOGIN;
		GRANT USAGE ON SCHEMA guestbook_notify TO $role;
		GRANT EXECUTE ON FUNCTION guestbook_notify.webhook_receive(text, bytea, text),
		      guestbook_notify.webhook_store(text, bytea, text),
		      guestbook_notify.webhook_retry(integer),
		      guestbook_notify.webhook_maintenance(interval, integer) TO $role;
	});
	return $role;
}

=pod

=head2 Signing and bodies

gbnw_meta_sign($secret, $bytes) is the X-Hub-Signature-256 value
("sha256=" . hex); gbnw_waha_sign($key, $bytes) the X-Webhook-Hmac value.
gbnw_meta_status_body($wamid, $status, %o) (o: timestamp, code, title,
details, recipient), gbnw_meta_text_body($from, $msg_id, $text, $name),
gbnw_meta_button_body($from, $msg_id, $payload, $text) and
gbnw_waha_event($event, $payload, %o) (o: id, session, timestamp) return
bytes shaped as Meta and WAHA send them.

=cut

sub gbnw_meta_sign { return 'sha256=' . hmac_sha256_hex($_[1], $_[0]); }
sub gbnw_waha_sign { return hmac_sha512_hex($_[1], $_[0]); }

sub meta_envelope
{
	my ($value) = @_;
	return $JSON->encode({
		object => 'whatsapp_business_account',
		entry => [ {
			id => '102290129340398',
			changes => [ {
				field => 'messages',
				value => { messaging_product => 'whatsapp',
					metadata => { display_phone_number => '15550783881',
						phone_number_id => '106540352242922' },
					%$value } } ] } ] });
}

sub gbnw_meta_status_body
{
	my ($wamid, $status, %o) = @_;
	my @st = ref $wamid eq 'ARRAY' ? @$wamid : ([ $wamid, $status, %o ]);
	my @statuses;
	for my $s (@st)
	{
		my ($id, $stat, %p) = @$s;
		my $e = { id => $id, status => $stat,
			timestamp => '' . ($p{timestamp} // int(time())),
			recipient_id => $p{recipient} // '6281234567890' };
		if ($stat eq 'failed')
		{
			$e->{errors} = [ {
				code => $p{code} // 131026,
				title => $p{title} // 'Message undeliverable',
				message => $p{title} // 'Message undeliverable',
				error_data => { details => $p{details} // 'Message Undeliverable.' },
				href => '/documentation/business-messaging/whatsapp/support/error-codes' } ];
		}
		push @statuses, $e;
	}
	return meta_envelope({ statuses => \@statuses });
}

sub gbnw_meta_text_body
{
	my ($from, $id, $text, $name) = @_;
	return meta_envelope({
		contacts => [ { profile => { name => $name // 'Pengguna' }, wa_id => $from } ],
		messages => [ { from => $from, id => $id, timestamp => '' . int(time()), type => 'text',
			text => { body => $text } } ] });
}

sub gbnw_meta_button_body
{
	my ($from, $id, $payload, $text) = @_;
	return meta_envelope({
		contacts => [ { profile => { name => 'Pengguna' }, wa_id => $from } ],
		messages => [ { from => $from, id => $id, timestamp => '' . int(time()), type => 'button',
			context => { from => '15550783881', id => 'wamid.CONTEXT' },
			button => { payload => $payload, text => $text // $payload } } ] });
}

my $evt = 0;
sub gbnw_waha_event
{
	my ($event, $payload, %o) = @_;
	$evt++;
	return $JSON->encode({
		id => $o{id} // sprintf('evt_%d%06d', int(time() * 1000), $evt),
		timestamp => $o{timestamp} // int(time() * 1000),
		event => $event,
		session => $o{session} // 'default',
		metadata => {},
		me => { id => '6281100000000@c.us', pushName => 'Guestbook' },
		payload => $payload,
		engine => 'WEBJS',
		environment => { tier => 'CORE', version => 'test' } });
}

sub gbnw_inbox_count
{
	my ($node, $where) = @_;
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM guestbook_notify.webhook_inbox' . ($where ? " WHERE $where" : ''));
}

=pod

=head2 gbnw_run_daemon(\%files, @args)

Runs the daemon to completion (for start-up errors): writes the files
({ name => [content, mode] }) into a fresh directory, replaces @DIR@ in
the arguments and contents, and returns (exit code, stderr+stdout).

=cut

sub gbnw_run_daemon
{
	my ($files, @args) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	for my $f (sort keys %$files)
	{
		my ($content, $mode) = @{ $files->{$f} };
		$content =~ s/\@DIR\@/$dir/g;
		open(my $fh, '>', "$dir/$f") or croak $!;
		print $fh $content;
		close $fh;
		chmod($mode // 0600, "$dir/$f");
	}
	s/\@DIR\@/$dir/g for @args;
	my $out = '';
	IPC::Run::run([ gbnw_bin(), @args ], '<', \undef, '>&', \$out,
		IPC::Run::timeout(30));
	return ($? >> 8, $out);
}

=pod

=head1 GuestbookNotifyWeb objects

  my $web = GuestbookNotifyWeb->start($node, meta_secret => ..., verify_token => ...,
      waha_key => ..., conf => {key => value}, role => 'gbn_webhook', name => 'web');
  $web->port; $web->url; $web->log; $web->pid
  $web->wait_log(qr/.../, $timeout, $offset)  # 1/0
  $web->request(method =>, path =>, headers => {}, body =>, raw =>, timeout =>)
      # {status, headers (lower-case names), body, closed}
  $web->post_meta($bytes, %o)    # signed unless o{signature}
  $web->post_waha($bytes, %o)
  $web->stop; $web->signal($sig)

=cut

sub start
{
	my ($class, $node, %o) = @_;
	my $name = $o{name} // 'web';
	my $dir = PostgreSQL::Test::Utils::tempdir();
	my $self = bless { name => $name, dir => $dir, node => $node, %o }, $class;
	my %conf = (
		listen => '127.0.0.1:0',
		conninfo => sprintf('host=%s port=%d dbname=postgres user=%s',
			$node->host, $node->port, $o{role} // $ROLE),
		maintenance_interval => '1s',
		%{ $o{conf} // {} });
	for my $k (qw(meta_secret verify_token waha_key))
	{
		next unless defined $o{$k};
		my $file = "$dir/$k";
		open(my $fh, '>', $file) or croak $!;
		print $fh $o{$k};
		close $fh;
		chmod 0600, $file;
	}
	$conf{meta_app_secret_file} = "$dir/meta_secret" if defined $o{meta_secret};
	$conf{meta_verify_token_file} = "$dir/verify_token" if defined $o{verify_token};
	$conf{waha_hmac_key_file} = "$dir/waha_key" if defined $o{waha_key};
	my $cf = "$dir/$name.conf";
	open(my $fh, '>', $cf) or croak $!;
	print $fh "# written by GuestbookNotifyWeb.pm\n";
	for my $k (sort keys %conf)
	{
		next unless defined $conf{$k};
		(my $v = $conf{$k}) =~ s/'/''/g;
		print $fh "$k = '$v'\n";
	}
	close $fh;
	$self->{config} = $cf;

	my $logdir = $PostgreSQL::Test::Utils::log_path // $dir;
	my $base = $PostgreSQL::Test::Utils::test_logfile // "$logdir/web";
	$base =~ s/\.log$//;
	$self->{log} = "${base}_$name.log";
	$self->launch;
	return $self;
}

sub launch
{
	my ($self) = @_;
	my $offset = -e $self->{log} ? -s $self->{log} : 0;
	my $pid = fork();
	croak "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>>', $self->{log});
		open(STDERR, '>>', $self->{log});
		exec(gbnw_bin(), '--config', $self->{config}) or POSIX::_exit(127);
	}
	$self->{pid} = $pid;
	push @RUNNING, $self;
	my $deadline = time() + 20;
	while (time() < $deadline)
	{
		my $log = $self->log_from($offset);
		if ($log =~ /listening on [^\s]+:(\d+) /)
		{
			$self->{port} = $1;
			last;
		}
		if (waitpid($pid, WNOHANG) == $pid)
		{
			delete $self->{pid};
			croak "guestbook_notify_web exited at start: $log";
		}
		usleep(50_000);
	}
	croak 'guestbook_notify_web did not log "listening on" within 20s' unless $self->{port};
	note("guestbook_notify_web $self->{name} on port $self->{port} (pid $pid, log $self->{log})");
	return;
}

sub port { return $_[0]->{port}; }
sub pid { return $_[0]->{pid}; }
sub url { return "http://127.0.0.1:$_[0]->{port}"; }
sub logfile { return $_[0]->{log}; }
sub log_offset { return -s $_[0]->{log} // 0; }

sub log_from
{
	my ($self, $offset) = @_;
	return '' unless -e $self->{log};
	my $all = slurp_file($self->{log});
	return substr($all, $offset // 0);
}
sub log { return $_[0]->log_from(0); }

sub wait_log
{
	my ($self, $re, $timeout, $offset) = @_;
	my $deadline = time() + ($timeout // 10);
	while (1)
	{
		return 1 if $self->log_from($offset) =~ $re;
		last if time() > $deadline;
		usleep(50_000);
	}
	diag("guestbook_notify_web log has no $re after ${timeout}s:\n" . $self->log_from($offset));
	return 0;
}

sub alive
{
	my ($self) = @_;
	return 0 unless $self->{pid};
	return waitpid($self->{pid}, WNOHANG) == 0 ? 1 : 0;
}

=pod

request(%o): method, path, headers (hashref, in order given by a list in
o{header_list} if set), body (bytes), raw (the whole request, sent as it is),
chunks (arrayref of [bytes, pause_seconds] written one after the other
after the head), timeout (s).  Returns {status, headers, body, closed,
elapsed}; status 0 when the server closed the connection without an
answer.

=cut

sub request
{
	my ($self, %o) = @_;
	my $t0 = time();
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port},
		Proto => 'tcp', Timeout => 10)
	  or croak "cannot connect to guestbook_notify_web on port $self->{port}: $!";
	binmode $sock;
	$sock->autoflush(1);
	local $SIG{PIPE} = 'IGNORE';
	my $req;
	if (defined $o{raw})
	{
		$req = $o{raw};
	}
	else
	{
		my $body = $o{body};
		$body = join('', map { $_->[0] } @{ $o{chunks} }) if $o{chunks};
		my $method = $o{method} // (defined $body ? 'POST' : 'GET');
		my @h = ("Host: 127.0.0.1:$self->{port}", 'Connection: close');
		push @h, 'Content-Type: application/json' if defined $body;
		push @h, 'Content-Length: ' . length($body)
		  if defined $body && !$o{no_length};
		my $hh = $o{headers} // {};
		push @h, map { "$_: $hh->{$_}" } sort keys %$hh;
		push @h, @{ $o{header_lines} // [] };
		$req = "$method $o{path} HTTP/1.1\r\n" . join("\r\n", @h) . "\r\n\r\n";
		$req .= $body if defined $body && !$o{chunks};
	}
	my $sel = IO::Select->new($sock);
	my $ok = syswrite($sock, $req);
	for my $c (@{ $o{chunks} // [] })
	{
		my ($bytes, $pause) = @$c;
		last unless defined $ok;
		# the pause ends early when the server answers or closes
		last if $pause && $sel->can_read($pause);
		$ok = syswrite($sock, $bytes) if length $bytes;
	}
	my $resp = '';
	my $deadline = time() + ($o{timeout} // 30);
	my $closed = 0;
	while (1)
	{
		my $left = $deadline - time();
		last if $left <= 0;
		next unless $sel->can_read($left > 0.5 ? 0.5 : $left);
		my $n = sysread($sock, my $chunk, 1 << 20);
		if (!defined $n || $n == 0)
		{
			$closed = 1;
			last;
		}
		$resp .= $chunk;
	}
	close $sock;
	my ($head, $content) = split /\r\n\r\n/, $resp, 2;
	my %h;
	my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
	for my $l (split /\r\n/, $head // '')
	{
		$h{ lc $1 } = $2 if $l =~ /^([^:]+):\s*(.*)$/;
	}
	return { status => $status // 0, headers => \%h, body => $content // '', closed => $closed,
		elapsed => time() - $t0 };
}

sub sleep_s { usleep(int($_[0] * 1_000_000)); }

sub post_meta
{
	my ($self, $body, %o) = @_;
	my %h = %{ $o{headers} // {} };
	$h{'X-Hub-Signature-256'} = $o{signature} // gbnw_meta_sign($self->{meta_secret}, $body)
	  unless exists $o{signature} && !defined $o{signature};
	return $self->request(method => 'POST', path => '/webhooks/meta', body => $body,
		headers => \%h, %{ $o{request} // {} });
}

sub post_waha
{
	my ($self, $body, %o) = @_;
	my %h = %{ $o{headers} // {} };
	unless (exists $o{signature} && !defined $o{signature})
	{
		$h{'X-Webhook-Hmac'} = $o{signature} // gbnw_waha_sign($self->{waha_key}, $body);
		$h{'X-Webhook-Hmac-Algorithm'} = $o{algorithm} // 'sha512';
	}
	return $self->request(method => 'POST', path => '/webhooks/waha', body => $body,
		headers => \%h, %{ $o{request} // {} });
}

sub signal
{
	my ($self, $sig) = @_;
	CORE::kill($sig, $self->{pid}) if $self->{pid};
	return;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{pid};
	CORE::kill('TERM', $self->{pid});
	my $deadline = time() + 15;
	my $done = 0;
	while (time() < $deadline)
	{
		if (waitpid($self->{pid}, WNOHANG) == $self->{pid})
		{
			$self->{exit} = $?;
			$done = 1;
			last;
		}
		usleep(50_000);
	}
	unless ($done)
	{
		CORE::kill('KILL', $self->{pid});
		waitpid($self->{pid}, 0);
		$self->{exit} = $?;
	}
	delete $self->{pid};
	@RUNNING = grep { $_ != $self } @RUNNING;
	return $done;
}

sub restart
{
	my ($self) = @_;
	$self->stop;
	delete $self->{port};
	$self->launch;
	return;
}

END
{
	my $rc = $?;
	$_->stop for @RUNNING;
	$? = $rc;
}

1;
