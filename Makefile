# ksmd — top-level Makefile.
#
# Every module's *.c file goes into build/libksmd.a (daemon/main.c excepted);
# build/ksmd links against it; build/ksmdctl only ctl/, cli/ and common/util.c. Unit tests are
# tests/unit/test_*.c, one CUnit binary each. Extra targets of a module live
# in mk/*.mk so that modules never edit this file to add one.

PREFIX  ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
# bash-completion looks in $XDG_DATA_DIRS/bash-completion/completions
# (/usr/local/share and /usr/share by default)
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
VERSION := 0.1.0

# The user's CC, CFLAGS and LDFLAGS (environment or command line) are
# respected: CC defaults to gcc only when nobody chose one, and the user's
# CFLAGS/LDFLAGS come after the project's, so they may add or override
# (-O3, -march=...). What the code needs (-std, -D_GNU_SOURCE, -I., the
# warnings as errors) is always there. Sub-makes get the user's flags, not
# the composed ones (KSMD_USER_*).
ifeq ($(origin CC),default)
CC      := gcc
endif
OPT     ?= -O2 -g
SAN     ?=
B       ?= build
PKGS    := liburcu-cds liburcu jansson libmicrohttpd libseccomp libcgroup libxxhash libvirt

ifeq ($(origin KSMD_USER_CFLAGS),undefined)
KSMD_USER_CFLAGS := $(CFLAGS)
KSMD_USER_LDFLAGS := $(LDFLAGS)
export KSMD_USER_CFLAGS KSMD_USER_LDFLAGS
endif

# Hardening, on unless HARDEN=0: stack protector, PIE, full RELRO with
# immediate binding, and glibc's fortified string and I/O functions (level
# 3; not under the sanitizers, whose interceptors they would bypass, nor at
# -O0, where glibc cannot fortify).
HARDEN  ?= 1
ifeq ($(HARDEN),1)
HARDEN_CFLAGS  := -fstack-protector-strong -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
ifeq ($(strip $(SAN))$(filter -O0,$(OPT) $(KSMD_USER_CFLAGS)),)
HARDEN_CFLAGS  += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif
endif

override CFLAGS := $(OPT) $(SAN) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
           -DKSMD_VERSION=\"$(VERSION)\" -I. -pthread $(HARDEN_CFLAGS) \
           $(KSMD_USER_CFLAGS) $(EXTRA_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  = $(PKG_LIBS) -lpthread -lm
override LDFLAGS := $(SAN) $(HARDEN_LDFLAGS) $(KSMD_USER_LDFLAGS) $(EXTRA_LDFLAGS)

