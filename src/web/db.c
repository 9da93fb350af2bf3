/*-------------------------------------------------------------------------
 *
 * db.c
 *		The database side: one libpq connection per HTTP thread (and one for
 *		the main thread's maintenance), opened when first needed and again
 *		after it breaks.
 *
 * Storing a body:
 *	 1. SELECT ... FROM guestbook_notify.webhook_receive(source, body, id):
 *		stores and applies in one transaction (applying in a subtransaction:
 *		its failure leaves the row, with the error).
 *	 2. If that statement fails as a whole (a cancel, an error outside the
 *		subtransaction), webhook_store() stores the body alone; the
 *		maintenance applies it later.
 *	 3. A broken connection is reopened once and the step retried; if the
 *		database cannot be reached, nothing is stored: the caller answers 503
 *		(Meta retries for up to 7 days).
 * The body travels as a binary bytea parameter: byte-exact, no escaping.
 * While the database is unreachable, the threads try to connect at most
 * once a second; the requests meanwhile get 503 at once.
 *
 * src/web/db.c
 *
 *-------------------------------------------------------------------------
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "gbnw.h"

#define BYTEAOID 17
#define TEXTOID 25

static const GbnwConfig *db_cfg;
static pthread_key_t conn_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

typedef struct ThreadConn
{
	PGconn	   *conn;
} ThreadConn;

/*
 * After a failed attempt to connect, no thread tries again for a second
 * (down_until_ms, monotonic clock); a good connection clears it.
 * said_down: "unreachable" was logged since the last good connection.
 */
static int64_t down_until_ms = 0;
static int	said_down = 0;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
thread_conn_free(void *p)
{
	ThreadConn *tc = p;

	if (tc == NULL)
		return;
	if (tc->conn)
		PQfinish(tc->conn);
	free(tc);
}

static void
make_key(void)
{
	(void) pthread_key_create(&conn_key, thread_conn_free);
}

void
gbnw_db_init(const GbnwConfig *cfg)
{
	db_cfg = cfg;
	pthread_once(&key_once, make_key);
}

void
gbnw_db_close_thread(void)
{
	ThreadConn *tc = pthread_getspecific(conn_key);

	if (tc != NULL)
	{
		pthread_setspecific(conn_key, NULL);
		thread_conn_free(tc);
	}
}

static ThreadConn *
thread_conn(void)
{
	ThreadConn *tc = pthread_getspecific(conn_key);

	if (tc == NULL)
	{
		tc = calloc(1, sizeof(ThreadConn));
		if (tc == NULL)
			return NULL;
		pthread_setspecific(conn_key, tc);
	}
	return tc;
}

/* the primary message and SQLSTATE of a failed result, escaped, one line */
static void
result_error(char *dst, size_t dstlen, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char		buf[600];

	if (primary == NULL)
	{
		const char *m = res ? PQresultErrorMessage(res) : "";
		size_t		n = strlen(m);

		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		gbnw_escape_for_log(dst, dstlen, m, n);
		return;
	}
	snprintf(buf, sizeof(buf), "%s (SQLSTATE %s)", primary, state ? state : "?");
	gbnw_escape_for_log(dst, dstlen, buf, strlen(buf));
}

/* a libpq message on one line, escaped, without a trailing newline */
static void
oneline(char *dst, size_t dstlen, const char *msg)
{
	char		buf[1024];
	size_t		n = msg ? strlen(msg) : 0;
	size_t		i;

	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	for (i = 0; i < n; i++)		/* libpq's multi-line messages on one line */
		buf[i] = (msg[i] == '\n' || msg[i] == '\t') ? ' ' : msg[i];
	gbnw_escape_for_log(dst, dstlen, buf, n);
}

static bool
prepare(PGconn *conn, const char *name, const char *sql, int nparams, const Oid *types)
{
	PGresult   *res = PQprepare(conn, name, sql, nparams, types);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	char		msg[512];

	if (!ok)
	{
		result_error(msg, sizeof(msg), res);
		gbnw_log_limited(GBNW_ERROR, "database: cannot prepare %s: %s", name, msg);
	}
	PQclear(res);
	return ok;
}

/*
 * Connect (once a second at most while it fails) and prepare the
 * statements.  Returns the connection or NULL.
 */
