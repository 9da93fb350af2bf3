/*-------------------------------------------------------------------------
 *
 * trigger.c
 *		guestbook_notify._trg_event(kind): the triggers attach() puts on
 *		the app's tables.  They record what happened, from NEW and OLD
 *		alone, as one narrow row of guestbook_notify.trigger_events, and
 *		wake the worker at commit; the worker resolves the recipient,
 *		renders the message and writes the queue row (events.c).
 *
 *	 _trg_event('assigned')	  AFTER INSERT ON <schema>.case_assignments
 *							  -> kind 'assigned': case, operator, assignment
 *	 _trg_event('escalated')  AFTER INSERT OR UPDATE OF status,
 *							  escalation_level ON <schema>.cases (WHEN: a
 *							  transition)	-> kind 'escalated_lead' or
 *							  'escalated_kadis': case, org unit
 *
 * Why so little here (tests/bench/README.md, profiling notes 6):
 *	 - cost: this runs in the app's own transaction, once per assignment;
 *	   one INSERT of a row with a primary key is the price of a minimal
 *	   outbox, and it does not grow with the app's tables;
 *	 - trust: the trigger fires in the app's session but must write the
 *	   extension's table, which the app's roles cannot; it becomes the
 *	   table's owner for that one INSERT, and reads nothing of the app's but
 *	   NEW and OLD, whose values are copied as they are (uuid columns: the
 *	   type is checked, no cast or function of the app's runs).  Lookups of
 *	   the app's tables happen later, in the worker, as their owner.
 *
 * The function is not SECURITY DEFINER (so no search_path to pin): the
 * one statement it runs is kept and names everything schema-qualified.
 *
 * src/trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/xid8.h"

#include "app_access.h"
#include "guestbook_notify.h"
#include "spi_util.h"

PG_FUNCTION_INFO_V1(gbn_trg_event);

#define EVENT_NARGS 8

static SPIPlanPtr insert_plan = NULL;

static const char *const insert_sql =
"INSERT INTO guestbook_notify.trigger_events"
" (kind, app_schema, xid, case_id, subject_id, row_id, org_unit_id, problem)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/* the values of one event row, as the INSERT takes them */
typedef struct EventRow
{
	Datum		values[EVENT_NARGS];
	char		nulls[EVENT_NARGS];
	char	   *problem;
} EventRow;

/*
 * NEW.<name> (or OLD.<name>) as a uuid Datum in column col of ev; a
 * missing or non-uuid column is recorded as the event's problem.
 */
static void
uuid_column(TriggerData *td, HeapTuple tuple, const char *name,
			EventRow *ev, int col)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(desc, name);
	bool		isnull = true;

	ev->nulls[col] = 'n';
	if (attno <= 0)
	{
		ev->problem = psprintf("column %s.%s is missing",
							   RelationGetRelationName(td->tg_relation), name);
		return;
	}
	if (TupleDescAttr(desc, attno - 1)->atttypid != UUIDOID)
	{
		ev->problem = psprintf("column %s.%s is not of type uuid",
							   RelationGetRelationName(td->tg_relation), name);
		return;
	}
	ev->values[col] = SPI_getbinval(tuple, desc, attno, &isnull);
	if (!isnull)
		ev->nulls[col] = ' ';
}

/* the text value of a text-like column of tuple, or NULL */
static char *
text_column(TriggerData *td, HeapTuple tuple, const char *name)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	int			attno = SPI_fnumber(desc, name);
	Oid			type;

	if (attno <= 0 || tuple == NULL)
		return NULL;
	type = getBaseType(TupleDescAttr(desc, attno - 1)->atttypid);
	/* text, varchar, bpchar, name and enums have built-in output functions */
	if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID &&
		type != NAMEOID && !type_is_enum(type))
		return NULL;
	return SPI_getvalue(tuple, desc, attno);
}

