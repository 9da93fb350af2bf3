/*-------------------------------------------------------------------------
 *
 * provider.h
 *		What a WhatsApp provider must do: build the HTTP request for a row
 *		and read the provider's answer.
 *
 * src/provider.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_PROVIDER_H
#define GBN_PROVIDER_H

#include "guestbook_notify.h"
#include "http.h"

struct json_object;

typedef enum GbnBuildStatus
{
	GBN_BUILD_OK,
	GBN_BUILD_BAD_ROW,			/* this row can never be sent: failed */
	GBN_BUILD_ERROR				/* could not build it now: retry */
} GbnBuildStatus;

/* The provider's answer, as far as it could be read. */
typedef struct GbnReply
{
	bool		is_json;		/* the body is a JSON document */
	bool		accepted;		/* the provider took the message */
	char	   *message_id;		/* its id, when it gave one */
	bool		has_error_code;
	int			error_code;		/* Graph error.code */
	int			error_subcode;	/* Graph error.error_subcode, 0 if none */
	char	   *error_message;	/* provider's error message */
	char	   *error_details;	/* Graph error.error_data.details */
	char	   *trace_id;		/* Graph error.fbtrace_id */
	char	   *problem;		/* a 2xx that does not say "accepted" */
} GbnReply;

typedef struct GbnProviderOps
{
	const char *name;
	GbnBuildStatus (*build) (const GbnMessage *msg, GbnHttpRequest *req,
							 char **problem);
	void		(*parse) (const GbnHttpRequest *req, GbnReply *reply);
} GbnProviderOps;

extern const GbnProviderOps gbn_cloud_api_ops;
extern const GbnProviderOps gbn_waha_ops;

extern const GbnProviderOps *gbn_provider_ops(int provider);
extern char *gbn_api_base_url(void);
extern bool gbn_request_set_json_body(GbnHttpRequest *req,
									  struct json_object *root, bool built,
									  char **problem);

#endif							/* GBN_PROVIDER_H */
