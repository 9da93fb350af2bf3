/*-------------------------------------------------------------------------
 *
 * events.c
 *		The worker's first step: the events the triggers recorded
 *		(trigger.c) become queue rows.
 *
 * A batch of events, oldest first, is read under an advisory lock (one
 * processor at a time, so the assignment dedupe below sees events in
 * order).  Per app schema, the app's tables are read once for the whole
 * batch, each as its owner (app_lookup.c); then each event is resolved to
 * a recipient, rendered and written with gbn_enqueue_row(), with the
 * extension's rights, on the extension's tables only.
 *
 * Dedupe (SPEC §2).  Escalations: '<kind>:<schema>:<case>:<xid>' -- the
 * same transition twice in one transaction notifies once, and the row lock
 * serialises concurrent ones (the later sees no transition).  Assignments:
 * guestbook_notify.assignment_state keeps, per case, the operator last
 * notified and the assignment that made them so; an assignment to that
 * same operator is a repeat (the same key as before), one to another
 * operator a new transition.  The key is
 * 'assigned:<schema>:<case>:<operator>:<the previous operator's assignment,
 * or "first">', as in 1.0 but with the schema: the same assignment inserted
 * again, a retried transaction and concurrent transactions assigning the
 * same operator notify once; reassigning away and back notifies again --
 * and no look-up of case_assignments is needed, however large it grows.
 *
 * A problem with a schema's tables (a view put in a table's place, the
 * owner's policy raising, the owner lacking a right) makes that schema's
 * events 'failed' rows with the reason; a table lock that is not free
 * leaves them for the next round.  The app's transaction committed long
 * ago: nothing here can break it.
 *
 * src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "app_lookup.h"
#include "enqueue.h"
#include "events.h"
#include "guestbook_notify.h"
#include "normalize.h"
#include "spi_util.h"
#include "tx.h"

PG_FUNCTION_INFO_V1(gbn_process_events_sql);

#define NUM_KINDS 3

static const char *const kinds[NUM_KINDS] = {
	"assigned", "escalated_lead", "escalated_kadis"
};

static SPIPlanPtr fetch_plan = NULL;
static SPIPlanPtr delete_plan = NULL;
static SPIPlanPtr templates_plan = NULL;
static SPIPlanPtr optout_plan = NULL;
static SPIPlanPtr state_load_plan = NULL;
static SPIPlanPtr state_save_plan = NULL;

typedef struct Event
{
	int64		id;
	int			kind;			/* index into kinds */
	char	   *schema;
	char	   *xid;
	char	   *case_id;
	char	   *subject_id;		/* assigned: the operator */
	char	   *row_id;			/* assigned: the assignment */
	char	   *org_unit_id;	/* escalated: the case's unit then */
	char	   *problem;
	GbnEnqueueRow row;			/* what it becomes */
	char	   *number;			/* row.number_raw normalised */
} Event;

/* an assignment_state row */
typedef struct AssignState
{
	char		key[GBN_UUID_KEY_LEN];	/* the case */
	char	   *operator_id;
	char	   *assignment_id;
	char	   *prev;
	bool		dirty;
} AssignState;

/* the events of one app schema in this batch */
typedef struct SchemaBatch
{
	char	   *schema;
	List	   *events;
	GbnAppLookup lk;
	HTAB	   *states;			/* AssignState by case */
	char	   *problem;		/* the look-ups failed: why */
	bool		deferred;		/* a lock was not free: try again later */
} SchemaBatch;

/* ---------------------------------------------------------------- fetch */

static int
kind_index(const char *kind)
{
	int			i;

	for (i = 0; i < NUM_KINDS; i++)
		if (kind != NULL && strcmp(kind, kinds[i]) == 0)
			return i;
	return -1;
}

