/*-------------------------------------------------------------------------
 *
 * app_lookup.c
 *		Batch look-ups of the guestbook app's tables, and the recipient
 *		rules of SPEC §2 that use them.
 *
 * Each table is read by one kept statement per schema, as the table's
 * owner in a security-restricted operation (app_access.c), for a whole
 * batch of ids at once (= ANY($1::uuid[])): the worker resolves hundreds
 * of trigger events with four statements.  The results go into hash
 * tables in CurrentMemoryContext.
 *
 * Recipients (SPEC §2):
 *	 lead:	the first active 'lead' contact (by name, then id) of the unit,
 *			else of its parent, and so on up (at most 64 levels: a cycle in
 *			parent_id must not loop);
 *	 kadis: the first active 'kadis' contact of the root unit (parent_id
 *			NULL) of the unit's tree.
 *
 * src/app_lookup.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "app_access.h"
#include "app_lookup.h"
#include "guestbook_notify.h"
#include "spi_util.h"

#define MAX_DEPTH	64

typedef enum LookupKind
{
	LOOKUP_CASES,
	LOOKUP_USERS,
	LOOKUP_UNITS,
	LOOKUP_CONTACTS,
	NUM_LOOKUPS
} LookupKind;

static const char *const lookup_table[NUM_LOOKUPS] = {
	"cases", "users", "org_units", "org_unit_contacts"
};

/* %1$s is the schema, quoted */
static const char *const lookup_sql[NUM_LOOKUPS] = {
	"SELECT c.id::text, c.org_unit_id::text, c.code::text, c.case_type::text,"
	" c.unit_tujuan::text, c.visitor_name::text, c.visitor_id_number::text,"
	" c.purpose::text, c.surat_tracking_no::text, c.surat_perihal::text"
	" FROM %1$s.cases c WHERE c.id = ANY ($1::uuid[])",

	"SELECT u.id::text, u.full_name::text, u.whatsapp_number::text,"
	" u.is_active IS TRUE FROM %1$s.users u WHERE u.id = ANY ($1::uuid[])",

	"WITH RECURSIVE up (id, parent_id, name, code, depth) AS ("
	" SELECT u.id, u.parent_id, u.name::text, u.code::text, 0"
	" FROM %1$s.org_units u WHERE u.id = ANY ($1::uuid[])"
	" UNION"
	" SELECT p.id, p.parent_id, p.name::text, p.code::text, up.depth + 1"
	" FROM %1$s.org_units p JOIN up ON p.id = up.parent_id"
	" WHERE up.depth < " CppAsString2(MAX_DEPTH) ")"
	" SELECT DISTINCT ON (up.id) up.id::text, up.parent_id::text, up.name,"
	" up.code FROM up ORDER BY up.id",

	"SELECT c.org_unit_id::text, c.contact_type::text, c.name::text,"
	" c.whatsapp_number::text FROM %1$s.org_unit_contacts c"
	" WHERE c.org_unit_id = ANY ($1::uuid[]) AND c.is_active IS TRUE"
	" AND c.contact_type::text IN ('lead', 'kadis')"
	" ORDER BY c.org_unit_id, c.contact_type::text, c.name, c.id"
};

/* kept statements, one per schema and kind */
typedef struct LookupPlan
{
	char		schema[NAMEDATALEN];
	LookupKind	kind;
	SPIPlanPtr	plan;
	struct LookupPlan *next;
} LookupPlan;

static LookupPlan *plans = NULL;

static SPIPlanPtr
lookup_plan(const char *schema, LookupKind kind)
{
	LookupPlan *p;
	Oid			types[1] = {TEXTARRAYOID};

	for (p = plans; p != NULL; p = p->next)
		if (p->kind == kind && strcmp(p->schema, schema) == 0)
			return p->plan;

	p = MemoryContextAllocZero(TopMemoryContext, sizeof(LookupPlan));
	strlcpy(p->schema, schema, NAMEDATALEN);
	p->kind = kind;
	p->plan = gbn_prepare_kept(psprintf(lookup_sql[kind], quote_identifier(schema)),
							   1, types);
	p->next = plans;
	plans = p;
	return p->plan;
}

