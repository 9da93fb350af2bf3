
# Transport and body faults (truncated body, connection reset or closed,
# 502/503 pages, wrong content type, a 5 MB body) and a seeded chaos mix:
# every row still ends 'sent' with one 'contacted' event, nothing is lost,
# and the worker never restarts.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $mock = GuestbookNotify::Mock->start(token => 'token-025');
my $node = gbn_node('faults', $mock,
	settings => { http_timeout => 2000, max_attempts => 12,
				  retry_base_delay => 50, retry_max_delay => 200 });
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

my $k = 0;
sub one
{
	my ($responses) = @_;
	$k++;
	my $number = sprintf('62817000%05d', $k);
	$mock->script(number => $number, responses => $responses) if $responses;
	my $op = gbn_add_operator($node, "Operator $k", $number);
	gbn_add_case($node, "F$k");
	return (gbn_assign($node, "F$k", $op), $number);
}

my %fault;
for my $f ('truncated', 'reset', 'close', '502', '503', 'wrong_content_type',
	{ kind => 'large', bytes => 5_000_000 }, { kind => 'large', bytes => 5_000_000, json => JSON::PP::false },
	{ kind => 'http', status => 200, body => '', content_type => 'application/json' },
	{ kind => 'http', status => 429, body => '{"error":{"message":"Too many requests"}}', content_type => 'application/json' })
{
	my $name = ref $f ? JSON::PP->new->canonical->encode($f) : $f;
	my ($id, $number) = one([$f]);
	$fault{$name} = [ $id, $number ];
}
for my $name (sort keys %fault)
{
	my ($id, $number) = @{ $fault{$name} };
	ok(gbn_wait_status($node, $id, 'sent', 40), "$name: ends sent");
	my $reqs = $mock->requests(number => $number);
	cmp_ok(scalar @$reqs, '<=', 2, "$name: at most one retry");
	my $row = gbn_queue_row($node, $id);
	if (defined $row->{provider_message_id})
	{
		is($row->{provider_message_id}, $reqs->[-1]{response}{id}, "$name: the row has the id of the answer it accepted");
	}
	else
	{
		# a 2xx whose body was cut or unreadable before its id: sent all the
		# same (never sent twice), the id unknown and said so
		like($row->{last_error} // '', qr/provider message id unknown/,
			"$name: the answer's id could not be read, and the row says so");
	}
	my $att = gbn_attempts($node, $id);
	note("$name: " . scalar(@$att) . ' attempt row(s), ' . scalar(@$reqs) . ' request(s) at the mock');
	if (@$att > 1)
	{
		like($att->[0]{error_text} // '', qr/\S/, "$name: the failed try has a readable reason")
		  and note("$name: $att->[0]{error_text}");
	}
}

# --- chaos: a seeded mix of everything ------------------------------------------------------
$mock->script(chaos => { seed => 25, mix => { ok => 60, '500' => 8, '503' => 4, '#130429' => 8,
			'#131000' => 4, reset => 4, truncated => 4, non_json => 4, 'delay:300' => 4 } });
my @ids;
push @ids, (one(undef))[0] for 1 .. 30;
my $idlist = join(',', map { "'$_'" } @ids);
ok(gbn_wait_until($node,
		"SELECT count(*) FILTER (WHERE status = 'sent') FROM guestbook_notify.notification_queue WHERE id IN ($idlist)",
		'30', 90, 'all 30 chaos rows sent'), 'chaos: all 30 rows end sent');
my $ev = gbn_sql_json($node, "SELECT count(*) AS n, count(DISTINCT details->>'notification_id') AS d "
	  . "FROM public.case_events WHERE event_type = 'contacted' AND (details->>'notification_id')::uuid IN ($idlist)");
is($ev->[0]{n}, 30, "chaos: one 'contacted' event per row");
is($ev->[0]{d}, 30, 'chaos: for 30 distinct notifications');
my $bad = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM guestbook_notify.notification_queue q
	 WHERE q.id IN ($idlist)
	   AND (SELECT count(*) FROM guestbook_notify.notification_attempts a WHERE a.notification_id = q.id)
	       <> q.attempt_count});
is($bad, '0', 'chaos: attempt rows match attempt_count on every row');
my $st = $mock->stats;
note('chaos mix as served: ' . JSON::PP->new->canonical->encode($st->{by_kind}));

is(join(' ', gbn_worker_pids($node)), $pid, 'the worker was never restarted');
$node->stop;
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
