
# Replies, resend() and WAHA through guestbook_notify_web, with the real
# worker and the mock API:
#  - STOP / BERHENTI (text, any case, trimmed; a quick-reply button) opt the
#    number out, cancel what has not left and queue a confirmation (free
#    text); MULAI / START opt it back in, confirmed; other messages are only
#    stored; a repeated message is applied once;
#  - resend(): a message accepted and failed later is sent again as a new
#    row linked to the old one, which stays as it was;
#  - WAHA: message.ack mapped to statuses (-1 failed, 1 sent, 2 delivered,
#    3 and 4 read) end to end with the mock posting acks, HMAC-SHA512,
#    dedupe on the event id, replies, and session.status FAILED /
#    SCAN_QR_CODE blocking sending (_sending_blocked()) until WORKING.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GuestbookNotifyWeb;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $SECRET = 'meta-secret-240';
my $WKEY = 'waha-hmac-240';
my $mock = GuestbookNotify::Mock->start(token => 'token-240', waha_key => 'waha-api-key-240');
my $node = gbn_node('web_replies', $mock, settings => { recipient_interval => 0 });
gbn_install_app($node);
gbnw_setup_role($node);
ok(defined gbn_wait_worker($node, 30), 'the worker runs');
my $web = GuestbookNotifyWeb->start($node, meta_secret => $SECRET, waha_key => $WKEY,
	conf => { maintenance_interval => '1s', log_requests => 'on' });

sub q1 { return $node->safe_psql('postgres', $_[0]); }
sub post_ok
{
	my ($r, $what) = @_;
	is($r->{status}, 200, "$what: 200") or diag(explain $r);
}
my $BUDI = $GuestbookNotify::BUDI_NUMBER;
my $LEAD = $GuestbookNotify::LEAD_NUMBER;

# --- STOP ---------------------------------------------------------------------------
my @later = map {
	q1("SELECT guestbook_notify.enqueue('assigned', '0812-3456-7890', NULL, '{}', NULL, now() + interval '1 hour')")
} 1 .. 2;
is(q1("SELECT count(*) FROM guestbook_notify.notification_queue WHERE to_number = '$BUDI' AND status = 'pending'"),
	2, 'two messages to Budi wait to be sent');
post_ok($web->post_meta(gbnw_meta_text_body($BUDI, 'wamid.IN.STOP.1', "  stop \n", 'Budi Santoso')),
	'Budi replies "  stop \\n"');
