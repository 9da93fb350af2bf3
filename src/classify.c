/*-------------------------------------------------------------------------
 *
 * classify.c
 *		Decide what a finished request means for its row, and say it in a
 *		sentence an admin can read in last_error.
 *
 * The order follows whatsapp-api.md §1.5: the provider's error code first
 * (Meta says not to key on HTTP status), then the HTTP status, then
 * transport errors.  Outcomes:
 *   sent    the provider accepted the message
 *   retry   transient: tried again after an exponential backoff with
 *           jitter, until max_attempts
 *   failed  permanent: this message will never go through as it is
 *   paused  account-level (token expired, account restricted, ...): the
 *           try does not count, and all workers stop sending until the
 *           configuration is reloaded (or pause_retry_interval passes)
 *
 * src/classify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "classify.h"

#define BODY_EXCERPT_BYTES	200
#define ERROR_TEXT_BYTES	1000

typedef enum CodeClass
{
	CODE_RETRY,					/* transient */
	CODE_RETRY_FEW,				/* transient-ish: at most 3 tries */
	CODE_FAILED,				/* permanent for this message */
	CODE_PAUSE					/* account-level: stop sending */
} CodeClass;

typedef struct GraphCode
{
	int			code;
	CodeClass	cls;
	int			min_delay_ms;	/* retry no sooner than this */
	bool		throttle;		/* also slow the whole sender down */
	const char *hint;			/* appended to last_error, or NULL */
} GraphCode;

/* whatsapp-api.md §1.5 */
static const GraphCode graph_codes[] = {
	/* transient */
	{1, CODE_RETRY_FEW, 0, false, NULL},
	{2, CODE_RETRY, 0, false, NULL},
	{4, CODE_RETRY, 1000, true, NULL},
	{17, CODE_RETRY, 1000, true, NULL},
	{341, CODE_RETRY, 1000, true, NULL},
	{80007, CODE_RETRY, 1000, true, NULL},
	{130429, CODE_RETRY, 1000, true, NULL},
	{131056, CODE_RETRY, 1000, false, NULL},	/* pair rate: see below */
	{131000, CODE_RETRY_FEW, 0, false, NULL},
	{131016, CODE_RETRY, 0, false, NULL},
	{133004, CODE_RETRY, 0, false, NULL},
	{131057, CODE_RETRY, 60000, false, NULL},
	/* permanent */
	{131047, CODE_FAILED, 0, false,
	"more than 24 hours since the recipient last wrote: free-form text is refused, use message_mode = 'template'"},
	{131026, CODE_FAILED, 0, false, NULL},
	{131051, CODE_FAILED, 0, false, NULL},
	{100, CODE_FAILED, 0, false, NULL},
	{131008, CODE_FAILED, 0, false, NULL},
	{131009, CODE_FAILED, 0, false, NULL},
	{135000, CODE_FAILED, 0, false, NULL},
	{131021, CODE_FAILED, 0, false, NULL},
	{132000, CODE_FAILED, 0, false, "the number of template parameters does not match the approved template"},
	{132001, CODE_FAILED, 0, false, "the template does not exist in that language or is not approved"},
	{132005, CODE_FAILED, 0, false, NULL},
	{132007, CODE_FAILED, 0, false, NULL},
	{132012, CODE_FAILED, 0, false, NULL},
	{132015, CODE_FAILED, 0, false, "the template is paused for low quality"},
	{132016, CODE_FAILED, 0, false, "the template is disabled"},
	{130403, CODE_FAILED, 0, false, NULL},
	{131049, CODE_FAILED, 0, false, NULL},
	{131050, CODE_FAILED, 0, false, NULL},
	/* account-level */
	{0, CODE_PAUSE, 0, false, NULL},
	{190, CODE_PAUSE, 0, false, "the access token is invalid or expired: set a new guestbook_notify.access_token and reload, or this database's with set_access_token()"},
	{3, CODE_PAUSE, 0, false, NULL},
	{10, CODE_PAUSE, 0, false, NULL},
	{131005, CODE_PAUSE, 0, false, NULL},
	{368, CODE_PAUSE, 0, false, NULL},
	{131031, CODE_PAUSE, 0, false, NULL},
	{130497, CODE_PAUSE, 0, false, NULL},
	{131048, CODE_PAUSE, 0, false, NULL},
	{131064, CODE_PAUSE, 0, false, NULL},
	{131042, CODE_PAUSE, 0, false, NULL},
	{131045, CODE_PAUSE, 0, false, NULL},
	{133010, CODE_PAUSE, 0, false, NULL},
	{33, CODE_PAUSE, 0, false, NULL},
	{131037, CODE_PAUSE, 0, false, NULL},
};

