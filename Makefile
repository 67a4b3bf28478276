# ksmd — top-level Makefile.
#
# Every module's *.c file goes into build/libksmd.a (daemon/main.c excepted);
# build/ksmd links against it; build/ksmdctl only ctl/, cli/ and common/util.c. Unit tests are
# tests/unit/test_*.c, one CUnit binary each. Extra targets of a module live
# in mk/*.mk so that modules never edit this file to add one.

PREFIX  ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
VERSION := 0.1.0

CC      ?= gcc
OPT     ?= -O2 -g
SAN     ?=
B       ?= build
PKGS    := liburcu-cds liburcu jansson libmicrohttpd libcgroup libxxhash libvirt

CFLAGS  := $(OPT) $(SAN) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
           -DKSMD_VERSION=\"$(VERSION)\" -I. -pthread $(EXTRA_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  = $(PKG_LIBS) -lpthread -lm
LDFLAGS := $(SAN) $(EXTRA_LDFLAGS)

MODULES := common ctl collect scanner policy act balloon stats daemon
LIB_SRC := $(filter-out daemon/main.c,$(wildcard $(addsuffix /*.c,$(MODULES))))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC := $(wildcard cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/obj/%.o)
# ksmdctl speaks the control protocol (ctl/) and renders views (cli/): it
# links nothing else of the daemon, and only jansson
CTL_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard ctl/*.c)) $(B)/obj/common/util.o
CLI_LIBS = $(shell pkg-config --libs jansson 2>/dev/null) -lm
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_HELPER_SRC := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJ := $(UNIT_HELPER_SRC:%.c=$(B)/obj/%.o)

.PHONY: all deps check check-unit check-asan install uninstall clean demo bench lab-check

all: deps-build $(B)/ksmd $(B)/ksmdctl

# `make deps` installs every package the project lists in deps/*.txt.
deps:
	@scripts/deps.sh

.PHONY: deps-build
deps-build:
	@scripts/deps.sh deps/build.txt

$(B)/obj/%.o: %.c | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libksmd.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/ksmd: $(B)/obj/daemon/main.o $(B)/libksmd.a
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(B)/ksmdctl: $(CLI_OBJ) $(CTL_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLI_LIBS)

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

# Unit and integration tests again, built with AddressSanitizer and UBSan.
ASAN_OPT := -O1 -g -fno-omit-frame-pointer
ASAN_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
check-asan: deps-build
	$(MAKE) B=build/asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" tests
	KSMD_BUILD=build/asan OPT="$(ASAN_OPT)" SAN="$(ASAN_SAN)" ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh \
	    $(patsubst $(B)/%,build/asan/%,$(UNIT_BIN)) \
	    $(sort $(wildcard tests/integration/*.sh))

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)/lib/systemd/system
	install -m 755 $(B)/ksmd $(DESTDIR)$(PREFIX)/sbin/ksmd
	install -m 755 $(B)/ksmdctl $(DESTDIR)$(PREFIX)/bin/ksmdctl
	test -e $(DESTDIR)$(SYSCONFDIR)/ksmd.conf || \
	    install -m 644 ksmd.conf $(DESTDIR)$(SYSCONFDIR)/ksmd.conf
	install -m 644 man/ksmd.8 man/ksmdctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 man/ksmd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/ksmd.service.in > $(DESTDIR)/lib/systemd/system/ksmd.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/ksmd $(DESTDIR)$(PREFIX)/bin/ksmdctl \
	    $(DESTDIR)$(PREFIX)/share/man/man8/ksmd.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/ksmdctl.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man5/ksmd.conf.5 \
	    $(DESTDIR)/lib/systemd/system/ksmd.service

clean:
	rm -rf build

-include $(wildcard mk/*.mk)
-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
