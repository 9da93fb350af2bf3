/*-------------------------------------------------------------------------
 *
 * http.c
 *		Non-blocking HTTP for the worker: libcurl's multi-socket interface
 *		driven from the worker's own wait loop.
 *
 * libcurl tells us which sockets it wants to watch (CURLMOPT_SOCKETFUNCTION)
 * and when it next needs a call (CURLMOPT_TIMERFUNCTION).  The sockets go
 * into a private epoll set whose descriptor the worker adds, as one
 * readable socket, to the WaitEventSet that also holds its latch: a commit
 * wakes the worker at once even while requests are in flight, and socket
 * activity wakes it without polling.  Connections are kept in the multi
 * handle and reused across requests.
 *
 * Nothing here raises an ERROR from inside a libcurl callback: callbacks
 * only set flags, which are reported after libcurl returns.  libcurl's
 * sockets are counted against PostgreSQL's file-descriptor budget
 * (AcquireExternalFD), so a large max_in_flight cannot starve the backend
 * of descriptors; a socket refused that way fails its request, which is
 * retried.
 *
 * src/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/timestamp.h"

#include "guestbook_notify.h"
#include "http.h"

/* curl_url() (settings_check.c) needs 7.62.0 */
StaticAssertDecl(LIBCURL_VERSION_NUM >= 0x073e00,
				 "guestbook_notify needs libcurl 7.62.0 or later");

static CURLM *multi = NULL;
static int	epoll_fd = -1;
static int64 timer_deadline_ms = -1;	/* -1: libcurl wants no call */
static dlist_head done_list = DLIST_STATIC_INIT(done_list);

/* problems seen inside callbacks, reported by the worker afterwards */
static int	epoll_ctl_errno = 0;
static bool fd_budget_exhausted = false;

int64
gbn_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64
gbn_now_ms(void)
{
	return gbn_now_us() / 1000;
}

/* ----------------------------------------------------------------
 * libcurl callbacks (no ereport(ERROR), no palloc)
 * ----------------------------------------------------------------
 */

static int
socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev;

	if (what == CURL_POLL_REMOVE)
	{
		if (socketp != NULL)
		{
			/* ENOENT/EBADF: already gone with the descriptor, fine */
			(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, s, NULL);
			curl_multi_assign(multi, s, NULL);
		}
		return 0;
	}

	memset(&ev, 0, sizeof(ev));
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	ev.data.fd = s;

	if (socketp == NULL)
	{
		if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s, &ev) < 0 &&
			(errno != EEXIST || epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s, &ev) < 0))
			epoll_ctl_errno = errno;
		curl_multi_assign(multi, s, (void *) &epoll_fd);
	}
	else
	{
		if (epoll_ctl(epoll_fd, EPOLL_CTL_MOD, s, &ev) < 0 &&
			(errno != ENOENT || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, s, &ev) < 0))
			epoll_ctl_errno = errno;
	}
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		timer_deadline_ms = -1;
	else
		timer_deadline_ms = gbn_now_ms() + timeout_ms;
	return 0;
}

static curl_socket_t
opensocket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	curl_socket_t s;

	if (!AcquireExternalFD())
	{
		fd_budget_exhausted = true;
		return CURL_SOCKET_BAD;
	}
	s = socket(address->family, address->socktype, address->protocol);
	if (s == CURL_SOCKET_BAD)
		ReleaseExternalFD();
	return s;
}

static int
closesocket_cb(void *clientp, curl_socket_t item)
{
	int			rc = close(item);

	ReleaseExternalFD();
	return rc;
}

/* Keep at most GBN_MAX_RESPONSE_BYTES of the body; stop the transfer past it. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	GbnHttpRequest *req = (GbnHttpRequest *) userdata;
	size_t		len = size * nmemb;
	size_t		keep = len;

	if (req->response_len + keep > GBN_MAX_RESPONSE_BYTES)
	{
		keep = GBN_MAX_RESPONSE_BYTES - req->response_len;
		req->truncated = true;
	}
	if (keep > 0)
	{
		if (req->response_len + keep + 1 > req->response_cap)
		{
			size_t		newcap = Max(req->response_cap * 2, 1024);
			char	   *p;

			while (newcap < req->response_len + keep + 1)
				newcap *= 2;
			newcap = Min(newcap, GBN_MAX_RESPONSE_BYTES + 1);
			p = realloc(req->response, newcap);
			if (p == NULL)
			{
				req->oom = true;
				return 0;
			}
			req->response = p;
			req->response_cap = newcap;
		}
		memcpy(req->response + req->response_len, ptr, keep);
		req->response_len += keep;
		req->response[req->response_len] = '\0';
	}
	/* returning less than len makes libcurl end the transfer */
	return req->truncated ? 0 : len;
}

/*
 * Note when the whole request has been written; abort a transfer promptly
 * when the worker is asked to shut down.
 */
