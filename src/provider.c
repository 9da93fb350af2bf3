/*-------------------------------------------------------------------------
 *
 * provider.c
 *		Choice of the provider and what the providers share.
 *
 * src/provider.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_util.h"
#include "provider.h"

const GbnProviderOps *
gbn_provider_ops(int provider)
{
	return provider == GBN_PROVIDER_WAHA ? &gbn_waha_ops : &gbn_cloud_api_ops;
}

/* guestbook_notify.api_url without trailing slashes, palloc'd */
char *
gbn_api_base_url(void)
{
	char	   *url = pstrdup(gbn_api_url ? gbn_api_url : "");
	size_t		len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	return url;
}

/*
 * Serialise a request body built with json-c into req->body, and free it.
 * built is false when adding a member failed.  On failure *problem says why
 * (the row is retried) and false is returned.
 */
bool
gbn_request_set_json_body(GbnHttpRequest *req, struct json_object *root,
						  bool built, char **problem)
{
	if (!built)
	{
		if (root)
			json_object_put(root);
		root = NULL;
	}
	req->body = gbn_json_serialize(root, &req->body_len);
	if (req->body == NULL)
	{
		*problem = pstrdup("out of memory building the request body");
		return false;
	}
	return true;
}
