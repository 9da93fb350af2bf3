/*-------------------------------------------------------------------------
 *
 * admin_csv.c
 *		GET /export.csv: the list's current tab and filter as CSV, masked
 *		as the list is (page_list() masks), at most 100,000 rows.
 *
 * UTF-8 with a byte order mark (so that spreadsheets read Indonesian text
 * right), CRLF line ends, every cell quoted, and a cell that starts with
 * = + - @, a tab or a carriage return prefixed with an apostrophe
 * (buf_csv_cell): a visitor's text never becomes a formula.
 *
 * src/web/admin_csv.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "admin.h"

#define CSV_MAX_ROWS 100000
#define CSV_BATCH 1000

int
admin_csv_export(AdminCtx *c)
{
	ListFilter	lf;
	char	   *fj;
	Buf			b;
	char		after_us[24] = "";
	char		after_id[37] = "";
	char		limit[16];
	int			total = 0;
	int			ret;
	static const char *const head[] = {"id", "created_at", "status", "delivery_status",
		"template", "recipient_role", "recipient_name", "number", "case_code", "message",
		"attempts", "last_error"};
	int			i;

	admin_filter_read(&c->q, &lf);
	if (strcmp(lf.tab, "overdue") == 0)
		snprintf(lf.tab, sizeof(lf.tab), "all");
	fj = admin_filter_json(&lf);
	if (fj == NULL)
		return MHD_NO;
	buf_init(&b);
	buf_add(&b, "\xEF\xBB\xBF");
	for (i = 0; i < 12; i++)
	{
		if (i > 0)
			buf_add(&b, ",");
		buf_csv_cell(&b, head[i]);
	}
	buf_add(&b, "\r\n");
	snprintf(limit, sizeof(limit), "%d", CSV_BATCH);
	while (total < CSV_MAX_ROWS)
	{
		const char *params[5] = {lf.tab, fj, after_us, after_id, limit};
		PGresult   *res = admin_exec(c,
									 "SELECT id, created_at::text, status, delivery_status, template_key,"
									 " recipient_role, recipient_name, to_number, case_code, subject,"
									 " attempt_count, last_error, (extract(epoch FROM created_at) * 1000000)::bigint"
									 " FROM guestbook_notify.page_list($1, $2::jsonb,"
									 "  CASE WHEN $3 = '' THEN NULL"
									 "       ELSE 'epoch'::timestamptz + $3::bigint * interval '1 microsecond' END,"
									 "  nullif($4, '')::uuid, $5::integer)",
									 5, params);
		int			n;

		if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
			bool		denied = state != NULL && strcmp(state, "42501") == 0;

			PQclear(res);
			free(fj);
			buf_free(&b);
			return admin_send(c, denied ? MHD_HTTP_FORBIDDEN : MHD_HTTP_INTERNAL_SERVER_ERROR,
							  "text/plain; charset=utf-8", denied ? "permission denied\n" : "error\n",
							  denied ? 18 : 6, NULL, NULL);
		}
		n = PQntuples(res);
		for (i = 0; i < n && total < CSV_MAX_ROWS; i++, total++)
		{
			int			k;

			for (k = 0; k < 12; k++)
			{
				if (k > 0)
					buf_add(&b, ",");
				buf_csv_cell(&b, PQgetisnull(res, i, k) ? "" : PQgetvalue(res, i, k));
			}
			buf_add(&b, "\r\n");
		}
		if (n > 0)
		{
			snprintf(after_us, sizeof(after_us), "%s", PQgetvalue(res, n - 1, 12));
			snprintf(after_id, sizeof(after_id), "%s", PQgetvalue(res, n - 1, 0));
		}
		PQclear(res);
		if (n < CSV_BATCH)
			break;
	}
	free(fj);
	if (b.oom)
	{
		buf_free(&b);
		return admin_send(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
						  "out of memory\n", 14, NULL, NULL);
	}
	gbnw_log(GBNW_LOG, "page: role \"%s\" exported %d rows as CSV (masked)", c->s->role, total);
	ret = admin_send(c, MHD_HTTP_OK, "text/csv; charset=utf-8", b.data, b.len,
					 MHD_HTTP_HEADER_CONTENT_DISPOSITION, "attachment; filename=\"notifications.csv\"");
	buf_free(&b);
	return ret;
}
