
# Bad data in the guestbook tables never loses a row: NULLs everywhere they
# are allowed, a 10,000-character purpose, control characters, numbers in
# every wrong shape. Every assignment commits and leaves exactly one queue
# row, which ends sent, or failed / cancelled with a readable reason; every
# sent row has its 'contacted' event; every message fits WhatsApp's 4096
# characters and is valid UTF-8 at the mock.

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

my $mock = GuestbookNotify::Mock->start(token => 'token-180');
my $node = gbn_node('baddata', $mock, settings => { recipient_interval => 0, message_mode => 'text' });
gbn_install_app($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

my $unit = '00000000-0000-0000-0000-000000000003';
my $ctl = join('', map { chr($_) } 1 .. 8, 11, 12, 14 .. 31, 127) . "\xe2\x80\x8b\xef\xbb\xbf\xe2\x80\xae";

# numbers: valid ones in odd shapes, and invalid ones
my @numbers = (
	[ '0812-3456-0001',                  'ok' ],
	[ '+62 812 3456 0002',               'ok' ],
	[ "  (0812) 3456.0003\t",            'ok' ],
	[ '628123456 0004',                  'ok' ],
	[ '8123456 0005',                    'ok' ],
	[ undef,                             'bad' ],
	[ '',                                'bad' ],
	[ '   ',                             'bad' ],
	[ 'abc',                             'bad' ],
	[ '+1 555 0100',                     'bad' ],
	[ '0812',                            'bad' ],
	[ '081234567890123456789012',        'bad' ],
	[ '0812-3456-7890 ext 5',            'bad' ],
	[ "0812\x{0}3456",                   'bad' ],
	[ '６２８１２３４５６７８９０',       'bad' ],
	[ "0812$ctl" . '34560006',           'bad' ],
	[ '+62+62 812 3456 0007',            'bad' ],
	[ '-6281234560008',                  'ok' ],
	[ '6281234560009' x 3,               'bad' ],
	[ "'; DROP TABLE cases; --",         'bad' ],
	[ '{"number": "6281234560010"}',     'bad' ],
);

# case columns: NULLs, huge, control characters, quotes, emoji
my @cases = (
	{ visitor_name => undef, visitor_id_number => undef, purpose => undef, unit_tujuan => undef },
	{ purpose => 'x' x 10_000 },
	{ purpose => ('Keperluan panjang 😀 ' x 600) },
	{ visitor_name => "Tamu$ctl", purpose => "baris1\nbaris2\r\nbaris3\ttab     spasi" },
	{ visitor_name => q{O'Brien "quoted" \\backslash {{case_code}} %s %n}, purpose => '{{detail_url}}' },
	{ case_type => 'surat', surat_tracking_no => undef, surat_perihal => undef, purpose => undef },
	{ case_type => 'surat', surat_tracking_no => "S/$ctl/1", surat_perihal => 'p' x 10_000 },
	{ visitor_name => '', purpose => '', unit_tujuan => '' },
);

my $i = 0;
my @assign;
for my $n (@numbers)
{
	for my $c (@cases)
	{
		$i++;
		my $num = defined $n->[0] ? gbn_sql_quote($n->[0] =~ s/\x{0}//gr) : 'NULL';
		my %cols = (code => "BD$i", case_type => 'visitor', status => 'new', org_unit_id => $unit, %$c);
		my @k = sort keys %cols;
		my $vals = join(', ', map { defined $cols{$_} ? gbn_sql_quote($cols{$_}) : 'NULL' } @k);
		my $ret = $node->safe_psql('postgres', qq{
			BEGIN;
			WITH u AS (INSERT INTO public.users (full_name, role, org_unit_id, whatsapp_number)
					   VALUES ('Operator $i', 'operator', '$unit', $num) RETURNING id),
				 c AS (INSERT INTO public.cases (@{[ join(', ', @k) ]}) VALUES ($vals) RETURNING id)
			INSERT INTO public.case_assignments (case_id, operator_id)
			SELECT c.id, u.id FROM c, u;
			COMMIT;
			SELECT count(*) FROM public.case_assignments a JOIN public.cases c ON c.id = a.case_id WHERE c.code = 'BD$i';});
		push @assign, $ret;
	}
}
is(scalar(grep { $_ eq '1' } @assign), $i, "all $i assignments committed");

ok(gs_wait_drained($node, 60, 'true'), 'no row stays pending');
my $rows = gbn_sql_json($node, q{
	SELECT c.code, q.status, q.last_error, q.to_number, length(q.message_text) AS len,
		   (SELECT count(*) FROM public.case_events e WHERE e.case_id = c.id AND e.event_type = 'contacted') AS contacted,
		   (SELECT count(*) FROM public.case_events e WHERE e.case_id = c.id AND e.event_type = 'notification_failed') AS failed_ev
	  FROM public.cases c
	  LEFT JOIN guestbook_notify.notification_queue q ON q.case_id = c.id
	 WHERE c.code LIKE 'BD%'});
is(scalar @$rows, $i, "one queue row per assignment ($i), none missing, none doubled");
my %st;
$st{ $_->{status} // 'MISSING' }++ for @$rows;
note('statuses: ' . gs_fmt(\%st));
is(scalar(grep { !defined $_->{status} } @$rows), 0, 'no assignment without a queue row');
is(scalar(grep { $_->{status} ne 'sent' && ($_->{last_error} // '') !~ /\S/ } @$rows), 0,
	'every row not sent has a readable reason');
is(scalar(grep { $_->{status} eq 'sent' && $_->{contacted} != 1 } @$rows), 0,
	"every sent row has one 'contacted' event");
is(scalar(grep { $_->{status} eq 'failed' && $_->{failed_ev} != 1 } @$rows), 0,
	"every failed row has one 'notification_failed' event");
cmp_ok((sort { $b <=> $a } map { $_->{len} // 0 } @$rows)[0], '<=', 4096, 'every message_text fits 4096 characters');

# valid numbers are sent, invalid ones fail with the number named
my $j = 0;
my ($ok_sent, $bad_failed) = (0, 0);
for my $n (@numbers)
{
	for my $c (@cases)
	{
		$j++;
		my ($r) = grep { $_->{code} eq "BD$j" } @$rows;
		$ok_sent++ if $n->[1] eq 'ok' && $r->{status} eq 'sent';
		$bad_failed++ if $n->[1] eq 'bad' && $r->{status} eq 'failed';
	}
}
my $nok = scalar(grep { $_->[1] eq 'ok' } @numbers) * @cases;
is($ok_sent, $nok, "every row to a valid number in an odd shape is sent ($nok)");
is($bad_failed, $i - $nok, 'every row to an invalid number fails with a reason (' . ($i - $nok) . ')');

# what the mock got is valid UTF-8 JSON with no raw control characters lost
my $reqs = $mock->requests;
is(scalar(grep { @{ $_->{problems} // [] } } @$reqs), 0, 'the mock found no problem in any request')
  or diag(gs_fmt([ map { $_->{problems} } grep { @{ $_->{problems} // [] } } @$reqs ]->[0]));
is(scalar(@$reqs), $ok_sent, 'one request per sent row');

# the same cases in template mode: the values become template parameters,
# which Meta refuses with newlines, tabs or 5 spaces in a row (the mock
# checks): they are flattened, and every row is sent
gbn_set_conf($node, message_mode => 'template');
ok(gbn_wait_until($node, 'SHOW guestbook_notify.message_mode', 'template', 10, 'reload'), 'message_mode = template');
usleep(300_000);    # the worker reloads on SIGHUP too
my $op = gbn_add_operator($node, 'Operator Template', '0812-3456-0099');
my $t = 0;
for my $c (@cases)
{
	$t++;
	gbn_add_case($node, "BDT$t", case_type => 'visitor', map { $_ => $c->{$_} } grep { defined $c->{$_} } keys %$c);
	$node->safe_psql('postgres', "UPDATE public.cases SET " . join(', ', map { "$_ = NULL" } grep { !defined $c->{$_} } sort keys %$c)
		  . " WHERE code = 'BDT$t'") if grep { !defined $c->{$_} } keys %$c;
	gbn_assign($node, "BDT$t", $op);
}
ok(gs_wait_drained($node, 60, 'true'), 'template mode: no row stays pending');
my $trows = gbn_sql_json($node, q{
	SELECT c.code, q.status, q.last_error FROM public.cases c
	  JOIN guestbook_notify.notification_queue q ON q.case_id = c.id WHERE c.code LIKE 'BDT%'});
is(scalar @$trows, $t, "template mode: one row per assignment ($t)");
is(scalar(grep { $_->{status} eq 'sent' } @$trows), $t, 'template mode: every row sent')
  or diag(gs_fmt([ grep { $_->{status} ne 'sent' } @$trows ]));
my $treqs = $mock->requests(number => '6281234560099');
is(scalar(grep { ($_->{body}{type} // '') eq 'template' } @$treqs), scalar(@$treqs),
	'template mode: every request is a template message');
is(scalar(grep { @{ $_->{problems} // [] } } @$treqs), 0, 'template mode: the mock found no problem in any template body');

note(sprintf('FIGURES 180_bad_data: assignments=%d rows=%d sent=%d failed=%d other=%d lost=0',
		$i, scalar @$rows, $st{sent} // 0, $st{failed} // 0, $i - ($st{sent} // 0) - ($st{failed} // 0)));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
