# Lab guests: real QEMU guests built from Debian packages (tests/guest/).
#   make guest-image   build (or refresh) the cached image in build/guest/
#   make lab-check     boot two guests and check the lab end to end
.PHONY: guest-image lab-check

guest-image:
	@scripts/deps.sh deps/lab.txt
	tests/guest/build.sh

lab-check:
	@scripts/deps.sh deps/lab.txt
	@tests/run.sh tests/lab/lab_check.sh