static const GraphCode permission_code = {200, CODE_PAUSE, 0, false, NULL};
static const GraphCode missing_object_code = {100, CODE_PAUSE, 0, false,
"the phone-number ID does not exist or the token may not use it: check guestbook_notify.phone_number_id"};

static const GraphCode *
lookup_graph_code(int code, int subcode)
{
	int			i;

	/* Graph "Unsupported post request. Object with ID ... does not exist" */
	if (code == 100 && subcode == 33)
		return &missing_object_code;
	if (code >= 200 && code <= 299)
		return &permission_code;
	for (i = 0; i < (int) lengthof(graph_codes); i++)
		if (graph_codes[i].code == code)
			return &graph_codes[i];
	return NULL;
}

static const char *
http_reason(long status)
{
	switch (status)
	{
		case 400: return "Bad Request";
		case 401: return "Unauthorized";
		case 403: return "Forbidden";
		case 404: return "Not Found";
		case 405: return "Method Not Allowed";
		case 408: return "Request Timeout";
		case 409: return "Conflict";
		case 410: return "Gone";
		case 413: return "Payload Too Large";
		case 415: return "Unsupported Media Type";
		case 422: return "Unprocessable Entity";
		case 429: return "Too Many Requests";
		case 500: return "Internal Server Error";
		case 501: return "Not Implemented";
		case 502: return "Bad Gateway";
		case 503: return "Service Unavailable";
		case 504: return "Gateway Timeout";
		default:
			if (status >= 200 && status < 300)
				return "OK";
			return "error";
	}
}

/*
 * A copy of s (len bytes) that is safe to store and read: valid UTF-8 (or
 * ASCII when the database encoding is not UTF-8), control characters turned
 * into spaces, at most maxlen bytes, cut at a character boundary with "..."
 * when longer.
 */
char *
gbn_clean_text(const char *s, size_t len, size_t maxlen)
{
	StringInfoData buf;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	size_t		i = 0;

	initStringInfo(&buf);
	if (s == NULL)
		return buf.data;
	while (i < len)
	{
		unsigned char c = (unsigned char) s[i];
		int			clen = 1;

		if (c < 0x80)
		{
			if (c < 0x20 || c == 0x7f)
				c = ' ';
			if ((size_t) buf.len + 1 > maxlen)
				break;
			appendStringInfoChar(&buf, (char) c);
		}
		else
		{
			clen = pg_utf_mblen((const unsigned char *) &s[i]);
			if (utf8 && i + clen <= len &&
				pg_utf8_islegal((const unsigned char *) &s[i], clen))
			{
				if ((size_t) (buf.len + clen) > maxlen)
					break;
				appendBinaryStringInfo(&buf, &s[i], clen);
			}
			else
			{
				if (i + clen > len ||
					!pg_utf8_islegal((const unsigned char *) &s[i], clen))
					clen = 1;
				if ((size_t) buf.len + 1 > maxlen)
					break;
				appendStringInfoChar(&buf, '?');
			}
		}
		i += clen;
	}
	if (i < len)
		appendStringInfoString(&buf, "...");
	/* a provider that echoes the token must not get it stored */
	return gbn_mask_secret(buf.data);
}

/* " (body: ...)" with the start of the response, or "" if there is none */
static char *
body_excerpt(const GbnHttpRequest *req)
{
	if (req->response == NULL || req->response_len == 0)
		return pstrdup("");
	return psprintf(" (body: %s)",
					gbn_clean_text(req->response, req->response_len, BODY_EXCERPT_BYTES));
}

/*
 * Exponential backoff with jitter: retry_base_delay * 2^(attempt-1), at
 * most retry_max_delay, times a random factor in [0.8, 1.2), kept within
 * retry_max_delay and at least min_delay_ms.
 */
int
gbn_retry_delay_ms(int attempt, int min_delay_ms)
{
	double		delay = gbn_retry_base_delay;
	int			i;

	for (i = 1; i < attempt && delay < gbn_retry_max_delay; i++)
		delay *= 2;
	delay = Min(delay, (double) gbn_retry_max_delay);
	delay *= 0.8 + 0.4 * pg_prng_double(&pg_global_prng_state);
	delay = Min(delay, (double) gbn_retry_max_delay);
	delay = Max(delay, (double) min_delay_ms);
	return (int) Min(delay, (double) PG_INT32_MAX);
}

static void
set_retry(GbnResult *res, const GbnMessage *msg, int min_delay_ms)
{
	res->outcome = GBN_OUTCOME_RETRY;
	res->retry_delay_ms = gbn_retry_delay_ms(msg->attempt_count, min_delay_ms);
}

