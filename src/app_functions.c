/*-------------------------------------------------------------------------
 *
 * app_functions.c
 *		The SQL side's look-ups of the app's tables, for enqueue() and
 *		render(): each table read as its owner (app_lookup.c).
 *
 *	 _case_schema(case_id) -> name
 *	 _case_params_by_id(schema, case_id, recipient_name) -> jsonb
 *	 _find_contact(schema, org_unit_id, contact_type)
 *		-> (contact_name, whatsapp_number, problem)
 *
 * src/app_functions.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "app_lookup.h"
#include "render.h"
#include "spi_util.h"
#include "tx.h"

PG_FUNCTION_INFO_V1(gbn_case_schema_sql);
PG_FUNCTION_INFO_V1(gbn_case_params_by_id_sql);
PG_FUNCTION_INFO_V1(gbn_find_contact_sql);

static char *
uuid_arg(FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		return NULL;
	return DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(n)));
}

typedef struct FindCase
{
	GbnAppLookup lk;
	const char *schema;
	char	   *case_id;
} FindCase;

static void
find_case_in(void *arg)
{
	FindCase   *f = (FindCase *) arg;

	gbn_lookup_schema(&f->lk, f->schema, list_make1(f->case_id), NIL, NIL,
					  false, false);
}

/* _case_schema(p_case_id uuid) RETURNS name */
Datum
gbn_case_schema_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	char	   *case_id = uuid_arg(fcinfo, 0);
	char	   *found = NULL;
	uint64		i;
	uint64		n;
	char	  **schemas;

	if (case_id == NULL)
		PG_RETURN_NULL();
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gbn_spi_run(SPI_prepare("SELECT a.schema_name::text FROM guestbook_notify.attached_schemas a"
							" ORDER BY a.schema_name", 0, NULL),
				NULL, NULL, SPI_OK_SELECT, 0);
	n = SPI_processed;
	schemas = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
		schemas[i] = gbn_spi_text(i, 1);

	/* a schema whose cases table cannot be read is skipped */
	for (i = 0; i < n && found == NULL; i++)
	{
		FindCase	f;

		memset(&f, 0, sizeof(f));
		f.schema = schemas[i];
		f.case_id = case_id;
		if (gbn_try_subxact(find_case_in, &f) == NULL &&
			gbn_lookup_case(&f.lk, case_id) != NULL)
			found = schemas[i];
	}
	found = found ? SPI_palloc(strlen(found) + 1) : NULL;
	if (found)
		strcpy(found, schemas[i - 1]);
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	if (found == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(found)));
}

/* _case_params_by_id(p_schema name, p_case_id uuid, p_recipient_name text) */
Datum
gbn_case_params_by_id_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	GbnAppLookup lk;
	char	   *case_id = uuid_arg(fcinfo, 1);
	GbnCaseInfo *c;
	GbnUnitInfo *u;
	GbnCaseValues cv;
	Jsonb	   *result;

	if (PG_ARGISNULL(0) || case_id == NULL)
		PG_RETURN_NULL();
	memset(&lk, 0, sizeof(lk));
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gbn_lookup_schema(&lk, NameStr(*PG_GETARG_NAME(0)), list_make1(case_id),
					  NIL, NIL, false, false);
	c = gbn_lookup_case(&lk, case_id);
	if (c == NULL)
	{
		SPI_finish();
		gbn_unpin_search_path(nestlevel);
		PG_RETURN_NULL();
	}
	cv = c->values;
	u = gbn_lookup_unit(&lk, c->org_unit_id);
	cv.org_unit_name = u ? u->name : NULL;
	cv.recipient_name = gbn_text_arg(fcinfo, 2);
	result = gbn_case_params(&cv);
	result = (Jsonb *) memcpy(SPI_palloc(VARSIZE(result)), result, VARSIZE(result));
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	PG_RETURN_JSONB_P(result);
}

/* _find_contact(p_schema, p_org_unit_id, p_contact_type, OUT ...) */
Datum
gbn_find_contact_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	MemoryContext outer = CurrentMemoryContext;
	GbnAppLookup lk;
	char	   *unit = uuid_arg(fcinfo, 1);
	char	   *type = gbn_text_arg(fcinfo, 2);
	GbnContact	c;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3];
	HeapTuple	tup;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_find_contact must return a record");
	if (PG_ARGISNULL(0) || type == NULL ||
		(strcmp(type, "lead") != 0 && strcmp(type, "kadis") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("contact type must be \"lead\" or \"kadis\"")));
	memset(&lk, 0, sizeof(lk));
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gbn_lookup_schema(&lk, NameStr(*PG_GETARG_NAME(0)), NIL, NIL,
					  unit ? list_make1(unit) : NIL, true, false);
	gbn_find_contact(&lk, unit, type, &c);
	c.name = c.name ? MemoryContextStrdup(outer, c.name) : NULL;
	c.number = c.number ? MemoryContextStrdup(outer, c.number) : NULL;
	c.problem = c.problem ? MemoryContextStrdup(outer, c.problem) : NULL;
	SPI_finish();
	gbn_unpin_search_path(nestlevel);

	nulls[0] = c.name == NULL;
	nulls[1] = c.number == NULL;
	nulls[2] = c.problem == NULL;
	values[0] = c.name ? CStringGetTextDatum(c.name) : (Datum) 0;
	values[1] = c.number ? CStringGetTextDatum(c.number) : (Datum) 0;
	values[2] = c.problem ? CStringGetTextDatum(c.problem) : (Datum) 0;
	desc = BlessTupleDesc(desc);
	tup = heap_form_tuple(desc, values, nulls);
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}
