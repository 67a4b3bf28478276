# mk/bench.mk — `make bench`: every benchmark beside its anchor, one after
# the other (they measure CPU: never in parallel), then one report:
# bench/results/latest.json, latest.md and PNG plots (bench/report.py).
# docs/PERFORMANCE.md explains each figure and how to reproduce it.
BENCHES ?= bench-scanner bench-converge bench-policy bench-stats

.PHONY: bench bench-report
bench: deps all
	@for b in $(BENCHES); do \
	    echo "==== $$b"; \
	    $(MAKE) --no-print-directory B=$(B) $$b || echo "bench: $$b failed" >&2; \
	done
	$(MAKE) --no-print-directory B=$(B) bench-report

bench-report:
	bench/report.py bench/results
