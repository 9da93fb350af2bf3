
# Assign a case -> the operator's WhatsApp message is sent, with the whole
# audit; escalations reach the lead and the kadis; the request bodies
# (template mode, then text mode after a reload) match Meta's OpenAPI spec.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $mock = GuestbookNotify::Mock->start(token => 'token-010-good');
my $node = gbn_node('deliver', $mock);
gbn_install_app($node);

my $pid = gbn_wait_worker($node, 30);
ok(defined $pid, 'the worker runs (pg_stat_activity backend_type)');

# --- assign -> sent, with the audit ---------------------------------------
my $t0 = time();
my $id = gbn_assign($node, 'ABC123', $GuestbookNotify::BUDI);
ok(defined $id, 'assigning ABC123 to Budi enqueued a notification');
ok(gbn_wait_status($node, $id, 'sent', 30), 'the assignment notification is sent');
my $elapsed = time() - $t0;
cmp_ok($elapsed, '<', 10, sprintf('sent within 10 s of the assignment (%.3f s)', $elapsed));

my $reqs = $mock->requests(number => $GuestbookNotify::BUDI_NUMBER);
is(scalar @$reqs, 1, 'the mock received exactly one request for Budi');
my $r = $reqs->[0] // {};
is($r->{method}, 'POST', 'POST');
is($r->{path}, "/v23.0/$GuestbookNotify::PHONE_NUMBER_ID/messages",
	'path /<version>/<phone_number_id>/messages');
