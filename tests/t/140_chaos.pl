
# A chaos mock over 1,000 messages: 5xx pages, connection resets and clean
# closes, hung requests (timeouts), slow answers, truncated and non-JSON
# bodies, a wrong content type, very large bodies, throttling and permanent
# Graph errors, in a seeded mix; and opt-outs during the run. Every row ends
# sent, failed or cancelled with a reason, the mock never accepts a row
# twice unless a request of it was cut off, and the worker never restarts.

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

my $N = 1000;
my $MAX_IN_FLIGHT = 16;

my $mock = GuestbookNotify::Mock->start(token => 'token-140');
my $node = gbn_node('chaos', $mock,
	settings => {
		max_in_flight => $MAX_IN_FLIGHT, http_timeout => 1000, connect_timeout => 1000,
		lease_timeout => 30, max_attempts => 6, retry_base_delay => 50, retry_max_delay => 300,
		recipient_interval => 200, max_send_rate => 100000 });
gbn_install_app($node, sample => 0);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');
my $log_off = gbn_log_offset($node);

my %mix = (
	ok => 62, '500' => 4, '502' => 2, '503' => 3, reset => 3, close => 2, hang => 2,
	'delay:400' => 4, truncated => 3, non_json => 3, wrong_content_type => 3,
	'{"kind":"large","bytes":1000000}' => 1, '{"kind":"large","bytes":1000000,"json":false}' => 1,
	'#130429' => 1, '#131000' => 2, '#131026' => 2, '#131056' => 1, '#100' => 1,
);
# object specs travel as JSON in the mix keys: turn them into a list
my @mix = map { [ ($_ =~ /^\{/ ? JSON::PP->new->decode($_) : $_), $mix{$_} ] } sort keys %mix;
$mock->script(chaos => { seed => 140, mix => [ map { { response => $_->[0], weight => $_->[1] } } @mix ] });

my $t0 = time();
is(gs_enqueue($node, n => $N, recipients => $N), $N, "$N rows enqueued");

# opt-outs while the drain runs: their rows not yet sent are cancelled
usleep(500_000);
my $optout = $node->safe_psql('postgres', qq{
	SELECT string_agg(n, ' ') FROM (
		SELECT guestbook_notify.opt_out(to_number, 'chaos test') IS NOT NULL AS ok, to_number AS n
		  FROM guestbook_notify.notification_queue
		 WHERE dedupe_key LIKE 'safety:%' AND status = 'pending' AND lease_until IS NULL
		 ORDER BY scheduled_at DESC LIMIT 10) s});
my @optout = split / /, $optout;
is(scalar @optout, 10, 'ten recipients opt out during the drain');

ok(gs_wait_drained($node, 180), 'every chaos row reaches a final state');
my $elapsed = time() - $t0;

my $acc = gs_account($node, $mock, n => $N);
is($acc->{rows}, $N, "all $N rows are in the queue");
is($acc->{lost}, 0, 'lost: 0 (no row pending, every sent row was accepted by the mock with its wamid)')
  or diag('lost rows: ' . join(' ', grep { defined } @{ $acc->{lost_tags} }[0 .. 19]));
my $noreason = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM guestbook_notify.notification_queue
	 WHERE dedupe_key LIKE 'safety:%' AND status IN ('failed', 'cancelled')
	   AND coalesce(btrim(last_error), '') = ''});
is($noreason, '0', 'every failed or cancelled row says why (last_error)');
my $cancelled = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM guestbook_notify.notification_queue
	 WHERE dedupe_key LIKE 'safety:%' AND status = 'cancelled' AND last_error = 'recipient opted out'});
cmp_ok($cancelled, '>=', 1, "opted-out rows cancelled ($cancelled)");
# nothing leaves for an opted-out number after opt_out() returned (a
# request already on the wire may still arrive within a few ms)
my $late = 0;
for my $n (@optout)
{
	my $at = $node->safe_psql('postgres',
		"SELECT extract(epoch FROM opted_out_at) FROM guestbook_notify.opt_outs WHERE number = '$n'");
	$late += grep { $_->{time} > $at + 0.5 } @{ $mock->requests(number => $n) };
}
is($late, 0, 'no request to an opted-out number after its opt-out');
my $bad_attempts = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM guestbook_notify.notification_queue q
	 WHERE q.dedupe_key LIKE 'safety:%'
	   AND (SELECT count(*) FROM guestbook_notify.notification_attempts a WHERE a.notification_id = q.id)
	       <> q.attempt_count});
is($bad_attempts, '0', 'attempt rows match attempt_count on every row');

# duplicates: none.  A 2xx answer means the provider took the message, so a
# row is never sent again after one -- not when its body was cut, too large
# (cut at 64 kB) or not JSON; the row is sent, its id taken from what could
# be read or marked unknown.
my $unreadable = grep { GbnSafety::accepted($_) && ($_->{response}{kind} // '') ne 'ok' } @{ $mock->requests };
is($acc->{duplicates}, 0,
	"duplicates: 0 (accepted answers the worker could not read whole: $unreadable, none sent again)");

my $log = substr(slurp_file($node->logfile), $log_off);
is(join(' ', gbn_worker_pids($node)), $pid, 'the worker was never restarted');
unlike($log, qr/terminated by signal|exited with exit code|server process .* was terminated/,
	'no worker exit in the server log');
unlike($log, qr/PANIC|TRAP:|segfault/, 'no PANIC or assertion failure');

my $st = $mock->stats;
note('chaos as served: ' . gs_fmt($st->{by_kind}) . ' codes ' . gs_fmt($st->{by_code}));
note(sprintf("FIGURES 140_chaos: rows=%d %s lost=%d duplicates=%d (unreadable acceptances %d) requests=%d accepted=%d time=%.1fs worker_restarts=0",
		$N, gs_fmt($acc->{status}), $acc->{lost}, $acc->{duplicates}, $unreadable, $acc->{requests}, $acc->{accepted}, $elapsed));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
