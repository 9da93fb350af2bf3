/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *		Small SPI helpers shared by every file that runs SQL.
 *
 * src/spi_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/guc.h"

#include "spi_util.h"

SPIPlanPtr
gbn_prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

void
gbn_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls, int expected,
			long tcount)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, tcount);

	if (rc != expected)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

Datum
gbn_text_datum(const char *s, char *null)
{
	*null = (s == NULL) ? 'n' : ' ';
	return s == NULL ? (Datum) 0 : PointerGetDatum(cstring_to_text(s));
}

char *
gbn_spi_text(int row, int col)
{
	if ((uint64) row >= SPI_processed)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

bool
gbn_spi_bool(int row, int col, bool if_null)
{
	bool		isnull;
	Datum		d;

	if ((uint64) row >= SPI_processed)
		return if_null;
	d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	return isnull ? if_null : DatumGetBool(d);
}

bool
gbn_spi_uuid(int row, int col, pg_uuid_t *out)
{
	bool		isnull;
	Datum		d;

	if ((uint64) row >= SPI_processed)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	if (isnull)
		return false;
	memcpy(out, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	return true;
}

void
gbn_arg(GbnSqlArgs *a, Oid type, Datum value, bool isnull)
{
	if (a->n >= GBN_MAX_SQL_ARGS)
		elog(ERROR, "too many statement parameters");
	a->types[a->n] = type;
	a->values[a->n] = isnull ? (Datum) 0 : value;
	a->nulls[a->n] = isnull ? 'n' : ' ';
	a->n++;
}

void
gbn_arg_text(GbnSqlArgs *a, const char *s)
{
	gbn_arg(a, TEXTOID, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

int
gbn_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
gbn_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}
