--
-- 002_normalize_number: Indonesian mobile numbers to canonical digits 628...
--
\set SHOW_CONTEXT never

SELECT input, guestbook_notify.normalize_number(input) AS normalised
  FROM (VALUES ('081234567890'),
			   ('0812-3456-7890'),
			   ('0813 1234 5678'),
			   ('+62 812 3456 7890'),
			   ('+62 (0)812 3456 7890'),
			   ('+62 0812 3456 7890'),		-- trunk 0 kept after the country code
			   ('(+62) 812.3456.7890'),
			   ('0062 812 3456 7890'),		-- 00 international prefix
			   ('6281234567890'),
			   ('812-3456-7890'),
			   ('0811234567'),				-- shortest: 9 digits after 62
			   ('0812345678901'),			-- longest: 12 digits after 62
			   ('0881 1234 5678'),
			   ('0895-1234-5678'),
			   (E' 0812\t3456 7890 ')) AS t(input);

-- the non-raising variant the triggers use: NULL for anything invalid
SELECT input, guestbook_notify._normalize_number(input) AS normalised
  FROM (VALUES ('12345'), ('08123456'), ('081234567890123'), ('0801234567'),
			   ('0841234567'), ('+1 415 555 0100'), ('021-555-1234'), ('+0812345678'),
			   ('0812-3456-789O'), (''), (NULL)) AS t(input);

-- invalid: too short (NSN of 7 digits)
SELECT guestbook_notify.normalize_number('08123456');
-- invalid: too long (NSN of 14 digits)
SELECT guestbook_notify.normalize_number('081234567890123');
-- invalid: a landline (Jakarta 021), not a mobile
SELECT guestbook_notify.normalize_number('021-555-1234');
-- invalid: another country
SELECT guestbook_notify.normalize_number('+1 415 555 0100');
-- invalid: 08 followed by 0 or 4 is not a mobile prefix
SELECT guestbook_notify.normalize_number('0841234567');
-- invalid: letters
SELECT guestbook_notify.normalize_number('0812-3456-789O');
-- invalid: empty
SELECT guestbook_notify.normalize_number('');
-- invalid: NULL is an error for explicit calls, not a NULL result
SELECT guestbook_notify.normalize_number(NULL);
-- the error's fields: errcode 22023, the input named, the accepted forms
\x on
SELECT * FROM show_error($$SELECT guestbook_notify.normalize_number('12345')$$);
SELECT * FROM show_error($$SELECT guestbook_notify.normalize_number(NULL)$$);
\x off
