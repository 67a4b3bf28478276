# mk/fuzz.mk — libFuzzer target of the daemon's text edges (control requests,
# ksmd.conf). `make fuzz-control` runs it FUZZ_SECONDS (default 30) with
# ASan+UBSan; the corpus is tests/fuzz/control_corpus.
CONTROL_FUZZ_SRC := tests/fuzz/fuzz_control.c daemon/control.c ctl/protocol.c daemon/loop.c daemon/config.c \
    daemon/config_parse.c balloon/libvirt_parse.c policy/policy.c policy/guest_view.c policy/plan.c \
    policy/actions.c common/log.c common/util.c

$(B)/fuzz/fuzz_control: $(CONTROL_FUZZ_SRC)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -DKSMD_VERSION=\"$(VERSION)\" -I. \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    $(PKG_CFLAGS) -o $@ $(CONTROL_FUZZ_SRC) $(PKG_LIBS) -lpthread -lm

.PHONY: fuzz-control fuzz
fuzz-control: $(B)/fuzz/fuzz_control
	@mkdir -p $(B)/fuzz/control_work
	$(B)/fuzz/fuzz_control -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	    $(B)/fuzz/control_work tests/fuzz/control_corpus

# Every fuzz target, one after the other.
fuzz: fuzz-stats fuzz-control
