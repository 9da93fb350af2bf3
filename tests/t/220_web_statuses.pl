
# Delivery statuses through guestbook_notify_web into the queue the real
# worker filled (mock API): delivered and read, duplicates and disorder (a
# late delivered never lowers read), several statuses in one body, a late
# 131026 (needs attention, case_events notification_failed once), a status
# whose message id is not recorded yet (parked, applied when the worker
# records it; and when it races the worker's commit, by the maintenance),
# the database stopped (503, then the replay applied), applying failing
# (the row kept with its error and retried), webhook_receive() failing as a
# whole (stored by webhook_store(), applied later), retention, and the
# daemon's role unable to do anything else.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GuestbookNotifyWeb;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time usleep);

my $mock = GuestbookNotify::Mock->start(token => 'token-220');
my $node = gbn_node('web_statuses', $mock);
gbn_install_app($node);
gbnw_setup_role($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

my $SECRET = 'meta-secret-220';
my $web = GuestbookNotifyWeb->start($node, meta_secret => $SECRET,
	conf => { db_lock_timeout => '500ms', maintenance_interval => '1s' });

sub q1 { return $node->safe_psql('postgres', $_[0]); }
sub row_of
{
	my ($wamid) = @_;
	return gbn_query_row($node,
		"SELECT n.*, q.delivery_error FROM guestbook_notify.notifications n
		   JOIN guestbook_notify.notification_queue q USING (id)
		  WHERE n.provider_message_id = " . gbn_sql_quote($wamid));
}
sub post_ok
{
	my ($body, $what) = @_;
	my $r = $web->post_meta($body);
	is($r->{status}, 200, "$what: 200") or diag(explain $r);
	return $r;
}
sub sent_wamid
{
	my ($id) = @_;
	gbn_wait_status($node, $id, 'sent', 30) or BAIL_OUT("notification $id not sent");
	return gbn_queue_row($node, $id)->{provider_message_id};
}

# --- three messages sent by the worker through the mock ------------------------------
my $A = sent_wamid(gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI));
my $L = sent_wamid(gbn_escalate($node, 'ABC123', 'lead'));
my $K = sent_wamid(gbn_escalate($node, 'ABC123', 'kadis'));
my $S = sent_wamid(gbn_assign($node, 'SRT001', $GuestbookNotify::SARI));
like($_, qr/^wamid\./, "sent, with the wamid the mock returned ($_)") for ($A, $L, $K, $S);
is(row_of($A)->{delivery_status}, 'sent', 'after the send: delivery_status sent');

# --- delivered, then read; duplicates ---------------------------------------------------
my $t_del = 1750030070;
post_ok(gbnw_meta_status_body($A, 'delivered', timestamp => $t_del), 'delivered');
my $row = row_of($A);
is($row->{delivery_status}, 'delivered', 'delivery_status delivered');
is(q1("SELECT extract(epoch FROM delivered_at)::bigint FROM guestbook_notify.notification_queue WHERE provider_message_id = '$A'"),
	$t_del, "delivered_at = the status's timestamp");
my $read_body = gbnw_meta_status_body($A, 'read', timestamp => $t_del + 60);
post_ok($read_body, 'read');
is(row_of($A)->{delivery_status}, 'read', 'delivery_status read');
post_ok($read_body, 'the same read again (Meta retries)');
post_ok(gbnw_meta_status_body($A, 'read', timestamp => $t_del + 999), 'another read of the same message');
is(q1("SELECT extract(epoch FROM read_at)::bigint FROM guestbook_notify.notification_queue WHERE provider_message_id = '$A'"),
	$t_del + 60, 'read_at stays the first read (idempotent per message and status)');
post_ok(gbnw_meta_status_body($A, 'delivered', timestamp => $t_del - 5), 'a late delivered');
post_ok(gbnw_meta_status_body($A, 'sent', timestamp => $t_del - 9), 'a late sent');
$row = row_of($A);
is($row->{delivery_status}, 'read', 'a late delivered or sent never lowers read');
is(q1("SELECT extract(epoch FROM delivered_at)::bigint FROM guestbook_notify.notification_queue WHERE provider_message_id = '$A'"),
	$t_del, 'and delivered_at is not moved');

# --- disorder: read first, then delivered --------------------------------------------------
post_ok(gbnw_meta_status_body($L, 'read', timestamp => $t_del + 10), 'read before delivered');
post_ok(gbnw_meta_status_body($L, 'delivered', timestamp => $t_del + 5), 'then delivered');
$row = row_of($L);
is($row->{delivery_status}, 'read', 'read stays');
ok(defined $row->{delivered_at}, 'delivered_at filled in');

# several statuses in one body, in any order
post_ok(gbnw_meta_status_body([ [ $K, 'read', timestamp => $t_del + 20 ], [ $K, 'delivered', timestamp => $t_del + 15 ],
	[ $K, 'sent', timestamp => $t_del + 1 ] ]), 'one body with read, delivered and sent');
$row = row_of($K);
ok($row->{delivery_status} eq 'read' && defined $row->{delivered_at} && defined $row->{read_at},
	'all three applied: read, with delivered_at and read_at');
like(q1("SELECT summary::text FROM guestbook_notify.webhook_inbox ORDER BY id DESC LIMIT 1"),
	qr/"applied": 3/, 'the inbox row counts 3 applied');

# --- a late failure: 131026 -------------------------------------------------------------------
my $fail = gbnw_meta_status_body($S, 'failed', code => 131026, title => 'Message undeliverable',
	details => 'Receiver is incapable of receiving this message');
post_ok($fail, 'failed 131026');
$row = row_of($S);
is($row->{status}, 'sent', 'the queue status stays sent (the send itself was accepted)');
is($row->{delivery_status}, 'failed', 'delivery_status failed');
ok($row->{needs_attention}, 'the Notifications view says needs attention');
is($row->{last_error}, 'delivery failed: 131026 Message undeliverable (Receiver is incapable of receiving this message)',
	'last_error names the code, title and details');
is($row->{delivery_error}[0]{code}, 131026, 'delivery_error keeps the error object');
post_ok($fail, 'the same failure again');
post_ok(gbnw_meta_status_body($S, 'read'), 'a read after the failure');
my $ev = gbn_case_events($node, $GuestbookNotify::CASE_SRT001, 'notification_failed');
is(scalar @$ev, 1, "case_events 'notification_failed' written once");
like($ev->[0]{details}{error} // '', qr/131026/, '  naming 131026');
is($ev->[0]{details}{provider_message_id}, $S, '  and the message id');
is(row_of($S)->{delivery_status}, 'failed', 'failed is final');

# --- a status before the worker has recorded the id ------------------------------------------
my $early_num = '6281355500001';
my $op = gbn_add_operator($node, 'Operator Early', $early_num);
gbn_add_case($node, 'EARLY1');
$mock->script(number => $early_num, responses => [ { kind => 'ok', wamid => 'wamid.EARLY.1' } ]);
post_ok(gbnw_meta_status_body('wamid.EARLY.1', 'delivered', timestamp => $t_del), 'a status for a message id not recorded yet');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_parked_statuses WHERE provider_message_id = 'wamid.EARLY.1'"),
	1, 'it is parked');
post_ok(gbnw_meta_status_body('wamid.EARLY.1', 'delivered', timestamp => $t_del), 'and again (a retry)');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_parked_statuses"), 1, 'parked once');
my $eid = gbn_assign($node, 'EARLY1', $op);
gbn_wait_status($node, $eid, 'sent', 30);
my $erow = gbn_queue_row($node, $eid);
is($erow->{provider_message_id}, 'wamid.EARLY.1', 'the worker recorded that id');
is($erow->{delivery_status}, 'delivered', 'and the parked status was applied at once');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_parked_statuses"), 0, 'nothing left parked');

# the race: the status is stored while the transaction that records the id is still open
my $race_num = '6281355500002';
my $rid = $node->safe_psql('postgres', "SELECT guestbook_notify.enqueue('assigned', '$race_num')");
gbn_wait_status($node, $rid, 'sent', 30);
my $bg = $node->background_psql('postgres');
$bg->query_safe("BEGIN");
$bg->query_safe("UPDATE guestbook_notify.notification_queue SET provider_message_id = 'wamid.RACE.1' WHERE id = '$rid'");
post_ok(gbnw_meta_status_body('wamid.RACE.1', 'read', timestamp => $t_del), 'a status while the id is being recorded');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_parked_statuses WHERE provider_message_id = 'wamid.RACE.1'"),
	1, 'parked (the id is not committed yet)');
