/*-------------------------------------------------------------------------
 *
 * app_access.h
 *		How the extension reaches the guestbook app's tables: as the owner
 *		of each table, in a security-restricted context (the trust model;
 *		README "Trust model").
 *
 * src/app_access.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_APP_ACCESS_H
#define GBN_APP_ACCESS_H

#include "executor/spi.h"
#include "storage/lockdefs.h"

/* what gbn_become_owner() saved, for gbn_restore_user() */
typedef struct GbnAsOwner
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} GbnAsOwner;

/* is name one of the guestbook tables attach() knows? */
extern bool gbn_is_app_table_name(const char *name);

/*
 * The OID of <schema>.<table>, locked in lockmode and checked to be a plain
 * or partitioned table; InvalidOid with a readable *problem otherwise (a
 * view, a foreign table, missing...).  Never raises an error for such a
 * problem, so that callers can record it as the notification's reason.
 * nowait: a lock that is not free at once is an ERROR (lock_not_available)
 * instead of a wait.
 */
extern Oid	gbn_app_relation(const char *schema, const char *table,
							 LOCKMODE lockmode, bool nowait, char **problem);

/*
 * Become the owner of relid, in a security-restricted operation, with
 * search_path pg_catalog, pg_temp and (when lock_timeout_ms > 0) that lock
 * timeout, all in a new GUC nest level; gbn_restore_user() undoes it.  An
 * error in between is cleaned up by the (sub)transaction's abort, as for
 * REFRESH MATERIALIZED VIEW and VACUUM.
 */
extern void gbn_become_owner(Oid relid, int lock_timeout_ms, GbnAsOwner *st);
extern void gbn_restore_user(GbnAsOwner *st);

/* the owner of relation relid */
extern Oid	gbn_relation_owner(Oid relid);

/* elog(ERROR) unless every relation plan reads is relid */
extern void gbn_plan_reads_only(SPIPlanPtr plan, Oid relid);

#endif							/* GBN_APP_ACCESS_H */