static Event *
fetch_events(int limit, int *n)
{
	GbnSqlArgs	a = {0};
	Event	   *ev;
	uint64		i;

	gbn_arg(&a, INT4OID, Int32GetDatum(limit), false);
	if (fetch_plan == NULL)
		fetch_plan = gbn_prepare_kept("SELECT e.id, e.kind, e.app_schema::text,"
									  " e.xid::text, e.case_id::text,"
									  " e.subject_id::text, e.row_id::text,"
									  " e.org_unit_id::text, e.problem"
									  " FROM guestbook_notify.trigger_events e"
									  " ORDER BY e.id LIMIT $1",
									  a.n, a.types);
	gbn_spi_run(fetch_plan, a.values, a.nulls, SPI_OK_SELECT, 0);
	*n = (int) SPI_processed;
	ev = palloc0(sizeof(Event) * Max(*n, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ev[i].id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 1, &isnull));
		ev[i].kind = kind_index(gbn_spi_text(i, 2));
		ev[i].schema = gbn_spi_text(i, 3);
		ev[i].xid = gbn_spi_text(i, 4);
		ev[i].case_id = gbn_spi_text(i, 5);
		ev[i].subject_id = gbn_spi_text(i, 6);
		ev[i].row_id = gbn_spi_text(i, 7);
		ev[i].org_unit_id = gbn_spi_text(i, 8);
		ev[i].problem = gbn_spi_text(i, 9);
	}
	return ev;
}

/* the events grouped by schema, in order of first appearance */
static List *
group_by_schema(Event *ev, int n)
{
	List	   *batches = NIL;
	int			i;

	for (i = 0; i < n; i++)
	{
		SchemaBatch *b = NULL;
		ListCell   *lc;

		foreach(lc, batches)
		{
			SchemaBatch *x = (SchemaBatch *) lfirst(lc);

			if (strcmp(x->schema, ev[i].schema) == 0)
				b = x;
		}
		if (b == NULL)
		{
			b = palloc0(sizeof(SchemaBatch));
			b->schema = ev[i].schema;
			batches = lappend(batches, b);
		}
		b->events = lappend(b->events, &ev[i]);
	}
	return batches;
}

/* -------------------------------------------------------------- look-ups */

static void
lookup_batch(void *arg)
{
	SchemaBatch *b = (SchemaBatch *) arg;
	List	   *cases = NIL;
	List	   *users = NIL;
	List	   *units = NIL;
	bool		contacts = false;
	bool		nowait = gbn_in_database;
	ListCell   *lc;

	foreach(lc, b->events)
	{
		Event	   *e = (Event *) lfirst(lc);

		if (e->case_id)
			cases = lappend(cases, e->case_id);
		if (e->kind == 0 && e->subject_id)
			users = lappend(users, e->subject_id);
		if (e->kind > 0 && e->org_unit_id)
			units = lappend(units, e->org_unit_id);
		contacts |= (e->kind > 0);
	}
	gbn_lookup_schema(&b->lk, b->schema, cases, users, units, contacts, nowait);
}

