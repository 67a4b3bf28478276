# The demo: real lab guests, ksmd live, a summary at the end (scripts/demo.sh).
#   make demo                     about 3 minutes live (as root)
#   make demo DEMO_SECONDS=60     shorter; DEMO_GUEST_MIB, DEMO_LIMIT_MIB too
# It installs every package (make deps) and builds before it starts.
DEMO_SECONDS ?= 180

demo: deps
	@$(MAKE) --no-print-directory B=$(B) all
	@DEMO_SECONDS=$(DEMO_SECONDS) KSMD_BUILD=$(B) scripts/demo.sh

# The same demo on guests a real libvirtd runs (tests/guest/libvirt.sh
# starts one when none answers on qemu:///system, and stops it after).
.PHONY: demo-libvirt
demo-libvirt: deps
	@$(MAKE) --no-print-directory B=$(B) all
	@DEMO_LIBVIRT=1 DEMO_SECONDS=$(DEMO_SECONDS) KSMD_BUILD=$(B) scripts/demo.sh
