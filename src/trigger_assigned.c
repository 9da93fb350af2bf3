/*-------------------------------------------------------------------------
 *
 * trigger_assigned.c
 *		guestbook_notify._trg_assigned(): AFTER INSERT ON
 *		<schema>.case_assignments, FOR EACH ROW -> a notification to the
 *		operator.
 *
 * The app's hot path, so in C: one kept statement reads the operator, the
 * case, its org unit, the earlier assignment, the template and the opt-out
 * probe; the values are rendered in C; _enqueue_row's kept INSERT writes
 * the row (tests/bench/README.md, profiling notes 3 and 5).
 *
 * Never aborts the app's transaction for a notification problem: an
 * unknown or inactive operator or an unknown case becomes a 'failed' row
 * (+ case_events 'notification_failed'), as do a bad number or a missing
 * template (see enqueue.c).
 *
 * dedupe_key 'assigned:<case>:<operator>:<id of the latest earlier
 * assignment of this case to a DIFFERENT operator, or "first">': the same
 * assignment inserted again, a retried transaction and two concurrent
 * transactions assigning the same operator all compute the same key, while
 * reassigning away and back makes a new one.
 *
 * SECURITY DEFINER in SQL (the app's roles have no rights on our tables),
 * with search_path pinned like every SECURITY DEFINER function of the
 * extension; the statements name every table, function and operator
 * schema-qualified anyway, so a kept plan means the same whatever
 * search_path it is re-analysed under.
 *
 * src/trigger_assigned.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "enqueue.h"

PG_FUNCTION_INFO_V1(gbn_trg_assigned);

/*
 * The lookup statement of one app schema, kept for the session.  The
 * parameter types are those of NEW's columns; the plan cache replans it
 * when the tables change, and a schema renamed or recreated under the same
 * name is looked up again by name.
 */
typedef struct AssignedLookup
{
	char		schema[NAMEDATALEN];
	Oid			types[3];		/* case_id, operator_id, assigned_at */
	SPIPlanPtr	plan;
	struct AssignedLookup *next;
} AssignedLookup;

static AssignedLookup *lookups = NULL;

/* columns of the lookup's result */
enum
{
	COL_PREV = 1,
	COL_USER_FOUND,
	COL_FULL_NAME,
	COL_WHATSAPP_NUMBER,
	COL_IS_ACTIVE,
	COL_CASE_FOUND,
	COL_CODE,
	COL_CASE_TYPE,
	COL_UNIT_TUJUAN,
	COL_ORG_UNIT_NAME,
	COL_VISITOR_NAME,
	COL_VISITOR_ID_NUMBER,
	COL_PURPOSE,
	COL_SURAT_TRACKING_NO,
	COL_SURAT_PERIHAL,
	COL_TEMPLATE				/* six columns: see GBN_TEMPLATE_COLUMNS */
};

static SPIPlanPtr
lookup_plan(const char *schema, Oid *types)
{
	AssignedLookup *l;
	const char *s = quote_identifier(schema);
	char	   *sql;
	SPIPlanPtr	plan;

	for (l = lookups; l != NULL; l = l->next)
		if (strcmp(l->schema, schema) == 0 &&
			memcmp(l->types, types, sizeof(l->types)) == 0)
			return l->plan;

	sql = psprintf("SELECT (SELECT a.id::pg_catalog.text"
				   " FROM %s.case_assignments a"
				   " WHERE a.case_id OPERATOR(pg_catalog.=) $1"
				   " AND a.operator_id OPERATOR(pg_catalog.<>) $2"
				   " AND a.assigned_at OPERATOR(pg_catalog.<=) $3"
				   " ORDER BY a.assigned_at DESC, a.id DESC LIMIT 1),"
				   " u.id IS NOT NULL, u.full_name::pg_catalog.text,"
				   " u.whatsapp_number::pg_catalog.text, u.is_active,"
				   " c.id IS NOT NULL, c.code::pg_catalog.text,"
				   " c.case_type::pg_catalog.text,"
				   " c.unit_tujuan::pg_catalog.text, ou.name::pg_catalog.text,"
				   " c.visitor_name::pg_catalog.text,"
				   " c.visitor_id_number::pg_catalog.text,"
				   " c.purpose::pg_catalog.text,"
				   " c.surat_tracking_no::pg_catalog.text,"
				   " c.surat_perihal::pg_catalog.text, "
				   GBN_TEMPLATE_COLUMNS("guestbook_notify._normalize_number("
										"u.whatsapp_number::pg_catalog.text)")
				   " FROM (SELECT) AS one"
				   " LEFT JOIN %s.users u ON u.id OPERATOR(pg_catalog.=) $2"
				   " LEFT JOIN %s.cases c ON c.id OPERATOR(pg_catalog.=) $1"
				   " LEFT JOIN %s.org_units ou"
				   " ON ou.id OPERATOR(pg_catalog.=) c.org_unit_id"
				   GBN_TEMPLATE_JOIN("'assigned'"),
				   s, s, s, s);
	plan = gbn_prepare_kept(sql, 3, types);

	l = MemoryContextAllocZero(TopMemoryContext, sizeof(AssignedLookup));
	strlcpy(l->schema, schema, NAMEDATALEN);
	memcpy(l->types, types, sizeof(l->types));
	l->plan = plan;
	l->next = lookups;
	lookups = l;
	return plan;
}

