
# Copyright: guestbook_notify contributors

=pod

=head1 NAME

GbnSafety - helpers for the delivery-safety TAP tests (tests/t/1NN_*.pl)

=head1 SYNOPSIS

  use GuestbookNotify;
  use GbnSafety;

  gs_enqueue($node, n => 2000, recipients => 2000);   # rows tagged gbn-1 .. gbn-2000
  gs_query($node, 'SELECT 1', 60);                    # retried while the server restarts
  gs_wait_drained($node, 120) or ...;
  my $acc = gs_account($node, $mock);                 # lost, duplicates, ...

=head1 DESCRIPTION

Bulk enqueue through guestbook_notify.enqueue(), queries that survive a
crash restart of the cluster, and the accounting of a drain: every row's fate
in the queue against the requests the mock accepted (each request carries
its row's tag "gbn-<n>" in the case_code template value).

=cut

package GbnSafety;

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use GuestbookNotify;

our @EXPORT = qw(gs_enqueue gs_query gs_wait_drained gs_account gs_number
  gs_tags_of_request gs_log_since gs_fmt);

# The n-th test number: 62815 + 8 digits (a valid Indonesian mobile number).
sub gs_number
{
	my ($i) = @_;
	return sprintf('62815%08d', $i);
}

=pod

gs_enqueue($node, n => N, from => 1, recipients => R, base => 0,
scheduled_at => 'sql expr'): N rows with tags gbn-<from> .. gbn-<from+N-1>;
row g goes to gs_number(base + (g-1) % R). dedupe_key 'safety:<g>'.
Returns the number of rows enqueued.

=cut

sub gs_enqueue
{
	my ($node, %o) = @_;
	my $n    = $o{n};
	my $from = $o{from} // 1;
	my $to   = $from + $n - 1;
	my $r    = $o{recipients} // $n;
	my $base = $o{base} // 0;
	my $at   = $o{scheduled_at} // 'now()';
	my $out  = $node->safe_psql('postgres', qq{
		SELECT count(guestbook_notify.enqueue('assigned',
				'62815' || lpad(($base + (g - 1) % $r)::text, 8, '0'),
				NULL,
				jsonb_build_object('case_code', 'gbn-' || g, 'case_type', 'visitor',
								   'unit_tujuan', 'UPT Warroom', 'org_unit_name', 'UPT Warroom',
								   'summary', 'Nama: Tamu ' || g, 'detail_url',
								   'https://guestbook.example.go.id/admin/cases/' || g),
				'safety:' || g,
				$at))
		  FROM generate_series($from, $to) g});
	return $out;
}

=pod

gs_query($node, $sql, $timeout): runs $sql, retrying (every 0.2 s, at most
$timeout s) while the server is down or restarting; returns the output or
undef.

=cut

sub gs_query
{
	my ($node, $sql, $timeout) = @_;
	my $deadline = time() + ($timeout // 60);
	my ($ret, $out, $err);
	while (1)
	{
		($ret, $out, $err) = $node->psql('postgres', $sql, timeout => 30);
		return $out if defined $ret && $ret == 0;
		last if time() > $deadline;
		usleep(200_000);
	}
	diag("gs_query gave up after " . ($timeout // 60) . "s: $sql\n  " . ($err // ''));
	return undef;
}

=pod

gs_wait_drained($node, $timeout, $where): waits until no row matching $where
(default: every safety row) is pending; retries through restarts.

=cut

sub gs_wait_drained
{
	my ($node, $timeout, $where) = @_;
	$where //= q{dedupe_key LIKE 'safety:%'};
	my $deadline = time() + ($timeout // 120);
	my $last = '?';
	while (time() <= $deadline)
	{
		my $n = gs_query($node,
			"SELECT count(*) FROM guestbook_notify.notification_queue WHERE status = 'pending' AND $where",
			10);
		# and the worker's other steps: no trigger event, no audit row waiting
		my $w = gs_query($node,
			"SELECT (SELECT count(*) FROM guestbook_notify.trigger_events)"
			  . " + (SELECT count(*) FROM guestbook_notify.audit_outbox)", 10);
		return 1 if defined $n && $n eq '0' && defined $w && $w eq '0';
		$last = $n // '?';
		usleep(200_000);
	}
	diag("still $last pending rows after " . ($timeout // 120) . 's');
	return 0;
}

# The tags (gbn-<n>) found in a recorded request's body.
sub gs_tags_of_request
{
	my ($req) = @_;
	my $text = defined $req->{body} ? JSON::PP->new->canonical->encode($req->{body}) : ($req->{body_raw} // '');
	my %t = map { $_ => 1 } ($text =~ /\bgbn-(\d+)\b/g);
	return keys %t;
}

sub accepted
{
	my ($req) = @_;
	my $s = ($req->{response} // {})->{status};

	# a 2xx status line means the provider took the message, whatever came
	# after it (a cut, unreadable or non-JSON body): the worker counts it as
	# sent and never sends it again
	return (defined $s && $s >= 200 && $s < 300) ? 1 : 0;
}

=pod

gs_account($node, $mock, n => N, from => 1): the fate of rows gbn-<from> ..
gbn-<from+N-1>. Returns a hash:
  rows       rows found in the queue (and the archive, if it exists)
  status     { sent => .., failed => .., ... }
  missing    tags with no row
  lost       rows missing + rows not in a final state + rows 'sent' that the
             mock never accepted + rows whose provider_message_id is not one
             the mock returned for that row
  accepted   requests the mock accepted (for these tags)
  duplicates accepted requests beyond one per row
  requests   every request for these tags

=cut

sub gs_account
{
	my ($node, $mock, %o) = @_;
	my $from = $o{from} // 1;
	my $n    = $o{n};
	my $to   = $from + $n - 1;
	my $has_archive = gs_query($node,
		"SELECT to_regclass('guestbook_notify.notification_queue_archive') IS NOT NULL", 30) // 'f';
	my $src = "SELECT dedupe_key, status, provider_message_id, last_error FROM guestbook_notify.notification_queue";
	$src .= " UNION ALL SELECT dedupe_key, status, provider_message_id, last_error FROM guestbook_notify.notification_queue_archive"
	  if $has_archive eq 't';
	my $rows = gbn_sql_json($node,
		"SELECT substr(dedupe_key, 8)::int AS tag, status, provider_message_id AS wamid, last_error FROM ($src) s "
		  . "WHERE dedupe_key LIKE 'safety:%' AND substr(dedupe_key, 8)::int BETWEEN $from AND $to");
	my %row = map { $_->{tag} => $_ } @$rows;

	my (%acc, %wamids, %req);
	for my $q (@{ $mock->requests })
	{
		for my $t (gs_tags_of_request($q))
		{
			next unless $t >= $from && $t <= $to;
			$req{$t}++;
			next unless accepted($q);
			$acc{$t}++;
			$wamids{$t}{ $q->{response}{id} } = 1 if defined $q->{response}{id};
		}
	}

	my %res = (rows => scalar(@$rows), status => {}, missing => 0, lost => 0,
		accepted => 0, duplicates => 0, requests => 0, not_final => 0,
		sent_not_accepted => 0, wamid_mismatch => 0, lost_tags => []);
	for my $t ($from .. $to)
	{
		$res{requests} += $req{$t} // 0;
		$res{accepted} += $acc{$t} // 0;
		$res{duplicates} += $acc{$t} - 1 if ($acc{$t} // 0) > 1;
		my $r = $row{$t};
		if (!$r)
		{
			$res{missing}++;
			$res{lost}++;
			push @{ $res{lost_tags} }, "$t:missing";
			next;
		}
		$res{status}{ $r->{status} }++;
		if ($r->{status} eq 'pending')
		{
			$res{not_final}++;
			$res{lost}++;
			push @{ $res{lost_tags} }, "$t:pending";
		}
		elsif ($r->{status} eq 'sent')
		{
			if (!$acc{$t})
			{
				$res{sent_not_accepted}++;
				$res{lost}++;
				push @{ $res{lost_tags} }, "$t:sent-but-never-accepted";
			}
			elsif (!defined $r->{wamid} && ($r->{last_error} // '') =~ /provider message id unknown/)
			{
				# accepted, but its answer did not carry a readable id: said so
			}
			elsif (!defined $r->{wamid} || !$wamids{$t}{ $r->{wamid} })
			{
				$res{wamid_mismatch}++;
				$res{lost}++;
				push @{ $res{lost_tags} }, "$t:wamid-mismatch";
			}
		}
	}
	return \%res;
}

# Lines of the node's log written after byte offset $off.
sub gs_log_since
{
	my ($node, $off) = @_;
	my $log = slurp_file($node->logfile);
	return substr($log, $off // 0);
}

sub gs_fmt
{
	my ($h) = @_;
	return JSON::PP->new->canonical->encode($h);
}

1;
