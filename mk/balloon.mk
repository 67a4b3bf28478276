# balloon/ — extra targets.
#
# balloon-tests: the balloon unit tests linked against balloon/ and common/
#   objects only, so they build while other modules are mid-change.
# qmp-probe: a small CLI over the QMP backend (connect, set a target, print
#   query-balloon and guest stats), used by tests/lab/balloon_qmp.sh.
# balloon-valgrind: the balloon unit tests under valgrind --leak-check=full.

BALLOON_OWN_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard balloon/*.c common/*.c))

$(B)/balloon/test_%: $(B)/obj/tests/unit/test_%.o $(BALLOON_OWN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS) -lcunit

$(B)/balloon/qmp-probe: $(B)/obj/tests/lab/balloon_qmp_probe.o $(BALLOON_OWN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

.PHONY: balloon-tests balloon-valgrind qmp-probe
balloon-tests: $(B)/balloon/test_qmp $(B)/balloon/test_qmp_hostile $(B)/balloon/test_balloon $(B)/balloon/test_balloon_qmp \
    $(B)/balloon/test_discover
qmp-probe: $(B)/balloon/qmp-probe

balloon-valgrind: balloon-tests
	for t in $(B)/balloon/test_qmp $(B)/balloon/test_qmp_hostile $(B)/balloon/test_balloon $(B)/balloon/test_balloon_qmp \
	    $(B)/balloon/test_discover; do \
	    valgrind -q --leak-check=full --error-exitcode=1 $$t >/dev/null || exit 1; done
	@echo "balloon-valgrind: no errors, no leaks"
