/*-------------------------------------------------------------------------
 *
 * jsonb_build.c
 *		Build a flat jsonb object of text values in C (case values, audit
 *		details).
 *
 * src/jsonb_build.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "jsonb_build.h"

void
gbn_jsonb_begin(GbnJsonbObject *o)
{
	o->state = NULL;
	(void) pushJsonbValue(&o->state, WJB_BEGIN_OBJECT, NULL);
}

void
gbn_jsonb_text(GbnJsonbObject *o, const char *key, const char *value)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(&o->state, WJB_KEY, &k);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(&o->state, WJB_VALUE, &v);
}

Jsonb *
gbn_jsonb_end(GbnJsonbObject *o)
{
	return JsonbValueToJsonb(pushJsonbValue(&o->state, WJB_END_OBJECT, NULL));
}
