
# The Notifications page (issue 13), served by the real guestbook_notify_web
# on its own listener against a real cluster: login as PostgreSQL roles
# (scram-sha-256 in pg_hba.conf), what the grants allow, the CSRF token and
# the Origin check, each action and who did it, bulk by ids and by filter,
# CSV (BOM, formula cells), masking, an XSS attempt in visitor text, the
# security headers, keyset pagination, throttling, session timeouts, and
# the webhook listener still answering beside it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../lib";
use GuestbookNotify;
use GuestbookNotifyWeb;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# no worker serves this database: the rows stay as the test leaves them
my $node = gbn_node('page', undef, settings => { database_name => 'page_no_worker_here' });
gbn_install_app($node);
gbnw_setup_role($node);

# the roles of the README ("Roles of the page"), with passwords, asked for
# by pg_hba.conf (the daemon refuses a login the server did not ask a
# password for)
$node->safe_psql('postgres', q{
	SET password_encryption = 'scram-sha-256';
	CREATE ROLE guestbook_viewer NOLOGIN;
	GRANT USAGE ON SCHEMA guestbook_notify TO guestbook_viewer;
	GRANT EXECUTE ON FUNCTION guestbook_notify.page_status(), guestbook_notify.page_counts(jsonb, integer, text),
	      guestbook_notify.page_list(text, jsonb, timestamptz, uuid, integer),
	      guestbook_notify.page_overdue(integer), guestbook_notify.page_detail(uuid),
	      guestbook_notify.page_opt_outs(), guestbook_notify.page_templates()
	      TO guestbook_viewer;
	CREATE ROLE guestbook_admin NOLOGIN IN ROLE guestbook_viewer;
	GRANT EXECUTE ON FUNCTION guestbook_notify.page_detail_unmasked(uuid),
	      guestbook_notify.page_act(text, uuid[], text, jsonb),
	      guestbook_notify.page_opt_in(text) TO guestbook_admin;
	CREATE ROLE siti LOGIN PASSWORD 'siti-pass-260' IN ROLE guestbook_admin;
	CREATE ROLE rudi LOGIN PASSWORD 'rudi-pass-260' IN ROLE guestbook_viewer;
	CREATE ROLE tamu LOGIN PASSWORD 'tamu-pass-260';
	CREATE ROLE root_like LOGIN SUPERUSER PASSWORD 'root-pass-260';
	CREATE ROLE dewi LOGIN PASSWORD 'dewi-pass-260' IN ROLE guestbook_admin;
	CREATE ROLE wati LOGIN IN ROLE guestbook_viewer;
});
my $hba = $node->data_dir . '/pg_hba.conf';
my $old = slurp_file($hba);
open(my $fh, '>', $hba) or die $!;
# wati: for the trusted header (no password; a real setup uses peer with a
# pg_ident.conf map naming the roles the daemon's OS user may become)
print $fh "local all siti,rudi,tamu,root_like,dewi scram-sha-256\nlocal all wati trust\n$old";
close $fh;
$node->reload;

# rows: failed to send, failed after sending (131026), waiting (later, so
# the worker leaves them), with a visitor's markup in the case and the text
my $XSS = '<script>alert("xss")</script><img src=x onerror=alert(1)>';
sub enqueue
{
	my ($code, $number, %o) = @_;
	my $params = gbnw_json({ case_code => $code, recipient_name => $o{name} // 'Budi Santoso',
		summary => "Nama: $XSS\nNIP/NIK: 3201234567890123" });
	return $node->safe_psql('postgres', sprintf(
		"SELECT guestbook_notify.enqueue('assigned', %s, NULL, %s::jsonb, scheduled_at => now() + interval '1 day')",
		gbn_sql_quote($number), gbn_sql_quote($params)));
}
my $failed = enqueue('FAIL01', '0812-3456-7001');
my $late = enqueue('LATE01', '0812-3456-7002');
my $wait1 = enqueue('WAIT01', '0812-3456-7003');
my $wait2 = enqueue('WAIT02', '0812-3456-7004');
my $wait3 = enqueue('WAIT03', '0812-3456-7005');
my $xssrow = enqueue($XSS, '0812-3456-7006', name => $XSS);
my $formula = enqueue('=HYPERLINK("http://evil.example","x")', '0812-3456-7007', name => '+62 trick');
my $minus = enqueue('-2+3', '0812-3456-7008', name => '@SUM(A1)');
$node->safe_psql('postgres', qq{
	UPDATE guestbook_notify.notification_queue SET status = 'failed', attempt_count = 3,
	       last_error = 'HTTP 500' WHERE id = '$failed';
	UPDATE guestbook_notify.notification_queue SET status = 'sent', sent_at = now(), attempt_count = 1,
	       delivery_status = 'failed', delivery_status_at = now(), last_error = 'delivery failed: 131026',
	       delivery_error = '{"code": 131026, "title": "Message undeliverable", "details": "Receiver is incapable"}'
	 WHERE id = '$late';
});

