/*-------------------------------------------------------------------------
 *
 * json_util.c
 *		Small json-c helpers: build request bodies, read response fields.
 *
 * Request bodies are always built as json-c objects and serialised, never
 * assembled from strings, so message text is escaped correctly whatever
 * it contains.  json-c allocates with malloc: every helper here checks
 * for a failed allocation instead of letting a NULL turn into a JSON null,
 * and copies what it returns into palloc'd memory.
 *
 * src/json_util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_util.h"

/*
 * Add val under key, taking ownership of val.  False (and val released) if
 * val is NULL (a failed allocation) or the add fails.
 */
bool
gbn_json_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (obj == NULL || val == NULL)
	{
		if (val)
			json_object_put(val);
		return false;
	}
	if (json_object_object_add(obj, key, val) != 0)
	{
		json_object_put(val);
		return false;
	}
	return true;
}

bool
gbn_json_add_string(struct json_object *obj, const char *key, const char *val)
{
	size_t		len = strlen(val);

	if (len > (size_t) PG_INT32_MAX)
		return false;
	return gbn_json_add(obj, key, json_object_new_string_len(val, (int) len));
}

/*
 * Serialise obj compactly, '/' unescaped, into palloc'd memory; releases
 * obj.  NULL if json-c ran out of memory.
 */
char *
gbn_json_serialize(struct json_object *obj, size_t *len)
{
	const char *s;
	size_t		l = 0;
	char	   *result = NULL;

	if (obj == NULL)
		return NULL;
	s = json_object_to_json_string_length(obj,
										  JSON_C_TO_STRING_PLAIN |
										  JSON_C_TO_STRING_NOSLASHESCAPE,
										  &l);
	if (s != NULL)
	{
		result = palloc(l + 1);
		memcpy(result, s, l);
		result[l] = '\0';
	}
	json_object_put(obj);
	if (len)
		*len = l;
	return result;
}

/* Parse a complete JSON document; NULL if buf is not one. */
struct json_object *
gbn_json_parse(const char *buf, size_t len)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (buf == NULL || len == 0 || len > (size_t) PG_INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, buf, (int) len);
	if (json_tokener_get_error(tok) != json_tokener_success)
	{
		if (obj)
			json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* obj[key] if obj is an object and the member has the given type. */
struct json_object *
gbn_json_get(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *val = NULL;

	if (obj == NULL || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &val) || val == NULL)
		return NULL;
	if (!json_object_is_type(val, type))
		return NULL;
	return val;
}

/* palloc'd copy of the string obj[key], or NULL. */
char *
gbn_json_get_string(struct json_object *obj, const char *key)
{
	struct json_object *val = gbn_json_get(obj, key, json_type_string);

	if (val == NULL)
		return NULL;
	return pnstrdup(json_object_get_string(val), json_object_get_string_len(val));
}
