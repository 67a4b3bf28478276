#!/bin/bash
# Build the lab guest image from Debian packages only, into a cache folder
# (default build/guest; LAB_IMAGE_DIR overrides):
#   vmlinuz          kernel of linux-image-cloud-amd64's real image package
#                    (apt-get download + dpkg -x; never installed on the host)
#   initramfs.gz     busybox-static as init, the modules listed in
#                    tests/guest/modules, the agent (tests/guest/rootfs/agent)
#                    and memfill (static C)
#   kernel-version   e.g. 6.1.0-56-cloud-amd64
#   modules.list     the module list the modules/ folder was taken for
#   memfill          memfill for the host too (static; lab.sh makes the lab
#                    disk's data with it)
# The kernel is fetched only when missing or when tests/guest/modules no
# longer matches modules.list (the modules come from the kernel package).
# The initramfs is rebuilt when missing or when the guest sources changed
# (stamp = hash of the sources, the module list among them).
# Concurrent builds are serialised with flock. Prints the image folder.
# Exit 77 when the Debian archive cannot be reached (callers skip).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${LAB_IMAGE_DIR:-$repo/build/guest}
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

say() { echo "guest-build: $*" >&2; }

# the guest's kernel modules, in load order (comments and blank lines aside)
MODULES=$(sed 's/#.*//' "$here/modules" | xargs)
[ -n "$MODULES" ] || { say "no modules in $here/modules"; exit 1; }

# apt-get download PKG... into the current folder; refresh lists once if needed.
fetch() {
    if ! apt-get download "$@" >/dev/null 2>apt.err; then
        if [ "$(id -u)" = 0 ]; then
            say "apt-get download $* failed; running apt-get update"
            apt-get update -qq >&2
            apt-get download "$@" >/dev/null 2>apt.err || { cat apt.err >&2; exit 77; }
        else
            cat apt.err >&2; exit 77
        fi
    fi
}

build_kernel() {
    local tmp meta real kver
    tmp=$(mktemp -d "$out/kernel.XXXXXX")
    chmod 755 "$tmp"   # lets apt's sandbox user write there
    (
        cd "$tmp"
        fetch linux-image-cloud-amd64
        meta=$(ls linux-image-cloud-amd64_*.deb)
        real=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' |
               grep -m1 '^linux-image-.*-cloud-amd64$')
        [ -n "$real" ] || { say "no linux-image in Depends of $meta"; exit 1; }
        say "kernel package: $real"
        fetch "$real"
        dpkg -x "$real"_*.deb root
        kver=${real#linux-image-}
        cp "root/boot/vmlinuz-$kver" vmlinuz
        mkdir -p modules
        for m in $MODULES; do
            ko=$(find "root/lib/modules/$kver" -name "$m.ko*" | head -n1)
            [ -n "$ko" ] || { say "module $m not found"; exit 1; }
            case $ko in
                *.ko) cp "$ko" "modules/$m.ko" ;;
                *.ko.xz) xz -dc "$ko" >"modules/$m.ko" ;;
                *.ko.zst) zstd -qdc "$ko" >"modules/$m.ko" ;;
                *.ko.gz) gzip -dc "$ko" >"modules/$m.ko" ;;
                *) say "unknown module format: $ko"; exit 1 ;;
            esac
        done
        echo "$kver" >kernel-version
        echo "$MODULES" >modules.list
    )
    rm -rf "$out/modules"
    mv "$tmp/modules" "$out/modules"
    mv "$tmp/modules.list" "$out/modules.list"
    mv "$tmp/kernel-version" "$out/kernel-version"
    mv "$tmp/vmlinuz" "$out/vmlinuz"
    rm -rf "$tmp"
}

build_initramfs() {
    local stamp=$1 tmp root
    tmp=$(mktemp -d "$out/initramfs.XXXXXX")
    root=$tmp/root
    mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,lib/modules}
    cp /bin/busybox "$root/bin/busybox"
    if ldd /bin/busybox >/dev/null 2>&1; then
        say "/bin/busybox is dynamically linked (install busybox-static)"; exit 1
    fi
    gcc -static -O2 -Wall -Wextra -Werror -o "$root/bin/memfill" "$here/memfill.c"
    for m in $MODULES; do cp "$out/modules/$m.ko" "$root/lib/modules/"; done
    echo "$MODULES" | tr ' ' '\n' >"$root/etc/modules"
    install -m 755 "$here/rootfs/init" "$root/init"
    install -m 755 "$here/rootfs/agent" "$root/sbin/agent"
    install -m 644 "$here/rootfs/inittab" "$root/etc/inittab"
    (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6) >"$tmp/initramfs.gz"
    mv "$tmp/initramfs.gz" "$out/initramfs.gz"
    cp "$root/bin/memfill" "$out/memfill.new" && mv "$out/memfill.new" "$out/memfill"
    echo "$stamp" >"$out/initramfs.stamp"
    rm -rf "$tmp"
}

if [ ! -s "$out/vmlinuz" ] || [ ! -s "$out/kernel-version" ] || [ ! -d "$out/modules" ]; then
    say "fetching the kernel from the Debian archive"
    build_kernel
    rm -f "$out/initramfs.stamp"
elif [ "$(cat "$out/modules.list" 2>/dev/null)" != "$MODULES" ]; then
    # an image built before a module was added to tests/guest/modules
    say "module list changed ($here/modules): fetching the kernel again for its modules"
    build_kernel
    rm -f "$out/initramfs.stamp"
fi
stamp=$(cat "$here/build.sh" "$here/memfill.c" "$here/modules" "$here"/rootfs/* \
            "$out/kernel-version" /bin/busybox | sha256sum | cut -c1-16)
if [ ! -s "$out/initramfs.gz" ] || [ ! -x "$out/memfill" ] ||
   [ "$(cat "$out/initramfs.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "building the initramfs"
    build_initramfs "$stamp"
fi
echo "$out"
