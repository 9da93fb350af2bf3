/*-------------------------------------------------------------------------
 *
 * admin_session.c
 *		Sessions of the page and login throttling.
 *
 * A login opens a libpq connection as the role and password given (host,
 * port and database from admin_conninfo); the session keeps that
 * connection, and the password is forgotten at once (nothing stores it,
 * nothing logs it).  A session has a random id (the cookie) and a random
 * CSRF token (32 bytes from OpenSSL's RAND_bytes each); it ends after
 * admin_session_idle without a request, after admin_session_max in any
 * case, at logout, or when its connection breaks.  One request at a time
 * uses a session's connection (its mutex).
 *
 * Throttling: ADMIN_LOGIN_FAILS failed logins of a role, or
 * ADMIN_LOGIN_FAILS_IP from one client address, within
 * admin_login_lockout lock that role (address) out for
 * admin_login_lockout; a good login clears the role's count.  Refused
 * attempts do not reach the database.
 *
 * src/web/admin_session.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin.h"

static const GbnwConfig *scfg;
static AdminSession sessions[ADMIN_MAX_SESSIONS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

#define THROTTLE_SLOTS 512

typedef struct Throttle
{
	char		key[ADMIN_ROLE_MAX + 8];	/* "r:role" or "i:address" */
	int			fails;
	time_t		first;
	time_t		locked_until;
} Throttle;

static Throttle throttle[THROTTLE_SLOTS];
static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;

static void session_free(AdminSession *s);

static time_t
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void
admin_sessions_init(const GbnwConfig *cfg)
{
	int			i;

	scfg = cfg;
	for (i = 0; i < ADMIN_MAX_SESSIONS; i++)
		pthread_mutex_init(&sessions[i].lock, NULL);
}

static bool
random_token(char *out)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[33];
	int			i,
				o = 0;

	if (RAND_bytes(raw, 32) != 1)
		return false;
	raw[32] = 0;
	for (i = 0; i < 33 && o < ADMIN_TOKEN_LEN; i += 3)
	{
		unsigned int v = (unsigned int) raw[i] << 16 | (unsigned int) raw[i + 1] << 8 |
			raw[i + 2];

		out[o++] = b64[(v >> 18) & 63];
		if (o < ADMIN_TOKEN_LEN)
			out[o++] = b64[(v >> 12) & 63];
		if (o < ADMIN_TOKEN_LEN)
			out[o++] = b64[(v >> 6) & 63];
		if (o < ADMIN_TOKEN_LEN)
			out[o++] = b64[v & 63];
	}
	out[ADMIN_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}

/* constant time for tokens of the expected length */
bool
admin_token_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL || strlen(a) != ADMIN_TOKEN_LEN || strlen(b) != ADMIN_TOKEN_LEN)
		return false;
	return CRYPTO_memcmp(a, b, ADMIN_TOKEN_LEN) == 0;
}

/* ----------------------------------------------------------------
 * Throttling
 * ----------------------------------------------------------------
 */

static Throttle *
throttle_find(const char *key, bool create)
{
	int			i;
	Throttle   *free_slot = NULL;
	Throttle   *oldest = NULL;
	time_t		now = now_s();

	for (i = 0; i < THROTTLE_SLOTS; i++)
	{
		Throttle   *t = &throttle[i];

		if (t->key[0] != '\0' && t->locked_until < now &&
			now - t->first > scfg->admin_login_lockout_s)
			t->key[0] = '\0';	/* stale */
		if (t->key[0] == '\0')
		{
			if (free_slot == NULL)
				free_slot = t;
			continue;
		}
		if (strcmp(t->key, key) == 0)
			return t;
		if (oldest == NULL || t->first < oldest->first)
			oldest = t;
	}
	if (!create)
		return NULL;
	if (free_slot == NULL)
		free_slot = oldest;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->key, sizeof(free_slot->key), "%s", key);
	free_slot->first = now;
	return free_slot;
}

static bool
throttled(const char *key)
{
	Throttle   *t = throttle_find(key, false);

	return t != NULL && t->locked_until > now_s();
}

static void
throttle_fail(const char *key, int limit)
{
	Throttle   *t = throttle_find(key, true);

	t->fails++;
	if (t->fails >= limit)
		t->locked_until = now_s() + scfg->admin_login_lockout_s;
}

static void
throttle_clear(const char *key)
{
	Throttle   *t = throttle_find(key, false);

	if (t != NULL)
		t->key[0] = '\0';
}

/* ----------------------------------------------------------------
 * Login
 * ----------------------------------------------------------------
 */

static bool
valid_role_name(const char *role)
{
	size_t		n = strlen(role);
	size_t		i;

	if (n == 0 || n > ADMIN_ROLE_MAX)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char) role[i] < 0x20 || role[i] == 0x7f)
			return false;
	return true;
}

