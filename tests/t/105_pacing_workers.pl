
# Recipient pacing with several workers, under API latency (issue 10.2).
#
# For 1, 2, 4 and 8 workers (changed by reload, one node): 300 messages to
# 20 recipients, recipient_interval 1 s, every answer of the mock API held
# 1.5 s. Required: no recipient gets two requests less than 1 s apart (the
# mock's receive times), no claim deadlocks ("deadlock detected" in the
# server log), nothing sent twice, nothing lost. Then the default interval
# (6 s) with 8 workers, where deadlocks used to show.
#
# Prints a table: workers, requests, violations, smallest gap, deadlocks,
# duplicates, drain time.

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

my $N = 300;
my $R = 20;
my $DELAY_MS = 1500;

my $mock = GuestbookNotify::Mock->start(token => 'token-105');
$mock->script(default => "delay:$DELAY_MS");
my $node = gbn_node('pacing_workers', $mock,
	settings => { workers => 1, recipient_interval => 1000, max_in_flight => 32,
				  lease_timeout => 60, http_timeout => 10000 },
	conf => "max_worker_processes = 16\n");
gbn_install_app($node, sample => 0);
ok(defined gbn_wait_worker($node, 30), 'a worker runs');

sub running_workers
{
	my @p = gbn_worker_pids($node);
	return scalar @p;
}

my @table;
my $round = 0;

sub one_round
{
	my ($workers, $interval_ms, $n, $r) = @_;
	$round++;
	gbn_set_conf($node, workers => $workers, recipient_interval => $interval_ms);
	ok(gbn_wait_until($node, q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'guestbook_notify worker'}, $workers, 30, "$workers workers"),
		"round $round: $workers worker(s) run");
	my $off = gbn_log_offset($node);
	my $seq = $mock->last_seq;
	my $from = $round * 10000 + 1;
	my $base = $round * 1000;
	my $t0 = time();
	is(gs_enqueue($node, n => $n, from => $from, recipients => $r, base => $base), $n,
		"round $round: $n rows for $r recipients");
	my $expect = ($n / $r - 1) * $interval_ms / 1000 + $DELAY_MS / 1000;
	ok(gs_wait_drained($node, 60 + 3 * $expect, "dedupe_key LIKE 'safety:%' AND substr(dedupe_key, 8)::int >= $from"),
		"round $round: the queue drains");
	my $drain = time() - $t0;

	my @reqs = sort { $a->{time} <=> $b->{time} }
	  grep { $_->{recipient} ge gs_number($base) && $_->{recipient} le gs_number($base + $r - 1) }
	  @{ $mock->requests(since => $seq, provider => 'cloud_api') };
	my %last;
	my ($viol, $min_gap, $pairs) = (0, 1e9, 0);
	for my $q (@reqs)
	{
		my $k = $q->{recipient};
		if (defined $last{$k})
		{
			my $gap = $q->{time} - $last{$k};
			$pairs++;
			$min_gap = $gap if $gap < $min_gap;
			$viol++ if $gap < $interval_ms / 1000;
		}
		$last{$k} = $q->{time};
	}
	# the same gaps as the worker saw them (its requests' start times): on a
	# loaded machine the mock's clock can be late for one request and not
	# the next; this tells that apart from a worker that sent too early
	my $worker_gap = $node->safe_psql('postgres', qq{
		SELECT coalesce(round(min(gap)::numeric, 3)::text, '-') FROM (
			SELECT extract(epoch FROM a.started_at - lag(a.started_at)
				OVER (PARTITION BY q.to_number ORDER BY a.started_at)) AS gap
			  FROM guestbook_notify.notification_queue q
			  JOIN guestbook_notify.notification_attempts a ON a.notification_id = q.id
			 WHERE q.dedupe_key LIKE 'safety:%' AND substr(q.dedupe_key, 8)::int >= $from
			   AND a.outcome = 'sent') g});
	my $log = gs_log_since($node, $off);
	my $deadlocks = () = $log =~ /deadlock detected/g;
	my $lapsed = () = $log =~ /no longer leased/g;
	my $acc = gs_account($node, $mock, n => $n, from => $from);

	is($viol, 0, sprintf('round %d (%d workers, interval %d ms): no recipient messaged twice within the interval '
			. '(%d pairs, smallest gap %.3f s at the mock, %s s between the worker\'s request starts)',
			$round, $workers, $interval_ms, $pairs, $min_gap, $worker_gap));
	is($deadlocks, 0, "round $round: no deadlock in the server log");
	is($lapsed, 0, "round $round: no lease lapsed under a live worker");
	is($acc->{duplicates}, 0, "round $round: nothing sent twice");
	is($acc->{lost}, 0, "round $round: nothing lost");
	is($acc->{status}{sent} // 0, $n, "round $round: all $n sent");
	push @table, sprintf('%7d | %11d | %8d | %10d | %13.3f | %16s | %9d | %10d | %6.1f s',
		$workers, $interval_ms, scalar(@reqs), $viol, $min_gap, $worker_gap, $deadlocks, $acc->{duplicates}, $drain);
	return;
}

one_round($_, 1000, $N, $R) for (1, 2, 4, 8);
# the default interval, where the old claim deadlocked: 8 workers, 120
# messages to 20 recipients (6 each: 30 s at 6 s)
one_round(8, 6000, 120, $R);

diag("recipient pacing under ${DELAY_MS} ms API latency, $R recipients:\n"
	  . "workers | interval ms | requests | violations | min gap (s)   | worker's gap (s) | deadlocks | duplicates | drain\n"
	  . join("\n", @table));

gbn_openapi_ok($mock);
$node->stop;
$mock->stop;
done_testing();
