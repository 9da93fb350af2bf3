# guestbook_notify: PGXS build, tests and install.
EXTENSION = guestbook_notify
MODULE_big = guestbook_notify
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA = $(sort $(wildcard sql/guestbook_notify--*.sql))
PGFILEDESC = "guestbook_notify - WhatsApp notifications for guestbook cases"

PKG_CONFIG ?= pkg-config
PG_CPPFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl json-c)
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

# TAP tests only, against the installed extension.
.PHONY: prove
prove:
	$(prove_installcheck)
