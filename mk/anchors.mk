# mk/anchors.mk — the balloon anchors: other managers' balloon rules
# (policy/anchor_proxmox.c: Proxmox VE auto-ballooning; policy/anchor_mom.c:
# oVirt MOM's balloon policy; ported verbatim) driven against real QEMU guests.
#
#   make balloon-anchor    build $(B)/bench/balloon_anchor
#
# balloon_anchor --rule proxmox|mom [options] NAME=QMP_SOCKET ... (see
# --help). It links only the balloon, policy and common objects, like
# qmp-probe (mk/balloon.mk), so it builds while other modules change.
# Built with `make tests` so the build checks it with the same flags.

ANCHOR_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(wildcard balloon/*.c common/*.c)) \
              $(B)/obj/policy/anchor_proxmox.o $(B)/obj/policy/anchor_mom.o

$(B)/bench/balloon_anchor: $(B)/obj/bench/balloon_anchor.o $(B)/obj/bench/balloon_anchor_host.o \
                           $(B)/obj/bench/balloon_anchor_args.o $(ANCHOR_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS)

.PHONY: balloon-anchor
balloon-anchor: $(B)/bench/balloon_anchor
tests: $(B)/bench/balloon_anchor
