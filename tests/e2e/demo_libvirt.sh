#!/bin/bash
# End to end, `make demo-libvirt`: the demo's checks (tests/e2e/demo.sh) on
# guests that a real libvirtd runs, plus its libvirt view in every frame.
DEMO_LIBVIRT=1 exec "$(dirname "$0")/demo.sh"
