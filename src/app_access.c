/*-------------------------------------------------------------------------
 *
 * app_access.c
 *		The one way the extension reads and writes the guestbook app's
 *		tables: as the owner of the table, in a security-restricted
 *		operation, as PostgreSQL itself does for VACUUM, ANALYZE and
 *		REFRESH MATERIALIZED VIEW (CVE-2022-1552).
 *
 * The extension's privileged code -- the worker, which connects as a
 * superuser, and the SECURITY DEFINER functions -- must never run code that
 * the app's owner controls with its own rights: a trigger, a CHECK or a
 * DEFAULT on case_events, a row-level security policy, a view swapped in
 * for a table, a function in the app's schema shadowing a pg_catalog name.
 * So whatever touches an app table here:
 *	 - resolves <schema>.<table> itself, locks it and accepts only a plain or
 *	   partitioned table (a view, foreign table or materialized view put in
 *	   its place is a readable problem, never read);
 *	 - runs as that table's owner with SECURITY_RESTRICTED_OPERATION (no
 *	   SET ROLE, no temporary objects...) in a new GUC nest level with
 *	   search_path pg_catalog, pg_temp, so the owner's own code runs with
 *	   the owner's rights and nothing leaks out;
 *	 - checks that the statement reads that table and no other relation.
 *
 * guestbook_notify._app_select(schema, table, sql, args) exposes this to
 * the SQL side (enqueue(), render(), sla_tick()); the worker's lookups
 * (events.c) and audit rows (audit.c) call the C functions directly.
 *
 * src/app_access.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/syscache.h"

#include "app_access.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(gbn_app_select);

static const char *const app_tables[] = {
	"org_units", "users", "org_unit_contacts", "cases", "case_assignments",
	"case_events", NULL
};

static SPIPlanPtr attached_plan = NULL;

bool
gbn_is_app_table_name(const char *name)
{
	const char *const *t;

	for (t = app_tables; *t != NULL; t++)
		if (strcmp(*t, name) == 0)
			return true;
	return false;
}

static const char *
relkind_name(char relkind)
{
	switch (relkind)
	{
		case RELKIND_VIEW:
			return "a view";
		case RELKIND_MATVIEW:
			return "a materialized view";
		case RELKIND_FOREIGN_TABLE:
			return "a foreign table";
		case RELKIND_SEQUENCE:
			return "a sequence";
		case RELKIND_INDEX:
		case RELKIND_PARTITIONED_INDEX:
			return "an index";
		case RELKIND_COMPOSITE_TYPE:
			return "a composite type";
		case RELKIND_TOASTVALUE:
			return "a TOAST table";
		default:
			return "not a table";
	}
}

Oid
gbn_app_relation(const char *schema, const char *table, LOCKMODE lockmode,
				 bool nowait, char **problem)
{
	RangeVar   *rv = makeRangeVar(pstrdup(schema), pstrdup(table), -1);
	Oid			relid;
	char		relkind;

	relid = RangeVarGetRelidExtended(rv, lockmode,
									 RVR_MISSING_OK | (nowait ? RVR_NOWAIT : 0),
									 NULL, NULL);
	if (!OidIsValid(relid))
	{
		*problem = psprintf("table %s.%s does not exist",
							quote_identifier(schema), quote_identifier(table));
		return InvalidOid;
	}
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
	{
		*problem = psprintf("%s.%s is %s, not a table: guestbook_notify reads and writes only tables",
							quote_identifier(schema), quote_identifier(table),
							relkind_name(relkind));
		if (lockmode != NoLock)
			UnlockRelationOid(relid, lockmode);
		return InvalidOid;
	}
	return relid;
}

Oid
gbn_relation_owner(Oid relid)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

void
gbn_become_owner(Oid relid, int lock_timeout_ms, GbnAsOwner *st)
{
	Oid			owner = gbn_relation_owner(relid);

	GetUserIdAndSecContext(&st->save_userid, &st->save_sec_context);
	SetUserIdAndSecContext(owner,
						   st->save_sec_context | SECURITY_RESTRICTED_OPERATION);
	st->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (lock_timeout_ms > 0)
	{
		char		buf[32];

		snprintf(buf, sizeof(buf), "%d", lock_timeout_ms);
		(void) set_config_option("lock_timeout", buf,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
}

void
gbn_restore_user(GbnAsOwner *st)
{
	AtEOXact_GUC(false, st->save_nestlevel);
	SetUserIdAndSecContext(st->save_userid, st->save_sec_context);
}

void
gbn_plan_reads_only(SPIPlanPtr plan, Oid relid)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, ps->relationOids)
		{
			if (lfirst_oid(lc2) != relid)
				elog(ERROR, "guestbook_notify: a statement on app table %u reads relation %u as well",
					 relid, lfirst_oid(lc2));
		}
	}
}

/* Is schema attached?  Caller is connected to SPI. */
static bool
schema_is_attached(const char *schema)
{
	Datum		value;
	char		null;

	if (attached_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};

		attached_plan = gbn_prepare_kept("SELECT 1 FROM guestbook_notify.attached_schemas a"
										 " WHERE a.schema_name OPERATOR(pg_catalog.=) $1::pg_catalog.name",
										 1, types);
	}
	value = gbn_text_datum(schema, &null);
	gbn_spi_run(attached_plan, &value, &null, SPI_OK_SELECT, 1);
	return SPI_processed == 1;
}