/* one value of a one-row result as a boolean */
static bool
bool_at(PGresult *res, int col)
{
	return PQntuples(res) == 1 && !PQgetisnull(res, 0, col) &&
		strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

/*
 * password NULL: the trusted header's login (admin_trusted_header, from a
 * loopback client only): no password is sent; pg_hba.conf must let the
 * daemon's OS user in as that role without one (peer with a pg_ident.conf
 * map naming the roles it may become).
 */
LoginResult
admin_login(const char *role, const char *password, const char *ip, AdminSession **out)
{
	bool		trusted = password == NULL;
	char		rkey[ADMIN_ROLE_MAX + 8];
	char		ikey[80];
	char		timeout[16];
	const char *kw[8];
	const char *val[8];
	PGconn	   *conn;
	PGresult   *res;
	bool		can_read,
				can_act,
				can_unmask,
				super;
	const char *tzp[1];
	AdminSession *s = NULL;
	int			i;

	*out = NULL;
	if (role == NULL || !valid_role_name(role) || (!trusted && password[0] == '\0'))
		return LOGIN_BAD;
	snprintf(rkey, sizeof(rkey), "r:%s", role);
	snprintf(ikey, sizeof(ikey), "i:%s", ip);
	pthread_mutex_lock(&throttle_lock);
	if (throttled(rkey) || throttled(ikey))
	{
		pthread_mutex_unlock(&throttle_lock);
		return LOGIN_THROTTLED;
	}
	pthread_mutex_unlock(&throttle_lock);

	snprintf(timeout, sizeof(timeout), "%d", scfg->db_connect_timeout_s);
	kw[0] = "dbname";
	val[0] = scfg->admin_conninfo;
	kw[1] = "user";
	val[1] = role;
	kw[2] = "password";
	val[2] = trusted ? "" : password;
	kw[3] = "application_name";
	val[3] = "guestbook_notify_web page";
	kw[4] = "connect_timeout";
	val[4] = timeout;
	kw[5] = "passfile";
	val[5] = "/dev/null";		/* only the password given */
	kw[6] = NULL;
	val[6] = NULL;
	conn = PQconnectdbParams(kw, val, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		const char *msg = conn ? PQerrorMessage(conn) : "";
		bool		auth = strstr(msg, "authentication") != NULL ||
			strstr(msg, "password") != NULL || strstr(msg, "does not exist") != NULL ||
			strstr(msg, "not permitted to log in") != NULL ||
			strstr(msg, "no pg_hba.conf entry") != NULL;

		if (conn)
			PQfinish(conn);
		if (!auth)
		{
			gbnw_log_limited(GBNW_WARNING, "page: login: the database cannot be reached");
			return LOGIN_UNAVAILABLE;
		}
		pthread_mutex_lock(&throttle_lock);
		throttle_fail(rkey, ADMIN_LOGIN_FAILS);
		throttle_fail(ikey, ADMIN_LOGIN_FAILS_IP);
		pthread_mutex_unlock(&throttle_lock);
		return LOGIN_BAD;
	}
	if (!trusted && PQconnectionUsedPassword(conn) == 0)
	{
		/* trust or peer: anyone could have typed anything */
		PQfinish(conn);
		gbnw_log_limited(GBNW_WARNING, "page: login refused: the server did not ask for a password (pg_hba.conf must use scram-sha-256 for the page's roles)");
		return LOGIN_BAD;
	}
	pthread_mutex_lock(&throttle_lock);
	throttle_clear(rkey);
	pthread_mutex_unlock(&throttle_lock);

	res = PQexec(conn,
				 "SELECT r.rolsuper,"
				 " pg_catalog.has_function_privilege('guestbook_notify.page_list(text, jsonb, timestamptz, uuid, integer)', 'EXECUTE'),"
				 " pg_catalog.has_function_privilege('guestbook_notify.page_act(text, uuid[], text, jsonb)', 'EXECUTE'),"
				 " pg_catalog.has_function_privilege('guestbook_notify.page_detail_unmasked(uuid)', 'EXECUTE')"
				 " FROM pg_catalog.pg_roles r WHERE r.rolname = current_user");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		PQclear(res);
		PQfinish(conn);
		return LOGIN_NO_ACCESS; /* no extension in that database */
	}
	super = bool_at(res, 0);
	can_read = bool_at(res, 1);
	can_act = bool_at(res, 2);
	can_unmask = bool_at(res, 3);
	PQclear(res);
	if (super)
	{
		PQfinish(conn);
		return LOGIN_SUPERUSER;
	}
	if (!can_read)
	{
		PQfinish(conn);
		return LOGIN_NO_ACCESS;
	}
	tzp[0] = scfg->time_zone;
	res = PQexecParams(conn, "SELECT pg_catalog.set_config('TimeZone', $1, false)",
					   1, NULL, tzp, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		gbnw_log_limited(GBNW_WARNING, "page: time_zone \"%s\" refused by the server; times are shown in the server's zone",
						 scfg->time_zone);
	PQclear(res);

	pthread_mutex_lock(&table_lock);
	for (i = 0; i < ADMIN_MAX_SESSIONS && s == NULL; i++)
		if (!sessions[i].used)
			s = &sessions[i];
	/* else the slot of a session that timed out (its id is forgotten) */
	for (i = 0; i < ADMIN_MAX_SESSIONS && s == NULL; i++)
		if (sessions[i].used && sessions[i].expired && sessions[i].refs == 0)
		{
			s = &sessions[i];
			session_free(s);
		}
	if (s == NULL)
	{
		pthread_mutex_unlock(&table_lock);
		PQfinish(conn);
		return LOGIN_FULL;
	}
	if (!random_token(s->id) || !random_token(s->csrf))
	{
		pthread_mutex_unlock(&table_lock);
		PQfinish(conn);
		return LOGIN_UNAVAILABLE;
	}
	s->used = true;
	s->dead = false;
	s->expired = false;
	s->refs = 1;
	snprintf(s->role, sizeof(s->role), "%s", role);
	s->conn = conn;
	s->created = s->last_seen = now_s();
	s->can_act = can_act;
	s->can_unmask = can_unmask;
	s->trusted = false;
	s->flash[0] = '\0';
	pthread_mutex_unlock(&table_lock);
	pthread_mutex_lock(&s->lock);
	*out = s;
	return LOGIN_OK;
}

/* ----------------------------------------------------------------
 * Use and end
 * ----------------------------------------------------------------
 */

static void
session_free(AdminSession *s)
{
	if (s->conn)
		PQfinish(s->conn);
	s->conn = NULL;
	OPENSSL_cleanse(s->id, sizeof(s->id));
	OPENSSL_cleanse(s->csrf, sizeof(s->csrf));
	s->used = false;
	s->dead = false;
	s->expired = false;
	s->refs = 0;
}

static bool
timed_out(const AdminSession *s, time_t now)
{
	return now - s->last_seen > scfg->admin_session_idle_s ||
		now - s->created > scfg->admin_session_max_s;
}

/*
 * The session of a cookie value, locked for this request (release it), or
 * NULL; *expired when it existed and timed out.
 */
AdminSession *
admin_session_get(const char *cookie_value, bool *expired)
{
	AdminSession *s = NULL;
	time_t		now = now_s();
	int			i;

	*expired = false;
	if (cookie_value == NULL || strlen(cookie_value) != ADMIN_TOKEN_LEN)
		return NULL;
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < ADMIN_MAX_SESSIONS; i++)
	{
		if (sessions[i].used && !sessions[i].dead &&
			admin_token_equal(sessions[i].id, cookie_value))
		{
			s = &sessions[i];
			break;
		}
	}
	if (s != NULL && (s->expired || timed_out(s, now)))
	{
		*expired = true;
		s->dead = true;
		if (s->refs == 0)
			session_free(s);
		s = NULL;
	}
	if (s != NULL)
	{
		s->refs++;
		s->last_seen = now;
	}
	pthread_mutex_unlock(&table_lock);
	if (s != NULL)
		pthread_mutex_lock(&s->lock);
	return s;
}