/* read the schema's tables; a failure becomes the batch's problem */
static void
lookup_schema(SchemaBatch *b)
{
	ErrorData  *e = gbn_try_subxact(lookup_batch, b);

	if (e == NULL)
		return;
	if (e->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		b->deferred = true;
	else
		b->problem = psprintf("could not read the guestbook tables of schema \"%s\": %s",
							  b->schema, e->message);
}

/* --------------------------------------------------- assignment dedupe */

static void
load_states(SchemaBatch *b)
{
	HASHCTL		ctl;
	GbnSqlArgs	a = {0};
	ArrayBuildState *ids = NULL;
	ListCell   *lc;
	uint64		i;

	ctl.keysize = GBN_UUID_KEY_LEN;
	ctl.entrysize = sizeof(AssignState);
	ctl.hcxt = CurrentMemoryContext;
	b->states = hash_create("guestbook_notify assignment states", 64, &ctl,
							HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	foreach(lc, b->events)
	{
		Event	   *e = (Event *) lfirst(lc);

		if (e->kind == 0 && e->case_id)
			ids = accumArrayResult(ids, CStringGetTextDatum(e->case_id), false,
								   TEXTOID, CurrentMemoryContext);
	}
	if (ids == NULL)
		return;
	gbn_arg_text(&a, b->schema);
	gbn_arg(&a, TEXTARRAYOID, makeArrayResult(ids, CurrentMemoryContext), false);
	if (state_load_plan == NULL)
		state_load_plan = gbn_prepare_kept("SELECT s.case_id::text, s.operator_id::text,"
										   " s.assignment_id::text, s.prev_assignment"
										   " FROM guestbook_notify.assignment_state s"
										   " WHERE s.app_schema OPERATOR(pg_catalog.=) $1::pg_catalog.name"
										   " AND s.case_id OPERATOR(pg_catalog.=) ANY ($2::pg_catalog.uuid[])",
										   a.n, a.types);
	gbn_spi_run(state_load_plan, a.values, a.nulls, SPI_OK_SELECT, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		AssignState *s = hash_search(b->states, gbn_spi_text(i, 1), HASH_ENTER, NULL);

		s->operator_id = gbn_spi_text(i, 2);
		s->assignment_id = gbn_spi_text(i, 3);
		s->prev = gbn_spi_text(i, 4);
		s->dirty = false;
	}
}

/* the dedupe key of assignment e, moving the case's state on */
static char *
assignment_key(SchemaBatch *b, Event *e)
{
	const char *op = e->subject_id ? e->subject_id : "";
	const char *prev = "first";
	AssignState *s = NULL;
	bool		found = false;

	if (e->case_id && e->subject_id)
		s = hash_search(b->states, e->case_id, HASH_ENTER, &found);
	if (s != NULL && found && strcmp(s->operator_id, op) == 0)
		prev = s->prev;			/* the same operator again: a repeat */
	else if (s != NULL)
	{
		if (found)
			prev = s->assignment_id ? s->assignment_id : "first";
		s->operator_id = pstrdup(op);
		s->assignment_id = e->row_id;
		s->prev = pstrdup(prev);
		s->dirty = true;
	}
	return psprintf("assigned:%s:%s:%s:%s", b->schema,
					e->case_id ? e->case_id : "", op, prev);
}

static void
save_states(SchemaBatch *b)
{
	HASH_SEQ_STATUS seq;
	AssignState *s;

	if (b->states == NULL)
		return;
	hash_seq_init(&seq, b->states);
	while ((s = hash_seq_search(&seq)) != NULL)
	{
		GbnSqlArgs	a = {0};

		if (!s->dirty)
			continue;
		gbn_arg_text(&a, b->schema);
		gbn_arg_text(&a, s->key);
		gbn_arg_text(&a, s->operator_id);
		gbn_arg_text(&a, s->assignment_id);
		gbn_arg_text(&a, s->prev);
		if (state_save_plan == NULL)
			state_save_plan = gbn_prepare_kept("INSERT INTO guestbook_notify.assignment_state AS s"
											   " (app_schema, case_id, operator_id, assignment_id, prev_assignment)"
											   " VALUES ($1::pg_catalog.name, $2::pg_catalog.uuid,"
											   " $3::pg_catalog.uuid, $4::pg_catalog.uuid, $5)"
											   " ON CONFLICT (app_schema, case_id) DO UPDATE"
											   " SET operator_id = EXCLUDED.operator_id,"
											   " assignment_id = EXCLUDED.assignment_id,"
											   " prev_assignment = EXCLUDED.prev_assignment,"
											   " updated_at = pg_catalog.now()",
											   a.n, a.types);
		gbn_spi_run(state_save_plan, a.values, a.nulls, SPI_OK_INSERT, 0);
	}
}

/* ------------------------------------------------------------- resolve */

static pg_uuid_t *
parse_uuid(const char *s)
{
	if (s == NULL)
		return NULL;
	return DatumGetUUIDP(DirectFunctionCall1(uuid_in, CStringGetDatum(s)));
}

/* the case's template values, for recipient, or '{}' when it is unknown */
static Jsonb *
case_params(SchemaBatch *b, Event *e, const char *unit_id, const char *recipient)
{
	GbnCaseInfo *c = gbn_lookup_case(&b->lk, e->case_id);
	GbnUnitInfo *u;
	GbnCaseValues cv;

	if (c == NULL)
		return gbn_empty_jsonb();
	cv = c->values;
	u = gbn_lookup_unit(&b->lk, unit_id ? unit_id : c->org_unit_id);
	cv.org_unit_name = u ? u->name : NULL;
	cv.recipient_name = recipient;
	return gbn_case_params(&cv);
}

static const char *
case_problem(SchemaBatch *b, Event *e)
{
	if (gbn_lookup_case(&b->lk, e->case_id) != NULL)
		return NULL;
	return psprintf("case %s not found in %s.cases", e->case_id ? e->case_id : "",
					quote_identifier(b->schema));
}

static void
resolve_assigned(SchemaBatch *b, Event *e)
{
	GbnEnqueueRow *r = &e->row;
	GbnUserInfo *u = gbn_lookup_user(&b->lk, e->subject_id);
	const char *op = e->subject_id ? e->subject_id : "";

	if (u == NULL)
		r->problem = psprintf("no active recipient: operator %s not found in %s.users",
							  op, quote_identifier(b->schema));
	else if (!u->is_active)
		r->problem = psprintf("no active recipient: operator %s is inactive",
							  u->full_name ? u->full_name : "");
	if (r->problem == NULL)
		r->problem = case_problem(b, e);
	r->number_raw = u ? u->whatsapp_number : NULL;
	r->recipient_name = (u && u->full_name) ? u->full_name : op;
	r->recipient_role = "operator";
	r->params = case_params(b, e, NULL, u ? u->full_name : NULL);
	r->dedupe_key = assignment_key(b, e);
}

static void
resolve_escalated(SchemaBatch *b, Event *e)
{
	GbnEnqueueRow *r = &e->row;
	const char *type = e->kind == 1 ? "lead" : "kadis";
	GbnContact	c;

	gbn_find_contact(&b->lk, e->org_unit_id, type, &c);
	r->problem = c.problem;
	if (r->problem == NULL)
		r->problem = case_problem(b, e);
	r->number_raw = c.number;
	r->recipient_name = c.name;
	r->recipient_role = type;
	r->params = case_params(b, e, e->org_unit_id, c.name);
	r->dedupe_key = psprintf("%s:%s:%s:%s", kinds[e->kind], b->schema,
							 e->case_id ? e->case_id : "", e->xid);
}

static void
resolve(SchemaBatch *b, Event *e)
{
	GbnEnqueueRow *r = &e->row;

	r->template_key = kinds[e->kind];
	r->case_id = parse_uuid(e->case_id);
	r->app_schema = b->schema;
	r->scheduled_at_isnull = true;
	if (e->kind == 0)
		resolve_assigned(b, e);
	else
		resolve_escalated(b, e);
	if (e->problem)
		r->problem = e->problem;	/* the trigger saw something wrong */
	else if (b->problem)
		r->problem = b->problem;
	e->number = r->number_raw ?
		gbn_normalize_number(r->number_raw, strlen(r->number_raw)) : NULL;
}

/* ------------------------------------------------------------- write */

/* the templates of the three kinds, by kind */
static void
load_templates(GbnTemplate *t)
{
	uint64		i;
	int			k;

	if (templates_plan == NULL)
		templates_plan = gbn_prepare_kept("SELECT t.key, t.cloud_template_name, t.language,"
										  " t.param_names, t.body, t.send_as"
										  " FROM guestbook_notify.templates t"
										  " WHERE t.key OPERATOR(pg_catalog.=) ANY"
										  " ('{assigned,escalated_lead,escalated_kadis}'::pg_catalog.text[])",
										  0, NULL);
	gbn_spi_run(templates_plan, NULL, NULL, SPI_OK_SELECT, 0);
	memset(t, 0, sizeof(GbnTemplate) * NUM_KINDS);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d;

		k = kind_index(gbn_spi_text(i, 1));
		if (k < 0)
			continue;
		t[k].found = true;
		t[k].name = gbn_spi_text(i, 2);
		t[k].language = gbn_spi_text(i, 3);
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 4, &isnull);
		t[k].param_names = isnull ? NULL : DatumGetArrayTypePCopy(d);
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 5, &isnull);
		t[k].body = isnull ? NULL : DatumGetTextPCopy(d);
		t[k].send_as = gbn_spi_text(i, 6);
	}
}