static int
xferinfo_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	GbnHttpRequest *req = (GbnHttpRequest *) clientp;

	if (ultotal > 0 && ulnow >= ultotal)
		req->sent = true;
	return ShutdownRequestPending ? 1 : 0;
}

/* ----------------------------------------------------------------
 * Set-up
 * ----------------------------------------------------------------
 */

static void
http_cleanup(int code, Datum arg)
{
	if (multi)
		curl_multi_cleanup(multi);
	multi = NULL;
	curl_global_cleanup();
}

void
gbn_http_init(void)
{
	CURLcode	rc;

	rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl: %s", curl_easy_strerror(rc))));
	on_proc_exit(http_cleanup, (Datum) 0);

	ReserveExternalFD();
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (epoll_fd < 0)
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create epoll descriptor: %m")));

	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	gbn_http_configure(gbn_max_in_flight);
}

/* Connection limits follow guestbook_notify.max_in_flight. */
void
gbn_http_configure(int max_connections)
{
	/* an out-of-range setting stops sending anyway (settings_check.c) */
	if (multi == NULL || max_connections < 1 || max_connections > GBN_MAX_IN_FLIGHT)
		return;
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) max_connections);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long) max_connections);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) max_connections);
}

pgsocket
gbn_http_event_socket(void)
{
	return epoll_fd;
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

/* Frees what libcurl and malloc hold when the request's context goes. */
static void
request_release(void *arg)
{
	GbnHttpRequest *req = (GbnHttpRequest *) arg;

	if (req->easy)
	{
		if (req->running && multi)
			curl_multi_remove_handle(multi, req->easy);
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
		req->running = false;
	}
	if (req->headers)
		curl_slist_free_all(req->headers);
	req->headers = NULL;
	if (req->response)
		free(req->response);
	req->response = NULL;
	if (req->in_done_list)
		dlist_delete(&req->done_node);
	req->in_done_list = false;
}

/*
 * A new request whose lifetime is that of cxt: deleting (or resetting) cxt
 * aborts it if it is still running and frees everything it holds.
 */
GbnHttpRequest *
gbn_http_request_create(MemoryContext cxt)
{
	GbnHttpRequest *req;
	MemoryContextCallback *cb;

	req = MemoryContextAllocZero(cxt, sizeof(GbnHttpRequest));
	req->retry_after_ms = -1;
	cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));
	cb->func = request_release;
	cb->arg = req;
	MemoryContextRegisterResetCallback(cxt, cb);
	return req;
}

bool
gbn_http_add_header(GbnHttpRequest *req, const char *header)
{
	struct curl_slist *l = curl_slist_append(req->headers, header);

	if (l == NULL)
		return false;
	req->headers = l;
	return true;
}

#define SETOPT(opt, val) \
	do { \
		if ((rc = curl_easy_setopt(easy, (opt), (val))) != CURLE_OK) \
			goto fail; \
	} while (0)

/*
 * Start req (a POST of req->body to req->url).  On failure returns false
 * and a palloc'd *problem; the request then counts as a transport error.
 */
bool
gbn_http_start(GbnHttpRequest *req, char **problem)
{
	CURL	   *easy;
	CURLcode	rc = CURLE_OK;
	CURLMcode	mrc;

	easy = curl_easy_init();
	if (easy == NULL)
	{
		*problem = pstrdup("could not create a libcurl handle (out of memory)");
		return false;
	}
	req->easy = easy;

	/* empty "Expect:" so a body over 1 kB is not delayed by 100-continue */
	if (!gbn_http_add_header(req, "Expect:"))
	{
		*problem = pstrdup("out of memory building the request headers");
		return false;
	}

	SETOPT(CURLOPT_URL, req->url);
	SETOPT(CURLOPT_PRIVATE, (void *) req);
	SETOPT(CURLOPT_ERRORBUFFER, req->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500		/* 7.85.0 */
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(CURLOPT_REDIR_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_USERAGENT, GBN_USER_AGENT);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) gbn_connect_timeout);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) gbn_http_timeout);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	SETOPT(CURLOPT_POSTFIELDS, req->body);
	SETOPT(CURLOPT_HTTPHEADER, req->headers);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, (void *) req);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SETOPT(CURLOPT_XFERINFODATA, (void *) req);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, closesocket_cb);

	req->started_us = gbn_now_us();
	req->started_at = GetCurrentTimestamp();

	mrc = curl_multi_add_handle(multi, easy);
	if (mrc != CURLM_OK)
	{
		*problem = psprintf("could not start the request: %s", curl_multi_strerror(mrc));
		return false;
	}
	req->running = true;
	return true;

fail:
	*problem = psprintf("could not set up the request: %s", curl_easy_strerror(rc));
	return false;
}

