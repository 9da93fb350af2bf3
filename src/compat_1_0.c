/*-------------------------------------------------------------------------
 *
 * compat_1_0.c
 *		Entry points that only the extension's 1.0 SQL calls, for the time
 *		between installing this library and ALTER EXTENSION ... UPDATE.
 *
 * Until the update, the app's tables still carry 1.0's triggers.  They must
 * never abort the app's transaction (SPEC: a notification problem never
 * breaks the case workflow), so here they do nothing but say, once per
 * session, that the update is due.  The worker sends nothing meanwhile
 * (state "waiting for ALTER EXTENSION UPDATE"); queued rows wait.
 *
 * src/compat_1_0.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "utils/lsyscache.h"

#include "compat.h"
#include "guestbook_notify.h"

PG_FUNCTION_INFO_V1(gbn_trg_assigned);

static bool warned = false;

/* Is the extension's SQL at this library's version (1.1 objects there)? */
bool
gbn_sql_is_current(void)
{
	Oid			nsp = get_namespace_oid("guestbook_notify", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("trigger_events", nsp));
}

void
gbn_warn_sql_outdated(void)
{
	if (warned)
		return;
	warned = true;
	ereport(WARNING,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("guestbook_notify: this change was not queued for notification: the extension's SQL is older than its library (%s)",
					GBN_VERSION),
			 errhint("Run ALTER EXTENSION guestbook_notify UPDATE.")));
}

/* 1.0's _trg_assigned() */
Datum
gbn_trg_assigned(PG_FUNCTION_ARGS)
{
	gbn_warn_sql_outdated();
	return PointerGetDatum(NULL);
}
