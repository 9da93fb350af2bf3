/*-------------------------------------------------------------------------
 *
 * audit.h
 *		case_events rows for the app's audit trail: queued in the
 *		extension's audit_outbox, written by the worker as the owner of
 *		case_events (audit.c).
 *
 * src/audit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_AUDIT_H
#define GBN_AUDIT_H

#include "utils/jsonb.h"
#include "utils/uuid.h"

/*
 * Queue a case_events row (event_type, details) for case_id in schema;
 * notification_id (may be NULL) links it to its notification.  Caller is
 * connected to SPI.
 */
extern void gbn_audit_case_event(const char *schema, const pg_uuid_t *case_id,
								 const char *event_type, Jsonb *details,
								 const pg_uuid_t *notification_id);

/*
 * Write up to max_rows queued rows that are due, each as the owner of its
 * case_events table.  A row that cannot be written now (a lock not free at
 * once, the app's trigger or constraint raising, a view in the table's
 * place) stays queued with its error and is tried again later, with a
 * backoff.  Returns how many were written; *failed how many were not.
 * Caller is in a transaction and connected to SPI.
 */
extern int	gbn_audit_write(int max_rows, bool nowait, int *failed);

#endif							/* GBN_AUDIT_H */
