# Makefile for mmr: PGXS builds mmr.so from src/pg/*.c (C, PostgreSQL style)
# and links the C++ core, which CMake builds apart as a static library without
# the server include path (the C/C++ wall; see docs/architecture.md).

EXTENSION = mmr
MODULE_big = mmr
DATA = mmr--1.0.sql
PGFILEDESC = "mmr - asynchronous multi-master logical replication"

OBJS = $(patsubst %.c,%.o,$(wildcard src/pg/*.c))

CORE_BUILD = build/core
CORE_LIB = $(CORE_BUILD)/libmmr_core.a

PG_CPPFLAGS = -I$(srcdir)/src/core/include -I$(libpq_srcdir)
PG_CFLAGS = -Wall -Werror
# PGXS as packaged tracks no header dependencies: let the compiler write them,
# so that a changed header (a shared-memory struct) rebuilds every user of it.
PG_CFLAGS += -MMD -MP
EXTRA_CLEAN = $(OBJS:.o=.d)
SHLIB_LINK = $(CORE_LIB) -lstdc++ $(libpq)

# Tests are driven by scripts/test.sh (it starts its own servers).
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=$(srcdir)
TAP_TESTS = 1

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

-include $(OBJS:.o=.d)

# Always ask CMake: it knows when the core is up to date.
.PHONY: core
core:
	cmake -S $(srcdir) -B $(CORE_BUILD) -DCMAKE_BUILD_TYPE=Release -DMMR_BUILD_TESTS=OFF >/dev/null
	cmake --build $(CORE_BUILD) --target mmr_core -j2

$(CORE_LIB): core
$(shlib): $(CORE_LIB)

clean: clean-core
.PHONY: clean-core
clean-core:
	rm -rf build