static PGconn *
get_conn(ThreadConn *tc)
{
	const char *kw[5];
	const char *val[5];
	char		timeout[16];
	char		set[96];
	PGconn	   *conn;
	PGresult   *res;
	char		msg[512];
	static const Oid store_types[3] = {TEXTOID, BYTEAOID, TEXTOID};
	static const Oid retry_types[1] = {TEXTOID};

	if (tc->conn != NULL && PQstatus(tc->conn) == CONNECTION_OK)
		return tc->conn;
	if (tc->conn != NULL)
	{
		PQfinish(tc->conn);
		tc->conn = NULL;
	}
	/* within a second of a failed attempt (any thread's): 503 at once */
	if (now_ms() < __atomic_load_n(&down_until_ms, __ATOMIC_SEQ_CST))
		return NULL;

	snprintf(timeout, sizeof(timeout), "%d", db_cfg->db_connect_timeout_s);
	/* conninfo last: what it sets wins (over PGAPPNAME too) */
	kw[0] = "connect_timeout";
	val[0] = timeout;
	kw[1] = "application_name";
	val[1] = GBNW_NAME;
	kw[2] = "dbname";
	val[2] = db_cfg->conninfo;
	kw[3] = NULL;
	val[3] = NULL;
	conn = PQconnectdbParams(kw, val, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		oneline(msg, sizeof(msg), conn ? PQerrorMessage(conn) : "out of memory");
		__atomic_store_n(&down_until_ms, now_ms() + 1000, __ATOMIC_SEQ_CST);
		if (__atomic_exchange_n(&said_down, 1, __ATOMIC_SEQ_CST) == 0)
			gbnw_log(GBNW_WARNING, "database unreachable: %s", msg);
		if (conn)
			PQfinish(conn);
		return NULL;
	}

	/* a webhook never waits long for a lock held by someone else */
	snprintf(set, sizeof(set), "SET lock_timeout = %d", db_cfg->db_lock_timeout_ms);
	res = PQexec(conn, set);
	PQclear(res);

	if (!prepare(conn, "gbnw_receive",
				 "SELECT inbox_id, state, detail FROM guestbook_notify.webhook_receive($1, $2, $3)",
				 3, store_types) ||
		!prepare(conn, "gbnw_store",
				 "SELECT inbox_id, state, detail FROM guestbook_notify.webhook_store($1, $2, $3)",
				 3, store_types) ||
		!prepare(conn, "gbnw_retry",
				 "SELECT count(*), count(*) FILTER (WHERE state = 'applied'),"
				 " string_agg(inbox_id || ': ' || state || ' ' || left(coalesce(detail, ''), 200), '; ')"
				 " FROM guestbook_notify.webhook_retry($1::integer)",
				 1, retry_types) ||
		!prepare(conn, "gbnw_maintenance",
				 "SELECT m::text, EXISTS (SELECT 1 FROM jsonb_each_text(m) AS e WHERE e.value <> '0')"
				 " FROM guestbook_notify.webhook_maintenance($1::interval) AS t(m)",
				 1, retry_types))
	{
		PQfinish(conn);
		return NULL;
	}
	__atomic_store_n(&down_until_ms, 0, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&said_down, 0, __ATOMIC_SEQ_CST) != 0)
		gbnw_log(GBNW_LOG, "database reachable again (database \"%s\", user \"%s\")",
				 PQdb(conn), PQuser(conn));
	tc->conn = conn;
	return conn;
}

/* after a failed statement: is the connection gone? */
static bool
conn_broken(ThreadConn *tc)
{
	if (tc->conn != NULL && PQstatus(tc->conn) != CONNECTION_OK)
	{
		PQfinish(tc->conn);
		tc->conn = NULL;
		return true;
	}
	return false;
}

typedef enum CallResult
{
	CALL_OK,
	CALL_SQL_ERROR,				/* the statement failed; the connection is fine */
	CALL_NO_CONNECTION
} CallResult;

static CallResult
call_store(ThreadConn *tc, const char *stmt, const char *source,
		   const unsigned char *body, size_t len, const char *event_id,
		   GbnwDbOutcome *out, char *errmsg, size_t errlen)
{
	const char *values[3];
	int			lengths[3];
	int			formats[3] = {0, 1, 0};
	PGresult   *res;
	PGconn	   *conn;
	int			attempt;

	for (attempt = 0; attempt < 2; attempt++)
	{
		conn = get_conn(tc);
		if (conn == NULL)
		{
			snprintf(errmsg, errlen, "database unreachable");
			return CALL_NO_CONNECTION;
		}
		values[0] = source;
		lengths[0] = 0;
		values[1] = (const char *) body;
		lengths[1] = (int) len;
		values[2] = event_id;
		lengths[2] = 0;
		res = PQexecPrepared(conn, stmt, 3, values, lengths, formats, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			out->inbox_id = PQgetisnull(res, 0, 0) ? 0 : atoll(PQgetvalue(res, 0, 0));
			snprintf(out->state, sizeof(out->state), "%s", PQgetvalue(res, 0, 1));
			oneline(out->detail, sizeof(out->detail), PQgetvalue(res, 0, 2));
			PQclear(res);
			return CALL_OK;
		}
		result_error(errmsg, errlen, res);
		PQclear(res);
		if (!conn_broken(tc))
			return CALL_SQL_ERROR;
		/* the connection broke (a server restart?): once more on a new one */
	}
	return CALL_NO_CONNECTION;
}

