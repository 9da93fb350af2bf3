/*-------------------------------------------------------------------------
 *
 * normalize.h
 *		The one rule for WhatsApp numbers (normalize.c): Indonesian mobile
 *		numbers in their canonical form 628...
 *
 * src/normalize.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_NORMALIZE_H
#define GBN_NORMALIZE_H

/* canonical 628... digits (palloc'd), or NULL if number is not valid */
extern char *gbn_normalize_number(const char *number, int len);

/* is s already a canonical number (what the queue and opt_outs hold)? */
extern bool gbn_number_is_canonical(const char *s);

#endif							/* GBN_NORMALIZE_H */