static bool
text_eq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/* 1 = at lead, 2 = at kadis, 0 = neither (see attach()'s WHEN clauses) */
static int
escalation_of(TriggerData *td, HeapTuple tuple)
{
	char	   *level = text_column(td, tuple, "escalation_level");
	char	   *status = text_column(td, tuple, "status");

	if (text_eq(level, "kadis"))
		return 2;
	if (text_eq(level, "lead") ||
		(text_eq(level, "none") && text_eq(status, "escalated")))
		return 1;
	return 0;
}

/* the kind of escalation this row change is, or NULL for none */
static const char *
escalation_kind(TriggerData *td)
{
	HeapTuple	newtup = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
		td->tg_newtuple : td->tg_trigtuple;
	int			now = escalation_of(td, newtup);
	int			before = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ?
		escalation_of(td, td->tg_trigtuple) : 0;

	if (now == 1 && before != 1)
		return "escalated_lead";
	if (now == 2 && before != 2)
		return "escalated_kadis";
	return NULL;
}

static void
check_call(FunctionCallInfo fcinfo, TriggerData *td)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_trg_event() was not called by the trigger manager")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) ||
		td->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_trg_event() must be fired AFTER INSERT or UPDATE FOR EACH ROW with one argument")));
}

/* Insert ev as the owner of trigger_events (the extension's owner). */
static void
insert_event(EventRow *ev)
{
	Oid			nsp = get_namespace_oid("guestbook_notify", false);
	Oid			relid = get_relname_relid("trigger_events", nsp);
	Oid			save_userid;
	int			save_sec_context;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("guestbook_notify.trigger_events does not exist"),
				 errhint("The extension's SQL is older than its library: run ALTER EXTENSION guestbook_notify UPDATE.")));

	if (insert_plan == NULL)
	{
		Oid			types[EVENT_NARGS] = {TEXTOID, NAMEOID, XID8OID, UUIDOID,
		UUIDOID, UUIDOID, UUIDOID, TEXTOID};

		insert_plan = gbn_prepare_kept(insert_sql, EVENT_NARGS, types);
	}
	ev->values[7] = gbn_text_datum(ev->problem, &ev->nulls[7]);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(gbn_relation_owner(relid),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	gbn_spi_run(insert_plan, ev->values, ev->nulls, SPI_OK_INSERT, 0);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

Datum
gbn_trg_event(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *arg;
	const char *kind;
	HeapTuple	tuple;
	EventRow	ev;
	char	   *schema;

	check_call(fcinfo, td);
	arg = td->tg_trigger->tgargs[0];
	tuple = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;

	if (strcmp(arg, "assigned") == 0)
		kind = "assigned";
	else if (strcmp(arg, "escalated") == 0)
		kind = escalation_kind(td);
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_trg_event(): unknown kind \"%s\"", arg)));
	if (kind == NULL)
		return PointerGetDatum(NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	memset(&ev, 0, sizeof(ev));
	memset(ev.nulls, 'n', sizeof(ev.nulls));
	schema = get_namespace_name(RelationGetNamespace(td->tg_relation));
	ev.values[0] = CStringGetTextDatum(kind);
	ev.nulls[0] = ' ';
	ev.values[1] = DirectFunctionCall1(namein, CStringGetDatum(schema));
	ev.nulls[1] = ' ';
	ev.values[2] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	ev.nulls[2] = ' ';
	if (strcmp(kind, "assigned") == 0)
	{
		uuid_column(td, tuple, "case_id", &ev, 3);
		uuid_column(td, tuple, "operator_id", &ev, 4);
		uuid_column(td, tuple, "id", &ev, 5);
	}
	else
	{
		uuid_column(td, tuple, "id", &ev, 3);
		uuid_column(td, tuple, "org_unit_id", &ev, 6);
	}
	insert_event(&ev);
	SPI_finish();

	gbn_wake_at_commit();
	return PointerGetDatum(NULL);
}
