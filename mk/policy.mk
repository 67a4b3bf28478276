# mk/policy.mk — targets of the policy module.
#
#   make B=... policy-sim   build the trace simulator $(B)/tests/policy_sim
#   make bench-policy       run every scenario under ksmd, MOM, Proxmox and
#                           squeezed; writes bench/results/policy.md and
#                           policy.json
#   make check-policy       unit tests + simulator properties (--check)
#
# The policy's unit test and the simulator link only the policy and common
# objects, so they build while other modules are under construction.

POLICY_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard policy/*.c collect/*.c)) \
              $(B)/obj/act/wss_reset.o $(B)/obj/common/log.o $(B)/obj/common/util.o

$(B)/tests/test_policy: $(B)/obj/tests/unit/test_policy.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcunit -lm

$(B)/tests/test_policy_limit: $(B)/obj/tests/unit/test_policy_limit.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcunit -lm

$(B)/tests/test_policy_data: $(B)/obj/tests/unit/test_policy_data.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcunit -lm

$(B)/tests/test_policy_wss: $(B)/obj/tests/unit/test_policy_wss.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ -lcunit -lm

# Helper of tests/integration/wss.sh: a process with a known working set,
# and the collector's clear/read cycle run against it.
$(B)/tests/wss_touch: $(B)/obj/tests/wss_touch.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

# The simulator also runs ksmd's KSM pacing (policy/ksmpace.c, pure) and
# the anchors' rules that policy/anchor_*.c do not port (tests/sim/sim_rules.c).
$(B)/tests/policy_sim: $(B)/obj/tests/sim/policy_sim.o $(B)/obj/tests/sim/sim_model.o \
		$(B)/obj/tests/sim/sim_policies.o $(B)/obj/tests/sim/sim_rules.o \
		$(B)/obj/policy/ksmpace.o $(POLICY_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

.PHONY: policy-sim bench-policy check-policy
policy-sim: $(B)/tests/policy_sim

# Built with the unit tests (same flags, so check-asan gets a sanitized one);
# tests/integration/policy_sim.sh runs it.
tests: $(B)/tests/policy_sim $(B)/tests/wss_touch

bench-policy: $(B)/tests/policy_sim
	@mkdir -p bench/results
	$(B)/tests/policy_sim --md bench/results/policy.md --json bench/results/policy.json
	bench/report.py --stamp policy bench/results

check-policy: $(B)/tests/test_policy $(B)/tests/test_policy_data $(B)/tests/test_policy_limit \
	    $(B)/tests/test_policy_wss $(B)/tests/policy_sim $(B)/tests/wss_touch
	KSMD_BUILD=$(B) tests/run.sh $(B)/tests/test_policy $(B)/tests/test_policy_data $(B)/tests/test_policy_limit \
		$(B)/tests/test_policy_wss \
		tests/integration/policy_sim.sh tests/integration/wss.sh