GbnwDbStatus
gbnw_db_receive(const char *source, const unsigned char *body, size_t len,
				const char *event_id, GbnwDbOutcome *out)
{
	ThreadConn *tc = thread_conn();
	char		err1[512];
	char		err2[512];
	CallResult	r;

	memset(out, 0, sizeof(*out));
	if (tc == NULL || len > (size_t) INT32_MAX)
		return GBNW_DB_UNAVAILABLE;
	r = call_store(tc, "gbnw_receive", source, body, len, event_id, out, err1, sizeof(err1));
	if (r == CALL_OK)
		return GBNW_DB_STORED;
	if (r == CALL_NO_CONNECTION)
		return GBNW_DB_UNAVAILABLE;

	/* webhook_receive() failed as a whole: store the body alone */
	gbnw_log_limited(GBNW_WARNING, "%s webhook: webhook_receive() failed, storing the body to apply later: %s",
					 source, err1);
	r = call_store(tc, "gbnw_store", source, body, len, event_id, out, err2, sizeof(err2));
	if (r == CALL_OK)
	{
		out->fallback = true;
		return GBNW_DB_STORED;
	}
	if (r == CALL_SQL_ERROR)
		gbnw_log_limited(GBNW_ERROR, "%s webhook: could not store the body: %s", source, err2);
	return GBNW_DB_UNAVAILABLE;
}

bool
gbnw_db_ping(char *why, size_t whylen)
{
	ThreadConn *tc = thread_conn();
	PGconn	   *conn;
	PGresult   *res;
	bool		ok;
	int			attempt;

	for (attempt = 0; attempt < 2; attempt++)
	{
		conn = tc ? get_conn(tc) : NULL;
		if (conn == NULL)
		{
			snprintf(why, whylen, "unreachable");
			return false;
		}
		res = PQexec(conn, "SELECT 1");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		if (!ok)
			result_error(why, whylen, res);
		PQclear(res);
		if (ok)
			return true;
		if (!conn_broken(tc))
			return false;
	}
	return false;
}

/*
 * The main thread's housekeeping, every maintenance_interval: apply the
 * stored bodies that are due (webhook_retry), then webhook_maintenance()
 * (parked statuses whose id appeared, retention).
 */
void
gbnw_db_maintenance(void)
{
	ThreadConn *tc = thread_conn();
	PGconn	   *conn;
	PGresult   *res;
	char		batch[16];
	char		retention[32];
	const char *values[1];
	char		msg[512];
	int			round;

	if (tc == NULL || (conn = get_conn(tc)) == NULL)
		return;

	/* a backlog (after an outage) is worked off in a few rounds */
	for (round = 0; round < 10; round++)
	{
		long		tried;
		long		applied;

		snprintf(batch, sizeof(batch), "%d", db_cfg->retry_batch);
		values[0] = batch;
		res = PQexecPrepared(conn, "gbnw_retry", 1, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			result_error(msg, sizeof(msg), res);
			gbnw_log_limited(GBNW_WARNING, "maintenance: webhook_retry() failed: %s", msg);
			PQclear(res);
			if (conn_broken(tc))
				return;
			break;
		}
		tried = atol(PQgetvalue(res, 0, 0));
		applied = atol(PQgetvalue(res, 0, 1));
		if (tried > 0)
		{
			oneline(msg, sizeof(msg), PQgetvalue(res, 0, 2));
			gbnw_log(GBNW_LOG, "maintenance: applied %ld of %ld stored webhook bodies (%s)",
					 applied, tried, msg);
		}
		PQclear(res);
		if (tried < db_cfg->retry_batch)
			break;
	}

	if (db_cfg->inbox_retention_s > 0)
		snprintf(retention, sizeof(retention), "%ld seconds", db_cfg->inbox_retention_s);
	values[0] = db_cfg->inbox_retention_s > 0 ? retention : NULL;
	res = PQexecPrepared(conn, "gbnw_maintenance", 1, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		result_error(msg, sizeof(msg), res);
		gbnw_log_limited(GBNW_WARNING, "maintenance: webhook_maintenance() failed: %s", msg);
		PQclear(res);
		conn_broken(tc);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
	{
		oneline(msg, sizeof(msg), PQgetvalue(res, 0, 0));
		gbnw_log(GBNW_LOG, "maintenance: %s", msg);
	}
	PQclear(res);
}
