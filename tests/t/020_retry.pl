
# Delivery policy against scripted provider failures (whatsapp-api.md 1.5):
# transient errors are retried then sent, permanent ones fail at once with
# Meta's reason, attempts run out into 'failed'; a bad response body or a
# timeout is a row error, never a worker crash.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $mock = GuestbookNotify::Mock->start(token => 'token-020');
my $node = gbn_node('retry', $mock,
	settings => { http_timeout => 1500, max_attempts => 4,
				  retry_base_delay => 100, retry_max_delay => 300 });
gbn_install_app($node);
my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs');

# One operator, case and scripted number per scenario, all enqueued at once.
my %sc;
my $n = 0;
sub scenario
{
	my ($tag, $responses, %o) = @_;
	$n++;
	my $number = sprintf('62812000%05d', $n);
	$mock->script(number => $number, responses => $responses,
		(exists $o{default} ? (default => $o{default}) : ()));
	my $op = gbn_add_operator($node, "Operator $tag", $number);
	gbn_add_case($node, "R$n");
	my $case_id = $node->safe_psql('postgres', "SELECT id FROM public.cases WHERE code = 'R$n'");
	my $id = gbn_assign($node, "R$n", $op);
	ok(defined $id, "$tag: enqueued");
	$sc{$tag} = { id => $id, number => $number, case_id => $case_id };
	return;
}

scenario('500x2', [ '500', '500' ]);
scenario('131026', ['#131026']);
scenario('130429', ['#130429']);
scenario('131056', [ '#131056', '#131056' ]);
scenario('131000', ['#131000']);
scenario('code2', ['#2']);
scenario('non_json', ['non_json']);
scenario('timeout', ['hang']);
scenario('500_forever', [], default => '500');
scenario('131047', ['#131047']);
scenario('100', ['#100']);

