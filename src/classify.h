/*-------------------------------------------------------------------------
 *
 * classify.h
 *		Turn a finished request into an outcome: sent, retry, failed, paused.
 *
 * src/classify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_CLASSIFY_H
#define GBN_CLASSIFY_H

#include "guestbook_notify.h"
#include "http.h"
#include "provider.h"

extern void gbn_classify(const GbnProviderOps *ops, const GbnMessage *msg,
						 GbnHttpRequest *req, GbnResult *res);
extern void gbn_classify_unsent(const GbnMessage *msg, bool permanent,
								const char *problem, GbnResult *res);
extern int	gbn_retry_delay_ms(int attempt, int min_delay_ms);
extern char *gbn_clean_text(const char *s, size_t len, size_t maxlen);

#endif							/* GBN_CLASSIFY_H */