my $web = GuestbookNotifyWeb->start($node, meta_secret => 'meta-secret-260',
	conf => { admin_listen => '127.0.0.1:0',
		admin_conninfo => sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port),
		app_case_url => 'https://guestbook.example.go.id/admin/cases/{case_id}' });
ok($web->wait_log(qr/Notifications page on 127\.0\.0\.1:(\d+) /, 10), 'the page listens');
my ($APORT) = $web->log =~ /Notifications page on 127\.0\.0\.1:(\d+) /;
my $ORIGIN = "http://127.0.0.1:$APORT";

# ---- a small browser: cookies, forms ----
sub page
{
	my ($w, $port, %o) = @_;
	local $w->{port} = $port;
	my %h = %{ $o{headers} // {} };
	$h{Cookie} = $o{cookie} if defined $o{cookie};
	return $w->request(method => $o{method} // (defined $o{form} ? 'POST' : 'GET'),
		path => $o{path}, headers => \%h, body => $o{form});
}
sub enc
{
	my ($s) = @_;
	$s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord($1))/ge;
	return $s;
}
sub form { my @kv = @_; my @p; while (@kv) { my ($k, $v) = splice(@kv, 0, 2); push @p, enc($k) . '=' . enc($v); } return join('&', @p); }
sub login
{
	my ($w, $port, $role, $pass) = @_;
	my $r = page($w, $port, path => '/login', form => form(role => $role, password => $pass),
		headers => { Origin => "http://127.0.0.1:$port" });
	my ($cookie) = ($r->{headers}{'set-cookie'} // '') =~ /^(gbn_session=[^;]+)/;
	return ($r, $cookie);
}
sub csrf_of { my ($html) = @_; my ($t) = $html =~ /name="csrf" value="([^"]+)"/; return $t; }
sub get { my ($cookie, $path) = @_; return page($web, $APORT, path => $path, cookie => $cookie); }
sub post
{
	my ($cookie, $path, $body, %h) = @_;
	return page($web, $APORT, path => $path, cookie => $cookie, form => $body,
		headers => { Origin => $ORIGIN, %h });
}
sub row_of { return gbn_queue_row($node, $_[0]); }

