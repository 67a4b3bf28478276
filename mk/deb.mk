# mk/deb.mk — the Debian package (debian/, debhelper).
#   make deb    installs the packaging tools (deps/deb.txt) and the build
#               dependencies, runs dpkg-buildpackage -us -uc -b, and moves
#               ksmd_*.deb, the -dbgsym .deb, the .buildinfo and the .changes
#               from .. (dpkg's convention) to $(B)/deb/; the tree is cleaned
#               after the build (-tc). DEB_BUILD_OPTIONS=nocheck skips the
#               unit tests of the package build, parallel=N builds with N jobs.
#               This make's own variables (B=..., OPT=...) stay out of it:
#               debian/rules sets what the package build takes. Builds
#               that share .. (worktrees side by side) take turns (flock ..).
DEB_NAME = ksmd_$(VERSION)_$$(dpkg-architecture -qDEB_HOST_ARCH)
.PHONY: deb
deb:
	@scripts/deps.sh deps/build.txt deps/deb.txt
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	    { echo "deb: debian/changelog is at $$v, the Makefile's VERSION at $(VERSION)" >&2; exit 1; }
	@mkdir -p $(B)/deb
	@rm -f $(B)/deb/ksmd_* $(B)/deb/ksmd-dbgsym_*
	flock -o .. env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES sh -c '\
	    dpkg-buildpackage -us -uc -b -tc && n=$(DEB_NAME) && \
	    for f in ../$$n.deb ../$$n.buildinfo ../$$n.changes ../ksmd-dbgsym_$${n#ksmd_}.deb; do \
	        [ ! -e $$f ] || mv $$f $(B)/deb/ || exit 1; done'
	@ls $(B)/deb/$(DEB_NAME).deb