/* "(#131026) Message undeliverable: <details> (HTTP 400, fbtrace_id ...)" */
static char *
graph_error_text(const GbnHttpRequest *req, const GbnReply *reply,
				 const GraphCode *gc)
{
	StringInfoData buf;
	const char *message = reply->error_message;
	char		prefix[32];

	initStringInfo(&buf);
	snprintf(prefix, sizeof(prefix), "(#%d)", reply->error_code);
	appendStringInfoString(&buf, prefix);
	if (message && message[0])
	{
		/* Meta's message usually starts with the same "(#code)" already */
		if (strncmp(message, prefix, strlen(prefix)) == 0)
			message += strlen(prefix);
		while (*message == ' ')
			message++;
		if (message[0])
			appendStringInfo(&buf, " %s", message);
	}
	if (reply->error_details && reply->error_details[0] &&
		(reply->error_message == NULL ||
		 strstr(reply->error_message, reply->error_details) == NULL))
		appendStringInfo(&buf, ": %s", reply->error_details);
	if (gc && gc->hint)
		appendStringInfo(&buf, " -- %s", gc->hint);
	appendStringInfo(&buf, " (HTTP %ld", req->http_status);
	if (reply->trace_id)
		appendStringInfo(&buf, ", fbtrace_id %s", reply->trace_id);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

static void
classify_transport_error(const GbnMessage *msg, GbnHttpRequest *req,
						 GbnResult *res)
{
	const char *detail = req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result);

	switch (req->result)
	{
		case CURLE_OPERATION_TIMEDOUT:
			if (!req->connected)
				res->error_text = psprintf("could not connect within %d ms: %s",
										   gbn_connect_timeout, detail);
			else
				res->error_text = psprintf("timeout after %d ms (the message may have been delivered)",
										   gbn_http_timeout);
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
			res->error_text = psprintf("could not resolve the host: %s", detail);
			break;
		case CURLE_COULDNT_CONNECT:
			res->error_text = psprintf("could not connect: %s", detail);
			break;
		case CURLE_ABORTED_BY_CALLBACK:
			res->error_text = pstrdup("request aborted: the worker is shutting down");
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			res->error_text = psprintf("connection lost: %s (the message may have been delivered)",
									   detail);
			break;
		default:
			res->error_text = psprintf("%s: %s", curl_easy_strerror(req->result), detail);
			break;
	}
	set_retry(res, msg, 0);
}

static bool
is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/*
 * The provider's message id, looked for in the text of an answer that
 * could not be read as JSON (cut at GBN_MAX_RESPONSE_BYTES, say): WAHA's
 * "_serialized" id, else the first "id" member (the Cloud API's wamid comes
 * before anything large).  NULL when there is none.
 */
static char *
salvage_id(const GbnHttpRequest *req)
{
	static const char *const keys[] = {"\"_serialized\":\"", "\"id\":\""};
	int			k;

	if (req->response == NULL)
		return NULL;
	for (k = 0; k < (int) lengthof(keys); k++)
	{
		const char *p = strstr(req->response, keys[k]);
		const char *end;

		if (p == NULL)
			continue;
		p += strlen(keys[k]);
		end = strchr(p, '"');
		if (end != NULL && end > p && end - p <= 256)
			return gbn_clean_text(p, end - p, 256);
	}
	return NULL;
}

/* a 2xx whose body was too large to keep: sent, the id if it shows */
static void
accepted_unread(const GbnHttpRequest *req, GbnResult *res)
{
	res->outcome = GBN_OUTCOME_SENT;
	res->provider_message_id = salvage_id(req);
	res->error_text = psprintf("sent, but the answer (HTTP %ld) was larger than %d bytes and not read whole: provider message id %s",
							   req->http_status, GBN_MAX_RESPONSE_BYTES,
							   res->provider_message_id ? "taken from its first part" : "unknown");
}

/* A provider error code (Graph error.code) decides what happens to the row. */
static void
classify_error_code(const GbnMessage *msg, GbnHttpRequest *req,
					const GbnReply *reply, GbnResult *res)
{
	const GraphCode *gc = lookup_graph_code(reply->error_code, reply->error_subcode);
	long		status = req->http_status;

	res->has_error_code = true;
	res->error_code = reply->error_code;
	res->error_text = graph_error_text(req, reply, gc);

	if (gc == NULL)
	{
		/* unknown code: fall back on the HTTP status */
		if (status >= 500 || status == 408 || status == 429)
			set_retry(res, msg, 0);
		else
			res->outcome = GBN_OUTCOME_FAILED;
		return;
	}
	switch (gc->cls)
	{
		case CODE_RETRY_FEW:
			res->max_attempts = Min(gbn_max_attempts, 3);
			set_retry(res, msg, gc->min_delay_ms);
			break;
		case CODE_RETRY:
			/*
			 * 131056 (pair rate limit): the recipient's next slot moves back
			 * by 4^x s, as Meta advises -- decided in one place,
			 * _record_result's pacing (src/sql/70_worker.sql); the claim then
			 * defers this row to that slot.
			 */
			set_retry(res, msg, gc->min_delay_ms);
			if (gc->throttle)
				res->throttle_ms = Max(1000, (int) req->retry_after_ms);
			break;
		case CODE_FAILED:
			res->outcome = GBN_OUTCOME_FAILED;
			break;
		case CODE_PAUSE:
			res->outcome = GBN_OUTCOME_PAUSED;
			break;
	}
}

