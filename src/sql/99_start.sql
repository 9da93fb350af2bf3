/*
 * guestbook_notify install script, part: the last step -- the launcher
 * starts this database's workers now (database_name = '*', or after they
 * found no extension here).
 */
SELECT guestbook_notify._extension_installed();