/* ids (a List of C strings) as a text[] Datum */
static Datum
id_array(List *ids)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(ids), 1));
	ListCell   *lc;
	int			n = 0;

	foreach(lc, ids)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

/*
 * Run lookup kind for ids in schema, as the owner of its table.  The rows
 * are left in SPI_tuptable.
 */
static void
run_lookup(const char *schema, LookupKind kind, List *ids, bool nowait)
{
	char	   *problem = NULL;
	Oid			relid;
	SPIPlanPtr	plan;
	Datum		arg = id_array(ids);
	GbnAsOwner	st;

	relid = gbn_app_relation(schema, lookup_table[kind], AccessShareLock,
							 nowait, &problem);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s", problem)));
	gbn_become_owner(relid, nowait ? gbn_app_lock_timeout : 0, &st);
	plan = lookup_plan(schema, kind);
	gbn_spi_run(plan, &arg, NULL, SPI_OK_SELECT, 0);
	gbn_plan_reads_only(plan, relid);
	gbn_restore_user(&st);
}

static HTAB *
new_table(const char *name, Size entrysize)
{
	HASHCTL		ctl;

	ctl.keysize = GBN_UUID_KEY_LEN;
	ctl.entrysize = entrysize;
	ctl.hcxt = CurrentMemoryContext;
	return hash_create(name, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* enter column 1 of row i as a key of table; NULL if it is no uuid text */
static void *
enter_row(HTAB *table, int i)
{
	char	   *key = gbn_spi_text(i, 1);
	bool		found;

	if (key == NULL || strlen(key) >= GBN_UUID_KEY_LEN)
		return NULL;
	return hash_search(table, key, HASH_ENTER, &found);
}

static void
load_cases(GbnAppLookup *lk, List *ids, bool nowait)
{
	uint64		i;

	lk->cases = new_table("guestbook_notify cases", sizeof(GbnCaseInfo));
	if (ids == NIL)
		return;
	run_lookup(lk->schema, LOOKUP_CASES, ids, nowait);
	for (i = 0; i < SPI_processed; i++)
	{
		GbnCaseInfo *c = enter_row(lk->cases, i);

		if (c == NULL)
			continue;
		c->values.case_id = c->key;
		c->org_unit_id = gbn_spi_text(i, 2);
		c->values.code = gbn_spi_text(i, 3);
		c->values.case_type = gbn_spi_text(i, 4);
		c->values.unit_tujuan = gbn_spi_text(i, 5);
		c->values.visitor_name = gbn_spi_text(i, 6);
		c->values.visitor_id_number = gbn_spi_text(i, 7);
		c->values.purpose = gbn_spi_text(i, 8);
		c->values.surat_tracking_no = gbn_spi_text(i, 9);
		c->values.surat_perihal = gbn_spi_text(i, 10);
	}
}

static void
load_users(GbnAppLookup *lk, List *ids, bool nowait)
{
	uint64		i;

	lk->users = new_table("guestbook_notify users", sizeof(GbnUserInfo));
	if (ids == NIL)
		return;
	run_lookup(lk->schema, LOOKUP_USERS, ids, nowait);
	for (i = 0; i < SPI_processed; i++)
	{
		GbnUserInfo *u = enter_row(lk->users, i);

		if (u == NULL)
			continue;
		u->full_name = gbn_spi_text(i, 2);
		u->whatsapp_number = gbn_spi_text(i, 3);
		u->is_active = gbn_spi_bool(i, 4, false);
	}
}

static void
load_units(GbnAppLookup *lk, List *ids, bool nowait)
{
	uint64		i;

	lk->units = new_table("guestbook_notify units", sizeof(GbnUnitInfo));
	if (ids == NIL)
		return;
	run_lookup(lk->schema, LOOKUP_UNITS, ids, nowait);
	for (i = 0; i < SPI_processed; i++)
	{
		GbnUnitInfo *u = enter_row(lk->units, i);

		if (u == NULL)
			continue;
		u->parent_id = gbn_spi_text(i, 2);
		u->name = gbn_spi_text(i, 3);
		u->code = gbn_spi_text(i, 4);
		u->lead_name = u->lead_number = u->kadis_name = u->kadis_number = NULL;
	}
}

/* the first active lead and kadis contact of every unit in lk->units */
static void
load_contacts(GbnAppLookup *lk, bool nowait)
{
	List	   *ids = NIL;
	HASH_SEQ_STATUS seq;
	GbnUnitInfo *u;
	uint64		i;

	hash_seq_init(&seq, lk->units);
	while ((u = hash_seq_search(&seq)) != NULL)
		ids = lappend(ids, u->key);
	if (ids == NIL)
		return;
	run_lookup(lk->schema, LOOKUP_CONTACTS, ids, nowait);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *unit = gbn_spi_text(i, 1);
		char	   *type = gbn_spi_text(i, 2);

		if (unit == NULL || type == NULL || strlen(unit) >= GBN_UUID_KEY_LEN)
			continue;
		u = hash_search(lk->units, unit, HASH_FIND, NULL);
		if (u == NULL)
			continue;
		/* rows come ordered by name, id: keep the first of each type */
		if (strcmp(type, "lead") == 0 && u->lead_name == NULL)
		{
			u->lead_name = gbn_spi_text(i, 3);
			u->lead_number = gbn_spi_text(i, 4);
		}
		else if (strcmp(type, "kadis") == 0 && u->kadis_name == NULL)
		{
			u->kadis_name = gbn_spi_text(i, 3);
			u->kadis_number = gbn_spi_text(i, 4);
		}
	}
}

void
gbn_lookup_schema(GbnAppLookup *lk, const char *schema, List *case_ids,
				  List *user_ids, List *unit_ids, bool contacts, bool nowait)
{
	ListCell   *lc;

	lk->schema = schema;
	load_cases(lk, case_ids, nowait);
	load_users(lk, user_ids, nowait);

	/* the cases' units join the units asked for */
	foreach(lc, case_ids)
	{
		GbnCaseInfo *c = gbn_lookup_case(lk, (char *) lfirst(lc));

		if (c != NULL && c->org_unit_id != NULL)
			unit_ids = lappend(unit_ids, c->org_unit_id);
	}
	load_units(lk, unit_ids, nowait);
	if (contacts)
		load_contacts(lk, nowait);
}

static void *
find(HTAB *table, const char *id)
{
	if (table == NULL || id == NULL || strlen(id) >= GBN_UUID_KEY_LEN)
		return NULL;
	return hash_search(table, id, HASH_FIND, NULL);
}

GbnCaseInfo *
gbn_lookup_case(GbnAppLookup *lk, const char *id)
{
	return find(lk->cases, id);
}

GbnUserInfo *
gbn_lookup_user(GbnAppLookup *lk, const char *id)
{
	return find(lk->users, id);
}

GbnUnitInfo *
gbn_lookup_unit(GbnAppLookup *lk, const char *id)
{
	return find(lk->units, id);
}

/* "name (code)" as format('%s (%s)') gives it */
static char *
unit_label(GbnUnitInfo *u)
{
	return psprintf("%s (%s)", u->name ? u->name : "", u->code ? u->code : "");
}

void
gbn_find_contact(GbnAppLookup *lk, const char *unit_id, const char *type,
				 GbnContact *c)
{
	bool		lead = strcmp(type, "lead") == 0;
	GbnUnitInfo *start;
	GbnUnitInfo *u;
	int			depth;

	if (unit_id == NULL)
		unit_id = "";
	start = gbn_lookup_unit(lk, unit_id);
	u = start;
	memset(c, 0, sizeof(*c));
	for (depth = 0; u != NULL && depth <= MAX_DEPTH; depth++)
	{
		if (lead && u->lead_name != NULL)
		{
			c->name = u->lead_name;
			c->number = u->lead_number;
			return;
		}
		if (!lead && u->parent_id == NULL)
			break;				/* the root */
		u = gbn_lookup_unit(lk, u->parent_id);
	}

	if (lead)
		c->problem = psprintf("no active lead contact for org unit %s or its parents",
							  start ? unit_label(start) : unit_id);
	else if (u == NULL || u->parent_id != NULL)
		c->problem = psprintf("no root org unit above org unit %s (parent_id never reaches NULL)",
							  unit_id);
	else if (u->kadis_name == NULL)
		c->problem = psprintf("no active kadis contact for root org unit %s",
							  unit_label(u));
	else
	{
		c->name = u->kadis_name;
		c->number = u->kadis_number;
	}
}
