# tests/unit/test_reload.c makes config_copy fail on demand.
$(B)/tests/test_reload: LDFLAGS += -Wl,--wrap=config_copy
