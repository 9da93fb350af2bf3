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

#include "status.h"

PG_FUNCTION_INFO_V1(gbn_queue_row_valid);

/*
 * _queue_row_valid(p_channel text, p_status text, p_attempt_count integer,
 *					p_delivery_status text, p_sent_at timestamptz)
 *		RETURNS boolean, IMMUTABLE, not STRICT
 *
 * The names come from status.c, as everywhere else.
 */
Datum
gbn_queue_row_valid(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
	{
		text	   *channel = PG_GETARG_TEXT_PP(0);

		if (VARSIZE_ANY_EXHDR(channel) != 8 ||
			memcmp(VARDATA_ANY(channel), "whatsapp", 8) != 0)
			PG_RETURN_BOOL(false);
	}
	if (!PG_ARGISNULL(1))
	{
		text	   *status = PG_GETARG_TEXT_PP(1);
		GbnStatus	st = gbn_status_from_name(VARDATA_ANY(status),
											  VARSIZE_ANY_EXHDR(status));

		if (st == GBN_STATUS_UNKNOWN)
			PG_RETURN_BOOL(false);
		if (st == GBN_STATUS_SENT && PG_ARGISNULL(4))
			PG_RETURN_BOOL(false);
	}
	if (!PG_ARGISNULL(2) && PG_GETARG_INT32(2) < 0)
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(3))
	{
		text	   *ds = PG_GETARG_TEXT_PP(3);

		if (gbn_delivery_status_from_name(VARDATA_ANY(ds), VARSIZE_ANY_EXHDR(ds)) < 0)
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
