/*-------------------------------------------------------------------------
 *
 * jsonb_build.h
 *		Build a flat jsonb object of text values in C.
 *
 * src/jsonb_build.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_JSONB_BUILD_H
#define GBN_JSONB_BUILD_H

#include "utils/jsonb.h"

typedef struct GbnJsonbObject
{
	JsonbParseState *state;
} GbnJsonbObject;

extern void gbn_jsonb_begin(GbnJsonbObject *o);
/* key: value (a JSON null when value is NULL) */
extern void gbn_jsonb_text(GbnJsonbObject *o, const char *key, const char *value);
extern Jsonb *gbn_jsonb_end(GbnJsonbObject *o);

#endif							/* GBN_JSONB_BUILD_H */
