/*-------------------------------------------------------------------------
 *
 * test_web.c
 *		Unit checks of guestbook_notify_web's C parts, with known vectors;
 *		prints TAP (tests/t/200_web_unit.pl runs it under prove).
 *
 *	 - WAHA's documented HMAC-SHA512 vector (key "my-secret-key");
 *	 - a Meta X-Hub-Signature-256 computed with the openssl command line:
 *		 printf '%s' "$body" | openssl dgst -sha256 -hmac 'guestbook-app-secret-2026'
 *	 - RFC 4231 test case 2 (HMAC-SHA256 and -SHA512, key "Jefe");
 *	 - every kind of bad signature header; constant-time token comparison;
 *	 - the query-string, Content-Length, configuration, listen and secret-file
 *	   parsers, on good and bad input; WAHA's event id with json-c.
 *
 * src/web/test_web.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "admin.h"
#include "gbnw.h"

static int	n_tests = 0;
static int	n_failed = 0;

static void
ok(bool cond, const char *fmt,...)
	__attribute__((format(printf, 2, 3)));

static void
ok(bool cond, const char *fmt,...)
{
	va_list		ap;

	n_tests++;
	if (!cond)
		n_failed++;
	printf("%sok %d - ", cond ? "" : "not ", n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void
is_str(const char *got, const char *want, const char *name)
{
	bool		same = got != NULL && strcmp(got, want) == 0;

	ok(same, "%s", name);
	if (!same)
		printf("#   got:      %s\n#   expected: %s\n", got ? got : "(null)", want);
}

#define META_SECRET "guestbook-app-secret-2026"
static const char meta_body[] =
"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"102290129340398\",\"changes\":[{\"value\":"
"{\"messaging_product\":\"whatsapp\",\"metadata\":{\"display_phone_number\":\"15550783881\","
"\"phone_number_id\":\"106540352242922\"},\"statuses\":[{\"id\":\"wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjI1NjY1QzA0MTIwNjUA\","
"\"status\":\"delivered\",\"timestamp\":\"1750030073\",\"recipient_id\":\"6281234567890\"}]},"
"\"field\":\"messages\"}]}]}";
#define META_SIG "0bef45ae0c5d7a7564f7a7b0bac0ba5da9104135a7f24d59e31c07047c44f6a3"

#define WAHA_KEY "my-secret-key"
#define WAHA_BODY "{\"event\":\"message\",\"session\":\"default\",\"engine\":\"WEBJS\"}"
#define WAHA_SIG "208f8a55dde9e05519e898b10b89bf0d0b3b0fdf11fdbf09b6b90476301b98d8097c462b2b17a6ce93b6b47a136cf2e78a33a63f6752c2c1631777076153fa89"

static void
test_hmac(void)
{
	char		hex[129];
	const unsigned char *mb = (const unsigned char *) meta_body;
	size_t		ml = strlen(meta_body);
	const unsigned char *mk = (const unsigned char *) META_SECRET;
	size_t		mkl = strlen(META_SECRET);
	const unsigned char *wb = (const unsigned char *) WAHA_BODY;
	const unsigned char *wk = (const unsigned char *) WAHA_KEY;
	char		tampered[sizeof(meta_body)];
	char		upper[80];
	size_t		i;

	gbnw_hmac_hex(true, wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY), hex);
	is_str(hex, WAHA_SIG, "HMAC-SHA512: WAHA's documented test vector");
	gbnw_hmac_hex(false, mk, mkl, mb, ml, hex);
	is_str(hex, META_SIG, "HMAC-SHA256: a Meta status body signed with the openssl command line");
	gbnw_hmac_hex(false, (const unsigned char *) "Jefe", 4,
				  (const unsigned char *) "what do ya want for nothing?", 28, hex);
	is_str(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		   "HMAC-SHA256: RFC 4231 test case 2");
	gbnw_hmac_hex(true, (const unsigned char *) "Jefe", 4,
				  (const unsigned char *) "what do ya want for nothing?", 28, hex);
	is_str(hex, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
		   "HMAC-SHA512: RFC 4231 test case 2");

	/* Meta's header */
	ok(gbnw_check_meta_signature("sha256=" META_SIG, mk, mkl, mb, ml) == GBNW_SIG_OK,
	   "meta: the right sha256= signature is accepted");
	snprintf(upper, sizeof(upper), "sha256=%s", META_SIG);
	for (i = 7; upper[i]; i++)
		if (upper[i] >= 'a' && upper[i] <= 'f')
			upper[i] = (char) (upper[i] - 'a' + 'A');
	ok(gbnw_check_meta_signature(upper, mk, mkl, mb, ml) == GBNW_SIG_OK,
	   "meta: upper-case hex is the same signature");
	ok(gbnw_check_meta_signature("  sha256=" META_SIG " ", mk, mkl, mb, ml) == GBNW_SIG_OK,
	   "meta: white space around the header value is ignored");
	memcpy(tampered, meta_body, sizeof(meta_body));
	tampered[strlen(tampered) - 5] = '7';
	ok(gbnw_check_meta_signature("sha256=" META_SIG, mk, mkl, (const unsigned char *) tampered, ml) == GBNW_SIG_MISMATCH,
	   "meta: one byte of the body changed -> mismatch");
	ok(gbnw_check_meta_signature("sha256=" META_SIG, mk, mkl, mb, ml - 1) == GBNW_SIG_MISMATCH,
	   "meta: the body one byte shorter -> mismatch");
	ok(gbnw_check_meta_signature("sha256=" META_SIG, (const unsigned char *) "other", 5, mb, ml) == GBNW_SIG_MISMATCH,
	   "meta: another app secret -> mismatch");
	ok(gbnw_check_meta_signature(NULL, mk, mkl, mb, ml) == GBNW_SIG_MISSING, "meta: no header -> missing");
	ok(gbnw_check_meta_signature("", mk, mkl, mb, ml) == GBNW_SIG_MISSING, "meta: empty header -> missing");
	ok(gbnw_check_meta_signature("sha1=5bdcc146bf60754e6a042426089575c75a003f08", mk, mkl, mb, ml) == GBNW_SIG_WRONG_ALGORITHM,
	   "meta: sha1= (the legacy X-Hub-Signature form) -> wrong algorithm");
	ok(gbnw_check_meta_signature("sha512=" META_SIG, mk, mkl, mb, ml) == GBNW_SIG_WRONG_ALGORITHM,
	   "meta: sha512= -> wrong algorithm");
	ok(gbnw_check_meta_signature(META_SIG, mk, mkl, mb, ml) == GBNW_SIG_MALFORMED,
	   "meta: hex without sha256= -> malformed");
	ok(gbnw_check_meta_signature("sha256=" "0bef45ae", mk, mkl, mb, ml) == GBNW_SIG_MALFORMED,
	   "meta: too few hex digits -> malformed");
	ok(gbnw_check_meta_signature("sha256=" META_SIG "00", mk, mkl, mb, ml) == GBNW_SIG_MALFORMED,
	   "meta: too many hex digits -> malformed");
	ok(gbnw_check_meta_signature("sha256=zzef45ae0c5d7a7564f7a7b0bac0ba5da9104135a7f24d59e31c07047c44f6a3", mk, mkl, mb, ml) == GBNW_SIG_MALFORMED,
	   "meta: not hex -> malformed");
	ok(gbnw_check_meta_signature("sha256=", mk, mkl, mb, ml) == GBNW_SIG_MALFORMED,
	   "meta: sha256= and nothing -> malformed");

	/* WAHA's headers */
	ok(gbnw_check_waha_signature(WAHA_SIG, "sha512", wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_OK,
	   "waha: the documented vector with X-Webhook-Hmac-Algorithm: sha512");
	ok(gbnw_check_waha_signature(WAHA_SIG, NULL, wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_OK,
	   "waha: without the algorithm header");
	ok(gbnw_check_waha_signature(WAHA_SIG, "SHA512", wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_OK,
	   "waha: algorithm name in upper case");
	ok(gbnw_check_waha_signature(WAHA_SIG, "sha256", wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_WRONG_ALGORITHM,
	   "waha: X-Webhook-Hmac-Algorithm: sha256 -> wrong algorithm");
	ok(gbnw_check_waha_signature(META_SIG, "sha512", wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_MALFORMED,
	   "waha: a SHA-256-sized signature -> malformed");
	ok(gbnw_check_waha_signature(WAHA_SIG, "sha512", (const unsigned char *) "my-secret-kez", 13,
								 wb, strlen(WAHA_BODY)) == GBNW_SIG_MISMATCH,
	   "waha: another key -> mismatch");
	ok(gbnw_check_waha_signature(NULL, "sha512", wk, strlen(WAHA_KEY), wb, strlen(WAHA_BODY)) == GBNW_SIG_MISSING,
	   "waha: no X-Webhook-Hmac -> missing");

	/* tokens */
	ok(gbnw_token_equal((const unsigned char *) "verify-me", 9, (const unsigned char *) "verify-me", 9),
	   "token: equal");
	ok(!gbnw_token_equal((const unsigned char *) "verify-me", 9, (const unsigned char *) "verify-mf", 9),
	   "token: last byte differs");
	ok(!gbnw_token_equal((const unsigned char *) "verify", 6, (const unsigned char *) "verify-me", 9),
	   "token: a prefix is not equal");
	ok(!gbnw_token_equal((const unsigned char *) "", 0, (const unsigned char *) "verify-me", 9),
	   "token: empty is not equal");
	ok(!gbnw_token_equal(NULL, 0, (const unsigned char *) "x", 1), "token: NULL is not equal");
}

static void
test_query(void)
{
	GbnwQueryParam p[GBNW_QUERY_PARAMS];
	const GbnwQueryParam *v;
	int			n,
				c;
	char		longq[GBNW_QUERY_MAX + 10];
	char		many[400];
	size_t		i;

	{
		const char *q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=abc%20d%2Be+f";

		n = gbnw_parse_query(q, strlen(q), p, GBNW_QUERY_PARAMS);
	}
	ok(n == 3, "query: three parameters (%d)", n);
	v = gbnw_query_get(p, n, "hub.verify_token", &c);
	ok(v != NULL && c == 1 && strcmp(v->value, "abc d+e f") == 0 && v->value_len == 9,
	   "query: %%20 and + are spaces, %%2B is +");
	v = gbnw_query_get(p, n, "hub.challenge", &c);
	ok(v != NULL && strcmp(v->value, "1158201444") == 0, "query: the challenge");
	n = gbnw_parse_query("a=1&&a=2&b", 10, p, GBNW_QUERY_PARAMS);
	v = gbnw_query_get(p, n, "a", &c);
	ok(n == 3 && c == 2 && strcmp(v->value, "1") == 0, "query: empty pieces skipped, a repeated key counted");
	v = gbnw_query_get(p, n, "b", &c);
	ok(v != NULL && v->value_len == 0, "query: a key without = has an empty value");
	ok(gbnw_parse_query("", 0, p, GBNW_QUERY_PARAMS) == 0, "query: empty -> 0 parameters");
	ok(gbnw_parse_query("a=%zz", 5, p, GBNW_QUERY_PARAMS) < 0, "query: bad %% escape refused");
	ok(gbnw_parse_query("a=%4", 4, p, GBNW_QUERY_PARAMS) < 0, "query: truncated %% escape refused");
	ok(gbnw_parse_query("a=%", 3, p, GBNW_QUERY_PARAMS) < 0, "query: lone %% refused");
	ok(gbnw_parse_query("a=x%00y", 7, p, GBNW_QUERY_PARAMS) < 0, "query: %%00 refused");
	memset(longq, 'x', sizeof(longq));
	longq[0] = 'a';
	longq[1] = '=';
	ok(gbnw_parse_query(longq, GBNW_QUERY_MAX + 1, p, GBNW_QUERY_PARAMS) < 0,
	   "query: longer than %d bytes refused", GBNW_QUERY_MAX);
	ok(gbnw_parse_query(longq, GBNW_QUERY_VALUE + 3, p, GBNW_QUERY_PARAMS) < 0,
	   "query: a value longer than %d bytes refused", GBNW_QUERY_VALUE);
	ok(gbnw_parse_query(longq, GBNW_QUERY_VALUE + 2, p, GBNW_QUERY_PARAMS) == 1,
	   "query: a value of exactly %d bytes accepted", GBNW_QUERY_VALUE);
	many[0] = '\0';
	for (i = 0; i < GBNW_QUERY_PARAMS + 1; i++)
		strcat(many, "k=v&");
	ok(gbnw_parse_query(many, strlen(many), p, GBNW_QUERY_PARAMS) < 0,
	   "query: more than %d parameters refused", GBNW_QUERY_PARAMS);
	memset(longq, 'k', 100);
	longq[100] = '=';
	longq[101] = '1';
	ok(gbnw_parse_query(longq, 102, p, GBNW_QUERY_PARAMS) < 0, "query: a key longer than 63 bytes refused");
}

static void
test_small_parsers(void)
{
	uint64_t	n = 0;
	char		buf[64];
	int64_t		v;
	bool		b;
	char	   *id;
	char		event[32];
	char	   *deep;
	size_t		i;

	ok(gbnw_parse_content_length("3145728", &n) && n == 3145728, "Content-Length: digits");
	ok(gbnw_parse_content_length(" 12 ", &n) && n == 12, "Content-Length: spaces around");
	ok(!gbnw_parse_content_length("-1", &n), "Content-Length: negative refused");
	ok(!gbnw_parse_content_length("12a", &n), "Content-Length: trailing junk refused");
	ok(!gbnw_parse_content_length("", &n), "Content-Length: empty refused");
	ok(!gbnw_parse_content_length("99999999999999999999", &n), "Content-Length: 20 digits refused");
	ok(!gbnw_parse_content_length("1, 2", &n), "Content-Length: a list refused");

	gbnw_escape_for_log(buf, sizeof(buf), "a\nb\x01\xff\\", 6);
	is_str(buf, "a\\x0ab\\x01\\xff\\x5c", "log escape: control, non-ASCII and backslash as \\xNN");
	gbnw_escape_for_log(buf, 12, "0123456789abcdef", 16);
	ok(strlen(buf) < 12 && strstr(buf, "...") != NULL, "log escape: cut with ... to fit (%s)", buf);

	ok(gbnw_parse_time_ms("10s", "s", &v) && v == 10000, "time: 10s");
	ok(gbnw_parse_time_ms("250 ms", "s", &v) && v == 250, "time: 250 ms");
	ok(gbnw_parse_time_ms("30", "d", &v) && v == 30LL * 86400000, "time: a bare number in the key's unit");
	ok(gbnw_parse_time_ms("2min", "s", &v) && v == 120000, "time: 2min");
	ok(!gbnw_parse_time_ms("10 weeks", "s", &v), "time: unknown unit refused");
	ok(!gbnw_parse_time_ms("-1s", "s", &v), "time: negative refused");
	ok(!gbnw_parse_time_ms("1.5s", "s", &v), "time: fractions refused");
	ok(gbnw_parse_size("4MB", &v) && v == 4 * 1024 * 1024, "size: 4MB");
	ok(gbnw_parse_size("512 kB", &v) && v == 512 * 1024, "size: 512 kB");
	ok(gbnw_parse_size("100", &v) && v == 100, "size: bare bytes");
	ok(!gbnw_parse_size("4mb", &v), "size: units are case-sensitive (as PostgreSQL's)");
	ok(!gbnw_parse_size("99999999999999999999GB", &v), "size: overflow refused");
	ok(gbnw_parse_bool("on", &b) && b && gbnw_parse_bool("FALSE", &b) && !b, "bool: on, FALSE");
	ok(!gbnw_parse_bool("maybe", &b), "bool: maybe refused");

	{
		const char *b = "{\"id\":\"evt_01HZX\",\"event\":\"message.ack\",\"payload\":{}}";

		id = gbnw_waha_event_id((const unsigned char *) b, strlen(b), event, sizeof(event));
	}
	ok(id != NULL && strcmp(id, "evt_01HZX") == 0 && strcmp(event, "message.ack") == 0,
	   "waha event id and name read with json-c");
	free(id);
	ok(gbnw_waha_event_id((const unsigned char *) "{\"id\":7}", 8, event, sizeof(event)) == NULL,
	   "waha event id: a number is not an id");
	ok(gbnw_waha_event_id((const unsigned char *) "{\"id\":\"evt_1\"", 13, event, sizeof(event)) == NULL,
	   "waha event id: truncated JSON -> none");
	ok(gbnw_waha_event_id((const unsigned char *) "{\"id\":\"e\0vt\"}", 13, event, sizeof(event)) == NULL,
	   "waha event id: a NUL byte in the body -> none");
	ok(gbnw_waha_event_id((const unsigned char *) "[\"evt\"]", 7, event, sizeof(event)) == NULL,
	   "waha event id: not an object -> none");
	deep = malloc(200001);
	for (i = 0; i < 100000; i++)
		deep[i] = '[';
	for (; i < 200000; i++)
		deep[i] = ']';
	deep[200000] = '\0';
	ok(gbnw_waha_event_id((const unsigned char *) deep, 200000, event, sizeof(event)) == NULL,
	   "waha event id: 100,000 levels of nesting -> none (json-c depth limit %d), no crash", GBNW_JSON_DEPTH);
	free(deep);
}

static bool
parse(const char *text, GbnwConfig *cfg, char *err, size_t errlen)
{
	gbnw_config_free(cfg);
	gbnw_config_defaults(cfg);
	return gbnw_config_parse(text, strlen(text), "test.conf", cfg, err, errlen);
}

static void
test_config(void)
{
	GbnwConfig	cfg;
	char		err[600];
	bool		r;

	gbnw_config_defaults(&cfg);
	ok(strcmp(cfg.listen, "127.0.0.1:8088") == 0 && cfg.loopback, "config: listen defaults to 127.0.0.1:8088");
	r = parse("# a comment\n"
			  "listen = '[::1]:9000'   # trailing comment\n"
			  "conninfo = 'host=/run/postgresql dbname=guestbook user=guestbook_webhook'\n"
			  "META_APP_SECRET_FILE = '/etc/gbn/meta secret'\n"
			  "waha_hmac_key_file '/etc/gbn/waha'\n"
			  "\n"
			  "   max_body_size = 3MB\r\n"
			  "client_timeout = 5s\n"
			  "request_timeout = 1min\n"
			  "inbox_retention = 7d\n"
			  "threads = 2\n"
			  "threads = 3\n"
			  "log_requests = on\n",
			  &cfg, err, sizeof(err));
	ok(r, "config: a full file parses (%s)", r ? "ok" : err);
	ok(cfg.ipv6 && cfg.loopback && ((struct sockaddr_in6 *) &cfg.addr)->sin6_port == htons(9000),
	   "config: listen [::1]:9000");
	is_str(cfg.conninfo, "host=/run/postgresql dbname=guestbook user=guestbook_webhook", "config: a quoted value with spaces");
	is_str(cfg.meta_app_secret_file, "/etc/gbn/meta secret", "config: keys are case-insensitive");
	is_str(cfg.waha_hmac_key_file, "/etc/gbn/waha", "config: the = may be left out");
	ok(cfg.max_body_size == 3 * 1024 * 1024, "config: 3MB, CRLF line end");
	ok(cfg.client_timeout_s == 5 && cfg.request_timeout_ms == 60000 && cfg.inbox_retention_s == 7 * 86400,
	   "config: times with units");
	ok(cfg.threads == 3, "config: a key given twice keeps the last value");
	ok(cfg.log_requests, "config: boolean on");

	r = parse("conninfo = 'it''s \\'q\\' \\101\\n'\nwaha_hmac_key_file = x\n", &cfg, err, sizeof(err));
	ok(r && strcmp(cfg.conninfo, "it's 'q' A\n") == 0, "config: '' \\' octal and \\n escapes in quotes");

	r = parse("conninfo = x\nwaha_hmac_key_file = x\nlisten_addr = 1\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "test.conf:3: unknown key \"listen_addr\"") != NULL,
	   "config: an unknown key is an error naming file and line (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nmax_body_size = '3 MiB'\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "test.conf:3: max_body_size") != NULL, "config: a bad size is an error (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nmax_body_size = 100GB\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "outside the range") != NULL, "config: a size out of range is an error (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nthreads = 0\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "threads") != NULL, "config: threads 0 is an error (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nlog_requests = sometimes\n", &cfg, err, sizeof(err));
	ok(!r, "config: a bad boolean is an error (%s)", err);
	r = parse("conninfo = 'unterminated\nwaha_hmac_key_file = x\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "test.conf:1: unterminated") != NULL, "config: an unterminated string is an error (%s)", err);
	r = parse("conninfo = a b\nwaha_hmac_key_file = x\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "syntax error") != NULL, "config: an unquoted value with a space is an error (%s)", err);
	r = parse("include '/etc/other.conf'\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "not supported") != NULL, "config: include is refused (%s)", err);
	r = parse("= 1\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "syntax error") != NULL, "config: a line without a key is an error (%s)", err);
	r = parse("conninfo =\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "no value") != NULL, "config: a key without a value is an error (%s)", err);
	r = parse("waha_hmac_key_file = x\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "conninfo is not set") != NULL, "config: conninfo is required (%s)", err);
	r = parse("conninfo = x\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "nothing to serve") != NULL, "config: at least one endpoint is required (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nlisten = localhost:80\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "not an IPv4 address") != NULL, "config: host names are not looked up (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nlisten = 127.0.0.1:70000\n", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "port") != NULL, "config: port out of range (%s)", err);
	r = parse("conninfo = x\nwaha_hmac_key_file = x\nlisten = 0.0.0.0:8088\n", &cfg, err, sizeof(err));
	ok(r && !cfg.loopback, "config: 0.0.0.0 parses and is not loopback");
	r = gbnw_config_parse("conninfo = x\0", 13, "test.conf", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "NUL") != NULL, "config: a NUL byte is an error (%s)", err);
	gbnw_config_free(&cfg);
}

static void
write_file(const char *path, const char *content, size_t len, mode_t mode)
{
	FILE	   *f = fopen(path, "wb");

	if (f)
	{
		fwrite(content, 1, len, f);
		fclose(f);
	}
	chmod(path, mode);
}

static void
test_secrets(void)
{
	char		dir[] = "/tmp/gbnw_test_XXXXXX";
	char		path[256];
	char		spec[300];
	GbnwSecret	s;
	char		err[600];
	bool		r;

	if (mkdtemp(dir) == NULL)
	{
		ok(false, "mkdtemp");
		return;
	}
	snprintf(path, sizeof(path), "%s/secret", dir);
	write_file(path, "s3cret\n", 7, 0600);
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(r && s.len == 6 && memcmp(s.data, "s3cret", 6) == 0, "secret: mode 0600, the trailing newline dropped");
	gbnw_secret_free(&s);
	write_file(path, "s3cret\r\n", 8, 0640);
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(r && s.len == 6, "secret: mode 0640 accepted, CRLF dropped");
	gbnw_secret_free(&s);
	write_file(path, "s3cret", 6, 0644);
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(!r && strstr(err, "0644") != NULL && strstr(err, "s3cret\"") == NULL,
	   "secret: readable by others refused, the error names the mode not the secret (%s)", err);
	write_file(path, "s3cret", 6, 0620);
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(!r, "secret: group-writable refused");
	write_file(path, "\n", 1, 0600);
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(!r && strstr(err, "empty") != NULL, "secret: empty refused (%s)", err);
	{
		char	   *big = malloc(GBNW_SECRET_MAX + 100);

		memset(big, 'a', GBNW_SECRET_MAX + 100);
		write_file(path, big, GBNW_SECRET_MAX + 100, 0600);
		free(big);
	}
	r = gbnw_secret_load(path, &s, err, sizeof(err));
	ok(!r && strstr(err, "larger") != NULL, "secret: over %d bytes refused (%s)", GBNW_SECRET_MAX, err);
	r = gbnw_secret_load("/nonexistent/gbnw/secret", &s, err, sizeof(err));
	ok(!r && strstr(err, "could not open") != NULL, "secret: a missing file is an error (%s)", err);
	r = gbnw_secret_load(dir, &s, err, sizeof(err));
	ok(!r, "secret: a directory is refused (%s)", err);

	unsetenv("CREDENTIALS_DIRECTORY");
	r = gbnw_secret_load("credential:secret", &s, err, sizeof(err));
	ok(!r && strstr(err, "CREDENTIALS_DIRECTORY") != NULL, "secret: credential: without systemd's directory refused");
	write_file(path, "from-systemd", 12, 0400);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	r = gbnw_secret_load("credential:secret", &s, err, sizeof(err));
	ok(r && s.len == 12 && memcmp(s.data, "from-systemd", 12) == 0, "secret: credential:NAME reads $CREDENTIALS_DIRECTORY/NAME");
	gbnw_secret_free(&s);
	snprintf(spec, sizeof(spec), "credential:../secret");
	r = gbnw_secret_load(spec, &s, err, sizeof(err));
	ok(!r, "secret: credential:../x refused (%s)", err);
	unsetenv("CREDENTIALS_DIRECTORY");

	unlink(path);
	rmdir(dir);
}

/* the Notifications page: times, HTML and CSV escaping, its configuration keys */
static bool
admin_parse(const char *txt, const char *name, GbnwConfig *cfg, char *err, size_t errlen)
{
	return gbnw_config_parse(txt, strlen(txt), name, cfg, err, errlen);
}

static void
test_admin(void)
{
	char		t[64];
	Buf			b;
	GbnwConfig	cfg;
	char		err[600];
	bool		r;

	ok(admin_format_time("2026-11-25 16:15:00.123+07", "Asia/Jakarta", LANG_ID, t, sizeof(t)) &&
	   strcmp(t, "25 Nov 2026 16.15 WIB") == 0, "time: text form, WIB (%s)", t);
	ok(admin_format_time("2026-12-02T09:05:59.5+08:00", "Asia/Makassar", LANG_ID, t, sizeof(t)) &&
	   strcmp(t, "2 Des 2026 09.05 WITA") == 0, "time: jsonb form, WITA, Indonesian month (%s)", t);
	ok(admin_format_time("2026-08-17 10:00:00+09", "Asia/Jayapura", LANG_EN, t, sizeof(t)) &&
	   strcmp(t, "17 Aug 2026 10:00 WIT") == 0, "time: English (%s)", t);
	ok(admin_format_time("2026-05-01 00:00:00+00", "UTC", LANG_ID, t, sizeof(t)) &&
	   strcmp(t, "1 Mei 2026 00.00 UTC") == 0, "time: UTC (%s)", t);
	ok(admin_format_time("2026-05-01 00:00:00+05:30", "Asia/Kolkata", LANG_EN, t, sizeof(t)) &&
	   strcmp(t, "1 May 2026 00:00 UTC+5:30") == 0, "time: another zone (%s)", t);
	ok(!admin_format_time("yesterday", "Asia/Jakarta", LANG_ID, t, sizeof(t)) && strcmp(t, "-") == 0,
	   "time: garbage is \"-\"");

	buf_init(&b);
	buf_html(&b, "<script>alert(\"x\")</script>&'");
	ok(b.data && strcmp(b.data, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;") == 0,
	   "html: escaped (%s)", b.data ? b.data : "");
	buf_free(&b);
	buf_url(&b, "a b/é?&=");
	ok(b.data && strcmp(b.data, "a%20b%2F%C3%A9%3F%26%3D") == 0, "url: encoded (%s)", b.data ? b.data : "");
	buf_free(&b);
	{
		static const char *const in[] = {"=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "a\"b", "ok"};
		static const char *const want[] = {"\"'=1+1\"", "\"'+1\"", "\"'-1\"", "\"'@SUM(A1)\"",
		"\"'\tx\"", "\"'\rx\"", "\"a\"\"b\"", "\"ok\""};
		int			i;

		for (i = 0; i < 8; i++)
		{
			buf_csv_cell(&b, in[i]);
			ok(b.data && strcmp(b.data, want[i]) == 0, "csv: cell %d made safe (%s)", i, b.data ? b.data : "");
			buf_free(&b);
		}
	}

	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'host=/tmp dbname=x'\n"
						  "admin_listen = 127.0.0.1:9999\nadmin_session_idle = 5min\n"
						  "admin_session_max = 2h\ntime_zone = Asia/Makassar\n", "t.conf",
						  &cfg, err, sizeof(err));
	ok(r && cfg.admin_session_idle_s == 300 && cfg.admin_session_max_s == 7200 &&
	   strcmp(cfg.time_zone, "Asia/Makassar") == 0 && strcmp(cfg.admin_listen, "127.0.0.1:9999") == 0,
	   "config: the page's keys (%s)", r ? "ok" : err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x user=postgres'\n",
						  "t.conf", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "must not set user") != NULL, "config: admin_conninfo with a user refused (%s)", err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x password=p'\n",
						  "t.conf", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "must not set password") != NULL && strstr(err, "=p") == NULL,
	   "config: admin_conninfo with a password refused, not repeated (%s)", err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x'\nadmin_session_idle = 2h\n",
						  "t.conf", &cfg, err, sizeof(err));
	ok(r, "config: idle 2h under the default max 12h (%s)", r ? "ok" : err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x'\nadmin_session_idle = 13h\n",
						  "t.conf", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "admin_session_idle is longer") != NULL, "config: idle longer than max refused (%s)", err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x'\n", "t.conf", &cfg, err, sizeof(err));
	ok(r, "config: the page alone is something to serve (%s)", r ? "ok" : err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x'\nadmin_trusted_header = 'X-Remote User'\n",
					"t.conf", &cfg, err, sizeof(err));
	ok(!r && strstr(err, "admin_trusted_header must be a header name") != NULL,
	   "config: a trusted header with a space refused (%s)", err);
	gbnw_config_free(&cfg);
	gbnw_config_defaults(&cfg);
	r = admin_parse("conninfo = 'dbname=x'\nadmin_conninfo = 'dbname=x'\nadmin_trusted_header = X-Remote-User\n",
					"t.conf", &cfg, err, sizeof(err));
	ok(r && strcmp(cfg.admin_trusted_header, "X-Remote-User") == 0, "config: admin_trusted_header (%s)", r ? "ok" : err);
	gbnw_config_free(&cfg);
}

int
main(void)
{
	test_hmac();
	test_query();
	test_small_parsers();
	test_config();
	test_secrets();
	test_admin();
	printf("1..%d\n", n_tests);
	if (n_failed)
		printf("# %d of %d failed\n", n_failed, n_tests);
	return n_failed ? 1 : 0;
}
