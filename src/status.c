/*-------------------------------------------------------------------------
 *
 * status.c
 *		The names of statuses and outcomes, defined once.
 *
 * src/status.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "status.h"

static const char *const status_names[GBN_NUM_STATUSES] = {
	"pending", "sent", "failed", "cancelled"
};

static const char *const delivery_names[GBN_NUM_DELIVERY_STATUSES] = {
	"sent", "delivered", "read", "failed"
};

static const char *const outcome_names[GBN_NUM_OUTCOMES] = {
	"sent", "retry", "failed", "paused"
};

static int
index_of(const char *const *names, int n, const char *name, int len)
{
	int			i;

	for (i = 0; i < n; i++)
		if ((int) strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return i;
	return -1;
}

const char *
gbn_status_name(GbnStatus status)
{
	Assert(status >= 0 && status < GBN_NUM_STATUSES);
	return status_names[status];
}

GbnStatus
gbn_status_from_name(const char *name, int len)
{
	if (name == NULL)
		return GBN_STATUS_UNKNOWN;
	return (GbnStatus) index_of(status_names, GBN_NUM_STATUSES, name, len);
}

const char *
gbn_delivery_status_name(GbnDeliveryStatus status)
{
	Assert(status >= 0 && status < GBN_NUM_DELIVERY_STATUSES);
	return delivery_names[status];
}

int
gbn_delivery_status_from_name(const char *name, int len)
{
	return index_of(delivery_names, GBN_NUM_DELIVERY_STATUSES, name, len);
}

const char *
gbn_outcome_name(GbnOutcome outcome)
{
	Assert(outcome >= 0 && outcome < GBN_NUM_OUTCOMES);
	return outcome_names[outcome];
}