# ---- the headers and the login ----
my $r = page($web, $APORT, path => '/');
is($r->{status}, 303, 'GET / without a session: 303');
is($r->{headers}{location}, '/login', '  to /login');
$r = page($web, $APORT, path => '/login');
is($r->{status}, 200, 'the login page');
like($r->{body}, qr/<form id="login-form" method="post" action="\/login">/, '  the login form');
like($r->{body}, qr/name="role"/, '  input role');
like($r->{body}, qr/name="password" type="password"/, '  input password');
like($r->{headers}{'content-security-policy'} // '', qr/default-src 'self'/, "CSP default-src 'self'");
like($r->{headers}{'content-security-policy'} // '', qr/frame-ancestors 'none'/, "CSP frame-ancestors 'none'");
is($r->{headers}{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options: nosniff');
is($r->{headers}{'referrer-policy'}, 'same-origin', 'Referrer-Policy');
is($r->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options: DENY');
unlike($r->{body}, qr/<script>|<style>|style=|onclick=/i, 'no inline script or style');

($r, my $none) = login($web, $APORT, 'siti', 'wrong password');
is($r->{status}, 401, 'a wrong password: 401');
like($r->{body}, qr/id="login-error"[^>]*>Peran atau kata sandi salah\./, '  one message for a wrong role or password');
ok(!defined $none, '  no session cookie');
($r) = login($web, $APORT, 'nobody_here', 'x');
is($r->{status}, 401, 'an unknown role: 401, the same message');
($r) = login($web, $APORT, 'tamu', 'tamu-pass-260');
is($r->{status}, 403, 'a role without grants: 403');
like($r->{body}, qr/tidak punya akses/, '  "no access"');
($r) = login($web, $APORT, 'root_like', 'root-pass-260');
is($r->{status}, 403, 'a superuser: refused');
$r = page($web, $APORT, path => '/login', form => form(role => 'siti', password => 'siti-pass-260'));
is($r->{status}, 403, 'a login POST without Origin or Referer: 403');
$r = page($web, $APORT, path => '/login', form => form(role => 'siti', password => 'siti-pass-260'),
	headers => { Origin => 'http://evil.example' });
is($r->{status}, 403, 'a login POST from another origin: 403');

($r, my $admin) = login($web, $APORT, 'siti', 'siti-pass-260');
is($r->{status}, 303, 'the admin logs in: 303');
is($r->{headers}{location}, '/notifications', '  to the list');
like($r->{headers}{'set-cookie'} // '', qr/^gbn_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/,
	'  cookie HttpOnly, SameSite=Strict');
unlike($web->log, qr/siti-pass-260|root-pass-260|wrong password/, 'no password in the log');
like($web->log, qr/page: role "siti" logged in from 127\.0\.0\.1 \(may act\)/, 'the login is logged');

# ---- the list ----
$r = get($admin, '/notifications?tab=all');
is($r->{status}, 200, 'the list');
my $html = $r->{body};
like($html, qr/<table id="notifications">\n<caption>/, 'a table with a caption');
like($html, qr/<th scope="col">/, '  th scope');
for my $t ([attention => 'Perlu tindakan'], [pending => 'Menunggu'], [sending => 'Sedang dikirim'],
	[held => 'Ditahan'], [sent => 'Terkirim'], [delivered => 'Diterima'], [read => 'Dibaca'],
	[failed => 'Gagal'], [cancelled => 'Dibatalkan'], [overdue => 'Terlambat'])
{
	like($html, qr/<a data-tab="$t->[0]" href="[^"]*"[^>]*>\Q$t->[1]\E/, "tab $t->[0]: \"$t->[1]\"");
}
like($html, qr/data-tab="attention"[^>]*>Perlu tindakan <span class="count">2<\/span>/, 'Perlu tindakan counts 2');
like($html, qr/data-tab="failed"[^>]*>Gagal <span class="count">2<\/span>/, 'Gagal counts 2');
ok($html =~ /data-tab="attention"/ && $-[0] < index($html, 'data-tab="pending"'), 'Perlu tindakan comes first');
like($html, qr/id="worker-banner"/, 'the worker banner');
like($html, qr/id="queue-stats">Antrean: <strong>6<\/strong>/, 'the queue length (6 waiting)');
my @ids = $html =~ /<tr data-id="([0-9a-f-]{36})"/g;
is(scalar @ids, 8, 'eight rows');
like($html, qr/<tr data-id="$failed" data-status="failed">/, 'a failed row, data-status="failed"');
like($html, qr/62\*{7}7001/, 'numbers masked in the list');
(my $nolinks = $html) =~ s/href="https:\/\/wa\.me\/[^"]*"//g;
unlike($nolinks, qr/62812345670\d\d|Budi Santoso/, '  no full number or name in the list (but in the click-to-chat links)');
like($html, qr/B\*\*\* S\*\*\*/, '  names masked');
like($html, qr/class="wa-link"[^>]*href="https:\/\/wa\.me\/6281234567001\?text=%5BGUESTBOOK%5D/,
	'click-to-chat on a failed row, for the admin');
unlike($html, qr/<script>alert|<img src=x/, 'the XSS attempt is not markup');
like($html, qr/&lt;script&gt;alert\(&quot;xss&quot;\)&lt;\/script&gt;&lt;img src=x onerror=alert\(1\)&gt;/,
	'  it is shown escaped');
like($html, qr/<button type="submit" name="row_action" value="requeue:$failed">Antrekan lagi<\/button>/,
	'"Antrekan lagi" on the failed row');
like($html, qr/<button type="submit" name="row_action" value="resend:$late">Kirim ulang<\/button>/,
	'"Kirim ulang" on the row failed after sending');
like($html, qr/<button type="submit" name="row_action" value="cancel:$wait1">Batalkan<\/button>/,
	'"Batalkan" on a waiting row');

$r = get($admin, '/notifications?tab=failed&q=' . enc('7001'));
@ids = $r->{body} =~ /<tr data-id="([0-9a-f-]{36})"/g;
is_deeply(\@ids, [$failed], 'search by the number\'s last digits');
$r = get($admin, '/notifications?tab=all&q=wait');
@ids = $r->{body} =~ /<tr data-id="([0-9a-f-]{36})"/g;
is(scalar @ids, 3, 'search by case code prefix');
$r = get($admin, '/notifications?tab=all&role=lead');
like($r->{body}, qr/id="empty"/, 'filter by recipient role: none are lead');
$r = get($admin, '/notifications?tab=all&lang=en');
like($r->{body}, qr/data-tab="attention"[^>]*>Needs attention/, 'English with ?lang=en');
like($r->{headers}{'set-cookie'} // '', qr/^gbn_lang=en;/, '  kept in a cookie');
$r = page($web, $APORT, path => '/notifications', cookie => "$admin; gbn_lang=en");
like($r->{body}, qr/<html lang="en">/, '  the cookie chooses English');
$r = get($admin, '/notifications?tab=all&lang=id');

# ---- the detail ----
$r = get($admin, "/n/$late");
is($r->{status}, 200, 'the detail');
$html = $r->{body};
like($html, qr/<dd id="number">6281234567002<\/dd>/, 'the admin sees the number in full');
like($html, qr/Budi Santoso/, '  and the name');
like($html, qr/id="statuses".*131026<\/span> Message undeliverable &mdash; Receiver is incapable/s,
	'the delivery status with its code, title and details');
like($html, qr/id="attempts"/, 'the attempts section');
like($html, qr/id="case-events"/, 'the case events section');
like($html, qr/NIP\/NIK: 3201234567890123/, 'the message as sent');
unlike($html, qr/<script>alert/, '  escaped');
like($html, qr/<button type="submit" name="action" value="resend">Kirim ulang<\/button>/, '"Kirim ulang" on the detail');
like($html, qr/\d{1,2} (Jan|Feb|Mar|Apr|Mei|Jun|Jul|Agu|Sep|Okt|Nov|Des) \d{4} \d\d\.\d\d WIB/,
	'times as "25 Nov 2026 16.15 WIB"');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM guestbook_notify.page_actions WHERE actor = 'siti' AND action = 'view_unmasked' AND ids = ARRAY['$late']::uuid[]"),
	1, 'the full view is logged with who');
$r = get($admin, '/n/00000000-0000-0000-0000-000000000000');
is($r->{status}, 404, 'an unknown id: 404');
$r = get($admin, '/n/not-a-uuid');
is($r->{status}, 404, 'not a uuid: 404');

# ---- the viewer ----
($r, my $viewer) = login($web, $APORT, 'rudi', 'rudi-pass-260');
is($r->{status}, 303, 'the viewer logs in');
$r = get($viewer, '/notifications?tab=all');
is($r->{status}, 200, '  sees the list');
unlike($r->{body}, qr/Kirim ulang|Antrekan lagi|name="row_action"|class="wa-link"/, '  no action buttons, no click-to-chat');
$r = get($viewer, "/n/$late");
like($r->{body}, qr/<dd id="number">62\*{7}7002<\/dd>/, '  the detail masked for the viewer');
unlike($r->{body}, qr/Budi Santoso|3201234567890123/, '  no name, no NIK');
my $vcsrf = csrf_of($r->{body});
$r = post($viewer, '/act', form(csrf => $vcsrf, action => 'cancel', id => $wait1, return => '/notifications'));
is($r->{status}, 403, 'the viewer cannot act: 403');
is(row_of($wait1)->{status}, 'pending', '  the row did not change');

# ---- CSRF and Origin ----
$r = get($admin, '/notifications?tab=all');
my $csrf = csrf_of($r->{body});
ok(defined $csrf && length($csrf) == 43, 'a CSRF token in the forms');
$r = post($admin, '/act', form(action => 'cancel', id => $wait1));
is($r->{status}, 403, 'a POST without the CSRF token: 403');
$r = post($admin, '/act', form(csrf => 'x' x 43, action => 'cancel', id => $wait1));
is($r->{status}, 403, 'a wrong CSRF token: 403');
$r = post($admin, '/act', form(csrf => $csrf, action => 'cancel', id => $wait1), Origin => 'http://evil.example');
is($r->{status}, 403, 'another Origin: 403');
$r = page($web, $APORT, path => '/act', cookie => $admin, form => form(csrf => $csrf, action => 'cancel', id => $wait1));
is($r->{status}, 403, 'no Origin and no Referer: 403');
$r = page($web, $APORT, path => '/act', cookie => $admin,
	form => form(csrf => $vcsrf, action => 'cancel', id => $wait1), headers => { Origin => $ORIGIN });
is($r->{status}, 403, "another session's token: 403");
is(row_of($wait1)->{status}, 'pending', '  nothing changed');

# ---- actions, and who did them ----
$r = post($admin, '/act', form(csrf => $csrf, row_action => "requeue:$failed", return => '/notifications?tab=failed'));
is($r->{status}, 303, 'requeue: 303');
is($r->{headers}{location}, '/notifications?tab=failed', '  back where it came from');
my $row = row_of($failed);
is($row->{status}, 'pending', '  the failed row is pending again');
is($row->{attempt_count}, 0, '  its attempts counted from zero');
is($row->{last_error}, undef, '  its error cleared');
$r = get($admin, '/notifications?tab=failed');
like($r->{body}, qr/<p id="flash" role="status">Antrekan lagi: 1 berhasil/, '  the page says so');

$r = post($admin, '/act', form(csrf => $csrf, action => 'cancel', id => $wait1, return => "/n/$wait1"));
is($r->{status}, 303, 'cancel from the detail form');
$row = row_of($wait1);
is($row->{status}, 'cancelled', '  cancelled');
like($row->{last_error}, qr/^cancelled by siti/, '  by siti');

$r = post($admin, '/act', form(csrf => $csrf, action => 'resend', id => $late, return => "/n/$late"));
is($r->{status}, 303, 'resend ("Kirim ulang")');
my $new = $node->safe_psql('postgres', "SELECT id FROM guestbook_notify.notification_queue WHERE resent_from = '$late'");
like($new, qr/^[0-9a-f-]{36}$/, '  a new row sends the message again');
is(row_of($new)->{message_text}, row_of($late)->{message_text}, '  with the same text');
$r = get($admin, "/n/$late");
like($r->{body}, qr/<dd id="resends"><a class="resend" href="\/n\/$new">/, '  the detail links the new row');
unlike($r->{body}, qr/value="resend">Kirim ulang/, '  and offers no second resend');
like($r->{body}, qr/<td class="actor">siti<\/td><td data-action="resend">/, '  the action log names siti');
post($admin, '/act', form(csrf => $csrf, action => 'resend', id => $late));
is($node->safe_psql('postgres', "SELECT count(*) FROM guestbook_notify.notification_queue WHERE resent_from = '$late'"),
	1, 'a second resend (double click) sends once');

# bulk: selected rows
$r = post($admin, '/act', form(csrf => $csrf, action => 'cancel', id => $wait2, id => $wait3));
is($r->{status}, 303, 'bulk cancel of two selected rows');
is(row_of($wait2)->{status} . ',' . row_of($wait3)->{status}, 'cancelled,cancelled', '  both cancelled');
is($node->safe_psql('postgres',
	"SELECT actor || ' ' || action || ' ' || scope || ' ' || done FROM guestbook_notify.page_actions WHERE ids @> ARRAY['$wait2', '$wait3']::uuid[] AND action = 'cancel'"),
	'siti cancel ids 2', '  one log row: siti, cancel, by ids, 2 done');
$r = post($admin, '/act', form(csrf => $csrf, action => 'cancel'));
is($r->{status}, 303, 'nothing selected: back with a message');

# bulk: all matching a filter, after a confirmation
$r = get($admin, '/confirm?action=requeue&tab=cancelled&q=WAIT');
is($r->{status}, 200, 'the confirmation page');
like($r->{body}, qr/<strong id="confirm-count">3<\/strong>/, '  says how many: 3');
$r = post($admin, '/act', form(csrf => $csrf, action => 'requeue', scope => 'filter', tab => 'cancelled', q => 'WAIT'));
is($r->{status}, 400, 'all matching without confirm=yes: refused');
$r = post($admin, '/act', form(csrf => $csrf, action => 'requeue', scope => 'filter', confirm => 'yes',
	tab => 'cancelled', q => 'WAIT', return => '/notifications?tab=pending'));
is($r->{status}, 303, 'all matching, confirmed');
is($node->safe_psql('postgres',
	"SELECT string_agg(status, ',' ORDER BY template_params ->> 'case_code') FROM guestbook_notify.notification_queue WHERE id IN ('$wait1', '$wait2', '$wait3')"),
	'pending,pending,pending', '  the three are pending again');
is($node->safe_psql('postgres',
	"SELECT actor || ' ' || scope || ' ' || done || ' ' || (filter ->> 'tab') || ' ' || (filter ->> 'q') FROM guestbook_notify.page_actions WHERE action = 'requeue' AND scope = 'filter'"),
	'siti filter 3 cancelled WAIT', '  logged with the filter');

# ---- CSV ----
$r = get($admin, '/export.csv?tab=all');
is($r->{status}, 200, 'CSV export');
like($r->{headers}{'content-type'}, qr{^text/csv; charset=utf-8}, '  text/csv');
like($r->{headers}{'content-disposition'} // '', qr/attachment/, '  as an attachment');
is(substr($r->{body}, 0, 3), "\xEF\xBB\xBF", '  UTF-8 with a BOM');
like($r->{body}, qr/^\xEF\xBB\xBF"id","created_at","status"/, '  a header line');
like($r->{body}, qr/"'=HYPERLINK\(""http:\/\/evil\.example"",""x""\)"/, '  = made inert (and quotes doubled)');
like($r->{body}, qr/"'-2\+3"/, '  - made inert');
like($r->{body}, qr/"'\+6\*\*\* t\*\*\*"/, '  + made inert (a masked name)');
like($r->{body}, qr/"'\@S\*\*\*\(A\*\*\*\)"/, '  @ made inert (a masked name)');
unlike($r->{body}, qr/(^|,)"[=+\-\@]/m, '  no cell starts with = + - @');
unlike($r->{body}, qr/6281234567001|Budi Santoso|3201234567890123/, '  masked');
my @lines = split /\r\n/, $r->{body};
is(scalar @lines, 1 + 9, '  a line per row (8 + the resend) and the header');
$r = get($viewer, '/export.csv?tab=failed');
is($r->{status}, 200, 'the viewer may export too (masked)');
$r = page($web, $APORT, path => '/export.csv');
is($r->{status}, 403, 'no CSV without a session');

# ---- keyset pagination over 130 rows: no duplicate, no gap ----
$node->safe_psql('postgres', q{
	INSERT INTO guestbook_notify.notification_queue
		(to_number, recipient_name, recipient_role, template_key, message_text, template_params,
		 status, created_at, scheduled_at)
	SELECT '62812000' || lpad(i::text, 5, '0'), 'Operator ' || i, 'operator', 'assigned', 'pesan ' || i,
		   jsonb_build_object('case_code', 'PAGE' || i), 'cancelled',
		   -- ties in created_at: the id breaks them
		   '2026-01-01 00:00:00+00'::timestamptz + (i / 3) * interval '1 second', now()
	  FROM generate_series(1, 130) i;
});
my %seen;
my $dups = 0;
my $pages = 0;
my $path = '/notifications?tab=cancelled&q=page';
while (defined $path && $pages < 10)
{
	$r = get($admin, $path);
	$pages++;
	for my $id ($r->{body} =~ /<tr data-id="([0-9a-f-]{36})"/g)
	{
		$dups++ if $seen{$id}++;
	}
	my ($next) = $r->{body} =~ /<a id="next-page" rel="next" href="([^"]+)"/;
	($path = $next) =~ s/&amp;/&/g if defined $next;
	$path = undef unless defined $next;
}
is($pages, 3, 'three pages of 50');
is(scalar keys %seen, 130, 'every row once');
is($dups, 0, 'no duplicate');

# ---- opt-out list and opt-in ----
$node->safe_psql('postgres', "SELECT guestbook_notify.opt_out('0812-3456-7009', 'STOP')");
$r = get($admin, '/optouts');
like($r->{body}, qr/<tr data-number="6281234567009">/, 'the opt-out list');
$r = get($viewer, '/optouts');
like($r->{body}, qr/62\*{7}7009/, '  masked for the viewer');
unlike($r->{body}, qr/Izinkan lagi/, '  without opt-in');
$r = post($admin, '/optouts/optin', form(csrf => $csrf, number => '6281234567009'));
is($r->{status}, 303, 'opt-in');
is($node->safe_psql('postgres', "SELECT count(*) FROM guestbook_notify.opt_outs"), 0, '  the number may be messaged again');
is($node->safe_psql('postgres', "SELECT actor FROM guestbook_notify.page_actions WHERE action = 'opt_in'"),
	'siti', '  logged');

# a lead who opted out: prominent, in the banner and on the row
$node->safe_psql('postgres', "UPDATE guestbook_notify.notification_queue SET recipient_role = 'lead' WHERE id = '$minus'");
$node->safe_psql('postgres', "SELECT guestbook_notify.opt_out('0812-3456-7008', 'STOP')");
$r = get($admin, '/notifications?tab=cancelled');
like($r->{body}, qr/<p id="optout-warning"><strong>Kontak menolak notifikasi:<\/strong> 1 /,
	'a lead who opted out: "Kontak menolak notifikasi" in the banner');
like($r->{body}, qr/<tr data-id="$minus" data-status="cancelled">.*?Dibatalkan <strong class="optout">Kontak menolak notifikasi<\/strong>/,
	'  and on the cancelled row');

# ---- the overdue tab ----
$r = get($admin, '/notifications?tab=overdue');
is($r->{status}, 200, 'the "Terlambat" tab');
like($r->{body}, qr/<table id="overdue">\n<caption>/, '  its table');

# ---- the static script ----
$r = page($web, $APORT, path => '/static/refresh.js');
is($r->{status}, 200, 'the refresh script');
like($r->{body}, qr/30000/, '  every 30 s');
like($r->{body}, qr/aria-pressed/, '  with a pause toggle');

# ---- logout ----
$r = post($admin, '/logout', form(csrf => $csrf));
is($r->{status}, 303, 'logout');
like($r->{headers}{'set-cookie'} // '', qr/^gbn_session=; .*Max-Age=0/, '  the cookie cleared');
$r = get($admin, '/notifications');
is($r->{status}, 303, '  the old cookie no longer works');

# ---- the webhook listener beside it ----
$r = $web->request(method => 'GET', path => '/healthz');
is($r->{status}, 200, 'the webhook listener still answers /healthz');
$r = $web->request(method => 'GET', path => '/notifications');
is($r->{status}, 404, '  and does not serve the page');

# ---- throttling and session timeouts (a second daemon with short times) ----
my $web2 = GuestbookNotifyWeb->start($node, name => 'web2',
	conf => { admin_listen => '127.0.0.1:0',
		admin_conninfo => sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port),
		admin_session_idle => '2s', admin_session_max => '5s', admin_login_lockout => '3s',
		maintenance_interval => '1s' });
ok($web2->wait_log(qr/Notifications page on 127\.0\.0\.1:(\d+) /, 10), 'a second daemon');
my ($P2) = $web2->log =~ /Notifications page on 127\.0\.0\.1:(\d+) /;
for my $i (1 .. 5)
{
	($r) = login($web2, $P2, 'dewi', "bad $i");
}
is($r->{status}, 401, 'five wrong passwords');
($r, my $c2) = login($web2, $P2, 'dewi', 'dewi-pass-260');
is($r->{status}, 429, 'then even the right one: 429 (locked out)');
like($r->{body}, qr/Terlalu banyak percobaan gagal/, '  says why');
($r, $c2) = login($web2, $P2, 'siti', 'siti-pass-260');
is($r->{status}, 303, '  another role from the same address still logs in');
usleep(3_200_000);
($r, $c2) = login($web2, $P2, 'dewi', 'dewi-pass-260');
is($r->{status}, 303, 'after admin_login_lockout: the right password works');
$r = page($web2, $P2, path => '/notifications', cookie => $c2);
is($r->{status}, 200, 'the session works');
usleep(3_200_000);
$r = page($web2, $P2, path => '/notifications', cookie => $c2);
is($r->{status}, 303, 'idle longer than admin_session_idle: ended');
is($r->{headers}{location}, '/login?expired=1', '  to the login, "session ended"');
($r, $c2) = login($web2, $P2, 'dewi', 'dewi-pass-260');
for my $i (1 .. 8)
{
	usleep(1_000_000);
	$r = page($web2, $P2, path => '/notifications', cookie => $c2);
	last if $r->{status} != 200;
}
is($r->{status}, 303, 'active, but longer than admin_session_max: ended');
# ---- the trusted header (behind the app's proxy, loopback only) ----
my $web3 = GuestbookNotifyWeb->start($node, name => 'web3',
	conf => { admin_listen => '127.0.0.1:0',
		admin_conninfo => sprintf('host=%s port=%d dbname=postgres', $node->host, $node->port),
		admin_trusted_header => 'X-Remote-User' });
ok($web3->wait_log(qr/Notifications page on 127\.0\.0\.1:(\d+) /, 10), 'a daemon with admin_trusted_header');
my ($P3) = $web3->log =~ /Notifications page on 127\.0\.0\.1:(\d+) /;
$r = page($web3, $P3, path => '/notifications?tab=failed', headers => { 'X-Remote-User' => 'wati' });
is($r->{status}, 303, 'the header names a role: logged in');
is($r->{headers}{location}, '/notifications?tab=failed', '  back to the same page');
my ($c3) = ($r->{headers}{'set-cookie'} // '') =~ /^(gbn_session=[^;]+)/;
$r = page($web3, $P3, path => '/notifications?tab=failed', cookie => $c3, headers => { 'X-Remote-User' => 'wati' });
is($r->{status}, 200, '  the list');
like($r->{body}, qr/<strong id="who">wati<\/strong>/, '  as wati');
unlike($r->{body}, qr/name="row_action"/, '  a viewer: no actions');
$r = page($web3, $P3, path => '/notifications', cookie => $c3, headers => { 'X-Remote-User' => 'tamu' });
is($r->{status}, 403, 'another name on the same session: its own login (tamu: refused by pg_hba, no password)');
$r = page($web3, $P3, path => '/notifications', cookie => $c3);
is($r->{status}, 303, '  and the old session is gone');
$r = page($web3, $P3, path => '/notifications');
is($r->{status}, 303, 'without the header: the login form');
is($r->{headers}{location}, '/login', '  as usual');
like($web3->log, qr/page: role "wati" logged in by X-Remote-User from 127\.0\.0\.1 \(read only\)/,
	'the trusted login is logged');
$web3->stop;
$r = page($web2, $P2, path => '/notifications', headers => { 'X-Remote-User' => 'wati' });
is($r->{status}, 303, 'a daemon without admin_trusted_header ignores the header');
is($r->{headers}{location}, '/login', '  (the login form)');
$web2->stop;

# sessions close their connections: none left of the second daemon
ok(gbn_wait_until($node,
	"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'guestbook_notify_web page' AND usename = 'dewi'",
	'0', 10), 'its connections are closed');

$web->stop;
$node->stop;
done_testing();
