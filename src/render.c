/*-------------------------------------------------------------------------
 *
 * render.c
 *		What a notification says: the message text rendered from a
 *		template's {{placeholders}}, the Cloud API template arguments, and
 *		the placeholder values of a case.
 *
 * SQL: guestbook_notify._render_text(body text, params jsonb) -> text,
 * _template_args(names text[], params jsonb) -> text[],
 * _template_arg(value text) -> text and _case_params(...) -> jsonb.  The
 * assignment trigger calls the C functions directly.
 *
 * src/render.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "guestbook_notify.h"
#include "jsonb_build.h"
#include "render.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(gbn_render_text_sql);
PG_FUNCTION_INFO_V1(gbn_template_args_sql);
PG_FUNCTION_INFO_V1(gbn_template_arg_sql);
PG_FUNCTION_INFO_V1(gbn_case_params_sql);

/*
 * params ? name: a key of an object (or a string element of an array, as
 * jsonb's "?" operator has it).
 */
static bool
params_has(Jsonb *params, const char *name, int len)
{
	JsonbValue	key;

	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = len;
	return findJsonbValueFromContainer(&params->root, JB_FOBJECT | JB_FARRAY,
									   &key) != NULL;
}

/*
 * Append params ->> name to buf, as jsonb's "->>" gives it.  false: NULL
 * (no such key, a JSON null, or params not an object).
 */
static bool
params_append_text(StringInfo buf, Jsonb *params, const char *name, int len)
{
	JsonbValue	v;

	if (params == NULL || !JB_ROOT_IS_OBJECT(params) ||
		getKeyJsonValueFromContainer(&params->root, name, len, &v) == NULL)
		return false;
	switch (v.type)
	{
		case jbvNull:
			return false;
		case jbvString:
			appendBinaryStringInfo(buf, v.val.string.val, v.val.string.len);
			break;
		case jbvBool:
			appendStringInfoString(buf, v.val.boolean ? "true" : "false");
			break;
		case jbvNumeric:
			appendStringInfoString(buf,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v.val.numeric))));
			break;
		case jbvBinary:
			(void) JsonbToCString(buf, v.val.binary.data, v.val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v.type);
	}
	return true;
}