$bg->query_safe("COMMIT");
ok(gbn_wait_until($node, "SELECT delivery_status FROM guestbook_notify.notification_queue WHERE id = '$rid'",
	'read', 10, 'the raced status applied'), 'the maintenance applies it once the id is committed');
ok($web->wait_log(qr/maintenance: .*"parked_applied": 1/, 5), '  (the log says so)');

# --- the database stopped, then the replay -------------------------------------------------
my $replay = gbnw_meta_status_body($L, 'read', timestamp => $t_del + 10);
my $D = sent_wamid(gbn_assign($node, 'ABC123', $GuestbookNotify::SARI));
my $down_body = gbnw_meta_status_body($D, 'delivered');
my $off = $web->log_offset;
$node->stop('fast');
my $r = $web->post_meta($down_body);
is($r->{status}, 503, 'database stopped: 503');
is($r->{headers}{'retry-after'}, '10', '  with Retry-After');
$r = $web->request(path => '/healthz');
is($r->{status}, 503, '/healthz: 503');
like($r->{body}, qr/"database":"unreachable"/, '  database unreachable');
ok($web->wait_log(qr/not stored: database unreachable; answered 503/, 5, $off), 'the log says nothing was stored');
ok($web->alive, 'the daemon keeps running');
$node->start;
my $deadline = time() + 20;
my $st = 0;
while (time() < $deadline)
{
	$st = $web->post_meta($down_body)->{status};    # Meta retries
	last if $st == 200;
	usleep(300_000);
}
is($st, 200, 'database back: the replayed webhook is answered 200');
is(row_of($D)->{delivery_status}, 'delivered', 'and applied');
ok($web->wait_log(qr/database reachable again/, 5, $off), 'the log says the database is reachable again');
is($web->request(path => '/healthz')->{status}, 200, '/healthz: 200 again');
gbn_wait_worker($node, 30);