my $oo = gbn_query_row($node, "SELECT * FROM guestbook_notify.opt_outs WHERE number = '$BUDI'");
ok(defined $oo, 'Budi is opted out');
is($oo->{reason}, 'replied "STOP" on WhatsApp (cloud_api)', '  with the reason');
is(q1("SELECT string_agg(status || ':' || coalesce(last_error, ''), ',') FROM guestbook_notify.notification_queue
	    WHERE id IN ('$later[0]', '$later[1]')"),
	'cancelled:recipient opted out,cancelled:recipient opted out', 'what had not left is cancelled');
my $in = gbn_query_row($node, "SELECT * FROM guestbook_notify.inbound_messages WHERE message_id = 'wamid.IN.STOP.1'");
is($in->{action}, 'opt_out', 'the reply is stored, action opt_out');
is($in->{profile_name}, 'Budi Santoso', '  with the profile name');
is($in->{from_number}, $BUDI, '  and the number');
my $conf = gbn_queue_row($node, $in->{reply_id});
is($conf->{template_key}, 'opt_out_confirm', 'a confirmation is queued');
is($conf->{send_as}, 'text', '  as free text (the reply opened the 24-hour window)');
like($conf->{message_text}, qr/tidak akan menerima notifikasi.*Balas MULAI/s, '  in Indonesian, saying how to undo it');
is($conf->{to_number}, $BUDI, '  to Budi');
ok(gbn_wait_status($node, $in->{reply_id}, 'sent', 5), 'the confirmation is sent');

post_ok($web->post_meta(gbnw_meta_text_body($BUDI, 'wamid.IN.STOP.1', "  stop \n", 'Budi Santoso')),
	'the same message again (Meta retries)');
is(q1("SELECT count(*) FROM guestbook_notify.inbound_messages WHERE message_id = 'wamid.IN.STOP.1'"), 1,
	'stored once');
is(q1("SELECT count(*) FROM guestbook_notify.notification_queue WHERE template_key = 'opt_out_confirm'"), 1,
	'one confirmation');
my $blocked = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
is(gbn_queue_row($node, $blocked)->{status}, 'cancelled', 'a new assignment to Budi is cancelled (opted out)');

post_ok($web->post_meta(gbnw_meta_button_body($LEAD, 'wamid.IN.BTN.1', 'BERHENTI', 'Berhenti')),
	'the lead taps a quick-reply button with payload BERHENTI');
ok(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$LEAD'") == 1, 'the lead is opted out');

for my $t ([ 'Stop please', 'wamid.IN.X1' ], [ 'Terima kasih, sudah saya terima', 'wamid.IN.X2' ], [ 'STOPP', 'wamid.IN.X3' ])
{
	post_ok($web->post_meta(gbnw_meta_text_body($GuestbookNotify::SARI_NUMBER, $t->[1], $t->[0])), "Sari writes \"$t->[0]\"");
}
is(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$GuestbookNotify::SARI_NUMBER'"), 0,
	'not a keyword as the whole message: Sari is not opted out');
is(q1("SELECT count(*) FROM guestbook_notify.inbound_messages WHERE from_number = '$GuestbookNotify::SARI_NUMBER' AND action IS NULL"),
	3, 'her messages are stored for the admin, nothing more');
is(q1("SELECT count(*) FROM guestbook_notify.notification_queue WHERE to_number = '$GuestbookNotify::SARI_NUMBER'"), 0,
	'and nothing is queued for her');

# --- MULAI ------------------------------------------------------------------------------
my $seq = $mock->last_seq;
post_ok($web->post_meta(gbnw_meta_text_body($BUDI, 'wamid.IN.MULAI.1', 'Mulai')), 'Budi replies "Mulai"');
is(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$BUDI'"), 0, 'Budi is opted in again');
$in = gbn_query_row($node, "SELECT * FROM guestbook_notify.inbound_messages WHERE message_id = 'wamid.IN.MULAI.1'");
is($in->{action}, 'opt_in', 'action opt_in');
ok(gbn_wait_status($node, $in->{reply_id}, 'sent', 30), 'the confirmation is sent');
my $req = $mock->requests(number => $BUDI, since => $seq);
ok(@$req >= 1 && ($req->[0]{body}{template}{name} // '') =~ /guestbook_opt_in_confirm/
	  || ($req->[0]{body}{text}{body} // '') =~ /aktif kembali/,
	'the mock received it (template guestbook_opt_in_confirm, or the text once the worker honours send_as)');
my $again = gbn_assign($node, 'SRT001', $GuestbookNotify::BUDI);
ok(gbn_wait_status($node, $again, 'sent', 30), 'a new assignment to Budi is sent again');
post_ok($web->post_meta(gbnw_meta_text_body($LEAD, 'wamid.IN.START.1', 'START')), 'the lead replies START');
is(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$LEAD'"), 0, 'the lead is opted in again');

# --- resend() ------------------------------------------------------------------------------
my $s = gbn_assign($node, 'SRT001', $GuestbookNotify::SARI);
ok(gbn_wait_status($node, $s, 'sent', 30), 'a message to Sari is sent');
my $wamid = gbn_queue_row($node, $s)->{provider_message_id};
post_ok($web->post_meta(gbnw_meta_status_body($wamid, 'failed', code => 131026)), 'and fails later (131026)');
my $cols = 'id, status, provider_message_id, delivery_status, last_error, attempt_count, sent_at, updated_at, message_text';
my $before = q1("SELECT row_to_json(t) FROM (SELECT $cols FROM guestbook_notify.notification_queue WHERE id = '$s') t");
my $att_before = q1("SELECT count(*) FROM guestbook_notify.notification_attempts WHERE notification_id = '$s'");
my $new = q1("SELECT guestbook_notify.resend('$s')");
like($new, qr/^[0-9a-f-]{36}$/, 'resend() returns the new row');
isnt($new, $s, '  a new id');
ok(gbn_wait_status($node, $new, 'sent', 30), 'the new row is sent');
my $nr = gbn_queue_row($node, $new);
is($nr->{resent_from}, $s, 'resent_from links it to the old row');
isnt($nr->{provider_message_id}, $wamid, 'with its own message id');
is(q1("SELECT message_text = (SELECT message_text FROM guestbook_notify.notification_queue WHERE id = '$s')
	     FROM guestbook_notify.notification_queue WHERE id = '$new'"), 't', 'the same text');
is(q1("SELECT row_to_json(t) FROM (SELECT $cols FROM guestbook_notify.notification_queue WHERE id = '$s') t"),
	$before, 'the old row stays as it was (status, id, delivery failure, last_error, updated_at)');
is(q1("SELECT count(*) FROM guestbook_notify.notification_attempts WHERE notification_id = '$s'"), $att_before,
	'  and its attempts');
my $ev = gbn_case_events($node, $GuestbookNotify::CASE_SRT001, 'notification_resent');
is(scalar @$ev, 1, "case_events 'notification_resent'");
is($ev->[0]{details}{resent_from}, $s, '  naming the old row');
is(scalar @{ gbn_case_events($node, $GuestbookNotify::CASE_SRT001, 'notification_failed') }, 1,
	"the old 'notification_failed' event is still the only one");
my ($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.resend('$s')");
is($out, $new, 'resend() again returns the same resend (a double click sends once)');
like($err, qr/already being resent/, '  with a NOTICE');
($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.resend('$new')");
like($err, qr/was not accepted and then reported failed.*HINT:  resend\(\) is for a late delivery failure/s,
	'resend() of a message that did not fail: an error with a hint');
($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.resend('00000000-0000-0000-0000-0000000000ff')");
like($err, qr/does not exist/, 'resend() of an unknown id: an error');
q1("SELECT guestbook_notify.opt_out('$GuestbookNotify::SARI_NUMBER')");
q1("UPDATE guestbook_notify.notification_queue SET delivery_status = 'failed' WHERE id = '$new'");
($ret, $out, $err) = $node->psql('postgres', "SELECT guestbook_notify.resend('$new')");
like($err, qr/opted out/, 'resend() to an opted-out number: an error');
q1("SELECT guestbook_notify.opt_in('$GuestbookNotify::SARI_NUMBER')");
q1("CREATE ROLE gbn_admin_240; GRANT USAGE ON SCHEMA guestbook_notify TO gbn_admin_240;
	GRANT EXECUTE ON FUNCTION guestbook_notify.resend(uuid) TO gbn_admin_240");
($ret, $out, $err) = $node->psql('postgres', "SET ROLE gbn_admin_240; SELECT guestbook_notify.resend('$new')");
like($out, qr/^[0-9a-f-]{36}$/, "the admin's role, with EXECUTE on resend(), resends") or diag($err);

# --- WAHA: acks end to end -------------------------------------------------------------------
gbn_set_conf($node, provider => 'waha', api_url => $mock->url, phone_number_id => 'default',
	access_token => $mock->waha_key);
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.provider')", 'waha', 10);
my ($X, $Y, $Z) = ('6281366600001', '6281366600002', '6281366600003');
$mock->http_json('POST', '/_mock/webhooks', {
	waha_url => $web->url . '/webhooks/waha', waha_hmac_key => $WKEY,
	scripts => {
		$X => [ { status => 'sent' }, { status => 'delivered', delay_ms => 100 }, { status => 'read', delay_ms => 100 } ],
		$Y => [ { status => 'sent' }, { status => 'failed', delay_ms => 100 } ],
		$Z => [ { status => 'delivered' }, { status => 'played', delay_ms => 100 } ] } });
my %id = map { $_ => q1("SELECT guestbook_notify.enqueue('assigned', '$_')") } ($X, $Y, $Z);
ok(gbn_wait_status($node, $id{$_}, 'sent', 30), "WAHA: sent to $_") for ($X, $Y, $Z);
like(gbn_queue_row($node, $id{$X})->{provider_message_id}, qr/^true_\Q$X\E\@c\.us_/, "WAHA's message id recorded");
for my $c ([ $X, 'read', 'acks 1, 2, 3 -> read' ], [ $Y, 'failed', 'acks 1, -1 -> failed' ],
	[ $Z, 'read', 'acks 2, 4 (played) -> read' ])
{
	ok(gbn_wait_until($node, "SELECT delivery_status FROM guestbook_notify.notification_queue WHERE id = '$id{$c->[0]}'",
		$c->[1], 20), "WAHA: $c->[2]");
}
my $ny = gbn_query_row($node, "SELECT * FROM guestbook_notify.notifications WHERE id = '$id{$Y}'");
ok($ny->{needs_attention}, 'WAHA: the failed ack makes the row need attention');
like($ny->{last_error}, qr/WAHA reported ack ERROR/, '  with a readable error');
is(scalar(grep { ($_->{http_status} // 0) == 200 }
		@{ $mock->http_json('GET', '/_mock/webhooks')->{posted} }), 7, 'WAHA: the 7 acks were answered 200');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE source = 'waha' AND state = 'applied' AND event_id LIKE 'evt_%'"),
	7, '  stored with their event ids and applied');

# dedupe on the event id
my $dup = gbnw_waha_event('message.ack', { id => gbn_queue_row($node, $id{$X})->{provider_message_id},
	fromMe => JSON::PP::true, ack => 2, ackName => 'DEVICE' }, id => 'evt_240_DUP');
post_ok($web->post_waha($dup), 'WAHA: an event');
post_ok($web->post_waha($dup), 'WAHA: the same event again (WAHA retries)');
is(q1("SELECT count(*) FROM guestbook_notify.webhook_inbox WHERE event_id = 'evt_240_DUP'"), 1, 'stored once');
like($web->log, qr/waha: webhook message\.ack \(\d+ bytes\) inbox \d+ duplicate event already received/,
	'the second is logged as a duplicate');

# replies over WAHA
post_ok($web->post_waha(gbnw_waha_event('message', { id => "false_$Z\@c.us_AAA1", from => "$Z\@c.us",
	fromMe => JSON::PP::false, body => 'Berhenti', timestamp => int(time()), hasMedia => JSON::PP::false })),
	'WAHA: a message "Berhenti"');
is(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$Z'"), 1, 'opts the number out');
post_ok($web->post_waha(gbnw_waha_event('message', { id => "true_$X\@c.us_OWN1", from => "6281100000000\@c.us",
	fromMe => JSON::PP::true, body => 'STOP' })), 'WAHA: our own message "STOP" (fromMe)');
is(q1("SELECT count(*) FROM guestbook_notify.inbound_messages WHERE message_id = 'true_$X\@c.us_OWN1'"), 0,
	'is ignored');
post_ok($web->post_waha(gbnw_waha_event('message', { id => "false_$Z\@c.us_AAA2", from => "$Z\@c.us",
	fromMe => JSON::PP::false, body => 'MULAI' })), 'WAHA: "MULAI"');
is(q1("SELECT count(*) FROM guestbook_notify.opt_outs WHERE number = '$Z'"), 0, 'opts it back in');

# --- WAHA session.status: pause and resume ------------------------------------------------------
sub blocked { return q1('SELECT guestbook_notify._sending_blocked()'); }
is(blocked(), '', '_sending_blocked(): NULL while nothing is reported');
my $T = int(time() * 1000);
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'FAILED' }, timestamp => $T)),
	'session.status FAILED');
like(blocked(), qr/^WAHA session "default" FAILED at .*: restart the session in WAHA$/, '  blocks sending, with the reason');
my $held = q1("SELECT guestbook_notify.enqueue('assigned', '6281366600009')");
ok(!gbn_wait_status($node, $held, 'sent', 3), '  nothing is sent meanwhile');
my $ws = gbn_worker_status($node) // [];
like($ws->[0]{paused_reason} // '', qr/FAILED/, '  worker_status() shows the reason');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'SCAN_QR_CODE' }, timestamp => $T + 1000)),
	'session.status SCAN_QR_CODE');
like(blocked(), qr/logged out \(SCAN_QR_CODE since .*\): scan the QR code in WAHA/, '  blocks, asking for the QR code');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'WORKING' }, timestamp => $T - 60000)),
	'an older WORKING arriving late');
like(blocked(), qr/SCAN_QR_CODE/, '  changes nothing');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'STARTING' }, timestamp => $T + 2000)),
	'STARTING');
like(blocked(), qr/SCAN_QR_CODE/, '  is still blocked');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'FAILED' }, session => 'other', timestamp => $T + 2500)),
	'another session FAILED');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'WORKING' }, timestamp => $T + 3000)),
	'WORKING');
is(blocked(), '', '  resumes (the other session is not the one we send through)');
post_ok($web->post_waha(gbnw_waha_event('session.status', { status => 'FAILED' }, timestamp => $T + 4000)),
	'FAILED again');
gbn_set_conf($node, provider => 'cloud_api', api_url => $mock->url . '/v23.0',
	phone_number_id => $GuestbookNotify::PHONE_NUMBER_ID, access_token => $mock->token);
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.provider')", 'cloud_api', 10);
is(blocked(), '', 'a WAHA session does not block the Cloud API');
is(q1("SELECT string_agg(session || '=' || status, ',' ORDER BY session) FROM guestbook_notify.provider_sessions"),
	'default=FAILED,other=FAILED', 'provider_sessions keeps the last status of each session');

$web->stop;
$node->stop;
$mock->stop;
done_testing();