void
admin_session_release(AdminSession *s)
{
	if (s == NULL)
		return;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&table_lock);
	s->refs--;
	if (s->dead && s->refs == 0)
		session_free(s);
	pthread_mutex_unlock(&table_lock);
}

/* logout, or a broken connection: freed when the last request lets go */
void
admin_session_end(AdminSession *s)
{
	pthread_mutex_lock(&table_lock);
	s->dead = true;
	pthread_mutex_unlock(&table_lock);
}

/*
 * The maintenance: close the connections of sessions that timed out.  The
 * slot keeps the id a while (as long as admin_session_max), so that the
 * next request of that browser hears "session ended" rather than "log in".
 */
void
admin_sessions_sweep(void)
{
	time_t		now = now_s();
	int			i;

	if (scfg == NULL)
		return;
	pthread_mutex_lock(&table_lock);
	for (i = 0; i < ADMIN_MAX_SESSIONS; i++)
	{
		AdminSession *s = &sessions[i];

		if (!s->used || s->refs > 0)
			continue;
		if (s->dead)
			session_free(s);
		else if (s->expired && now - s->last_seen > scfg->admin_session_max_s)
			session_free(s);
		else if (!s->expired && timed_out(s, now))
		{
			if (s->conn)
				PQfinish(s->conn);
			s->conn = NULL;
			OPENSSL_cleanse(s->csrf, sizeof(s->csrf));
			s->expired = true;
		}
	}
	pthread_mutex_unlock(&table_lock);
}

void
admin_sessions_close_all(void)
{
	int			i;

	pthread_mutex_lock(&table_lock);
	for (i = 0; i < ADMIN_MAX_SESSIONS; i++)
		if (sessions[i].used && sessions[i].refs == 0)
			session_free(&sessions[i]);
	pthread_mutex_unlock(&table_lock);
}