MODULES := common conf ctl collect scanner policy act balloon stats daemon
LIB_SRC := $(filter-out daemon/main.c,$(wildcard $(addsuffix /*.c,$(MODULES))))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/cli_keys.o
# ksmdctl speaks the control protocol (ctl/) and renders views (cli/): it
# links nothing else of the daemon, and only jansson
CTL_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard ctl/*.c)) $(B)/obj/common/util.o
CLI_LIBS = $(shell pkg-config --libs jansson 2>/dev/null) -lm
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_HELPER_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJ := $(UNIT_HELPER_SRC:%.c=$(B)/obj/%.o)

.PHONY: all deps check check-unit check-asan check-unit-asan install uninstall clean demo bench lab-check

all: deps-build $(B)/ksmd $(B)/ksmdctl

# `make deps` installs every package the project lists in deps/*.txt.
deps:
	@scripts/deps.sh

# NODEPS=1 installs nothing (the Debian package build, debian/rules: there
# dpkg-checkbuilddeps has checked debian/control's Build-Depends).
.PHONY: deps-build
deps-build:
	@[ -n "$(NODEPS)" ] || scripts/deps.sh deps/build.txt

# Objects are rebuilt when the flags change (HARDEN=0, another CC or CFLAGS):
# $(B)/flags holds the last ones.
KSMD_FLAGS_NOW := $(CC) $(CFLAGS) $(LDFLAGS)
ifneq ($(KSMD_FLAGS_NOW),$(file <$(B)/flags))
$(shell mkdir -p $(B))
$(file >$(B)/flags,$(KSMD_FLAGS_NOW))
endif

$(B)/obj/%.o: %.c $(B)/flags | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libksmd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/ksmd: $(B)/obj/daemon/main.o $(B)/libksmd.a
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(B)/ksmdctl: $(CLI_OBJ) $(CTL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

# ksmdctl's list of configuration keys (cli/keys.h) is the key table of the
# ksmd built beside it, written from `ksmd --list-keys`: it links none of it.
$(B)/gen/cli_keys.c: $(B)/ksmd scripts/cli_keys.awk
	@mkdir -p $(dir $@)
	$(B)/ksmd --list-keys > $@.list
	awk -f scripts/cli_keys.awk $@.list > $@.tmp
	mv $@.tmp $@ && rm -f $@.list

$(B)/obj/gen/cli_keys.o: $(B)/gen/cli_keys.c $(B)/flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(UNIT_HELPER_OBJ) $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS) -lcunit

tests: all $(UNIT_BIN)

# Unit tests only (fast, no root needed for most).
check-unit: deps-build tests
	@KSMD_BUILD=$(B) tests/run.sh $(UNIT_BIN)

# Everything: unit, integration (daemon, real KSM), lab (real QEMU guests), e2e.
check: deps all tests
	@KSMD_BUILD=$(B) tests/run.sh $(UNIT_BIN) $(sort $(wildcard tests/integration/*.sh)) \
	    $(sort $(wildcard tests/lab/*.sh)) $(sort $(wildcard tests/e2e/*.sh))

# Unit and integration tests again, built with AddressSanitizer and UBSan
# (build/asan); check-unit-asan runs the unit tests only, check-asan runs
# them and the integration tests (KSMD_ASAN_UNITS=0: the integration tests
# only, when check-unit-asan has just run them, as in .ci/run).
ASAN_OPT := -O1 -g -fno-omit-frame-pointer
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_ENV := KSMD_BUILD=build/asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" ASAN_OPTIONS=detect_leaks=1 \
            UBSAN_OPTIONS=print_stacktrace=1
ASAN_UNIT_BIN := $(patsubst $(B)/%,build/asan/%,$(UNIT_BIN))
KSMD_ASAN_UNITS ?= 1
.PHONY: check-unit-asan asan-tests
asan-tests: deps-build
	$(MAKE) B=build/asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" tests
check-unit-asan: asan-tests
	$(ASAN_ENV) tests/run.sh $(ASAN_UNIT_BIN)
check-asan: asan-tests
	$(ASAN_ENV) tests/run.sh $(if $(filter 0,$(KSMD_ASAN_UNITS)),,$(ASAN_UNIT_BIN)) \
	    $(sort $(wildcard tests/integration/*.sh))

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/ksmd/prometheus $(DESTDIR)$(PREFIX)/share/ksmd/grafana \
	    $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(B)/ksmd $(DESTDIR)$(PREFIX)/sbin/ksmd
	install -m 755 $(B)/ksmdctl $(DESTDIR)$(PREFIX)/bin/ksmdctl
	test -e $(DESTDIR)$(SYSCONFDIR)/ksmd.conf || \
	    install -m 644 ksmd.conf $(DESTDIR)$(SYSCONFDIR)/ksmd.conf
	install -m 644 man/ksmd.8 man/ksmdctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/ksmd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 644 contrib/prometheus/ksmd.rules.yml $(DESTDIR)$(PREFIX)/share/ksmd/prometheus/
	install -m 644 contrib/grafana/ksmd.json $(DESTDIR)$(PREFIX)/share/ksmd/grafana/
	install -m 644 contrib/bash-completion/ksmdctl $(DESTDIR)$(BASHCOMPDIR)/ksmdctl
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/ksmd.service.in > $(DESTDIR)/lib/systemd/system/ksmd.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/ksmd $(DESTDIR)$(PREFIX)/bin/ksmdctl \
	    $(DESTDIR)$(PREFIX)/share/man/man8/ksmd.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/ksmdctl.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/ksmd.conf.5 \
	    $(DESTDIR)/lib/systemd/system/ksmd.service \
	    $(DESTDIR)$(PREFIX)/share/ksmd/prometheus/ksmd.rules.yml \
	    $(DESTDIR)$(PREFIX)/share/ksmd/grafana/ksmd.json \
	    $(DESTDIR)$(BASHCOMPDIR)/ksmdctl
	rmdir $(DESTDIR)$(PREFIX)/share/ksmd/prometheus $(DESTDIR)$(PREFIX)/share/ksmd/grafana \
	    $(DESTDIR)$(PREFIX)/share/ksmd 2>/dev/null || true

clean:
	rm -rf build

-include $(wildcard mk/*.mk)
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
