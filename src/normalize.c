/*-------------------------------------------------------------------------
 *
 * normalize.c
 *		guestbook_notify._normalize_number(text): an Indonesian mobile
 *		number in its canonical form, 628..., or NULL (whatsapp-api.md §4).
 *
 * The rules, in order (they were regular expressions in PL/pgSQL; in C the
 * trigger's hot path saves ~8 regex runs per assignment):
 *	 1. drop every "(0)", with white space allowed inside the parentheses;
 *	 2. drop white space and ( ) . / -;
 *	 3. "+" or "00" first: an international prefix, dropped; else a leading
 *		0 (trunk prefix) becomes 62; else a leading 8 gets 62 in front;
 *	 4. "620..." becomes "62..." ("+62 0812...": the trunk 0 kept);
 *	 5. valid: ^628[1-35-9][0-9]{7,10}$.
 * This is the one rule for numbers: the opt_outs CHECK constraint and the
 * providers (which refuse to send anywhere else) call it too.
 * White space is what the regular expression [[:space:]] matched: the ASCII
 * white space, and in a UTF8 database with a non-C LC_CTYPE also what
 * iswspace() says of other characters (e.g. U+3000).
 *
 * src/normalize.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <wctype.h>

#include "catalog/pg_collation.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/pg_locale.h"

#include "normalize.h"

PG_FUNCTION_INFO_V1(gbn_normalize_number_sql);

static bool
is_space(pg_wchar c)
{
	static int	wide = -1;		/* iswspace() for non-ASCII? */

	if (c < 128)
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
			c == '\v' || c == '\f';
	if (wide < 0)
		wide = (GetDatabaseEncoding() == PG_UTF8 &&
				!lc_ctype_is_c(DEFAULT_COLLATION_OID)) ? 1 : 0;
	return wide && iswspace((wint_t) c);
}

/*
 * Rules 1 and 2: the ASCII characters of number that are not separators,
 * into s (room for len bytes); -1 when a non-ASCII character other than
 * white space is left (it could never be valid).
 */
static int
strip_number(const char *number, int len, char *s)
{
	pg_wchar   *in = palloc((len + 1) * sizeof(pg_wchar));
	int			n = pg_mb2wchar_with_len(number, in, len);
	int			slen = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		pg_wchar	c = in[i];

		/* 1: "(" space* "0" space* ")" */
		if (c == '(')
		{
			int			j = i + 1;

			while (j < n && is_space(in[j]))
				j++;
			if (j < n && in[j] == '0')
			{
				j++;
				while (j < n && is_space(in[j]))
					j++;
				if (j < n && in[j] == ')')
				{
					i = j;
					continue;
				}
			}
		}
		/* 2 */
		if (is_space(c) || c == '(' || c == ')' || c == '.' || c == '/' ||
			c == '-')
			continue;
		/* only ASCII can survive rule 5 (rules 3 and 4 read a prefix) */
		if (c >= 128)
		{
			pfree(in);
			return -1;
		}
		s[slen++] = (char) c;
	}
	pfree(in);
	return slen;
}

/*
 * Rules 3 and 4 on the stripped digits s (slen bytes, with 2 bytes of room
 * before s): returns the start of the number with its country code and
 * sets *plen.
 */
static char *
with_country_code(char *s, int slen, int *plen)
{
	char	   *p = s;

	*plen = slen;
	/* 3 */
	if (*plen >= 1 && p[0] == '+')
	{
		p++;
		(*plen)--;
	}
	else if (*plen >= 2 && p[0] == '0' && p[1] == '0')
	{
		p += 2;
		*plen -= 2;
	}
	else if (*plen >= 1 && p[0] == '0')
	{
		/* "0812..." -> "62812...": the 0 becomes the 2 */
		p[0] = '2';
		p--;
		p[0] = '6';
		(*plen)++;
	}
	else if (*plen >= 1 && p[0] == '8')
	{
		p -= 2;
		p[0] = '6';
		p[1] = '2';
		*plen += 2;
	}
	/* 4 */
	if (*plen >= 3 && p[0] == '6' && p[1] == '2' && p[2] == '0')
	{
		p[2] = '2';
		p[1] = '6';
		p++;
		(*plen)--;
	}
	return p;
}

/* Rule 5: ^628[1-35-9][0-9]{7,10}$ */
static bool
is_canonical(const char *p, int plen)
{
	int			i;

	if (plen < 11 || plen > 14 || p[0] != '6' || p[1] != '2' || p[2] != '8' ||
		!(p[3] >= '1' && p[3] <= '9' && p[3] != '4'))
		return false;
	for (i = 4; i < plen; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

char *
gbn_normalize_number(const char *number, int len)
{
	char	   *s = (char *) palloc(len + 3) + 2;	/* room for a "62" in front */
	int			slen = strip_number(number, len, s);
	char	   *p;
	int			plen;

	if (slen < 0)
		return NULL;
	p = with_country_code(s, slen, &plen);
	if (!is_canonical(p, plen))
		return NULL;
	return pnstrdup(p, plen);
}

bool
gbn_number_is_canonical(const char *s)
{
	return s != NULL && is_canonical(s, strlen(s));
}

/*
 * guestbook_notify._normalize_number(p_number text) RETURNS text, STRICT
 */
Datum
gbn_normalize_number_sql(PG_FUNCTION_ARGS)
{
	text	   *number = PG_GETARG_TEXT_PP(0);
	char	   *n;

	n = gbn_normalize_number(VARDATA_ANY(number), VARSIZE_ANY_EXHDR(number));
	if (n == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(n));
}
