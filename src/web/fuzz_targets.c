/*-------------------------------------------------------------------------
 *
 * fuzz_targets.c
 *		libFuzzer entry point for guestbook_notify_web's parsers (src/web/fuzz.sh
 *		builds it with clang -fsanitize=fuzzer,address,undefined).  The first
 *		byte picks the parser; the rest is its input:
 *		  0 query string      1 configuration file   2 WAHA event id (json-c)
 *		  3 Meta signature    4 WAHA signature       5 log escaping
 *		  6 Content-Length    7 time / size / bool / listen values
 *
 * src/web/fuzz_targets.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "gbnw.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a NUL-terminated copy of [p, p+n) */
static char *
cstr(const uint8_t *p, size_t n)
{
	char	   *s = malloc(n + 1);

	if (s)
	{
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *in;
	size_t		n;
	char	   *s;

	if (size < 1)
		return 0;
	in = data + 1;
	n = size - 1;
	switch (data[0] % 8)
	{
		case 0:
			{
				GbnwQueryParam *p = calloc(GBNW_QUERY_PARAMS, sizeof(GbnwQueryParam));
				int			k;
				int			c;

				if (!p)
					return 0;
				k = gbnw_parse_query((const char *) in, n, p, GBNW_QUERY_PARAMS);
				if (k > 0)
					(void) gbnw_query_get(p, k, "hub.verify_token", &c);
				free(p);
			}
			break;
		case 1:
			{
				GbnwConfig	cfg;
				char		err[600];

				gbnw_config_defaults(&cfg);
				(void) gbnw_config_parse((const char *) in, n, "fuzz.conf", &cfg, err, sizeof(err));
				gbnw_config_free(&cfg);
			}
			break;
		case 2:
			{
				char		ev[64];
				char	   *id = gbnw_waha_event_id(in, n, ev, sizeof(ev));

				free(id);
			}
			break;
		case 3:
		case 4:
			{
				const uint8_t *nl = memchr(in, '\n', n);
				size_t		hl = nl ? (size_t) (nl - in) : n;
				char	   *h = cstr(in, hl);
				const uint8_t *body = nl ? nl + 1 : in + n;
				size_t		bl = nl ? n - hl - 1 : 0;

				if (!h)
					return 0;
				if (data[0] % 8 == 3)
					(void) gbnw_check_meta_signature(h, (const unsigned char *) "k", 1, body, bl);
				else
					(void) gbnw_check_waha_signature(h, (bl & 1) ? "sha512" : h,
													 (const unsigned char *) "k", 1, body, bl);
				(void) gbnw_token_equal(in, hl, body, bl);
				free(h);
			}
			break;
		case 5:
			{
				char		out[300];

				gbnw_escape_for_log(out, (n % 299) + 1, (const char *) in, n);
			}
			break;
		case 6:
			{
				uint64_t	v;

				s = cstr(in, n);
				if (s)
					(void) gbnw_parse_content_length(s, &v);
				free(s);
			}
			break;
		case 7:
			{
				int64_t		v;
				bool		b;
				GbnwConfig	cfg;
				char		err[200];

				s = cstr(in, n);
				if (!s)
					return 0;
				(void) gbnw_parse_time_ms(s, "s", &v);
				(void) gbnw_parse_size(s, &v);
				(void) gbnw_parse_bool(s, &b);
				memset(&cfg, 0, sizeof(cfg));
				(void) gbnw_parse_listen(s, &cfg, err, sizeof(err));
				free(s);
			}
			break;
	}
	return 0;
}
