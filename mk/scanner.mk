# mk/scanner.mk — the page scanner's extra targets: test helpers and
# `make bench-scanner` (results in bench/results/scanner.json and .md).

# XXH3 for AVX2 in its own object, chosen at run time (scanner/scan_hash.c).
ifeq ($(shell uname -m),x86_64)
$(B)/obj/scanner/scan_hash_avx2.o: CFLAGS += -mavx2
$(B)/obj/scanner/scan_hash.o: CFLAGS += -DKSMD_HAVE_AVX2_HASH
endif

SCANNER_TOOLS := $(B)/tests/scanner_memhog $(B)/tests/scanner_probe $(B)/bench/scan_bench

# The memory holder is a target of the scanner, never built with sanitizers
# (their shadow reservations would be part of its memory).
$(B)/tests/scanner_memhog: tests/scanner_memhog.c tests/scanner_memhog.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. -o $@ $<

$(B)/tests/scanner_probe: $(B)/obj/tests/scanner_probe.o $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(B)/bench/scan_bench: $(B)/obj/bench/scan_bench.o $(B)/obj/bench/scan_bench_report.o $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

# The integration tests find the helpers in $(B)/tests.
tests: $(B)/tests/scanner_memhog $(B)/tests/scanner_probe

.PHONY: bench-scanner bench-scale scanner-tools
scanner-tools: $(SCANNER_TOOLS)

bench-scanner: scanner-tools
	B=$(B) bench/scan_bench.sh
	bench/report.py --stamp scanner bench/results


# The scanner at 1, 4 and 16 GiB and a model of 64 and 400 GiB
# (bench/results/scale/scale.md; longer than bench-scanner, not in `make bench`).
bench-scale: scanner-tools
	B=$(B) bench/scan_scale.sh