# --- applying fails (a lock held too long): kept with its error, retried ----------------------
my $E = sent_wamid(gbn_assign($node, 'SRT001', $GuestbookNotify::BUDI));
$bg = $node->background_psql('postgres');
$bg->query_safe("BEGIN");
$bg->query_safe("SELECT 1 FROM guestbook_notify.notification_queue WHERE provider_message_id = '$E' FOR UPDATE");
my $t0 = time();
post_ok(gbnw_meta_status_body($E, 'delivered'), 'a status whose row is locked by someone else');
cmp_ok(time() - $t0, '<', 3, '  answered without waiting for the lock (db_lock_timeout 500ms)');
my $ib = gbn_query_row($node, "SELECT * FROM guestbook_notify.webhook_inbox ORDER BY id DESC LIMIT 1");
is($ib->{state}, 'error', 'the inbox row is kept, state error');
like($ib->{error}, qr/lock/, '  with the error');
ok(defined $ib->{next_attempt_at}, '  and a next attempt');
$bg->query_safe("COMMIT");
$bg->quit;
ok(gbn_wait_until($node, "SELECT state FROM guestbook_notify.webhook_inbox WHERE id = $ib->{id}", 'applied', 15),
	'the maintenance retries it: applied');
is(row_of($E)->{delivery_status}, 'delivered', 'the status is in the queue');
is(q1("SELECT attempts FROM guestbook_notify.webhook_inbox WHERE id = $ib->{id}"), 2, 'after 2 attempts');

# --- webhook_receive() fails as a whole (cancelled): stored by webhook_store() -----------------
my $web2 = GuestbookNotifyWeb->start($node, name => 'web2', meta_secret => $SECRET,
	conf => { db_lock_timeout => '20s', maintenance_interval => '1s' });
my $F = sent_wamid(gbn_assign($node, 'SRT001', $GuestbookNotify::SARI));
$bg = $node->background_psql('postgres');
$bg->query_safe("BEGIN");
$bg->query_safe("SELECT 1 FROM guestbook_notify.notification_queue WHERE provider_message_id = '$F' FOR UPDATE");
my $fb = gbnw_meta_status_body($F, 'read');
my $resfile = PostgreSQL::Test::Utils::tempdir() . '/post.status';
my $child = fork();
if ($child == 0)
{
	my $rr = $web2->post_meta($fb);
	open(my $fh, '>', $resfile);
	print $fh $rr->{status};
	close $fh;
	POSIX::_exit(0);
}
ok(gbn_wait_until($node,
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'guestbook_notify_web' AND wait_event_type = 'Lock'",
	'1', 10), "the daemon's statement waits for the lock");