/* Move finished transfers to done_list. */
static void
collect_done(void)
{
	CURLMsg    *msg;
	int			left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		GbnHttpRequest *req = NULL;
		curl_off_t	connect_us = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
		if (req == NULL)
			continue;

		req->result = msg->data.result;
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->http_status);
		curl_easy_getinfo(req->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
		req->connected = connect_us > 0 || req->http_status > 0;
#if LIBCURL_VERSION_NUM >= 0x074200		/* 7.66.0 */
		{
			curl_off_t	retry_after = -1;

			if (curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
				retry_after > 0)
				req->retry_after_ms = (long) Min(retry_after, 86400) * 1000;
		}
#endif
		req->duration_ms = (gbn_now_us() - req->started_us) / 1000.0;

		/* the connection goes back to the multi handle's cache */
		curl_multi_remove_handle(multi, req->easy);
		req->running = false;
		curl_easy_cleanup(req->easy);
		req->easy = NULL;
		curl_slist_free_all(req->headers);
		req->headers = NULL;

		req->done = true;
		dlist_push_tail(&done_list, &req->done_node);
		req->in_done_list = true;
	}
}

/*
 * Let libcurl work on the sockets that are ready and on its timer, then
 * collect finished transfers.  Never waits.
 */
void
gbn_http_drive(void)
{
	struct epoll_event events[64];
	int			running;
	int			n;
	int			i;

	if (multi == NULL)
		return;

	for (;;)
	{
		n = epoll_wait(epoll_fd, events, lengthof(events), 0);
		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(LOG,
					(errcode_for_socket_access(),
					 errmsg("guestbook_notify: epoll_wait failed: %m")));
			break;
		}
		for (i = 0; i < n; i++)
		{
			int			what = 0;

			if (events[i].events & EPOLLIN)
				what |= CURL_CSELECT_IN;
			if (events[i].events & EPOLLOUT)
				what |= CURL_CSELECT_OUT;
			if (events[i].events & (EPOLLERR | EPOLLHUP))
				what |= CURL_CSELECT_ERR;
			curl_multi_socket_action(multi, events[i].data.fd, what, &running);
		}
		if (n < (int) lengthof(events))
			break;
	}

	if (timer_deadline_ms >= 0 && gbn_now_ms() >= timer_deadline_ms)
	{
		timer_deadline_ms = -1;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}

	collect_done();
}

/*
 * Drive the transfers until each of reqs[0..n) has written its whole request
 * (or finished), or until deadline_ms (monotonic) passes.  A paced message
 * must leave within a margin of its slot (src/worker_send.c): a request
 * whose connection is still being made would otherwise leave only when the
 * worker next looks at its sockets, after its next transaction.  Returns the
 * number of requests not written by the deadline.
 */
int
gbn_http_await_sent(GbnHttpRequest **reqs, int n, int64 deadline_ms)
{
	for (;;)
	{
		struct epoll_event ev;
		int			unsent = 0;
		int64		now;
		int64		wait_ms;
		int			i;

		gbn_http_drive();
		for (i = 0; i < n; i++)
			if (!reqs[i]->sent && !reqs[i]->done)
				unsent++;
		now = gbn_now_ms();
		if (unsent == 0 || now >= deadline_ms || ShutdownRequestPending)
			return unsent;
		wait_ms = deadline_ms - now;
		if (timer_deadline_ms >= 0)
			wait_ms = Max(Min(wait_ms, timer_deadline_ms - now), 0);
		/* level-triggered: gbn_http_drive() sees the same events again */
		(void) epoll_wait(epoll_fd, &ev, 1, (int) wait_ms);
	}
}

/* The next finished request, or NULL.  It stays owned by its context. */
GbnHttpRequest *
gbn_http_next_done(void)
{
	GbnHttpRequest *req;

	if (dlist_is_empty(&done_list))
		return NULL;
	req = dlist_container(GbnHttpRequest, done_node, dlist_pop_head_node(&done_list));
	req->in_done_list = false;
	return req;
}

/*
 * When the worker must call gbn_http_drive() or gbn_http_next_done() again
 * (monotonic ms): now if a finished request waits to be collected, else
 * libcurl's timer; -1 if neither.
 */
int64
gbn_http_timer_deadline_ms(void)
{
	if (!dlist_is_empty(&done_list))
		return 0;
	return timer_deadline_ms;
}

/* A problem a callback ran into since the last call, or NULL. */
char *
gbn_http_take_warning(void)
{
	char	   *msg = NULL;

	if (epoll_ctl_errno != 0)
	{
		errno = epoll_ctl_errno;
		msg = psprintf("could not watch a socket: %m");
		epoll_ctl_errno = 0;
	}
	else if (fd_budget_exhausted)
	{
		msg = pstrdup("no file descriptor left for a new connection; lower guestbook_notify.max_in_flight or raise max_files_per_process");
		fd_budget_exhausted = false;
	}
	return msg;
}
