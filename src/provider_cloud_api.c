/*-------------------------------------------------------------------------
 *
 * provider_cloud_api.c
 *		Meta WhatsApp Business Cloud API: POST {api_url}/{phone_number_id}/messages
 *
 * Bodies follow Meta's OpenAPI spec (business-messaging-api_v23.0.yaml):
 * recipient_type and template.language.policy are always sent, and text
 * messages carry no biz_opaque_callback_data.  Success is a 2xx whose body
 * has messages[0].id (the wamid); errors are the Graph shape
 * {"error": {"message", "type", "code", "error_subcode", "error_data":
 * {"details"}, "fbtrace_id"}}.
 *
 * src/provider_cloud_api.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "json_util.h"
#include "normalize.h"
#include "provider.h"

/* {"type":"body","parameters":[{"type":"text","text":...}, ...]} */
static struct json_object *
body_component(const GbnMessage *msg)
{
	struct json_object *component = json_object_new_object();
	struct json_object *params = json_object_new_array();
	int			i;

	if (component == NULL || params == NULL)
		goto fail;
	for (i = 0; i < msg->nargs; i++)
	{
		struct json_object *p = json_object_new_object();

		if (!gbn_json_add_string(p, "type", "text") ||
			!gbn_json_add_string(p, "text", msg->args[i] ? msg->args[i] : ""))
		{
			if (p)
				json_object_put(p);
			goto fail;
		}
		if (json_object_array_add(params, p) != 0)
		{
			json_object_put(p);
			goto fail;
		}
	}
	if (!gbn_json_add_string(component, "type", "body"))
		goto fail;
	if (!gbn_json_add(component, "parameters", params))
	{
		params = NULL;			/* released by gbn_json_add */
		goto fail;
	}
	return component;

fail:
	if (params)
		json_object_put(params);
	if (component)
		json_object_put(component);
	return NULL;
}

static struct json_object *
template_object(const GbnMessage *msg)
{
	struct json_object *tmpl = json_object_new_object();
	struct json_object *language = json_object_new_object();

	if (tmpl == NULL || language == NULL)
		goto fail;
	if (!gbn_json_add_string(tmpl, "name", msg->template_name) ||
		!gbn_json_add_string(language, "policy", "deterministic") ||
		!gbn_json_add_string(language, "code",
							 msg->template_language && msg->template_language[0] ?
							 msg->template_language : "id"))
		goto fail;
	if (!gbn_json_add(tmpl, "language", language))
	{
		language = NULL;
		goto fail;
	}
	language = NULL;

	/* no "components" at all for a template without parameters */
	if (msg->nargs > 0)
	{
		struct json_object *components = json_object_new_array();
		struct json_object *body = body_component(msg);

		if (components == NULL || body == NULL ||
			json_object_array_add(components, body) != 0)
		{
			if (body)
				json_object_put(body);
			if (components)
				json_object_put(components);
			goto fail;
		}
		if (!gbn_json_add(tmpl, "components", components))
			goto fail;
	}
	return tmpl;

fail:
	if (language)
		json_object_put(language);
	if (tmpl)
		json_object_put(tmpl);
	return NULL;
}

static struct json_object *
text_object(const GbnMessage *msg)
{
	struct json_object *text = json_object_new_object();

	if (text == NULL)
		return NULL;
	if (!gbn_json_add(text, "preview_url", json_object_new_boolean(0)) ||
		!gbn_json_add_string(text, "body", msg->message_text))
	{
		json_object_put(text);
		return NULL;
	}
	return text;
}

static GbnBuildStatus
cloud_api_build(const GbnMessage *msg, GbnHttpRequest *req, char **problem)
{
	/* a template's send_as 'text' (a reply in the 24-hour window) wins */
	bool		template_mode = (gbn_message_mode == GBN_MODE_TEMPLATE &&
								 !msg->send_as_text);
	struct json_object *root;
	char	   *to;
	char	   *header;
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
	if (template_mode && (msg->template_name == NULL || msg->template_name[0] == '\0'))
	{
		*problem = pstrdup("message_mode is template but the notification has no Cloud API template name");
		return GBN_BUILD_BAD_ROW;
	}

	to = psprintf("+%s", msg->to_number);
	root = json_object_new_object();
	ok = gbn_json_add_string(root, "messaging_product", "whatsapp") &&
		gbn_json_add_string(root, "recipient_type", "individual") &&
		gbn_json_add_string(root, "to", to);
	if (ok && template_mode)
		ok = gbn_json_add_string(root, "type", "template") &&
			gbn_json_add(root, "template", template_object(msg));
	else if (ok)
		ok = gbn_json_add_string(root, "type", "text") &&
			gbn_json_add(root, "text", text_object(msg));
	if (!gbn_request_set_json_body(req, root, ok, problem))
		return GBN_BUILD_ERROR;

	req->url = psprintf("%s/%s/messages", gbn_api_base_url(), gbn_phone_number_id);

	header = psprintf("Authorization: Bearer %s", gbn_effective_token());
	ok = gbn_http_add_header(req, header) &&
		gbn_http_add_header(req, "Content-Type: application/json") &&
		gbn_http_add_header(req, "Accept: application/json");
	/* do not leave the token lying around in freed memory */
	explicit_bzero(header, strlen(header));
	pfree(header);
	if (!ok)
	{
		*problem = pstrdup("out of memory building the request headers");
		return GBN_BUILD_ERROR;
	}
	return GBN_BUILD_OK;
}

static void
cloud_api_parse(const GbnHttpRequest *req, GbnReply *reply)
{
	struct json_object *root;
	struct json_object *error;

	root = gbn_json_parse(req->response, req->response_len);
	if (root == NULL)
		return;
	reply->is_json = true;

	error = gbn_json_get(root, "error", json_type_object);
	if (error != NULL)
	{
		struct json_object *code = gbn_json_get(error, "code", json_type_int);
		struct json_object *subcode = gbn_json_get(error, "error_subcode", json_type_int);
		struct json_object *data = gbn_json_get(error, "error_data", json_type_object);

		if (code != NULL)
		{
			reply->has_error_code = true;
			reply->error_code = json_object_get_int(code);
		}
		if (subcode != NULL)
			reply->error_subcode = json_object_get_int(subcode);
		reply->error_message = gbn_json_get_string(error, "message");
		if (reply->error_message == NULL)
			reply->error_message = gbn_json_get_string(error, "error_user_msg");
		if (data != NULL)
			reply->error_details = gbn_json_get_string(data, "details");
		reply->trace_id = gbn_json_get_string(error, "fbtrace_id");
	}
	else if (req->http_status >= 200 && req->http_status < 300)
	{
		struct json_object *messages = gbn_json_get(root, "messages", json_type_array);
		struct json_object *first = NULL;

		if (messages != NULL && json_object_array_length(messages) > 0)
			first = json_object_array_get_idx(messages, 0);
		reply->message_id = gbn_json_get_string(first, "id");
		if (reply->message_id != NULL && reply->message_id[0] != '\0')
			reply->accepted = true;
		else
			reply->problem = pstrdup("the response has no messages[0].id");
	}
	json_object_put(root);
}

const GbnProviderOps gbn_cloud_api_ops = {
	.name = "cloud_api",
	.build = cloud_api_build,
	.parse = cloud_api_parse,
};
