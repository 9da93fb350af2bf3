/*-------------------------------------------------------------------------
 *
 * shmem.h
 *		The layout of guestbook_notify's shared memory, for the files that
 *		read it directly: shmem.c (its owner), launcher.c and
 *		worker_status.c.  Everything else goes through guestbook_notify.h.
 *
 * src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_SHMEM_H
#define GBN_SHMEM_H

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "guestbook_notify.h"

#define GBN_STATE_LEN		64
#define GBN_ERROR_LEN		512

/* One worker process: its latch, wake flag and status. */
typedef struct GbnWorkerSlot
{
	pg_atomic_uint32 wake_pending;	/* 1: a commit asked for a look */
	Latch	   *latch;			/* NULL while no worker runs here */

	/* set by the launcher under GbnShared.mutex */
	Oid			dboid;			/* database served; InvalidOid: free */
	int			index;			/* worker number within the database */
	bool		exit_requested; /* leave (DROP/RENAME DATABASE, list) */

	slock_t		mutex;			/* protects the fields below */
	pid_t		pid;
	uint32		sender_hash;	/* which sender number it sends as */
	int			in_flight;
	uint64		sent;
	uint64		failed;
	uint64		retried;
	int64		audit_pending;
	int64		events_pending;
	char		state[GBN_STATE_LEN];
	char		last_error[GBN_ERROR_LEN];
} GbnWorkerSlot;

/* One database the launcher serves (or tried to). */
typedef struct GbnDatabase
{
	Oid			dboid;			/* InvalidOid: unused entry */
	NameData	datname;
	bool		no_extension;	/* a worker found none: wait for CREATE */
	uint32		installed_generation;	/* bumped by each committed CREATE/UPDATE */
	bool		leaving;		/* DROP or RENAME DATABASE under way */
	TimestampTz leaving_until;	/* 0: until the statement ends; else until */
	int			wanted;			/* workers the launcher wants running */
	int			running;		/* of those, started */
	char		problem[GBN_ERROR_LEN]; /* why fewer run than wanted */

	/*
	 * bumped at each commit of set_access_token() in this database, or of
	 * ALTER DATABASE ... SET guestbook_notify.* on it: its workers read the
	 * token and the database's settings again
	 */
	uint32		settings_generation;

	/* the account-level pause of this database's sender */
	bool		paused;
	TimestampTz paused_at;
	char		paused_reason[GBN_ERROR_LEN];

	/* the provider's session cannot send (WAHA: _sending_blocked()) */
	char		blocked_reason[GBN_ERROR_LEN];
} GbnDatabase;

typedef struct GbnShared
{
	slock_t		mutex;			/* protects databases[] and slot owners */
	Latch	   *launcher_latch;
	GbnDatabase databases[GBN_MAX_DATABASES];
	GbnWorkerSlot slots[GBN_MAX_SLOTS];
} GbnShared;

extern GbnShared *gbn_shared;

/* the entry of dboid, or NULL; caller holds gbn_shared->mutex */
extern GbnDatabase *gbn_database_entry(Oid dboid);

#endif							/* GBN_SHMEM_H */
