# Unit tests that fail allocations on demand (tests/unit/alloc_fail.h):
# the project's malloc, calloc, realloc and asprintf calls go through the
# test's wrappers.
ALLOC_FAIL_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=asprintf,--wrap=__asprintf_chk
$(B)/tests/test_config $(B)/tests/test_reload: LDFLAGS += $(ALLOC_FAIL_WRAP)
