/*-------------------------------------------------------------------------
 *
 * app_lookup.h
 *		Batch look-ups of the guestbook app's tables (cases, users, org
 *		units, contacts), each run as the owner of the table it reads
 *		(app_access.c), and the recipient rules that use them.
 *
 * src/app_lookup.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_APP_LOOKUP_H
#define GBN_APP_LOOKUP_H

#include "nodes/pg_list.h"
#include "utils/hsearch.h"

#include "render.h"

#define GBN_UUID_KEY_LEN	37	/* a uuid as text, with its NUL */

typedef struct GbnCaseInfo
{
	char		key[GBN_UUID_KEY_LEN];	/* the case id */
	char	   *org_unit_id;
	GbnCaseValues values;		/* case_id, code, ... (recipient not set) */
} GbnCaseInfo;

typedef struct GbnUserInfo
{
	char		key[GBN_UUID_KEY_LEN];	/* the user id */
	char	   *full_name;
	char	   *whatsapp_number;
	bool		is_active;
} GbnUserInfo;

typedef struct GbnUnitInfo
{
	char		key[GBN_UUID_KEY_LEN];	/* the org unit id */
	char	   *parent_id;
	char	   *name;
	char	   *code;
	char	   *lead_name;		/* its first active lead contact, if any */
	char	   *lead_number;
	char	   *kadis_name;		/* its first active kadis contact, if any */
	char	   *kadis_number;
} GbnUnitInfo;

/* What one schema's tables said, for one batch of ids. */
typedef struct GbnAppLookup
{
	const char *schema;
	HTAB	   *cases;			/* GbnCaseInfo by id */
	HTAB	   *users;			/* GbnUserInfo by id */
	HTAB	   *units;			/* GbnUnitInfo by id: the units asked and
								 * their ancestors */
} GbnAppLookup;

/* the recipient of an escalation */
typedef struct GbnContact
{
	char	   *name;
	char	   *number;
	char	   *problem;		/* no contact: why (a failed row's reason) */
} GbnContact;

/*
 * Fill lk for schema: the cases case_ids (List of uuid text), the users
 * user_ids, the units unit_ids with their ancestors and, when contacts is
 * true, the units' active lead and kadis contacts.  Runs in the caller's
 * (sub)transaction and SPI connection; a problem with a table (a view in
 * its place, a lock not granted, the owner's policy raising) is an ERROR,
 * which the caller catches.
 */
extern void gbn_lookup_schema(GbnAppLookup *lk, const char *schema,
							  List *case_ids, List *user_ids, List *unit_ids,
							  bool contacts, bool nowait);

extern GbnCaseInfo *gbn_lookup_case(GbnAppLookup *lk, const char *id);
extern GbnUserInfo *gbn_lookup_user(GbnAppLookup *lk, const char *id);
extern GbnUnitInfo *gbn_lookup_unit(GbnAppLookup *lk, const char *id);

/* the lead or kadis ("lead"/"kadis") of unit_id, walking up as SPEC §2 says */
extern void gbn_find_contact(GbnAppLookup *lk, const char *unit_id,
							 const char *type, GbnContact *c);

#endif							/* GBN_APP_LOOKUP_H */
