/* guestbook_notify--<version>.sql: built from the parts in src/sql by the Makefile */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION guestbook_notify" to load this file. \quit