static bool
is_name_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* the first "{{" (or "}}" when close) in s[from, len), or -1 */
static int
find_pair(const char *s, int from, int len, bool close)
{
	char		c = close ? '}' : '{';
	int			i;

	for (i = from; i + 1 < len; i++)
	{
		if (s[i] == c && s[i + 1] == c)
			return i;
		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	return -1;
}

/* the placeholder name between open and close, without blanks around it */
static const char *
placeholder_name(const char *s, int open, int close, int *namelen)
{
	const char *name = s + open + 2;
	int			n = close - (open + 2);

	while (n > 0 && is_name_blank(name[0]))
	{
		name++;
		n--;
	}
	while (n > 0 && is_name_blank(name[n - 1]))
		n--;
	*namelen = n;
	return name;
}

/*
 * Cut buf to GBN_MAX_MESSAGE_CHARS characters with a visible marker, the
 * total within the limit, at a character boundary.
 */
static void
cut_message(StringInfo buf)
{
	/* U+2026 (the ellipsis) only where the encoding has it */
	const char *marker = GetDatabaseEncoding() == PG_UTF8 ?
		"\n\xE2\x80\xA6[pesan dipotong]" : "\n...[pesan dipotong]";
	int			keep;

	if (pg_mbstrlen_with_len(buf->data, buf->len) <= GBN_MAX_MESSAGE_CHARS)
		return;
	keep = pg_mbcharcliplen(buf->data, buf->len,
							GBN_MAX_MESSAGE_CHARS - pg_mbstrlen(marker));
	buf->len = keep;
	buf->data[keep] = '\0';
	appendStringInfoString(buf, marker);
}

/*
 * gbn_render_text: one pass over the {{name}} placeholders of body (blanks
 * around the name allowed).  A placeholder whose name is a key of params
 * becomes that value (JSON null: empty), byte for byte; a value is never
 * scanned again.  An unknown name is left as is.  The result is cut to 4096
 * characters with a visible marker, the total within 4096.  Byte-wise
 * search is safe: "{" and "}" never occur inside a multibyte character in a
 * server encoding.
 *
 * Linear in the body's length: the "}}" found for one "{{" is kept for the
 * next "{{" before it (a body of 200,000 "{{" and one "}}" is scanned
 * once, not 200,000 times), and the loops check for interrupts.
 */
text *
gbn_render_text(text *body, Jsonb *params)
{
	const char *s;
	int			len;
	int			pos = 0;
	int			close = -1;
	StringInfoData buf;

	if (body == NULL)
		return cstring_to_text("");
	s = VARDATA_ANY(body);
	len = VARSIZE_ANY_EXHDR(body);
	initStringInfo(&buf);

	while (pos < len)
	{
		int			open = find_pair(s, pos, len, false);
		const char *name;
		int			namelen;

		if (open < 0)
			break;
		if (close < open + 2)
			close = find_pair(s, open + 2, len, true);
		if (close < 0)
			break;

		name = placeholder_name(s, open, close, &namelen);
		if (params != NULL && params_has(params, name, namelen))
		{
			appendBinaryStringInfo(&buf, s + pos, open - pos);
			(void) params_append_text(&buf, params, name, namelen);
			pos = close + 2;
		}
		else
		{
			/* not a placeholder we know: keep the "{" and look further */
			appendBinaryStringInfo(&buf, s + pos, open + 1 - pos);
			pos = open + 1;
		}
	}
	appendBinaryStringInfo(&buf, s + pos, len - pos);
	cut_message(&buf);
	return cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * gbn_template_arg: a value as a Cloud API template parameter, which may
 * not contain newlines or tabs, nor more than 4 consecutive spaces, nor be
 * empty: a tab becomes a space, a line break (CRLF, CR or LF) " | ", runs
 * of 5 or more spaces 4 spaces, the spaces at both ends go, and an empty
 * result is "-".  Only template arguments are flattened; message_text stays
 * byte-exact.
 */
char *
gbn_template_arg(const char *value, int len)
{
	StringInfoData buf;
	int			i;
	int			start;
	int			end;
	int			run = 0;
	StringInfoData out;

	initStringInfo(&buf);
	for (i = 0; i < len; i++)
	{
		char		c = value[i];

		if (c == '\t')
			appendStringInfoChar(&buf, ' ');
		else if (c == '\r' || c == '\n')
		{
			if (c == '\r' && i + 1 < len && value[i + 1] == '\n')
				i++;
			appendStringInfoString(&buf, " | ");
		}
		else
			appendStringInfoChar(&buf, c);
	}

	start = 0;
	end = buf.len;
	while (start < end && buf.data[start] == ' ')
		start++;
	while (end > start && buf.data[end - 1] == ' ')
		end--;
	if (start == end)
		return pstrdup("-");

	initStringInfo(&out);
	for (i = start; i < end; i++)
	{
		if (buf.data[i] == ' ')
		{
			if (++run > 4)
				continue;
		}
		else
			run = 0;
		appendStringInfoChar(&out, buf.data[i]);
	}
	pfree(buf.data);
	return out.data;
}

/*
 * The largest length (in characters) c such that the lengths lens[0..n),
 * each cut to c, sum to at most budget: the long values are cut first and
 * equally ("water-filling"), short ones stay whole.
 */
static int
length_cap(const int *lens, int n, int budget)
{
	int			lo = 0;
	int			hi = 0;
	int			i;

	for (i = 0; i < n; i++)
		hi = Max(hi, lens[i]);
	while (lo < hi)
	{
		int			mid = lo + (hi - lo + 1) / 2;
		int64		sum = 0;

		for (i = 0; i < n; i++)
			sum += Min(lens[i], mid);
		if (sum <= budget)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* s cut to cap characters, the marker (without its line break) included */
static char *
cut_arg(const char *s, int cap)
{
	const char *marker = GetDatabaseEncoding() == PG_UTF8 ?
		"\xE2\x80\xA6[pesan dipotong]" : "...[pesan dipotong]";
	int			mlen = pg_mbstrlen(marker);
	int			keep;

	if (cap <= mlen)
		return pnstrdup(s, pg_mbcharcliplen(s, strlen(s), Max(cap, 1)));
	keep = pg_mbcharcliplen(s, strlen(s), cap - mlen);
	return psprintf("%.*s%s", keep, s, marker);
}

/*
 * gbn_template_args: params ->> name for each of names, as template
 * arguments (a missing or null value: "-").  A 1-D text[]; NULL names give
 * an empty array.
 *
 * Meta's limits for a template message (whatsapp-api.md §1.2; the OpenAPI
 * spec's TextParameter): a text parameter has at most 32,768 characters,
 * and the body with its parameters filled in at most 1,024.  The arguments
 * share budget_chars (GBN_TEMPLATE_BODY_CHARS less the template's own text,
 * see gbn_template_budget): when they are longer, the longest are cut
 * first, at a character boundary, with the marker message_text uses.
 */
ArrayType *
gbn_template_args(ArrayType *names, Jsonb *params, int budget_chars)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n = 0;
	char	  **vals;
	int		   *lens;
	int			cap;
	int			i;
	StringInfoData buf;

	if (names == NULL)
		return construct_empty_array(TEXTOID);
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		return construct_empty_array(TEXTOID);

	vals = palloc(n * sizeof(char *));
	lens = palloc(n * sizeof(int));
	initStringInfo(&buf);
	for (i = 0; i < n; i++)
	{
		resetStringInfo(&buf);
		if (!nulls[i])
		{
			text	   *name = DatumGetTextPP(elems[i]);

			(void) params_append_text(&buf, params, VARDATA_ANY(name),
									  VARSIZE_ANY_EXHDR(name));
		}
		vals[i] = gbn_template_arg(buf.data, buf.len);
		lens[i] = pg_mbstrlen(vals[i]);
	}
	cap = Min(length_cap(lens, n, Max(budget_chars, n)), GBN_TEMPLATE_PARAM_CHARS);
	for (i = 0; i < n; i++)
	{
		if (lens[i] > cap)
			vals[i] = cut_arg(vals[i], cap);
		elems[i] = CStringGetTextDatum(vals[i]);
	}
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * What the arguments of a template with this body may take together: the
 * body limit less the body's own text (its placeholders left out).  The
 * approved Cloud API template is expected to say what body says.
 */
int
gbn_template_budget(text *body)
{
	const char *s;
	int			len;
	int			pos = 0;
	int			fixed = 0;

	if (body == NULL)
		return GBN_TEMPLATE_BODY_CHARS;
	s = VARDATA_ANY(body);
	len = VARSIZE_ANY_EXHDR(body);
	while (pos < len)
	{
		int			open = find_pair(s, pos, len, false);
		int			close = open < 0 ? -1 : find_pair(s, open + 2, len, true);

		if (close < 0)
			break;
		fixed += pg_mbstrlen_with_len(s + pos, open - pos);
		pos = close + 2;
	}
	fixed += pg_mbstrlen_with_len(s + pos, len - pos);
	return GBN_TEMPLATE_BODY_CHARS - fixed;
}

/* ---- the placeholder values of a case ------------------------------- */

/* coalesce(nullif(value, ''), '-') */
static const char *
or_dash(const char *value)
{
	return (value == NULL || value[0] == '\0') ? "-" : value;
}

/*
 * gbn_case_params: the template values of one case.  Missing values read
 * "-".
 *	 summary: visitor "Nama: ..\nNIP/NIK: ..\nKeperluan: .."; surat "No.
 *			  Surat: ..\nPerihal: .."
 *	 detail_url: <guestbook_notify.app_base_url, no trailing />/admin/cases/<id>
 */
Jsonb *
gbn_case_params(const GbnCaseValues *cv)
{
	GbnJsonbObject o;
	StringInfoData summary;
	char	   *url = NULL;

	initStringInfo(&summary);
	if (cv->case_type != NULL && strcmp(cv->case_type, "surat") == 0)
		appendStringInfo(&summary, "No. Surat: %s\nPerihal: %s",
						 or_dash(cv->surat_tracking_no),
						 or_dash(cv->surat_perihal));
	else
		appendStringInfo(&summary, "Nama: %s\nNIP/NIK: %s\nKeperluan: %s",
						 or_dash(cv->visitor_name),
						 or_dash(cv->visitor_id_number),
						 or_dash(cv->purpose));

	if (cv->case_id != NULL)
	{
		const char *base = gbn_app_base_url ? gbn_app_base_url : "";
		int			blen = strlen(base);

		while (blen > 0 && base[blen - 1] == '/')
			blen--;
		url = psprintf("%.*s/admin/cases/%s", blen, base, cv->case_id);
	}

	gbn_jsonb_begin(&o);
	gbn_jsonb_text(&o, "case_code", cv->code ? cv->code : "-");
	gbn_jsonb_text(&o, "case_type", cv->case_type ? cv->case_type : "-");
	gbn_jsonb_text(&o, "unit_tujuan", or_dash(cv->unit_tujuan));
	gbn_jsonb_text(&o, "org_unit_name", or_dash(cv->org_unit_name));
	gbn_jsonb_text(&o, "summary", summary.data);
	gbn_jsonb_text(&o, "detail_url", url);
	gbn_jsonb_text(&o, "recipient_name",
				   cv->recipient_name ? cv->recipient_name : "");
	return gbn_jsonb_end(&o);
}

/* an empty jsonb object */
Jsonb *
gbn_empty_jsonb(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
}

/* ---- SQL wrappers ---------------------------------------------------- */

/* _render_text(p_body text, p_params jsonb) RETURNS text */
Datum
gbn_render_text_sql(PG_FUNCTION_ARGS)
{
	text	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	Jsonb	   *params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);

	PG_RETURN_TEXT_P(gbn_render_text(body, params));
}

/* _template_args(p_names text[], p_params jsonb) RETURNS text[] */
Datum
gbn_template_args_sql(PG_FUNCTION_ARGS)
{
	ArrayType  *names = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	Jsonb	   *params = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);

	PG_RETURN_ARRAYTYPE_P(gbn_template_args(names, params, GBN_TEMPLATE_BODY_CHARS));
}

/* _template_arg(p_value text) RETURNS text */
Datum
gbn_template_arg_sql(PG_FUNCTION_ARGS)
{
	text	   *value;

	if (PG_ARGISNULL(0))
		PG_RETURN_TEXT_P(cstring_to_text("-"));
	value = PG_GETARG_TEXT_PP(0);
	PG_RETURN_TEXT_P(cstring_to_text(gbn_template_arg(VARDATA_ANY(value),
													  VARSIZE_ANY_EXHDR(value))));
}

/*
 * _case_params(p_case_id uuid, p_code, p_case_type, p_unit_tujuan,
 *				p_org_unit_name, p_visitor_name, p_visitor_id_number,
 *				p_purpose, p_surat_tracking_no, p_surat_perihal,
 *				p_recipient_name text) RETURNS jsonb
 */
Datum
gbn_case_params_sql(PG_FUNCTION_ARGS)
{
	GbnCaseValues cv;

	cv.case_id = PG_ARGISNULL(0) ? NULL :
		DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));
	cv.code = gbn_text_arg(fcinfo, 1);
	cv.case_type = gbn_text_arg(fcinfo, 2);
	cv.unit_tujuan = gbn_text_arg(fcinfo, 3);
	cv.org_unit_name = gbn_text_arg(fcinfo, 4);
	cv.visitor_name = gbn_text_arg(fcinfo, 5);
	cv.visitor_id_number = gbn_text_arg(fcinfo, 6);
	cv.purpose = gbn_text_arg(fcinfo, 7);
	cv.surat_tracking_no = gbn_text_arg(fcinfo, 8);
	cv.surat_perihal = gbn_text_arg(fcinfo, 9);
	cv.recipient_name = gbn_text_arg(fcinfo, 10);
	PG_RETURN_JSONB_P(gbn_case_params(&cv));
}
