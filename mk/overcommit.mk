# mk/overcommit.mk — the overcommit benchmark: each manager (none, ksmd,
# Proxmox's and MOM's rules ported) on lab tenants under a real memory
# cgroup limit with zram swap (bench/overcommit.sh, bench/overcommit_all.sh).
#   make bench-overcommit                 2x and 1.5x, 3 runs each (about 75 min)
#   make bench-overcommit OC_RUNS=1 OC_RATIOS=2
OC_RUNS ?= 3
OC_RATIOS ?= 2 1.5
.PHONY: bench-overcommit
bench-overcommit: all $(B)/bench/balloon_anchor
	@OC_RUNS=$(OC_RUNS) OC_RATIOS="$(OC_RATIOS)" KSMD_BUILD=$(B) bench/overcommit_all.sh
