# guestbook_notify: PGXS build, tests and install.
#
# The version is defined once, in guestbook_notify.control (as pg_cron
# does); the install script guestbook_notify--$(EXTVERSION).sql is built
# from the parts in src/sql/, and the C code gets the version as
# GBN_VERSION.  Released scripts (sql/guestbook_notify--1.0.sql) and the
# upgrade scripts (sql/guestbook_notify--A--B.sql) are kept as they are.
EXTENSION = guestbook_notify
EXTVERSION = $(shell sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big = guestbook_notify
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(sort $(wildcard sql/guestbook_notify--*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql
PGFILEDESC = "guestbook_notify - WhatsApp notifications for guestbook cases"

SQL_PARTS = $(sort $(wildcard src/sql/*.sql))

PKG_CONFIG ?= pkg-config
# the User-Agent's version: Meta's spec wants X.Y.Z (1.1 -> 1.1.0, 1.1.2 stays)
UAVERSION = $(shell echo '$(EXTVERSION)' | awk -F. '{ printf "%d.%d.%d", $$1, $$2, $$3 }')
PG_CPPFLAGS = -DGBN_VERSION='"$(EXTVERSION)"' -DGBN_UA_VERSION='"$(UAVERSION)"' $(shell $(PKG_CONFIG) --cflags libcurl json-c)
SHLIB_LINK = $(shell $(PKG_CONFIG) --libs libcurl json-c)

# pg_regress: SQL behaviour, on a throwaway instance that preloads the library
# (the worker serves another database there, so it stays idle).
REGRESS = $(sort $(notdir $(basename $(filter-out sql/guestbook_notify--%,$(wildcard sql/*.sql)))))
REGRESS_OPTS = --encoding=UTF8 --temp-instance=./tmp_check_regress --temp-config=$(srcdir)/tests/regress.conf

# pg_isolation_regress: concurrency (dedupe races, SKIP LOCKED).
ISOLATION = $(sort $(notdir $(basename $(wildcard tests/isolation/specs/*.spec))))
ISOLATION_OPTS = --encoding=UTF8 --inputdir=$(srcdir)/tests/isolation --temp-instance=./tmp_check_iso --temp-config=$(srcdir)/tests/regress.conf

# TAP (prove, PostgreSQL::Test::Cluster): the worker, crashes and restarts.
TAP_TESTS = 1
PROVE_TESTS = tests/t/*.pl
PROVE_FLAGS = -I $(srcdir)/tests/lib

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

# the objects follow the version
$(OBJS): $(EXTENSION).control

# TAP tests only, against the installed extension.
.PHONY: prove
prove:
	$(prove_installcheck)

# The webhook receiver daemon (src/web, README "Webhook receiver"): built,
# installed (into PostgreSQL's bindir) and cleaned with the extension.
# PG_CFLAGS and PG_CONFIG given on the command line reach it too.
.PHONY: web install-web clean-web
all: web
web:
	$(MAKE) -C src/web PG_CONFIG=$(PG_CONFIG)
install: install-web
install-web: web
	$(MAKE) -C src/web PG_CONFIG=$(PG_CONFIG) install
clean: clean-web
clean-web:
	$(MAKE) -C src/web PG_CONFIG=$(PG_CONFIG) clean
