/*
 * guestbook_notify install script, part: C functions the tables need
 * (the queue's row check, the number rule of opt_outs).
 * The Makefile concatenates the parts in src/sql, in name order, into
 * guestbook_notify--<version>.sql.
 */

/*
 * _queue_row_valid: the row rules of notification_queue (and its archive),
 * as ONE check constraint calling this C function (src/row_check.c).
 * PostgreSQL 15 reads every CHECK constraint's stored expression back
 * (stringToNode) and plans it once per statement execution -- for the app's
 * trigger, once per assignment.  Five column/table CHECKs with their
 * IN-lists cost ~10-15 us of the ~100 us the trigger added per assignment
 * (tests/bench/README.md, profiling notes 3); a call of this function is a
 * FuncExpr of five Vars.  The rules: channel 'whatsapp'; status
 * pending|sent|failed|cancelled; attempt_count >= 0; delivery_status NULL
 * or sent|delivered|read|failed; 'sent' needs sent_at.  As with separate
 * CHECKs, a part that is NULL passes.
 */
CREATE FUNCTION guestbook_notify._queue_row_valid(
	p_channel text, p_status text, p_attempt_count integer,
	p_delivery_status text, p_sent_at timestamptz)
RETURNS boolean
LANGUAGE c IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_queue_row_valid';

/*
 * ---- numbers -----------------------------------------------------------
 * _normalize_number: canonical digits 628... or NULL when the input is not an
 * Indonesian mobile number (whatsapp-api.md §4):
 *   drop "(0)", spaces, ( ) . / -; "+" or "00" = international prefix;
 *   a leading 0 (trunk prefix) or a bare 8... gets 62; "+62 0812..." drops
 *   the trunk 0 kept after the country code; then ^628[1-35-9][0-9]{7,10}$.
 * C (src/normalize.c): the one number rule (opt_outs, providers).  White space is what the
 * regular expression class [[:space:]] matches under the database's locale.
 */
CREATE FUNCTION guestbook_notify._normalize_number(p_number text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'gbn_normalize_number_sql';

