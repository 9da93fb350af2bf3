/*-------------------------------------------------------------------------
 *
 * json_util.h
 *		Small json-c helpers: build request bodies, read response fields.
 *
 * src/json_util.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_JSON_UTIL_H
#define GBN_JSON_UTIL_H

#include <json-c/json.h>

extern bool gbn_json_add(struct json_object *obj, const char *key,
						 struct json_object *val);
extern bool gbn_json_add_string(struct json_object *obj, const char *key,
								const char *val);
extern char *gbn_json_serialize(struct json_object *obj, size_t *len);
extern struct json_object *gbn_json_parse(const char *buf, size_t len);
extern struct json_object *gbn_json_get(struct json_object *obj, const char *key,
										enum json_type type);
extern char *gbn_json_get_string(struct json_object *obj, const char *key);

#endif							/* GBN_JSON_UTIL_H */
