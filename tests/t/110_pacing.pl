
# Pacing.
# 1. Sender: with max_send_rate = 40 and a queue that never runs dry, the
#    rate the mock measures over 30 s is within 5% of 40/s, and it is smooth
#    (no burst above the rate in any 1 s or 250 ms window).
# 2. Recipient: in the same drain (each recipient has several rows), no
#    recipient gets two messages within recipient_interval (6 s).
# 3. A 131056 answer (pair rate limit) slows that recipient only.
# 4. The hourly cap: a recipient over recipient_hourly_cap is held (deferred,
#    never dropped) and shown to admins.

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

my $RATE = 40;
my $WINDOW = 30;
my $INTERVAL = 6.0;
my $N = 1400;        # > 40/s x 30 s: the queue never runs dry in the window
my $R = 400;         # recipients: 400 / 6 s = 66/s of recipient capacity

my $mock = GuestbookNotify::Mock->start(token => 'token-110');
my $node = gbn_node('pacing', $mock,
	settings => { max_send_rate => $RATE, max_in_flight => 16, recipient_interval => 6000,
				  recipient_hourly_cap => 60, lease_timeout => 30 });
gbn_install_app($node, sample => 0);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

# --- 1 + 2: one drain ----------------------------------------------------------
is(gs_enqueue($node, n => $N, recipients => $R), $N, "$N rows for $R recipients enqueued");
ok($mock->wait_requests(1, 30), 'sending starts');
usleep(($WINDOW + 1.5) * 1_000_000);
my @reqs = sort { $a->{time} <=> $b->{time} } @{ $mock->requests(provider => 'cloud_api') };
my $t0 = $reqs[0]{time};
my @win = grep { $_->{time} < $t0 + $WINDOW } @reqs;
my $rate = scalar(@win) / $WINDOW;
my $dev = abs($rate - $RATE) / $RATE * 100;
cmp_ok($dev, '<=', 5, sprintf('sender rate over %d s: %.2f/s for max_send_rate %d (%.2f%% off)',
		$WINDOW, $rate, $RATE, $dev));

