/*-------------------------------------------------------------------------
 *
 * settings_check.c
 *		Decide whether the current settings allow sending.
 *
 * The worker calls gbn_settings_problem() at start and after each reload;
 * while it returns a message the worker logs it once and sends nothing.
 * Plain http:// is allowed only to loopback hosts, so that a token never
 * crosses a network in clear text.
 *
 * src/settings_check.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include "guestbook_notify.h"

/* Is host (as libcurl's URL parser returns it) a loopback address? */
static bool
host_is_loopback(const char *host)
{
	struct in_addr addr4;
	size_t		len = strlen(host);

	if (pg_strcasecmp(host, "localhost") == 0 ||
		pg_strcasecmp(host, "localhost.") == 0)
		return true;
	if (strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0)
		return true;
	if (len > 0 && inet_pton(AF_INET, host, &addr4) == 1)
		return (ntohl(addr4.s_addr) >> 24) == 127;
	return false;
}

/* Are all bytes printable ASCII other than those in "reject"? */
static bool
is_safe_ascii(const char *s, const char *reject)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (reject && strchr(reject, c) != NULL)
			return false;
	}
	return true;
}

/*
 * NULL when token can go into an HTTP header (printable ASCII, no spaces),
 * else a sentence saying why not.  The token is never quoted.
 */
const char *
gbn_token_problem(const char *token)
{
	if (token != NULL && token[0] != '\0' && !is_safe_ascii(token, NULL))
		return "contains spaces, control or non-ASCII characters";
	return NULL;
}

/*
 * Does the URL's path end with a Graph API version segment (/v23.0)?  The
 * worker appends /<phone_number_id>/messages; Meta's spec has the version
 * as the path's first part.
 */
static bool
ends_with_graph_version(CURLU *u)
{
	char	   *path = NULL;
	bool		ok = false;

	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path != NULL)
	{
		size_t		len = strlen(path);
		const char *seg;
		int			major,
					minor,
					n = 0;

		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		seg = strrchr(path, '/');
		seg = seg ? seg + 1 : path;
		ok = sscanf(seg, "v%d.%d%n", &major, &minor, &n) == 2 &&
			seg[n] == '\0' && strspn(seg + 1, "0123456789.") == strlen(seg + 1);
		curl_free(path);
	}
	return ok;
}

static char *
check_api_url(void)
{
	CURLU	   *u;
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *problem = NULL;
	CURLUcode	rc;

	if (gbn_api_url == NULL || gbn_api_url[0] == '\0')
		return pstrdup("guestbook_notify.api_url is empty");

	u = curl_url();
	if (u == NULL)
		return pstrdup("out of memory while checking guestbook_notify.api_url");

	rc = curl_url_set(u, CURLUPART_URL, gbn_api_url, 0);
	if (rc != CURLUE_OK)
		problem = psprintf("guestbook_notify.api_url \"%s\" is not a valid URL", gbn_api_url);
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		problem = psprintf("guestbook_notify.api_url \"%s\" has no scheme or host", gbn_api_url);
	else if (pg_strcasecmp(scheme, "https") == 0)
		problem = NULL;
	else if (pg_strcasecmp(scheme, "http") == 0)
	{
		if (!host_is_loopback(host))
			problem = psprintf("guestbook_notify.api_url \"%s\" uses plain http:// to a host that is not loopback; use https://",
							   gbn_api_url);
	}
	else
		problem = psprintf("guestbook_notify.api_url \"%s\" must start with https:// (or http:// to a loopback host)",
						   gbn_api_url);

	if (problem == NULL && strpbrk(gbn_api_url, "?#") != NULL)
		problem = psprintf("guestbook_notify.api_url \"%s\" must not contain a query or fragment", gbn_api_url);
	if (problem == NULL && gbn_provider == GBN_PROVIDER_CLOUD_API &&
		!ends_with_graph_version(u))
		problem = psprintf("guestbook_notify.api_url \"%s\" must end with the Graph API version, as in https://graph.facebook.com/v23.0",
						   gbn_api_url);

	if (scheme)
		curl_free(scheme);
	if (host)
		curl_free(host);
	curl_url_cleanup(u);
	return problem;
}

/*
 * NULL if the worker may send with the current settings, otherwise a
 * palloc'd sentence saying what to fix.  The access token (the database's
 * own when it has one, else guestbook_notify.access_token) is never quoted.
 */
char *
gbn_settings_problem(void)
{
	char	   *problem;
	const char *pnid = gbn_phone_number_id ? gbn_phone_number_id : "";
	const char *token = gbn_effective_token();
	const char *token_name = gbn_database_token != NULL ?
		"this database's access token (set_access_token())" :
		"guestbook_notify.access_token";

	if (gbn_provider < 0)
		return psprintf("guestbook_notify.provider \"%s\" is not one of: cloud_api, waha",
						gbn_provider_setting ? gbn_provider_setting : "");
	if (gbn_message_mode < 0)
		return psprintf("guestbook_notify.message_mode \"%s\" is not one of: template, text",
						gbn_message_mode_setting ? gbn_message_mode_setting : "");
	if (gbn_max_send_rate < 1 || gbn_max_send_rate > GBN_SEND_RATE_OFF)
		return psprintf("guestbook_notify.max_send_rate = %d is out of range (1 to %d; %d turns pacing off)",
						gbn_max_send_rate, GBN_SEND_RATE_OFF, GBN_SEND_RATE_OFF);
	if (gbn_max_in_flight < 1 || gbn_max_in_flight > GBN_MAX_IN_FLIGHT)
		return psprintf("guestbook_notify.max_in_flight = %d is out of range (1 to %d)",
						gbn_max_in_flight, GBN_MAX_IN_FLIGHT);
	if (gbn_recipient_interval < 0 || gbn_recipient_interval > 3600000)
		return psprintf("guestbook_notify.recipient_interval = %d ms is out of range (0 to 3600000 ms; 0 turns it off)",
						gbn_recipient_interval);
	if (gbn_recipient_hourly_cap < 0 || gbn_recipient_hourly_cap > 100000)
		return psprintf("guestbook_notify.recipient_hourly_cap = %d is out of range (0 to 100000; 0 means no cap)",
						gbn_recipient_hourly_cap);

	problem = check_api_url();
	if (problem)
		return problem;

	if (gbn_provider == GBN_PROVIDER_CLOUD_API)
	{
		if (pnid[0] == '\0')
			return pstrdup("guestbook_notify.phone_number_id is not set (the sender's phone-number ID)");
		if (strspn(pnid, "0123456789") != strlen(pnid))
			return psprintf("guestbook_notify.phone_number_id \"%s\" must contain only digits (it is the phone-number ID, not the phone number)",
							pnid);
		if (token[0] == '\0')
			return pstrdup("guestbook_notify.access_token is not set (nor this database's own, guestbook_notify.set_access_token())");
	}
	else
	{
		/* WAHA session names go into the JSON body, but keep them plain */
		if (pnid[0] != '\0' && !is_safe_ascii(pnid, "\"\\/?#"))
			return psprintf("guestbook_notify.phone_number_id \"%s\" is not a valid WAHA session name",
							pnid);
	}

	/* the token goes into an HTTP header: no spaces, no control characters */
	if (gbn_token_problem(token) != NULL)
		return psprintf("%s %s", token_name, gbn_token_problem(token));

	return NULL;
}
