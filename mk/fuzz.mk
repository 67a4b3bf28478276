# mk/fuzz.mk — libFuzzer targets of every parser of what ksmd is fed
# (tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/NAME_corpus), built with
# clang and ASan+UBSan (FUZZ_CC):
#
#   control  control requests and ksmd.conf (NUL-terminated)
#   stats    the HTTP routes and the Prometheus renderer (mk/stats.mk)
#   config   ksmd.conf as raw bytes, NUL included (conf/parse.c)
#   cmdline  discovery's QEMU command line parser (balloon/discover.c)
#   proc     the /proc, /sys and cgroup parsers (collect/, act/ksm.c, balloon/cgroup.c)
#   qmp      the QMP stream framing and replies (balloon/qmp_wire.c)
#   state    the state file reader (daemon/state.c)
#   view     ksmdctl's rendering of answers (cli/view.c)
#
#   make fuzz                   every target FUZZ_SECONDS (default 30) each,
#                               FUZZ_JOBS (default 2) at a time
#   make fuzz FUZZ_RUNS=N       every target until N executions instead (a
#                               campaign: FUZZ_RUNS=10000000)
#   make fuzz-NAME              one target
#
# A crash stops make; libFuzzer writes the input as crash-* in the current
# folder. Corpora grow in $(B)/fuzz/NAME_work (not committed).
FUZZ_JOBS ?= 2
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS))
FUZZ_SPAN = $(if $(FUZZ_RUNS),, in $(FUZZ_SECONDS) s)
FUZZ_FLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DKSMD_VERSION=\"$(VERSION)\" -I. \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined

CONTROL_FUZZ_SRC := tests/fuzz/fuzz_control.c daemon/control.c ctl/protocol.c daemon/loop.c conf/keys.c \
    conf/parse.c balloon/libvirt_parse.c policy/policy.c policy/guest_view.c policy/plan.c \
    policy/actions.c common/log.c common/util.c

$(B)/fuzz/fuzz_control: $(CONTROL_FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $(CONTROL_FUZZ_SRC) $(PKG_LIBS) -lpthread -lm

# The newer targets link what they need from one archive of the parsers'
# modules, compiled once with coverage (fuzzer-no-link) and the sanitizers.
FUZZ_LIB_SRC := $(wildcard common/*.c conf/*.c collect/*.c act/*.c balloon/*.c ctl/*.c policy/*.c) \
    daemon/state.c cli/view.c
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
FUZZ_NEW := config cmdline proc qmp state view

$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/fuzz/libfuzzparse.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_NEW:%=$(B)/fuzz/fuzz_%): $(B)/fuzz/fuzz_%: $(B)/fuzz/obj/tests/fuzz/fuzz_%.o $(B)/fuzz/libfuzzparse.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lpthread -lm

-include $(shell find $(B)/fuzz/obj -name '*.d' 2>/dev/null)

# Longest input of each target (bytes).
FUZZ_MAX_LEN_control := 8192
FUZZ_MAX_LEN_config := 16384
FUZZ_MAX_LEN_cmdline := 4096
FUZZ_MAX_LEN_proc := 16384
FUZZ_MAX_LEN_qmp := 65536
FUZZ_MAX_LEN_state := 16384
FUZZ_MAX_LEN_view := 32768

.PHONY: fuzz fuzz-build $(FUZZ_NEW:%=fuzz-%) fuzz-control
$(FUZZ_NEW:%=fuzz-%) fuzz-control: fuzz-%: $(B)/fuzz/fuzz_%
	@mkdir -p $(B)/fuzz/$*_work
	@$(B)/fuzz/fuzz_$* $(FUZZ_LIMIT) -max_len=$(FUZZ_MAX_LEN_$*) \
	    -print_final_stats=1 -artifact_prefix=$(B)/fuzz/$*- $(B)/fuzz/$*_work tests/fuzz/$*_corpus \
	    > $(B)/fuzz/$*.log 2>&1 || { tail -n 60 $(B)/fuzz/$*.log; echo "fuzz-$*: FAILED"; exit 1; }
	@echo "fuzz-$*: $$(awk '/number_of_executed_units/ {print $$2}' $(B)/fuzz/$*.log) executions$(FUZZ_SPAN)" \
	    "($$(awk '/stat::average_exec_per_sec/ {print $$2}' $(B)/fuzz/$*.log)/s), no crash"

fuzz-build: $(B)/fuzz/fuzz_stats $(B)/fuzz/fuzz_control $(FUZZ_NEW:%=$(B)/fuzz/fuzz_%)

# Every target: built first, then run FUZZ_JOBS at a time.
fuzz:
	@$(MAKE) --no-print-directory B=$(B) fuzz-build
	@$(MAKE) --no-print-directory B=$(B) -j$(FUZZ_JOBS) --output-sync=target \
	    fuzz-stats fuzz-control $(FUZZ_NEW:%=fuzz-%)