# smoothness: the most requests in any 1 s and any 250 ms window
my ($max1, $max250) = (0, 0);
my ($j1, $j250) = (0, 0);
for my $i (0 .. $#win)
{
	$j1++ while $win[$i]{time} - $win[$j1]{time} >= 1.0;
	$j250++ while $win[$i]{time} - $win[$j250]{time} >= 0.25;
	$max1 = $i - $j1 + 1 if $i - $j1 + 1 > $max1;
	$max250 = $i - $j250 + 1 if $i - $j250 + 1 > $max250;
}
cmp_ok($max1, '<=', int($RATE * 1.05) + 1, "no burst: at most $max1 requests in any 1 s");
cmp_ok($max250, "<=", int($RATE / 4 * 1.3) + 1, "no burst: at most $max250 requests in any 250 ms");

ok(gs_wait_drained($node, 60), 'the whole queue drains');
@reqs = sort { $a->{time} <=> $b->{time} } @{ $mock->requests(provider => 'cloud_api') };
my %last;
my ($violations, $min_gap, $pairs) = (0, 1e9, 0);
for my $q (@reqs)
{
	my $n = $q->{recipient};
	if (defined $last{$n})
	{
		my $gap = $q->{time} - $last{$n};
		$pairs++;
		$min_gap = $gap if $gap < $min_gap;
		$violations++ if $gap < $INTERVAL;
	}
	$last{$n} = $q->{time};
}
is($violations, 0, sprintf('no recipient messaged twice within %.0f s (%d consecutive pairs, smallest gap %.3f s)',
		$INTERVAL, $pairs, $min_gap));
my $acc = gs_account($node, $mock, n => $N);
is($acc->{lost}, 0, 'lost: 0 (deferred, never dropped)');
is($acc->{status}{sent} // 0, $N, 'every row sent');

# --- 3: 131056 slows that recipient only -----------------------------------------
gbn_set_conf($node, max_send_rate => 100000, recipient_interval => 500);
my $slow = gs_number(900);
$mock->script(number => $slow, responses => [ '#131056', '#131056' ]);
my $seq = $mock->last_seq;
my $t131 = time();
is(gs_enqueue($node, n => 3, from => 5001, recipients => 1, base => 900), 3, '3 rows for the throttled recipient');
is(gs_enqueue($node, n => 15, from => 5101, recipients => 3, base => 910), 15, '15 rows for three other recipients');
ok(gs_wait_drained($node, 90, q{dedupe_key LIKE 'safety:5%'}), 'all drain');
my @s = sort { $a->{time} <=> $b->{time} } @{ $mock->requests(since => $seq, number => $slow) };
is(scalar(@s), 5, 'the throttled recipient: 2 refused + 3 sent');
my @gaps = map { $s[$_]{time} - $s[ $_ - 1 ]{time} } 1 .. $#s;
note('gaps at the throttled recipient: ' . join(' ', map { sprintf('%.2f', $_) } @gaps));
cmp_ok($gaps[0], '>=', 0.99, sprintf('after the first 131056 it waits >= 4^0 s and the interval (%.2f s)', $gaps[0]));
cmp_ok($gaps[1], '>=', 3.99, sprintf('after the second, >= 4^1 s (%.2f s)', $gaps[1]));
cmp_ok($gaps[2], '>=', 0.49, 'after a success, the plain interval again');
cmp_ok($gaps[2], '<', 3.5, sprintf('the throttle level is reset by the success (%.2f s)', $gaps[2]));
my $other_done = 0;
for my $bn (910 .. 912)
{
	my @o = sort { $a->{time} <=> $b->{time} } @{ $mock->requests(since => $seq, number => gs_number($bn)) };
	$other_done = $o[-1]{time} if @o && $o[-1]{time} > $other_done;
}
cmp_ok($other_done - $t131, '<', $s[-1]{time} - $t131,
	sprintf('other recipients are not slowed: done in %.1f s, the throttled one in %.1f s',
		$other_done - $t131, $s[-1]{time} - $t131));
my $pac = gbn_query_row($node, "SELECT throttle_level FROM guestbook_notify.recipient_pacing WHERE to_number = '$slow'");
is($pac->{throttle_level}, 0, 'recipient_pacing.throttle_level back to 0 after a success');

# --- 4: hourly cap ---------------------------------------------------------------------
gbn_set_conf($node, recipient_interval => 100, recipient_hourly_cap => 3);
my $loop = gs_number(950);
is(gs_enqueue($node, n => 5, from => 6001, recipients => 1, base => 950), 5, '5 rows to one recipient, cap 3/hour');
ok(gbn_wait_until($node, qq{SELECT count(*) FILTER (WHERE status = 'sent') || '/' ||
		count(*) FILTER (WHERE status = 'pending' AND last_error LIKE 'held:%')
		FROM guestbook_notify.notification_queue WHERE to_number = '$loop'}, '3/2', 30,
		'3 sent, 2 held'), 'the cap lets 3 through and holds 2');
my $held = gbn_sql_json($node, qq{SELECT status, held, scheduled_at > now() + interval '50 minutes' AS later, last_error
	FROM guestbook_notify.notifications WHERE to_number = '$loop' AND status = 'pending'});
is(scalar(grep { $_->{held} && $_->{later} } @$held), 2,
	'the held rows are deferred to the next hour and flagged held in the admin view');
note('held: ' . ($held->[0]{last_error} // ''));
usleep(500_000);
is(scalar @{ $mock->requests(number => $loop) }, 3, 'the mock got 3 messages for that recipient, no more');

note(sprintf("FIGURES 110_pacing: max_send_rate=%d measured=%.2f/s over %ds (%.2f%% off), max in 1s=%d, max in 250ms=%d; "
		  . "recipient_interval=%.0fs violations=%d over %d pairs, min gap %.3fs; 131056 gaps %s",
		$RATE, $rate, $WINDOW, $dev, $max1, $max250, $INTERVAL, $violations, $pairs, $min_gap,
		join('/', map { sprintf('%.2f', $_) } @gaps)));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
