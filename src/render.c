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
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "enqueue.h"
#include "guestbook_notify.h"

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

/*
 * gbn_render_text: one pass over the {{name}} placeholders of body (blanks
 * around the name allowed).  A placeholder whose name is a key of params
 * becomes that value (JSON null: empty), byte for byte; a value is never
 * scanned again.  An unknown name is left as is.  The result is cut to 4096
 * characters with a visible marker, the total within 4096.  Byte-wise
 * search is safe: "{" and "}" never occur inside a multibyte character in a
 * server encoding.
 */
text *
gbn_render_text(text *body, Jsonb *params)
{
	const char *s;
	int			len;
	int			pos = 0;
	StringInfoData buf;
	int			nchars;

	if (body == NULL)
		return cstring_to_text("");
	s = VARDATA_ANY(body);
	len = VARSIZE_ANY_EXHDR(body);
	initStringInfo(&buf);

	while (pos < len)
	{
		const char *open = NULL;
		const char *close = NULL;
		const char *p;
		const char *name;
		int			namelen;

		for (p = s + pos; p + 1 < s + len; p++)
			if (p[0] == '{' && p[1] == '{')
			{
				open = p;
				break;
			}
		if (open == NULL)
			break;
		for (p = open + 2; p + 1 < s + len; p++)
			if (p[0] == '}' && p[1] == '}')
			{
				close = p;
				break;
			}
		if (close == NULL)
			break;

		name = open + 2;
		namelen = close - name;
		while (namelen > 0 && is_name_blank(name[0]))
		{
			name++;
			namelen--;
		}
		while (namelen > 0 && is_name_blank(name[namelen - 1]))
			namelen--;

		if (params != NULL && params_has(params, name, namelen))
		{
			appendBinaryStringInfo(&buf, s + pos, open - (s + pos));
			(void) params_append_text(&buf, params, name, namelen);
			pos = (close + 2) - s;
		}
		else
		{
			/* not a placeholder we know: keep the "{" and look further */
			appendBinaryStringInfo(&buf, s + pos, open + 1 - (s + pos));
			pos = (open + 1) - s;
		}
	}
	appendBinaryStringInfo(&buf, s + pos, len - pos);

	nchars = pg_mbstrlen_with_len(buf.data, buf.len);
	if (nchars > GBN_MAX_MESSAGE_CHARS)
	{
		/* U+2026 (the ellipsis) only where the encoding has it */
		const char *marker = GetDatabaseEncoding() == PG_UTF8 ?
			"\n\xE2\x80\xA6[pesan dipotong]" : "\n...[pesan dipotong]";
		int			markerchars = pg_mbstrlen(marker);
		int			keep;

		keep = pg_mbcharcliplen(buf.data, buf.len,
								GBN_MAX_MESSAGE_CHARS - markerchars);
		buf.len = keep;
		buf.data[keep] = '\0';
		appendStringInfoString(&buf, marker);
	}
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
 * gbn_template_args: params ->> name for each of names, as template
 * arguments (a missing or null value: "-").  A 1-D text[]; NULL names give
 * an empty array.
 */
ArrayType *
gbn_template_args(ArrayType *names, Jsonb *params)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n = 0;
	Datum	   *args;
	int			i;
	StringInfoData buf;

	if (names == NULL)
		return construct_empty_array(TEXTOID);
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		return construct_empty_array(TEXTOID);

	args = palloc(n * sizeof(Datum));
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
		args[i] = PointerGetDatum(cstring_to_text(gbn_template_arg(buf.data,
																   buf.len)));
	}
	return construct_array(args, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* ---- the placeholder values of a case ------------------------------- */

static void
push_pair(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

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
	JsonbParseState *state = NULL;
	JsonbValue *res;
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

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_pair(&state, "case_code", cv->code ? cv->code : "-");
	push_pair(&state, "case_type", cv->case_type ? cv->case_type : "-");
	push_pair(&state, "unit_tujuan", or_dash(cv->unit_tujuan));
	push_pair(&state, "org_unit_name", or_dash(cv->org_unit_name));
	push_pair(&state, "summary", summary.data);
	push_pair(&state, "detail_url", url);
	push_pair(&state, "recipient_name",
			  cv->recipient_name ? cv->recipient_name : "");
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
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

	PG_RETURN_ARRAYTYPE_P(gbn_template_args(names, params));
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