/*
 * A 2xx we cannot read as an acceptance.  The provider took the request:
 * sending it again could deliver it twice, so it counts as sent, with the
 * id unknown, and says so.
 */
static void
accepted_unexpected(GbnHttpRequest *req, const GbnReply *reply, GbnResult *res)
{
	res->outcome = GBN_OUTCOME_SENT;
	res->provider_message_id = salvage_id(req);
	res->error_text = psprintf("sent, but the answer (HTTP %ld) was unexpected: %s%s; provider message id %s",
							   req->http_status,
							   reply->problem ? reply->problem : "not JSON",
							   body_excerpt(req),
							   res->provider_message_id ? "taken from the answer's text" : "unknown");
}

/* An HTTP error without a provider error code: the status decides. */
static void
classify_http_status(const GbnMessage *msg, GbnHttpRequest *req,
					 const GbnReply *reply, GbnResult *res)
{
	long		status = req->http_status;

	if (reply->error_message)
		res->error_text = psprintf("HTTP %ld: %s: %s", status, http_reason(status),
								   reply->error_message);
	else
		res->error_text = psprintf("HTTP %ld: %s%s", status, http_reason(status),
								   body_excerpt(req));

	if (status == 429)
	{
		set_retry(res, msg, Max(1000, (int) req->retry_after_ms));
		res->throttle_ms = Max(1000, (int) req->retry_after_ms);
	}
	else if (status >= 500 || status == 408)
		set_retry(res, msg, req->retry_after_ms > 0 ? (int) req->retry_after_ms : 0);
	else if (status == 401 || status == 403)
		res->outcome = GBN_OUTCOME_PAUSED;	/* credentials: every row would fail */
	else
		res->outcome = GBN_OUTCOME_FAILED;
}

/*
 * Fill res (whose id, provider, attempt fields the caller set) from the
 * finished request req.
 */
void
gbn_classify(const GbnProviderOps *ops, const GbnMessage *msg,
			 GbnHttpRequest *req, GbnResult *res)
{
	GbnReply	reply;
	long		status = req->http_status;

	memset(&reply, 0, sizeof(reply));
	res->http_status = (int) status;
	res->started_at = req->started_at;
	res->duration_ms = req->duration_ms;
	res->max_attempts = gbn_max_attempts;

	if (req->truncated || req->oom)
	{
		if (is_2xx(status))
			accepted_unread(req, res);
		else
		{
			res->error_text = psprintf("HTTP %ld: response body larger than %d bytes, not read",
									   status, GBN_MAX_RESPONSE_BYTES);
			set_retry(res, msg, 0);
		}
		return;
	}
	if (req->result != CURLE_OK && is_2xx(status))
	{
		/* the answer began with a 2xx, then the connection broke */
		res->outcome = GBN_OUTCOME_SENT;
		res->provider_message_id = salvage_id(req);
		res->error_text = psprintf("sent, but the answer (HTTP %ld) was cut off (%s): provider message id %s",
								   status, req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result),
								   res->provider_message_id ? "taken from its first part" : "unknown");
		return;
	}
	if (req->result != CURLE_OK)
	{
		classify_transport_error(msg, req, res);
		return;
	}

	ops->parse(req, &reply);
	if (reply.accepted)
	{
		res->outcome = GBN_OUTCOME_SENT;
		if (reply.message_id)
			res->provider_message_id = gbn_clean_text(reply.message_id,
													  strlen(reply.message_id), 256);
	}
	else if (reply.has_error_code)
		classify_error_code(msg, req, &reply, res);
	else if (is_2xx(status))
		accepted_unexpected(req, &reply, res);
	else
		classify_http_status(msg, req, &reply, res);
}

/* A row that was not sent: permanent (bad row) or not (could not build). */
void
gbn_classify_unsent(const GbnMessage *msg, bool permanent, const char *problem,
					GbnResult *res)
{
	res->http_status = 0;
	res->started_at = GetCurrentTimestamp();
	res->duration_ms = 0;
	res->max_attempts = gbn_max_attempts;
	res->error_text = pstrdup(problem);
	if (permanent)
		res->outcome = GBN_OUTCOME_FAILED;
	else
		set_retry(res, msg, 0);
}
