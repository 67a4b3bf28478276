# mk/stats.mk — targets of the stats module and the ksmdctl views.
#
#   make bench-stats   HTTP load benchmark (1,000 req/s for 30 s per endpoint),
#                      results in bench/results/stats.json and stats.md
#   make fuzz-stats    libFuzzer run of the routes and the Prometheus renderer
#                      (FUZZ_SECONDS, default 30), corpus tests/fuzz/stats_corpus
#   make promtool-stats  fetch promtool (Debian package prometheus, extracted,
#                      not installed: no service is started) for test_stats_prom
#
# The stats and view unit tests link only the objects they need, so that
# they build while other modules are under construction.

STATS_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard stats/*.c)) \
             $(B)/obj/common/log.o $(B)/obj/common/util.o

# The live page's files are embedded in page.o (.incbin, which the
# compiler's dependency files do not see).
STATS_PAGE_FILES := $(wildcard stats/page/*)
$(B)/obj/stats/page.o: $(STATS_PAGE_FILES)

STATS_UNIT := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_stats*.c))
VIEW_UNIT := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_view*.c))

$(STATS_UNIT): $(B)/tests/%: $(B)/obj/tests/unit/%.o $(STATS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS) -lcunit

$(VIEW_UNIT): $(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/obj/cli/view.o $(STATS_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS) -lcunit

STATS_TESTS := $(STATS_UNIT) $(VIEW_UNIT)

.PHONY: check-stats bench-stats fuzz-stats promtool-stats
check-stats: $(STATS_TESTS)
	PROMTOOL=$${PROMTOOL:-$$(ls $(B)/tools/promtool 2>/dev/null)} tests/run.sh $(STATS_TESTS)

promtool-stats: $(B)/tools/promtool
$(B)/tools/promtool:
	@mkdir -p $(B)/tools/prom && cd $(B)/tools/prom && apt-get download prometheus
	dpkg -x $(B)/tools/prom/prometheus_*.deb $(B)/tools/prom/x
	cp $(B)/tools/prom/x/usr/bin/promtool $@ && rm -rf $(B)/tools/prom

# ---- benchmark -------------------------------------------------------------
STATS_BENCH_SECONDS ?= 30
STATS_BENCH_RATE ?= 1000

# The server links the daemon's library: its privilege separation
# (daemon/http_sep.c) and loop are what is measured.
$(B)/bench/stats_server: bench/stats_server.c bench/cpu.h $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.h,$^) $(LDLIBS)

$(B)/bench/stats_load: bench/stats_load.c bench/cpu.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -lm

STATS_SCAN_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard scanner/*.c collect/regions.c collect/sample.c)) \
                  $(B)/obj/common/log.o $(B)/obj/common/util.o

# The scanner half is measured only where the scanner is present.
ifneq ($(wildcard scanner/scanner.h),)
$(B)/bench/stats_scan: bench/stats_scan.c $(STATS_SCAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
STATS_BENCH_SCAN := $(B)/bench/stats_scan
endif

bench-stats: $(B)/bench/stats_server $(B)/bench/stats_load $(STATS_BENCH_SCAN)
	bench/stats_bench.sh $(B) $(STATS_BENCH_RATE) $(STATS_BENCH_SECONDS)
	bench/report.py --stamp stats bench/results

# ---- fuzzing ---------------------------------------------------------------
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
STATS_FUZZ_SRC := tests/fuzz/fuzz_stats.c $(wildcard stats/*.c) common/log.c common/util.c

$(B)/fuzz/fuzz_stats: $(STATS_FUZZ_SRC) tests/unit/test_stats_expo.h $(STATS_PAGE_FILES)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=gnu11 -D_GNU_SOURCE -DKSMD_VERSION=\"$(VERSION)\" -I. \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    $(PKG_CFLAGS) -o $@ $(STATS_FUZZ_SRC) $(PKG_LIBS) -lpthread -lm

fuzz-stats: $(B)/fuzz/fuzz_stats
	@mkdir -p $(B)/fuzz/corpus
	@$(B)/fuzz/fuzz_stats $(FUZZ_LIMIT) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=$(B)/fuzz/stats- -dict=tests/fuzz/stats.dict $(B)/fuzz/corpus tests/fuzz/stats_corpus \
	    > $(B)/fuzz/stats.log 2>&1 || { tail -n 60 $(B)/fuzz/stats.log; echo "fuzz-stats: FAILED"; exit 1; }
	@echo "fuzz-stats: $$(awk '/number_of_executed_units/ {print $$2}' $(B)/fuzz/stats.log) executions$(FUZZ_SPAN)" \
	    "($$(awk '/stat::average_exec_per_sec/ {print $$2}' $(B)/fuzz/stats.log)/s), no crash"