/* which of the events' numbers opted out (a List of the numbers) */
static List *
opted_out(Event *ev, int n)
{
	ArrayBuildState *nums = NULL;
	List	   *out = NIL;
	uint64		i;
	int			j;

	for (j = 0; j < n; j++)
		if (ev[j].number)
			nums = accumArrayResult(nums, CStringGetTextDatum(ev[j].number), false,
									TEXTOID, CurrentMemoryContext);
	if (nums == NULL)
		return NIL;
	if (optout_plan == NULL)
	{
		Oid			types[1] = {TEXTARRAYOID};

		optout_plan = gbn_prepare_kept("SELECT o.number FROM guestbook_notify.opt_outs o"
									   " WHERE o.number OPERATOR(pg_catalog.=) ANY ($1)",
									   1, types);
	}
	{
		Datum		arg = makeArrayResult(nums, CurrentMemoryContext);

		gbn_spi_run(optout_plan, &arg, NULL, SPI_OK_SELECT, 0);
	}
	for (i = 0; i < SPI_processed; i++)
		out = lappend(out, gbn_spi_text(i, 1));
	return out;
}

static bool
in_list(List *l, const char *s)
{
	ListCell   *lc;

	foreach(lc, l)
		if (s != NULL && strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

static void
delete_events(Event *ev, int n, List *batches)
{
	ArrayBuildState *ids = NULL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < n; i++)
	{
		bool		keep = false;

		foreach(lc, batches)
		{
			SchemaBatch *b = (SchemaBatch *) lfirst(lc);

			if (b->deferred && strcmp(b->schema, ev[i].schema) == 0)
				keep = true;
		}
		if (!keep)
			ids = accumArrayResult(ids, Int64GetDatum(ev[i].id), false, INT8OID,
								   CurrentMemoryContext);
	}
	if (ids == NULL)
		return;
	if (delete_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		delete_plan = gbn_prepare_kept("DELETE FROM guestbook_notify.trigger_events e"
									   " WHERE e.id OPERATOR(pg_catalog.=) ANY ($1)",
									   1, types);
	}
	{
		Datum		arg = makeArrayResult(ids, CurrentMemoryContext);

		gbn_spi_run(delete_plan, &arg, NULL, SPI_OK_DELETE, 0);
	}
}

static bool
take_lock(bool nowait)
{
	Datum		key = Int64GetDatum(GBN_EVENTS_LOCK_KEY);

	if (nowait)
		return DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8, key));
	(void) DirectFunctionCall1(pg_advisory_xact_lock_int8, key);
	return true;
}

