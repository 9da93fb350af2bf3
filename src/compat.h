/*-------------------------------------------------------------------------
 *
 * compat.h
 *		The library with older SQL of the extension (compat_1_0.c).
 *
 * src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_COMPAT_H
#define GBN_COMPAT_H

extern bool gbn_sql_is_current(void);
extern void gbn_warn_sql_outdated(void);

#endif							/* GBN_COMPAT_H */
