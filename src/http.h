/*-------------------------------------------------------------------------
 *
 * http.h
 *		Non-blocking HTTP requests (libcurl multi interface) for the worker.
 *
 * src/http.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_HTTP_H
#define GBN_HTTP_H

#include <curl/curl.h>

#include "datatype/timestamp.h"
#include "lib/ilist.h"
#include "utils/palloc.h"

typedef struct GbnHttpRequest
{
	/* set by the caller before gbn_http_start() */
	char	   *url;
	char	   *body;			/* request body; must live as long as this */
	size_t		body_len;
	void	   *owner;			/* the caller's record for this request */

	/* set by http.c */
	CURL	   *easy;
	struct curl_slist *headers;
	bool		running;		/* added to the multi handle */
	bool		done;			/* finished (result and status are set) */
	CURLcode	result;
	long		http_status;	/* 0 if no response */
	long		retry_after_ms; /* Retry-After header, -1 if none */
	bool		connected;		/* a connection was established */
	bool		sent;			/* the whole request was written */
	char	   *response;		/* malloc'd, NUL-terminated, or NULL */
	size_t		response_len;
	size_t		response_cap;
	bool		truncated;		/* body exceeded GBN_MAX_RESPONSE_BYTES */
	bool		oom;			/* could not keep the body */
	char		errbuf[CURL_ERROR_SIZE];
	int64		started_us;		/* monotonic */
	TimestampTz started_at;
	double		duration_ms;
	dlist_node	done_node;
	bool		in_done_list;
} GbnHttpRequest;

extern void gbn_http_init(void);
extern pgsocket gbn_http_event_socket(void);
extern void gbn_http_configure(int max_connections);

extern GbnHttpRequest *gbn_http_request_create(MemoryContext cxt);
extern bool gbn_http_add_header(GbnHttpRequest *req, const char *header);
extern bool gbn_http_start(GbnHttpRequest *req, char **problem);

extern void gbn_http_drive(void);
extern int	gbn_http_await_sent(GbnHttpRequest **reqs, int n, int64 deadline_ms);
extern GbnHttpRequest *gbn_http_next_done(void);
extern int64 gbn_http_timer_deadline_ms(void);
extern char *gbn_http_take_warning(void);

extern int64 gbn_now_us(void);
extern int64 gbn_now_ms(void);

#endif							/* GBN_HTTP_H */
