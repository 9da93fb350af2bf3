/*-------------------------------------------------------------------------
 *
 * main.c
 *		guestbook_notify_web --config FILE [--check]
 *
 * Runs in the foreground (systemd: Type=exec; the unit is
 * src/web/guestbook_notify_web.service).  At start it reads the
 * configuration and the secret files (any error: a message and exit status
 * 1), listens, and logs one line saying where and what it serves.  The main
 * thread then waits for signals and runs the maintenance every
 * maintenance_interval; SIGTERM or SIGINT stops it (requests in progress
 * are finished first).  The configuration is read once: restart to change
 * it (SIGHUP is logged and ignored).
 *
 * Nothing secret is taken from the command line or the environment, and
 * the process is made non-dumpable (no core files, no ptrace by the same
 * user) since its memory holds the secrets.
 *
 * src/web/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <microhttpd.h>
#include <openssl/opensslv.h>

#include "admin.h"
#include "gbnw.h"

static void
usage(FILE *f)
{
	fprintf(f,
			"%s receives WhatsApp webhooks (Meta Cloud API, WAHA) for guestbook_notify.\n\n"
			"Usage:\n"
			"  %s --config FILE     run (in the foreground)\n"
			"  %s --config FILE --check\n"
			"                                    check the configuration and secret files, then exit\n"
			"  %s --version\n\n"
			"The configuration file has postgresql.conf syntax; see README.md, \"Webhook receiver\".\n",
			GBNW_NAME, GBNW_NAME, GBNW_NAME, GBNW_NAME);
}

static bool
load_secret(const char *key, const char *spec, GbnwSecret *out)
{
	char		err[600];

	if (spec == NULL)
		return true;
	if (!gbnw_secret_load(spec, out, err, sizeof(err)))
	{
		gbnw_log(GBNW_FATAL, "%s: %s", key, err);
		return false;
	}
	return true;
}

int
main(int argc, char **argv)
{
	const char *config_path = NULL;
	bool		check_only = false;
	GbnwConfig	cfg;
	GbnwEndpoints ep;
	char		err[600];
	sigset_t	sigs;
	int			i;
	char		why[256];

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config_path = argv[i] + 9;
		else if (strcmp(argv[i], "--check") == 0)
			check_only = true;
		else if (strcmp(argv[i], "--version") == 0)
		{
			printf("%s %s (libmicrohttpd %s, libpq %d, %s)\n", GBNW_NAME, GBN_VERSION,
				   MHD_get_version(), PQlibVersion(), OPENSSL_VERSION_TEXT);
			return 0;
		}
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		{
			usage(stdout);
			return 0;
		}
		else
		{
			fprintf(stderr, "%s: unknown argument \"%s\" (secrets are read from files named in the configuration, never from the command line)\n\n",
					GBNW_NAME, argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL)
	{
		usage(stderr);
		return 2;
	}

	/* the memory will hold the secrets: no core dumps, no ptrace */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);

	gbnw_config_defaults(&cfg);
	if (!gbnw_config_load(config_path, &cfg, err, sizeof(err)))
	{
		gbnw_log(GBNW_FATAL, "%s", err);
		return 1;
	}
	memset(&ep, 0, sizeof(ep));
	if (!load_secret("meta_app_secret_file", cfg.meta_app_secret_file, &ep.meta_app_secret) ||
		!load_secret("meta_verify_token_file", cfg.meta_verify_token_file, &ep.meta_verify_token) ||
		!load_secret("waha_hmac_key_file", cfg.waha_hmac_key_file, &ep.waha_hmac_key))
		return 1;
	if (check_only)
	{
		printf("%s: configuration \"%s\" and its secret files are valid\n", GBNW_NAME, config_path);
		return 0;
	}

	/*
	 * Block the signals in every thread (libmicrohttpd's threads inherit the
	 * mask); the main thread takes them with sigtimedwait.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	gbnw_db_init(&cfg);
	if (!gbnw_http_start(&cfg, &ep, err, sizeof(err)))
	{
		gbnw_log(GBNW_FATAL, "%s", err);
		return 1;
	}
	{
		char		host[128];
		char	   *colon;

		snprintf(host, sizeof(host), "%s", cfg.listen);
		colon = strrchr(host, ':');
		if (colon)
			*colon = '\0';
		gbnw_log(GBNW_LOG, "%s %s listening on %s:%u (meta: %s, meta verification: %s, waha: %s; %u threads, at most %u connections, bodies up to %zu bytes)",
				 GBNW_NAME, GBN_VERSION, host, gbnw_http_port(),
				 ep.meta_app_secret.data ? "on" : "off",
				 ep.meta_verify_token.data ? "on" : "off",
				 ep.waha_hmac_key.data ? "on" : "off",
				 cfg.threads, cfg.max_connections, cfg.max_body_size);
	}
	if (cfg.admin_conninfo != NULL)
	{
		char		host[128];
		char	   *colon;

		if (!gbnw_admin_start(&cfg, err, sizeof(err)))
		{
			gbnw_log(GBNW_FATAL, "%s", err);
			gbnw_http_stop();
			return 1;
		}
		snprintf(host, sizeof(host), "%s", cfg.admin_listen);
		colon = strrchr(host, ':');
		if (colon)
			*colon = '\0';
		gbnw_log(GBNW_LOG, "Notifications page on %s:%u (sessions: idle %d s, at most %d s; time zone %s)",
				 host, gbnw_admin_port(), cfg.admin_session_idle_s, cfg.admin_session_max_s,
				 cfg.time_zone);
		if (!cfg.admin_loopback)
			gbnw_log(GBNW_WARNING, "the Notifications page listens on a non-loopback address (%s): put the reverse proxy (TLS) in front and keep this port private",
					 cfg.admin_listen);
	}
	if (!cfg.loopback)
		gbnw_log(GBNW_WARNING, "listening on a non-loopback address (%s): put the reverse proxy (TLS, the public name) in front and keep this port private",
				 cfg.listen);
	if (gbnw_db_ping(why, sizeof(why)))
		gbnw_log(GBNW_LOG, "database reachable");
	else
		gbnw_log(GBNW_WARNING, "database not reachable yet (%s): webhooks are answered 503 until it is", why);

	for (;;)
	{
		struct timespec timeout;
		siginfo_t	info;
		int			sig;

		timeout.tv_sec = cfg.maintenance_interval_ms / 1000;
		timeout.tv_nsec = (long) (cfg.maintenance_interval_ms % 1000) * 1000000L;
		sig = sigtimedwait(&sigs, &info, &timeout);
		if (sig < 0)
		{
			if (errno == EAGAIN)
			{
				gbnw_db_maintenance();
				admin_sessions_sweep();
			}
			continue;
		}
		if (sig == SIGHUP)
		{
			gbnw_log(GBNW_LOG, "SIGHUP ignored: restart %s to read the configuration again", GBNW_NAME);
			continue;
		}
		gbnw_log(GBNW_LOG, "received signal %d, stopping", sig);
		break;
	}

	gbnw_admin_stop();
	gbnw_http_stop();
	gbnw_db_close_thread();
	gbnw_secret_free(&ep.meta_app_secret);
	gbnw_secret_free(&ep.meta_verify_token);
	gbnw_secret_free(&ep.waha_hmac_key);
	gbnw_config_free(&cfg);
	gbnw_log(GBNW_LOG, "stopped");
	return 0;
}
