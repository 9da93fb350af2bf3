/*-------------------------------------------------------------------------
 *
 * admin_time.c
 *		Times as the page shows them: "25 Nov 2026 16.15 WIB" (English:
 *		"25 Nov 2026 16:15 WIB").
 *
 * The session's connection has TimeZone = time_zone, so PostgreSQL already
 * gives the local time and its offset ("2026-11-25 16:15:00.123+07" as
 * text, "2026-11-25T16:15:00.123+07:00" in jsonb); this only names the
 * month and the zone: WIB, WITA, WIT for Indonesia's three zones, else
 * "UTC" or "UTC+hh:mm".
 *
 * src/web/admin_time.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"

static const char *const months_id[12] = {
	"Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"
};
static const char *const months_en[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

static bool
digits(const char *s, int n, int *out)
{
	int			v = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool
indonesian_zone(const char *tz)
{
	return tz != NULL &&
		(strcmp(tz, "Asia/Jakarta") == 0 || strcmp(tz, "Asia/Pontianak") == 0 ||
		 strcmp(tz, "Asia/Makassar") == 0 || strcmp(tz, "Asia/Jayapura") == 0);
}

/*
 * pgtime: "YYYY-MM-DD HH:MI[:SS[.ffffff]]±HH[:MM]" ('T' or ' ' between date
 * and time).  false (and "-") for anything else.
 */
bool
admin_format_time(const char *pgtime, const char *time_zone, Lang lang,
				  char *out, size_t outlen)
{
	int			y,
				mo,
				d,
				h,
				mi,
				oh,
				om = 0;
	const char *p;
	char		sign;
	char		zone[16];

	snprintf(out, outlen, "-");
	if (pgtime == NULL || strlen(pgtime) < 19)
		return false;
	if (!digits(pgtime, 4, &y) || pgtime[4] != '-' || !digits(pgtime + 5, 2, &mo) ||
		pgtime[7] != '-' || !digits(pgtime + 8, 2, &d) ||
		(pgtime[10] != ' ' && pgtime[10] != 'T') ||
		!digits(pgtime + 11, 2, &h) || pgtime[13] != ':' || !digits(pgtime + 14, 2, &mi))
		return false;
	if (mo < 1 || mo > 12)
		return false;
	/* skip seconds and fractions to the offset */
	p = pgtime + 16;
	while (*p && *p != '+' && *p != '-' && *p != 'Z')
		p++;
	if (*p == 'Z')
	{
		sign = '+';
		oh = 0;
	}
	else
	{
		if (*p == '\0')
			return false;
		sign = *p++;
		if (!digits(p, 2, &oh))
			return false;
		p += 2;
		if (*p == ':')
			p++;
		if (*p && !digits(p, 2, &om))
			return false;
	}
	if (indonesian_zone(time_zone) && sign == '+' && om == 0 && oh >= 7 && oh <= 9)
		snprintf(zone, sizeof(zone), "%s", oh == 7 ? "WIB" : oh == 8 ? "WITA" : "WIT");
	else if (oh == 0 && om == 0)
		snprintf(zone, sizeof(zone), "UTC");
	else if (om == 0)
		snprintf(zone, sizeof(zone), "UTC%c%d", sign, oh);
	else
		snprintf(zone, sizeof(zone), "UTC%c%d:%02d", sign, oh, om);
	snprintf(out, outlen, "%d %s %04d %02d%c%02d %s",
			 d, lang == LANG_EN ? months_en[mo - 1] : months_id[mo - 1], y,
			 h, lang == LANG_EN ? ':' : '.', mi, zone);
	return true;
}
