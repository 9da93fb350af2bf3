/*-------------------------------------------------------------------------
 *
 * row_check.c
 *		guestbook_notify._queue_row_valid(): the row rules of
 *		notification_queue (and its archive), as one CHECK constraint.
 *
 * PostgreSQL 15 reads every CHECK constraint's stored expression back and
 * plans it once per statement execution -- for the app's trigger, once per
 * assignment.  One call of a C function of five columns is the cheapest
 * such expression (tests/bench/README.md, profiling notes 3).  The rules:
 * channel 'whatsapp'; status pending|sent|failed|cancelled; attempt_count
 * >= 0; delivery_status NULL or sent|delivered|read|failed; 'sent' needs
 * sent_at.  As with separate CHECKs, a part that is NULL passes.
 *
 * src/row_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(gbn_queue_row_valid);

static bool
text_is(text *t, const char *s)
{
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

static bool
text_in(text *t, const char *const *set)
{
	for (; *set != NULL; set++)
		if (text_is(t, *set))
			return true;
	return false;
}

/*
 * _queue_row_valid(p_channel text, p_status text, p_attempt_count integer,
 *					p_delivery_status text, p_sent_at timestamptz)
 *		RETURNS boolean, IMMUTABLE, not STRICT
 */
Datum
gbn_queue_row_valid(PG_FUNCTION_ARGS)
{
	static const char *const statuses[] =
	{"pending", "sent", "failed", "cancelled", NULL};
	static const char *const delivery_statuses[] =
	{"sent", "delivered", "read", "failed", NULL};

	if (!PG_ARGISNULL(0) && !text_is(PG_GETARG_TEXT_PP(0), "whatsapp"))
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(1) && !text_in(PG_GETARG_TEXT_PP(1), statuses))
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) < 0)
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(3) && !text_in(PG_GETARG_TEXT_PP(3), delivery_statuses))
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(1) && text_is(PG_GETARG_TEXT_PP(1), "sent") &&
		PG_ARGISNULL(4))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(true);
}