/* the arguments of _app_select, as text Datums */
static int
text_array_args(ArrayType *arr, Datum **values, char **nulls, Oid **types)
{
	Datum	   *elems;
	bool	   *isnull;
	int			n;
	int			i;

	if (arr == NULL)
		return 0;
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &isnull, &n);
	*values = elems;
	*nulls = palloc(Max(n, 1));
	*types = palloc(sizeof(Oid) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		(*nulls)[i] = isnull[i] ? 'n' : ' ';
		(*types)[i] = TEXTOID;
	}
	return n;
}

/*
 * guestbook_notify._app_select(p_schema name, p_table name, p_sql text,
 *								p_args text[] DEFAULT '{}') RETURNS SETOF jsonb
 *
 * Runs p_sql, a SELECT that reads <p_schema>.<p_table> and nothing else,
 * as that table's owner in a security-restricted operation; each result row
 * as a jsonb object (to_jsonb of the row).  $1..$n are p_args, as text.
 * p_schema must be attached and p_table one of the guestbook tables.
 */
Datum
gbn_app_select(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *schema;
	char	   *table;
	char	   *sql;
	char	   *problem = NULL;
	Oid			relid;
	Datum	   *values = NULL;
	char	   *nulls = NULL;
	Oid		   *types = NULL;
	int			nargs;
	SPIPlanPtr	plan;
	GbnAsOwner	st;
	uint64		i;
	int			nestlevel;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schema, table and query must not be NULL")));
	schema = NameStr(*PG_GETARG_NAME(0));
	table = NameStr(*PG_GETARG_NAME(1));
	sql = text_to_cstring(PG_GETARG_TEXT_PP(2));
	nargs = text_array_args(PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3),
							&values, &nulls, &types);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	if (!gbn_is_app_table_name(table))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not one of the guestbook tables", table)));

	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!schema_is_attached(schema))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" is not attached", schema),
				 errhint("See guestbook_notify.attach().")));
	relid = gbn_app_relation(schema, table, AccessShareLock, false, &problem);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s", problem)));

	gbn_become_owner(relid, 0, &st);
	plan = SPI_prepare(psprintf("SELECT pg_catalog.to_jsonb(r) FROM (%s) AS r", sql),
					   nargs, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	gbn_plan_reads_only(plan, relid);
	gbn_spi_run(plan, values, nulls, SPI_OK_SELECT, 0);
	gbn_restore_user(&st);

	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
									  1, &isnull);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &d, &isnull);
	}
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	return (Datum) 0;
}
