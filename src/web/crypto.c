/*-------------------------------------------------------------------------
 *
 * crypto.c
 *		Signatures (OpenSSL HMAC) and constant-time comparisons.
 *
 *	 Meta:  X-Hub-Signature-256: sha256=<64 hex> = HMAC-SHA256(app secret,
 *			raw body).  X-Hub-Signature (SHA-1) is legacy and not accepted.
 *	 WAHA:  X-Webhook-Hmac: <128 hex> = HMAC-SHA512(key, raw body), with
 *			X-Webhook-Hmac-Algorithm: sha512 (if the header is there, it must
 *			say sha512).
 *
 * The signature is decoded from hex and compared with CRYPTO_memcmp, whose
 * time does not depend on where the bytes differ.  Tokens (Meta's verify
 * token) are compared as SHA-256 digests with CRYPTO_memcmp, so neither
 * their contents nor their lengths show in the time taken.
 *
 * src/web/crypto.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "gbnw.h"

const char *
gbnw_sig_result_name(GbnwSigResult r)
{
	switch (r)
	{
		case GBNW_SIG_OK:
			return "valid";
		case GBNW_SIG_MISSING:
			return "missing";
		case GBNW_SIG_WRONG_ALGORITHM:
			return "wrong algorithm";
		case GBNW_SIG_MALFORMED:
			return "malformed";
		case GBNW_SIG_MISMATCH:
			return "does not match the body";
	}
	return "?";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* exactly 2*n hex digits into n bytes */
static bool
hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t n)
{
	size_t		i;

	if (hexlen != 2 * n)
		return false;
	for (i = 0; i < n; i++)
	{
		int			hi = hexval((unsigned char) hex[2 * i]);
		int			lo = hexval((unsigned char) hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char) (hi << 4 | lo);
	}
	return true;
}

static bool
hmac(bool sha512, const unsigned char *key, size_t keylen,
	 const unsigned char *data, size_t len, unsigned char *md, unsigned int *mdlen)
{
	if (keylen > (size_t) INT32_MAX)
		return false;
	return HMAC(sha512 ? EVP_sha512() : EVP_sha256(), key, (int) keylen,
				data, len, md, mdlen) != NULL;
}

/* hex_out: 129 bytes for SHA-512, 65 for SHA-256 */
bool
gbnw_hmac_hex(bool sha512, const unsigned char *key, size_t keylen,
			  const unsigned char *data, size_t len, char *hex_out)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	unsigned int i;

	if (!hmac(sha512, key, keylen, data, len, md, &mdlen))
		return false;
	for (i = 0; i < mdlen; i++)
	{
		hex_out[2 * i] = digits[md[i] >> 4];
		hex_out[2 * i + 1] = digits[md[i] & 15];
	}
	hex_out[2 * mdlen] = '\0';
	return true;
}

/* trim spaces and tabs around [*s, *s + *len) */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t'))
	{
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

static GbnwSigResult
check(bool sha512, const char *hex, size_t hexlen,
	  const unsigned char *key, size_t keylen,
	  const unsigned char *body, size_t len)
{
	unsigned char given[EVP_MAX_MD_SIZE];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t		n = sha512 ? 64 : 32;

	if (!hex_decode(hex, hexlen, given, n))
		return GBNW_SIG_MALFORMED;
	if (!hmac(sha512, key, keylen, body, len, md, &mdlen) || mdlen != n)
		return GBNW_SIG_MISMATCH;
	return CRYPTO_memcmp(given, md, n) == 0 ? GBNW_SIG_OK : GBNW_SIG_MISMATCH;
}

/* header: the value of X-Hub-Signature-256, or NULL */
GbnwSigResult
gbnw_check_meta_signature(const char *header, const unsigned char *key, size_t keylen,
						  const unsigned char *body, size_t len)
{
	const char *v = header;
	size_t		vlen;
	const char *eq;

	if (v == NULL)
		return GBNW_SIG_MISSING;
	vlen = strlen(v);
	trim(&v, &vlen);
	if (vlen == 0)
		return GBNW_SIG_MISSING;
	eq = memchr(v, '=', vlen);
	if (eq == NULL)
		return GBNW_SIG_MALFORMED;
	if (!((size_t) (eq - v) == 6 && strncasecmp(v, "sha256", 6) == 0))
		return GBNW_SIG_WRONG_ALGORITHM;
	return check(false, eq + 1, vlen - 7, key, keylen, body, len);
}

/* header: X-Webhook-Hmac; algorithm: X-Webhook-Hmac-Algorithm (either may be NULL) */
GbnwSigResult
gbnw_check_waha_signature(const char *header, const char *algorithm,
						  const unsigned char *key, size_t keylen,
						  const unsigned char *body, size_t len)
{
	const char *v = header;
	size_t		vlen;

	if (v == NULL)
		return GBNW_SIG_MISSING;
	if (algorithm != NULL)
	{
		const char *a = algorithm;
		size_t		alen = strlen(a);

		trim(&a, &alen);
		if (!(alen == 6 && strncasecmp(a, "sha512", 6) == 0))
			return GBNW_SIG_WRONG_ALGORITHM;
	}
	vlen = strlen(v);
	trim(&v, &vlen);
	if (vlen == 0)
		return GBNW_SIG_MISSING;
	return check(true, v, vlen, key, keylen, body, len);
}

/* equal tokens, in a time that depends on neither their contents nor lengths */
bool
gbnw_token_equal(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH];
	unsigned char db[SHA256_DIGEST_LENGTH];
	unsigned int n = 0;
	bool		ok;

	if (a == NULL || b == NULL)
		return false;
	if (!EVP_Digest(a, alen, da, &n, EVP_sha256(), NULL) ||
		!EVP_Digest(b, blen, db, &n, EVP_sha256(), NULL))
		return false;
	ok = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
	return ok & (alen == blen);
}
