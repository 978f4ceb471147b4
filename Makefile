# sockbox — one GNU Makefile, no configure step.
#   make            build build/sockbox (and build/libsockbox.a)
#   make run        install missing Debian packages, build, start `sockbox serve`
#   make test       install missing packages, build, run unit + end-to-end tests
#   make asan       build with -fsanitize=address,undefined into build/asan/
#   make test-asan  the whole test suite against the sanitized build
#   make fuzz       build the libFuzzer targets and run each for FUZZ_SECS (default 10)
#   make bench      the comparisons in bench/ (never part of make test)
#   make install    PREFIX=/usr/local DESTDIR=: the binary, man page, bash completion, systemd
#                   examples; make uninstall removes them
#   V=1             show full commands; CI=true adds -Werror

SHELL    := /bin/bash
BUILD    ?= build
CC       ?= cc
OPTFLAGS ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(CI),true)
WARN     += -Werror
endif
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
CPPFLAGS += -Isrc -D_GNU_SOURCE
CFLAGS   += -std=gnu11 $(OPTFLAGS) $(WARN) $(SANFLAGS) -MMD -MP -pthread
LDFLAGS  += $(SANFLAGS) -pthread
LDLIBS   += $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto) -lhiredis -lsystemd -lmicrohttpd -ljansson -lm

CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

LIB_SRC  := $(wildcard src/util/*.c src/loop/*.c src/net/*.c src/proto/*.c src/inspect/*.c src/server/*.c src/client/*.c src/services/*.c src/bus/*.c)
BIN_SRC  := src/main.c $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
BIN_OBJ  := $(BIN_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

ifneq ($(V),1)
Q  := @
QCC = @printf '  CC      %s\n' $<;
QLD = @printf '  LD      %s\n' $@;
QAR = @printf '  AR      %s\n' $@;
endif

PREFIX  ?= /usr/local
BINDIR  := $(DESTDIR)$(PREFIX)/bin
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
COMPDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
DOCDIR  := $(DESTDIR)$(PREFIX)/share/doc/sockbox
VERSION := 0.1.0
GITREV  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LIBSYSTEMD = $(shell pkg-config --modversion libsystemd 2>/dev/null || echo unknown)

.PHONY: all run test unit e2e asan test-asan fuzz bench deps clean format install uninstall FORCE
.DEFAULT_GOAL := all

all: $(BUILD)/sockbox $(UNIT_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(QCC)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(QCC)$(CC) $(CPPFLAGS) $(CMOCKA_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libsockbox.a: $(LIB_OBJ)
	$(QAR)rm -f $@ && $(AR) rcs $@ $^

# The version from git, rewritten only when it changes (so nothing rebuilds for nothing).
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define SOCKBOX_VERSION "%s"\n#define SOCKBOX_GITREV "%s"\n#define SOCKBOX_LIBSYSTEMD "%s"\n' \
		'$(VERSION)' '$(GITREV)' '$(LIBSYSTEMD)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/src/main.o: $(BUILD)/version.h
$(BUILD)/src/main.o: CPPFLAGS += -I$(BUILD)

$(BUILD)/sockbox: $(BIN_OBJ) $(BUILD)/libsockbox.a
	$(QLD)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(BUILD)/libsockbox.a
	$(QLD)$(CC) $(LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS)

deps:
	$(Q)scripts/deps.sh

run: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/sockbox
	exec $(BUILD)/sockbox serve

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit e2e

unit: $(UNIT_BIN)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

e2e: $(BUILD)/sockbox
	$(Q)SOCKBOX_BIN=$(abspath $(BUILD)/sockbox) /usr/bin/python3 -m pytest -q tests/e2e

asan:
	$(Q)$(MAKE) --no-print-directory SAN=1 BUILD=build/asan all

test-asan: deps
	$(Q)$(MAKE) --no-print-directory SAN=1 BUILD=build/asan all unit e2e

# Fuzzing: the library again, built by clang with coverage and sanitizers.
FUZZ_DIR   := build/fuzz
FUZZ_SECS  ?= 10
FUZZ_SEED  ?= 0
FUZZ_FLAGS := -std=gnu11 -O1 -g $(WARN) -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ   := $(LIB_SRC:%.c=$(FUZZ_DIR)/%.o)
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_DIR)/%)

$(FUZZ_DIR)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(QCC)clang $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/libsockbox.a: $(FUZZ_OBJ)
	$(QAR)rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libsockbox.a
	$(QLD)clang $(CPPFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ -pthread $(LDLIBS)

# FUZZ_SEED=N repeats a run (CI uses a fixed seed so a red run can be replayed; 0 = random).
# A crash leaves its input in build/fuzz/crash-*; the log's tail (stack, Base64 input) is shown.
fuzz: deps $(FUZZ_BIN)
	$(Q)set -e; for t in $(FUZZ_BIN); do n=$${t##*/fuzz_}; mkdir -p $(FUZZ_DIR)/corpus/$$n; \
		echo "== fuzz $$n ($(FUZZ_SECS)s, seed $(FUZZ_SEED))"; \
		if ! $$t -max_total_time=$(FUZZ_SECS) -timeout=5 -seed=$(FUZZ_SEED) -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n \
			>$(FUZZ_DIR)/$$n.log 2>&1; then \
			grep -E -A40 '^==[0-9]+==|ERROR' $(FUZZ_DIR)/$$n.log | head -80; exit 1; fi; \
		grep -E '^stat::number_of_executed_units' $(FUZZ_DIR)/$$n.log; done

# bench/run.sh installs the packages it compares against itself (BENCH_INSTALL=0: it does not).
bench: deps
	$(Q)$(MAKE) --no-print-directory $(BUILD)/sockbox
	$(Q)SOCKBOX=$${SOCKBOX:-$(BUILD)/sockbox} bench/run.sh

install: $(BUILD)/sockbox
	install -D -m 755 $(BUILD)/sockbox $(BINDIR)/sockbox
	install -D -m 644 man/sockbox.1 $(MANDIR)/sockbox.1
	install -D -m 644 contrib/bash-completion/sockbox $(COMPDIR)/sockbox
	install -D -m 644 contrib/systemd/sockbox.socket $(DOCDIR)/systemd/sockbox.socket
	install -D -m 644 contrib/systemd/sockbox.service $(DOCDIR)/systemd/sockbox.service
	install -D -m 644 contrib/systemd/sockbox-inetd.socket $(DOCDIR)/systemd/sockbox-inetd.socket
	install -D -m 644 contrib/systemd/sockbox-inetd@.service $(DOCDIR)/systemd/sockbox-inetd@.service
	install -D -m 644 README.md $(DOCDIR)/README.md

uninstall:
	rm -f $(BINDIR)/sockbox $(MANDIR)/sockbox.1 $(COMPDIR)/sockbox
	rm -rf $(DOCDIR)

format:
	clang-format -i $(LIB_SRC) $(BIN_SRC) $(wildcard src/*/*.h) $(UNIT_SRC)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BIN_OBJ:.o=.d) $(UNIT_BIN:%=%.d) $(FUZZ_OBJ:.o=.d)
