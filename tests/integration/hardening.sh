#!/bin/bash
# The built binaries are hardened (issue 15, least privilege): position
# independent (ELF type DYN), full RELRO (a GNU_RELRO segment and immediate
# binding: BIND_NOW / FLAGS_1 NOW), and stack protector or fortified libc
# calls (__stack_chk_fail, __*_chk). The Makefile composes the flags: the
# user's CFLAGS come after the project's, HARDEN=0 drops the hardening.
. "$(dirname "$0")/../lib/common.sh"
need_bins
command -v readelf >/dev/null || skip "readelf is missing (binutils)"
for bin in "$KSMD" "$KSMDCTL"; do
    name=$(basename "$bin")
    readelf -hW "$bin" | grep -qE '^ *Type: *DYN' || fail "$name is not PIE (ELF type is not DYN)"
    readelf -lW "$bin" | grep -q GNU_RELRO || fail "$name has no GNU_RELRO segment"
    readelf -dW "$bin" | grep -qE '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW|\(BIND_NOW\)' ||
        fail "$name is not bound at load time (no BIND_NOW / FLAGS_1 NOW)"
    syms=$(readelf -sW --dyn-syms "$bin" | awk '{print $8}' | grep -cE '^(__stack_chk_fail|__[a-z0-9_]+_chk)(@|$)' || true)
    [ "$syms" -gt 0 ] || fail "$name calls neither __stack_chk_fail nor a fortified __*_chk"
    pass_msg "$name: PIE, full RELRO, BIND_NOW, $syms protector/fortify symbols"
done

# The flags the Makefile composes (make -n prints the commands, builds nothing).
command -v make >/dev/null || skip "make is missing"
T=$(mktemp -d); cleanup_add "rm -rf $T"
# a make of its own, as a user's: not the flags `make check` hands its
# children (KSMD_USER_*, MAKEFLAGS; check-asan's OPT and SAN)
own_make() { env -u KSMD_USER_CFLAGS -u KSMD_USER_LDFLAGS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u OPT -u SAN -u HARDEN make "$@"; }
cc_line() { own_make -s -n -C "$ROOT" B=$T "$@" $T/obj/common/util.o 2>/dev/null | grep -m1 -- ' -c -o '; }
line=$(cc_line CFLAGS=-DKSMD_USER_MARK)
[ -n "$line" ] || fail "make -n printed no compile command"
for f in -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=3 -DKSMD_USER_MARK -Werror -std=gnu11; do
    grep -q -- "$f" <<<"$line" || fail "compile command lacks $f: $line"
done
[[ $line == *-fPIE*-DKSMD_USER_MARK* ]] || fail "the user's CFLAGS do not come after the project's: $line"
pass_msg "user CFLAGS kept, after the hardening flags"
line=$(cc_line HARDEN=0)
grep -qE -- '-fstack-protector-strong|_FORTIFY_SOURCE|-fPIE' <<<"$line" && fail "HARDEN=0 still hardens: $line"
line=$(own_make -s -n -C "$ROOT" B=$T LDFLAGS=-Wl,--as-needed $T/ksmdctl 2>/dev/null | grep -m1 -- '-o .*ksmdctl ')
grep -q -- '-pie -Wl,-z,relro,-z,now.*-Wl,--as-needed' <<<"$line" || fail "link command lacks hardening or the user's LDFLAGS: $line"
pass_msg "HARDEN=0 drops the hardening; the link has -pie, relro, now and the user's LDFLAGS"