/* NEW.<column>: its value, type and text form ("" when NULL, as format()) */
typedef struct NewColumn
{
	Datum		value;
	bool		isnull;
	Oid			type;
	char	   *text;
} NewColumn;

static void
new_column(TriggerData *td, const char *name, NewColumn *col)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, RelationGetRelationName(td->tg_relation))));
	col->value = SPI_getbinval(td->tg_trigtuple, desc, attno, &col->isnull);
	col->type = SPI_gettypeid(desc, attno);
	col->text = col->isnull ? "" : SPI_getvalue(td->tg_trigtuple, desc, attno);
}

static char *
result_text(HeapTuple tup, TupleDesc desc, int col)
{
	return SPI_getvalue(tup, desc, col);
}

static bool
result_bool(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? false : DatumGetBool(d);
}

Datum
gbn_trg_assigned(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	char	   *schema;
	NewColumn	case_id;
	NewColumn	operator_id;
	NewColumn	assigned_at;
	Oid			types[3];
	Datum		values[3];
	char		nulls[3];
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	bool		user_found;
	bool		case_found;
	char	   *full_name;
	char	   *prev;
	const char *problem = NULL;
	GbnCaseValues cv;
	GbnEnqueueRow row;
	pg_uuid_t	id;
	pg_uuid_t	case_uuid;
	GbnTemplate tmpl;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_trg_assigned() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_trg_assigned() must be fired AFTER INSERT FOR EACH ROW")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	schema = get_namespace_name(RelationGetNamespace(td->tg_relation));
	new_column(td, "case_id", &case_id);
	new_column(td, "operator_id", &operator_id);
	new_column(td, "assigned_at", &assigned_at);

	types[0] = case_id.type;
	types[1] = operator_id.type;
	types[2] = assigned_at.type;
	plan = lookup_plan(schema, types);
	values[0] = case_id.value;
	nulls[0] = case_id.isnull ? 'n' : ' ';
	values[1] = operator_id.value;
	nulls[1] = operator_id.isnull ? 'n' : ' ';
	values[2] = assigned_at.value;
	nulls[2] = assigned_at.isnull ? 'n' : ' ';
	if (SPI_execute_plan(plan, values, nulls, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "assignment lookup failed");
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	prev = result_text(tup, desc, COL_PREV);
	user_found = result_bool(tup, desc, COL_USER_FOUND, &isnull);
	full_name = result_text(tup, desc, COL_FULL_NAME);
	case_found = result_bool(tup, desc, COL_CASE_FOUND, &isnull);

	if (!user_found)
		problem = psprintf("no active recipient: operator %s not found in %s.users",
						   operator_id.text, quote_identifier(schema));
	else if (!result_bool(tup, desc, COL_IS_ACTIVE, &isnull))
		problem = psprintf("no active recipient: operator %s is inactive",
						   full_name ? full_name : "");

	memset(&row, 0, sizeof(row));
	if (case_found)
	{
		cv.case_id = case_id.text;
		cv.code = result_text(tup, desc, COL_CODE);
		cv.case_type = result_text(tup, desc, COL_CASE_TYPE);
		cv.unit_tujuan = result_text(tup, desc, COL_UNIT_TUJUAN);
		cv.org_unit_name = result_text(tup, desc, COL_ORG_UNIT_NAME);
		cv.visitor_name = result_text(tup, desc, COL_VISITOR_NAME);
		cv.visitor_id_number = result_text(tup, desc, COL_VISITOR_ID_NUMBER);
		cv.purpose = result_text(tup, desc, COL_PURPOSE);
		cv.surat_tracking_no = result_text(tup, desc, COL_SURAT_TRACKING_NO);
		cv.surat_perihal = result_text(tup, desc, COL_SURAT_PERIHAL);
		cv.recipient_name = full_name;
		row.params = gbn_case_params(&cv);
	}
	else
	{
		if (problem == NULL)
			problem = psprintf("case %s not found in %s.cases",
							   case_id.text, quote_identifier(schema));
		row.params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														CStringGetDatum("{}")));
	}

	row.template_key = "assigned";
	row.number_raw = result_text(tup, desc, COL_WHATSAPP_NUMBER);
	row.recipient_name = full_name ? full_name : operator_id.text;
	row.recipient_role = "operator";
	if (!case_id.isnull)
	{
		/* case_id is uuid in SPEC §1; another type goes through its text */
		if (case_id.type == UUIDOID)
			memcpy(&case_uuid, DatumGetUUIDP(case_id.value), sizeof(pg_uuid_t));
		else
			memcpy(&case_uuid,
				   DatumGetUUIDP(DirectFunctionCall1(uuid_in,
													 CStringGetDatum(case_id.text))),
				   sizeof(pg_uuid_t));
		row.case_id = &case_uuid;
	}
	row.app_schema = schema;
	row.dedupe_key = psprintf("assigned:%s:%s:%s", case_id.text,
							  operator_id.text, prev ? prev : "first");
	row.scheduled_at_isnull = true;
	row.problem = problem;
	gbn_template_from_result(tup, desc, COL_TEMPLATE, &tmpl);
	row.template = &tmpl;

	(void) gbn_enqueue_row(&row, &id);

	SPI_finish();
	return PointerGetDatum(NULL);
}
