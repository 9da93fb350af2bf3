
# Retention: finished rows (sent, failed, cancelled) older than
# guestbook_notify.retention leave the live queue for
# notification_queue_archive, in batches of archive_batch_size, moved by the
# worker every archive_interval; pending rows never move; the audit
# (notification_attempts, case_events) stays where it is. The archive is
# dumped by pg_dump (pg_extension_config_dump). archive_finished() does the
# same by hand.

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

my $mock = GuestbookNotify::Mock->start(token => 'token-160');
my $node = gbn_node('retention', $mock,
	settings => { recipient_interval => 0, retention => 0 });
gbn_install_app($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');

# a case notification, so case_events are involved
my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
ok(gbn_wait_status($node, $id, 'sent', 30), 'a case notification is sent');
$mock->script(number => gs_number(7), default => '#131026');    # permanent: failed
is(gs_enqueue($node, n => 300, recipients => 300), 300, '300 more rows');
ok(gs_wait_drained($node, 60), 'all sent (or failed)');
my $opt = $node->safe_psql('postgres', "SELECT guestbook_notify.enqueue('assigned', '" . gs_number(5000)
	  . "', NULL, '{}', 'safety:9001', now() + interval '1 day')");
$node->safe_psql('postgres', "SELECT guestbook_notify.cancel('$opt')");
my $later = $node->safe_psql('postgres', "SELECT guestbook_notify.enqueue('assigned', '" . gs_number(5001)
	  . "', NULL, '{}', 'safety:9002', now() + interval '1 day')");
my $counts = "SELECT status, count(*) AS n FROM guestbook_notify.notification_queue GROUP BY 1 ORDER BY 1";
note('live queue before: ' . gs_fmt(gbn_sql_json($node, $counts)));
my $attempts_before = $node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.notification_attempts');
my $events_before = $node->safe_psql('postgres', 'SELECT count(*) FROM public.case_events');

# retention 0 = keep forever: nothing moves
usleep(1_500_000);
is($node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.notification_queue_archive'), '0',
	'retention = 0: nothing is archived');

# by hand, in batches
my $moved = $node->safe_psql('postgres',
	"SELECT guestbook_notify.archive_finished(interval '0 s', 100)");
is($moved, '100', 'archive_finished(0 s, 100) moves one batch of 100');

# the worker: retention 1 s, checked every second, 50 rows per batch
gbn_set_conf($node, retention => '1s', archive_interval => '1s', archive_batch_size => 50);
ok(gbn_wait_until($node,
		"SELECT count(*) FROM guestbook_notify.notification_queue WHERE status <> 'pending'", '0', 60,
		'the finished rows leave the live queue'), 'the worker archives every finished row');
is($node->safe_psql('postgres', "SELECT count(*) FROM guestbook_notify.notification_queue"), '1',
	'only the pending row stays in the live queue');
is($node->safe_psql('postgres', "SELECT status FROM guestbook_notify.notification_queue"), 'pending',
	'a pending row is never archived');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.notification_queue_archive'), '302',
	'301 finished rows + the cancelled one are in the archive');
my $lost = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM generate_series(1, 300) g
	 WHERE NOT EXISTS (SELECT 1 FROM guestbook_notify.notification_queue_archive a WHERE a.dedupe_key = 'safety:' || g)});
is($lost, '0', 'every archived row is found in the archive');
is($node->safe_psql('postgres', "SELECT count(*) FROM guestbook_notify.notification_queue_archive WHERE id = '$id' "
		  . "AND status = 'sent' AND provider_message_id LIKE 'wamid.%'"), '1',
	'the archived case notification keeps its columns');
is($node->safe_psql('postgres', 'SELECT count(*) FROM guestbook_notify.notification_attempts'), $attempts_before,
	'notification_attempts are kept');
is($node->safe_psql('postgres', 'SELECT count(*) FROM public.case_events'), $events_before,
	'case_events are kept');
like(slurp_file($node->logfile), qr/archived \d+ finished notification/, 'the worker logs what it archived');

my $ext = $node->safe_psql('postgres', qq{
	SELECT 'guestbook_notify.notification_queue_archive'::regclass = ANY (extconfig)
	  FROM pg_extension WHERE extname = 'guestbook_notify'});
is($ext, 't', 'the archive is registered with pg_extension_config_dump');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.archive_finished(interval '-1 day', 10)");
like($err, qr/must not be negative|must be/, 'a negative age is an error');
($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.archive_finished(interval '1 day', 0)");
like($err, qr/batch size/, 'a zero batch size is an error');

# the admin page still shows archived rows through notifications_archive? it
# shows the live queue; the archive is queried directly
note('live queue after: ' . gs_fmt(gbn_sql_json($node, $counts)));

$node->stop('fast');
gbn_openapi_ok($mock);
$mock->stop;
done_testing();
