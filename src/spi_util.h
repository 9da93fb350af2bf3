/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *		Small SPI helpers shared by every file that runs SQL: kept plans,
 *		parameter values, single-value results.
 *
 * src/spi_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_SPI_UTIL_H
#define GBN_SPI_UTIL_H

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

/* SPI_prepare + SPI_keepplan, erroring out on failure; caller in SPI */
extern SPIPlanPtr gbn_prepare_kept(const char *sql, int nargs, Oid *argtypes);

/* run a kept plan, expecting SPI result code expected (elog on anything else) */
extern void gbn_spi_run(SPIPlanPtr plan, Datum *values, const char *nulls,
						int expected, long tcount);

/* a text Datum for s, or a null (*null = 'n') when s is NULL */
extern Datum gbn_text_datum(const char *s, char *null);

/* column col of result row row as a C string (NULL for SQL NULL) */
extern char *gbn_spi_text(int row, int col);
extern bool gbn_spi_bool(int row, int col, bool if_null);
extern bool gbn_spi_uuid(int row, int col, pg_uuid_t *out);

/*
 * Parameters of a statement, added in order: values, nulls and types side
 * by side, so a statement's parameters are listed once, by name, where
 * they are built (no hand-remapped arrays).
 */
#define GBN_MAX_SQL_ARGS 24

typedef struct GbnSqlArgs
{
	int			n;
	Datum		values[GBN_MAX_SQL_ARGS];
	char		nulls[GBN_MAX_SQL_ARGS];
	Oid			types[GBN_MAX_SQL_ARGS];
} GbnSqlArgs;

extern void gbn_arg(GbnSqlArgs *a, Oid type, Datum value, bool isnull);
extern void gbn_arg_text(GbnSqlArgs *a, const char *s);

/*
 * search_path pg_catalog, pg_temp until gbn_unpin_search_path(): for the C
 * functions SQL calls, which run SQL of their own and must not resolve a
 * name through a schema of the caller's (or of the database's default
 * search_path, which the database's owner sets).
 */
extern int	gbn_pin_search_path(void);
extern void gbn_unpin_search_path(int nestlevel);

/* argument n of a SQL function as a C string, NULL for SQL NULL */
static inline char *
gbn_text_arg(FunctionCallInfo fcinfo, int n)
{
	return PG_ARGISNULL(n) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(n));
}

#endif							/* GBN_SPI_UTIL_H */
