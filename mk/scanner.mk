# mk/scanner.mk — the page scanner's extra targets: test helpers and
# `make bench-scanner` (results in bench/results/scanner.json and .md).

SCANNER_TOOLS := $(B)/tests/scanner_memhog $(B)/tests/scanner_probe $(B)/bench/scan_bench

$(B)/tests/scanner_memhog: $(B)/obj/tests/scanner_memhog.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

$(B)/tests/scanner_probe: $(B)/obj/tests/scanner_probe.o $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

$(B)/bench/scan_bench: $(B)/obj/bench/scan_bench.o $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

# The integration tests find the helpers in $(B)/tests.
tests: $(B)/tests/scanner_memhog $(B)/tests/scanner_probe

.PHONY: bench-scanner scanner-tools
scanner-tools: $(SCANNER_TOOLS)

bench-scanner: scanner-tools
	B=$(B) bench/scan_bench.sh

bench: bench-scanner