is($r->{auth}, 'ok', 'Authorization: Bearer <the configured token>');
like($r->{headers}{'content-type'} // '', qr{^application/json}i, 'Content-Type: application/json');
is($r->{response}{status}, 200, 'the mock answered 200');
my $wamid = $r->{response}{id};
like($wamid // '', qr/^wamid\./, 'the mock returned a wamid');

my $row = gbn_queue_row($node, $id);
is($row->{status}, 'sent', 'queue row status sent');
is($row->{provider}, 'cloud_api', 'queue row provider cloud_api');
is($row->{provider_message_id}, $wamid, 'queue row provider_message_id = the wamid the mock returned');
is($row->{to_number}, $GuestbookNotify::BUDI_NUMBER, 'queue row to_number normalised (628...)');
is($row->{attempt_count}, 1, 'one attempt');
ok(defined $row->{sent_at}, 'sent_at set');
ok(!defined $row->{last_error}, 'no last_error');
ok(!defined $row->{lease_until}, 'lease released');
like($row->{message_text}, qr/ABC123/, 'message_text names the case code');
like($row->{message_text}, qr{\Q$GuestbookNotify::APP_BASE_URL\E/admin/cases/\Q$GuestbookNotify::CASE_ABC123\E},
	'message_text carries the detail link');

my $att = gbn_attempts($node, $id);
is(scalar @$att, 1, 'one notification_attempts row');
is($att->[0]{outcome}, 'sent', 'attempt outcome sent');
is($att->[0]{http_status}, 200, 'attempt http_status 200');
is($att->[0]{provider_message_id}, $wamid, 'attempt provider_message_id = wamid');
is($att->[0]{attempt_no}, 1, 'attempt_no 1');
ok(defined $att->[0]{duration_ms} && $att->[0]{duration_ms} >= 0, 'attempt duration recorded');

my $ev = gbn_case_events($node, $GuestbookNotify::CASE_ABC123, 'contacted');
is(scalar @$ev, 1, "one case_events 'contacted' row");
my $d = $ev->[0]{details} // {};
is($d->{notification_id}, $id, 'contacted.details.notification_id');
is($d->{provider_message_id}, $wamid, 'contacted.details.provider_message_id');
is($d->{template}, 'assigned', 'contacted.details.template');

# --- the request body (template mode) --------------------------------------
my $b = $r->{body} // {};
is($b->{messaging_product}, 'whatsapp', 'body messaging_product');
is($b->{recipient_type}, 'individual', 'body recipient_type');
is($b->{to}, "+$GuestbookNotify::BUDI_NUMBER", 'body to = +62...');
is($b->{type}, 'template', 'template mode sends a template');
is($b->{template}{name}, $row->{template_name}, 'template name = the row snapshot');
is($b->{template}{language}{code}, $row->{template_language}, 'template language code');
is($b->{template}{language}{policy}, 'deterministic', 'template language policy deterministic');
my @params = map { $_->{text} }
  map { @{ $_->{parameters} // [] } }
  grep { ($_->{type} // '') eq 'body' } @{ $b->{template}{components} // [] };
is_deeply(\@params, $row->{template_args}, 'body parameters = template_args, in order');

# --- escalations ------------------------------------------------------------
my $lead = gbn_escalate($node, 'ABC123', 'lead');
ok(defined $lead, 'escalating to lead enqueued a notification');
ok(gbn_wait_status($node, $lead, 'sent', 30), 'the lead notification is sent');
my $lrow = gbn_queue_row($node, $lead);
is($lrow->{to_number}, $GuestbookNotify::LEAD_NUMBER,
	'lead: the unit has no lead, so the parent unit\'s (Kabid TIK)');
is($lrow->{recipient_role}, 'lead', 'recipient_role lead');
my $lreq = $mock->requests(number => $GuestbookNotify::LEAD_NUMBER);
is(scalar @$lreq, 1, 'the mock received one request for the lead');
is($lrow->{provider_message_id}, $lreq->[0]{response}{id}, 'lead row has the lead wamid');

my $kadis = gbn_escalate($node, 'ABC123', 'kadis');
ok(defined $kadis, 'escalating to kadis enqueued a notification');
ok(gbn_wait_status($node, $kadis, 'sent', 30), 'the kadis notification is sent');
my $krow = gbn_queue_row($node, $kadis);
is($krow->{to_number}, $GuestbookNotify::KADIS_NUMBER, 'kadis: the root unit\'s kadis');
is($krow->{recipient_role}, 'kadis', 'recipient_role kadis');
my $kreq = $mock->requests(number => $GuestbookNotify::KADIS_NUMBER);
is(scalar @$kreq, 1, 'the mock received one request for the kadis');
is($krow->{provider_message_id}, $kreq->[0]{response}{id}, 'kadis row has the kadis wamid');

$ev = gbn_case_events($node, $GuestbookNotify::CASE_ABC123, 'contacted');
is(scalar @$ev, 3, "three 'contacted' events for ABC123");
is($mock->stats->{requests}, 3, 'exactly three API requests in all (no duplicates)');

# --- text mode, after a reload ------------------------------------------------
gbn_set_conf($node, message_mode => 'text');
# the reload is asynchronous: wait until a backend sees it
gbn_wait_until($node, "SELECT current_setting('guestbook_notify.message_mode')", 'text', 10,
	'message_mode = text after reload');
my $sid = gbn_assign($node, 'SRT001', $GuestbookNotify::SARI);
ok(defined $sid, 'assigning SRT001 to Sari enqueued a notification');
ok(gbn_wait_status($node, $sid, 'sent', 30), 'the text-mode notification is sent');
my $srow = gbn_queue_row($node, $sid);
my $sreq = $mock->requests(number => $GuestbookNotify::SARI_NUMBER);
is(scalar @$sreq, 1, 'one request for Sari');
my $sb = $sreq->[0]{body} // {};
is($sb->{type}, 'text', 'text mode sends type text');
is($sb->{text}{body}, $srow->{message_text}, 'text.body is message_text, byte-exact');
is($sb->{recipient_type}, 'individual', 'text body recipient_type');

# --- OpenAPI: every request the mock received, in full --------------------------
# (method + path -> sendMessage, User-Agent, Authorization, Content-Type, body)
gbn_openapi_ok($mock, 'every request (3 template + 1 text) validates in full against Meta\'s OpenAPI spec',
	min => 4);

is(join(' ', gbn_worker_pids($node)), $pid, 'the same worker pid throughout');

$node->stop;
$mock->stop;
done_testing();
