#!/bin/bash
# ksmdctl speaks the control protocol and renders views, nothing more: it
# links no scanner, policy, KSM executor, balloon, libvirt or event-loop
# code of the daemon, and no library but jansson (and libc, libm).
. "$(dirname "$0")/../lib/common.sh"
need_bins
command -v nm >/dev/null || skip "nm is missing (binutils)"
bad=$(nm "$KSMDCTL" | awk '$2 ~ /^[TtDdBbRr]$/ {print $3}' |
    grep -E '^(scanner_|scan_|policy_|ksm_|ksmpace|loop_|balloon_|qmp_|lv_|virtloop_|modules_|daemon_|config_|stats_|wss_|managers_)' || true)
[ -z "$bad" ] || fail "ksmdctl links daemon internals: $(echo $bad | cut -c1-300)"
pass_msg "nm: no daemon internals in ksmdctl"
libs=$(ldd "$KSMDCTL" | awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux|libc\.so|libm\.so|libjansson\.so)' |
    grep -vE '^(libasan|libubsan|libgcc_s|libstdc\+\+)\.so' || true) # minus the sanitizers' runtime (check-asan)
[ -z "$libs" ] || fail "ksmdctl needs more than jansson: $libs"
pass_msg "ldd: ksmdctl needs only jansson"
"$KSMDCTL" --help | grep -q '^  balloon GUEST SIZE|auto  *set a guest' || fail "help lost the verb table"
pass_msg "ksmdctl --help lists the verbs from the shared table"