/* resolve every event of the batches that are not deferred */
static void
resolve_all(List *batches)
{
	ListCell   *lc;

	foreach(lc, batches)
	{
		SchemaBatch *b = (SchemaBatch *) lfirst(lc);
		ListCell   *lc2;

		lookup_schema(b);
		if (b->deferred)
			continue;
		load_states(b);
		foreach(lc2, b->events)
			resolve(b, (Event *) lfirst(lc2));
	}
}

int
gbn_process_events(int limit, bool nowait, int *deferred)
{
	GbnTemplate templates[NUM_KINDS];
	Event	   *ev;
	List	   *batches;
	List	   *optouts;
	ListCell   *lc;
	int			n;
	int			done = 0;
	int			i;

	*deferred = 0;
	if (!take_lock(nowait))
		return 0;
	ev = fetch_events(limit, &n);
	if (n == 0)
		return 0;
	batches = group_by_schema(ev, n);
	resolve_all(batches);
	load_templates(templates);
	optouts = opted_out(ev, n);

	for (i = 0; i < n; i++)
	{
		GbnTemplate t;
		pg_uuid_t	id;

		if (ev[i].row.template_key == NULL)
		{
			if (ev[i].kind >= 0)
				(*deferred)++;
			continue;
		}
		t = templates[ev[i].kind];
		t.opted_out = in_list(optouts, ev[i].number);
		ev[i].row.template = &t;
		(void) gbn_enqueue_row(&ev[i].row, &id);
		done++;
	}
	foreach(lc, batches)
		save_states((SchemaBatch *) lfirst(lc));
	delete_events(ev, n, batches);
	return done + (n - done - *deferred);
}

/*
 * guestbook_notify.process_events(max_events integer DEFAULT 1000) RETURNS
 * integer: the worker's first step, for a manual run (and for tests
 * without a worker): waits for another processor to finish.
 */
Datum
gbn_process_events_sql(PG_FUNCTION_ARGS)
{
	int			nestlevel;
	int			limit = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
	int			deferred;
	int			done;

	if (limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be at least 1")));
	nestlevel = gbn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	done = gbn_process_events(limit, false, &deferred);
	SPI_finish();
	gbn_unpin_search_path(nestlevel);
	PG_RETURN_INT32(done);
}