q1("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'guestbook_notify_web' AND wait_event_type = 'Lock'");
waitpid($child, 0);
is(slurp_file($resfile), '200', 'cancelled mid-apply: still answered 200');
ok($web2->wait_log(qr/webhook_receive\(\) failed, storing the body to apply later: canceling statement due to user request \(SQLSTATE 57014\)/, 5),
	'the log says webhook_receive() was cancelled and it fell back to storing the body');
my ($fid) = $web2->log =~ /meta: webhook stored as inbox (\d+), to be applied later/;
ok(defined $fid, 'stored by webhook_store()');
$ib = gbn_query_row($node, "SELECT * FROM guestbook_notify.webhook_inbox WHERE id = " . ($fid // 0));
like($ib->{state} // '', qr/^(received|error)$/,
	"  state $ib->{state}: not applied yet (the maintenance may have tried, and met the lock)");
$bg->query_safe("COMMIT");
$bg->quit;
ok(gbn_wait_until($node, "SELECT state FROM guestbook_notify.webhook_inbox WHERE id = $ib->{id}", 'applied', 15),
	'the maintenance applies it');
is(row_of($F)->{delivery_status}, 'read', 'the status is in the queue');
$web2->stop;

# --- retention ----------------------------------------------------------------------------
q1("UPDATE guestbook_notify.webhook_inbox SET received_at = now() - interval '31 days' WHERE id <= 3");
q1("UPDATE guestbook_notify.webhook_inbox SET received_at = now() - interval '31 days', state = 'error',
	next_attempt_at = now() + interval '1 hour' WHERE id = 4");
ok(gbn_wait_until($node, "SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE id <= 3", '0', 10),
	'inbox rows older than inbox_retention (30 days) are deleted by the maintenance');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE id = 4"), 1, 'but not one still waiting for a try');

# --- the daemon's role can do nothing else --------------------------------------------------
my @denied = (
	'SELECT count(*) FROM guestbook_notify.notification_queue',
	'SELECT count(*) FROM guestbook_notify.notifications',
	'SELECT count(*) FROM guestbook_notify.webhook_inbox',
	"INSERT INTO guestbook_notify.webhook_inbox (source, body) VALUES ('meta', '\\x7b7d')",
	'DELETE FROM guestbook_notify.opt_outs',
	'SELECT count(*) FROM public.cases',
	"SELECT guestbook_notify.opt_out('081234567890')",
	"SELECT guestbook_notify.enqueue('assigned', '081234567890')",
	"SELECT guestbook_notify.resend('00000000-0000-0000-0000-000000000000')",
	"SELECT guestbook_notify.record_status('wamid.X', 'read')",
	"SELECT guestbook_notify.ingest_webhook('{\"entry\": []}')",
	'SELECT guestbook_notify.webhook_reapply(1)',
	"SELECT guestbook_notify._apply_status('wamid.X', 'read', now(), NULL)",
	'SELECT guestbook_notify._sending_blocked()',
	"SELECT guestbook_notify._webhook_apply(1, 'meta', '\\x7b7d')",
	'SELECT guestbook_notify.worker_status()',
	'CREATE TABLE public.gbnw_probe (x int)');
for my $sql (@denied)
{
	my ($ret, $o, $e) = $node->psql('postgres', $sql, extra_params => [ '-U', 'gbn_webhook' ]);
	ok($ret != 0 && $e =~ /permission denied/, "the daemon's role: $sql -> permission denied")
	  or diag("ret $ret: $e");
}
my ($ret, $o, $e) = $node->psql('postgres',
	"SELECT state FROM guestbook_notify.webhook_receive('meta', convert_to('{\"entry\": []}', 'UTF8'))",
	extra_params => [ '-U', 'gbn_webhook' ]);
is($o, 'applied', 'it may call webhook_receive()');

$web->stop;
$node->stop;
$mock->stop;
done_testing();
