# mk/ksm.mk — targets of the KSM executor (act/ksm.c, policy/ksmpace.c).
#
#   make check-ksm       unit tests (pacing, sysfs against a temp dir, parsers)
#                        and the KSM integration test (root, real KSM; skips
#                        otherwise)
#   make ksm-tools       bench/ksm_fill (process with known duplicates),
#                        bench/ksm_sample (the convergence sampler) and
#                        bench/ksm_drive (the executor loop, for tests/bench)
#   make bench-converge  convergence benchmark: 4 x 512 MiB, time and CPU to
#                        90% merged under the ksmd daemon (build/ksmd) and
#                        the anchors (bench/converge.sh); results in
#                        bench/results/converge.json and converge.md.
#                        CONVERGE_TIMEOUT (s, default 300) is each run's
#                        length, CONVERGE_RUNS (default 3) the repetitions,
#                        CONVERGE_ONLY="a b" runs only some strategies,
#                        CONVERGE_MIB / CONVERGE_N the fillers (smoke runs),
#                        CONVERGE_OUT another results folder,
#                        CONVERGE_REPORT_ONLY=1 only rebuilds
#                        converge.json/md from the last run's rows.
#
# The KSM unit tests link only the objects they need, so that they build
# while other modules are under construction.

KSM_OBJ := $(B)/obj/act/ksm.o $(B)/obj/policy/ksmpace.o $(B)/obj/collect/sample.o \
           $(B)/obj/common/log.o $(B)/obj/common/util.o
KSM_UNIT := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_ksm*.c))

$(KSM_UNIT): $(B)/tests/%: $(B)/obj/tests/unit/%.o $(KSM_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS) -lcunit

$(B)/bench/ksm_fill: bench/ksm_fill.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(B)/bench/ksm_sample: bench/ksm_sample.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

$(B)/bench/ksm_drive: $(B)/obj/bench/ksm_drive.o $(B)/libksmd.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

KSM_TOOLS := $(B)/bench/ksm_fill $(B)/bench/ksm_drive $(B)/bench/ksm_sample
CONVERGE_TIMEOUT ?= 300
CONVERGE_RUNS ?= 3
CONVERGE_ONLY ?=

.PHONY: check-ksm ksm-tools bench-converge bench
ksm-tools: $(KSM_TOOLS)

check-ksm: $(KSM_UNIT) $(KSM_TOOLS)
	KSMD_BUILD=$(B) tests/run.sh $(KSM_UNIT) $(sort $(wildcard tests/integration/ksm*.sh))

# Debian's ksmtuned, the anchor (d): fetched and extracted, never installed
# (an installed ksmtuned service would drive KSM against ksmd).
$(B)/tools/ksmtuned:
	@mkdir -p $(B)/tools/ksmtuned.d && cd $(B)/tools/ksmtuned.d && apt-get download ksmtuned
	dpkg -x $(B)/tools/ksmtuned.d/ksmtuned_*.deb $(B)/tools/ksmtuned.d/x
	cp $(B)/tools/ksmtuned.d/x/usr/sbin/ksmtuned $@ && rm -rf $(B)/tools/ksmtuned.d

bench-converge: $(B)/ksmd $(KSM_TOOLS) $(B)/tools/ksmtuned
	KSMTUNED=$(B)/tools/ksmtuned KSMD_BUILD=$(B) CONVERGE_TIMEOUT=$(CONVERGE_TIMEOUT) CONVERGE_RUNS=$(CONVERGE_RUNS) \
	    CONVERGE_ONLY="$(CONVERGE_ONLY)" \
	    bench/converge.sh
	bench/report.py --stamp converge bench/results

