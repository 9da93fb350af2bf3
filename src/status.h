/*-------------------------------------------------------------------------
 *
 * status.h
 *		The names of the queue's statuses and delivery statuses, and of a
 *		try's outcomes: defined once here (status.c) and used by the row
 *		check constraint, the worker and the enqueue side alike.
 *
 * src/status.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_STATUS_H
#define GBN_STATUS_H

/* notification_queue.status */
typedef enum GbnStatus
{
	GBN_STATUS_PENDING,
	GBN_STATUS_SENT,
	GBN_STATUS_FAILED,
	GBN_STATUS_CANCELLED,
	GBN_NUM_STATUSES,
	GBN_STATUS_UNKNOWN = -1
} GbnStatus;

/* notification_queue.delivery_status, in rank order (webhooks) */
typedef enum GbnDeliveryStatus
{
	GBN_DELIVERY_SENT,
	GBN_DELIVERY_DELIVERED,
	GBN_DELIVERY_READ,
	GBN_DELIVERY_FAILED,
	GBN_NUM_DELIVERY_STATUSES
} GbnDeliveryStatus;

/* one try's outcome (notification_attempts.outcome) */
typedef enum GbnOutcome
{
	GBN_OUTCOME_SENT,
	GBN_OUTCOME_RETRY,
	GBN_OUTCOME_FAILED,
	GBN_OUTCOME_PAUSED,
	GBN_NUM_OUTCOMES
} GbnOutcome;

extern const char *gbn_status_name(GbnStatus status);
extern GbnStatus gbn_status_from_name(const char *name, int len);
extern const char *gbn_delivery_status_name(GbnDeliveryStatus status);
extern int	gbn_delivery_status_from_name(const char *name, int len);
extern const char *gbn_outcome_name(GbnOutcome outcome);

#endif							/* GBN_STATUS_H */
