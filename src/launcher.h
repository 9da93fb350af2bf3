/*-------------------------------------------------------------------------
 *
 * launcher.h
 *		The launcher: one set of delivery workers per served database
 *		(launcher.c), and the hook that lets a served database be dropped
 *		or renamed (database_hook.c).
 *
 * src/launcher.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GBN_LAUNCHER_H
#define GBN_LAUNCHER_H

extern void gbn_install_database_hook(void);

#endif							/* GBN_LAUNCHER_H */