# --- transient, then sent ---------------------------------------------------------
for my $t ([ '500x2', 3, 500, undef ], [ '130429', 2, 400, 130429 ], [ '131056', 3, 400, 131056 ],
	[ '131000', 2, 500, 131000 ], [ 'code2', 2, 503, 2 ])
{
	my ($tag, $tries, $http, $code) = @$t;
	my $s = $sc{$tag};
	ok(gbn_wait_status($node, $s->{id}, 'sent', 60), "$tag: retried, then sent");
	my $row = gbn_queue_row($node, $s->{id});
	is($row->{attempt_count}, $tries, "$tag: $tries attempts");
	my $att = gbn_attempts($node, $s->{id});
	is(scalar @$att, $tries, "$tag: $tries notification_attempts rows");
	is_deeply([ map { $_->{outcome} } @$att ], [ ('retry') x ($tries - 1), 'sent' ],
		"$tag: outcomes retry..., sent");
	is($att->[0]{http_status}, $http, "$tag: first attempt http_status $http");
	is($att->[0]{error_code}, $code, "$tag: first attempt error_code " . ($code // 'NULL'));
	like($att->[0]{error_text} // '', qr/\S/, "$tag: first attempt has an error text");
	my $reqs = $mock->requests(number => $s->{number});
	is(scalar @$reqs, $tries, "$tag: the mock saw $tries requests");
	is($row->{provider_message_id}, $reqs->[-1]{response}{id}, "$tag: wamid of the successful try");
	my $ev = gbn_case_events($node, $s->{case_id}, 'contacted');
	is(scalar @$ev, 1, "$tag: one 'contacted' event");
}

# --- permanent: failed at once --------------------------------------------------------
for my $t ([ '131026', qr/Message undeliverable/ ], [ '131047', qr/Re-engagement/ ],
	[ '100', qr/Invalid parameter/ ])
{
	my ($tag, $meta) = @$t;
	my $s = $sc{$tag};
	ok(gbn_wait_status($node, $s->{id}, 'failed', 30), "$tag: failed");
	my $row = gbn_queue_row($node, $s->{id});
	is($row->{attempt_count}, 1, "$tag: at once (one attempt)");
	like($row->{last_error} // '', qr/$tag/, "$tag: last_error names the code");
	like($row->{last_error} // '', $meta, "$tag: last_error carries Meta's message");
	my $att = gbn_attempts($node, $s->{id});
	is(scalar @$att, 1, "$tag: one attempt row");
	is($att->[0]{outcome}, 'failed', "$tag: attempt outcome failed");
	is($att->[0]{error_code}, $tag + 0, "$tag: attempt error_code");
	my $ev = gbn_case_events($node, $s->{case_id}, 'notification_failed');
	is(scalar @$ev, 1, "$tag: one case_events 'notification_failed'");
	like(($ev->[0]{details} // {})->{error} // '', qr/$tag/, "$tag: the event names the error");
	is(scalar @{ $mock->requests(number => $s->{number}) }, 1, "$tag: not retried");
}

# --- a non-JSON body is a row error ----------------------------------------------------
{
	# a 2xx means the provider accepted the message: never sent again, even
	# when its answer cannot be read (issue 10.6); the row says so
	my $s = $sc{non_json};
	ok(gbn_wait_status($node, $s->{id}, 'sent', 30), 'non-JSON 200 body: sent');
	my $att = gbn_attempts($node, $s->{id});
	is($att->[0]{outcome}, 'sent', 'non-JSON: the first try counts as sent (a 2xx)');
	is(scalar @$att, 1, 'non-JSON: one try only');
	is(scalar @{ $mock->requests(number => $s->{number}) }, 1, 'non-JSON: not sent again');
	like($att->[0]{error_text} // '', qr/json|pars|invalid|response|unexpected/i,
		'non-JSON: a readable note') or diag("error_text: " . ($att->[0]{error_text} // 'NULL'));
	like(gbn_queue_row($node, $s->{id})->{last_error} // '', qr/provider message id unknown/,
		'non-JSON: the row says the provider id is unknown');
}

# --- a request that times out is retried --------------------------------------------------
{
	my $s = $sc{timeout};
	ok(gbn_wait_status($node, $s->{id}, 'sent', 30), 'hung request: timed out, retried, sent');
	my $att = gbn_attempts($node, $s->{id});
	is($att->[0]{outcome}, 'retry', 'timeout: the first try is a retry');
	ok(!defined $att->[0]{http_status}, 'timeout: no HTTP status');
	like($att->[0]{error_text} // '', qr/time/i, 'timeout: the reason says so')
	  or diag("error_text: " . ($att->[0]{error_text} // 'NULL'));
	cmp_ok($att->[0]{duration_ms} // 0, '>=', 1000, 'timeout: the try lasted about http_timeout');
	cmp_ok($att->[0]{duration_ms} // 1e9, '<', 10000, 'timeout: and not much longer');
}

# --- attempts run out ------------------------------------------------------------------------
{
	my $s = $sc{'500_forever'};
	ok(gbn_wait_status($node, $s->{id}, 'failed', 60), '500 forever: failed');
	my $row = gbn_queue_row($node, $s->{id});
	is($row->{attempt_count}, 4, '500 forever: max_attempts (4) tries');
	like($row->{last_error} // '', qr/gave up after 4 attempts/, '500 forever: last_error says it gave up');
	like($row->{last_error} // '', qr/500/, '500 forever: ... and why');
	is(scalar @{ $mock->requests(number => $s->{number}) }, 4, '500 forever: 4 requests');
	my $ev = gbn_case_events($node, $s->{case_id}, 'notification_failed');
	is(scalar @$ev, 1, "500 forever: one 'notification_failed' event");
}

# retries waited: a retry never left before the previous answer + base delay
{
	my $reqs = $mock->requests(number => $sc{'500x2'}{number});
	if (@$reqs == 3)
	{
		# retry_base_delay 100 ms with jitter in [0.8, 1.2)
		cmp_ok($reqs->[1]{time} - $reqs->[0]{time}, '>=', 0.075, 'backoff: the 1st retry waited about retry_base_delay');
		cmp_ok($reqs->[2]{time} - $reqs->[1]{time}, '>=', 0.15, 'backoff: the 2nd retry waited about twice as long');
	}
}

is(join(' ', gbn_worker_pids($node)), $pid, 'the worker was never restarted (same pid)');
ok(!$node->log_contains(qr/guestbook_notify worker.*(terminated by signal|exited with exit code)/),
	'no worker crash in the server log');

$node->stop;
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
