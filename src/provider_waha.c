/*-------------------------------------------------------------------------
 *
 * provider_waha.c
 *		WAHA (WhatsApp HTTP API over WhatsApp Web): POST {api_url}/api/sendText
 *
 * Body {"session": ..., "chatId": "628...@c.us", "text": ...}, header
 * X-Api-Key when an access token is set.  Any 2xx is a success; the
 * message id is the response's "id" (a string, or an object carrying
 * "_serialized" or "id" depending on the engine) and may be absent, in
 * which case the row is recorded as sent with no provider id.
 *
 * src/provider_waha.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_util.h"
#include "normalize.h"
#include "provider.h"

static GbnBuildStatus
waha_build(const GbnMessage *msg, GbnHttpRequest *req, char **problem)
{
	struct json_object *root;
	const char *session;
	char	   *chat_id;
	bool		ok;

	if (msg->to_number == NULL)
	{
		*problem = pstrdup("no recipient number");
		return GBN_BUILD_BAD_ROW;
	}
	if (!gbn_number_is_canonical(msg->to_number))
	{
		*problem = psprintf("invalid recipient number \"%s\"", msg->to_number);
		return GBN_BUILD_BAD_ROW;
	}

	session = (gbn_phone_number_id && gbn_phone_number_id[0]) ?
		gbn_phone_number_id : "default";
	chat_id = psprintf("%s@c.us", msg->to_number);

	root = json_object_new_object();
	ok = gbn_json_add_string(root, "session", session) &&
		gbn_json_add_string(root, "chatId", chat_id) &&
		gbn_json_add_string(root, "text", msg->message_text);
	if (!gbn_request_set_json_body(req, root, ok, problem))
		return GBN_BUILD_ERROR;

	req->url = psprintf("%s/api/sendText", gbn_api_base_url());

	ok = gbn_http_add_header(req, "Content-Type: application/json") &&
		gbn_http_add_header(req, "Accept: application/json");
	if (ok && gbn_effective_token()[0] != '\0')
	{
		char	   *header = psprintf("X-Api-Key: %s", gbn_effective_token());

		ok = gbn_http_add_header(req, header);
		explicit_bzero(header, strlen(header));
		pfree(header);
	}
	if (!ok)
	{
		*problem = pstrdup("out of memory building the request headers");
		return GBN_BUILD_ERROR;
	}
	return GBN_BUILD_OK;
}

/* NestJS errors: {"statusCode": 422, "message": "..." or [...], "error": "..."} */
static char *
waha_error_message(struct json_object *root)
{
	struct json_object *msgs;
	char	   *s;

	s = gbn_json_get_string(root, "message");
	if (s != NULL)
		return s;
	msgs = gbn_json_get(root, "message", json_type_array);
	if (msgs != NULL && json_object_array_length(msgs) > 0)
	{
		struct json_object *first = json_object_array_get_idx(msgs, 0);

		if (first && json_object_is_type(first, json_type_string))
			return pstrdup(json_object_get_string(first));
	}
	s = gbn_json_get_string(root, "error");
	if (s != NULL)
		return s;
	return NULL;
}

static void
waha_parse(const GbnHttpRequest *req, GbnReply *reply)
{
	struct json_object *root;

	if (req->http_status >= 200 && req->http_status < 300)
		reply->accepted = true;

	root = gbn_json_parse(req->response, req->response_len);
	if (root == NULL)
		return;
	reply->is_json = true;

	if (reply->accepted)
	{
		struct json_object *id = gbn_json_get(root, "id", json_type_object);

		reply->message_id = gbn_json_get_string(root, "id");
		if (reply->message_id == NULL && id != NULL)
		{
			reply->message_id = gbn_json_get_string(id, "_serialized");
			if (reply->message_id == NULL)
				reply->message_id = gbn_json_get_string(id, "id");
		}
	}
	else
		reply->error_message = waha_error_message(root);

	json_object_put(root);
}

const GbnProviderOps gbn_waha_ops = {
	.name = "waha",
	.build = waha_build,
	.parse = waha_parse,
};
