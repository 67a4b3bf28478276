#!/bin/bash
# The man pages render without warnings, ksmd.conf(5) is generated from the
# current key table, and every option and command of --help is documented.
. "$(dirname "$0")/../lib/common.sh"
need_bins
command -v man >/dev/null || skip "man (man-db) is not installed"
T=$(mktemp -d); cleanup_add "rm -rf $T"
for p in ksmd.8 ksmdctl.8 ksmd.conf.5; do
    MANWIDTH=80 man --warnings -l "$ROOT/man/$p" > $T/$p.txt 2> $T/$p.err
    [ -s $T/$p.err ] && { cat $T/$p.err; fail "man/$p renders with warnings"; }
    [ -s $T/$p.txt ] || fail "man/$p renders empty"
done
pass_msg "man pages render cleanly"

"$KSMD" --man-keys > $T/keys.mdoc
sed -e "/^@KEYS@\$/{r $T/keys.mdoc" -e 'd}' "$ROOT/man/ksmd.conf.5.in" > $T/ksmd.conf.5
diff -u "$ROOT/man/ksmd.conf.5" $T/ksmd.conf.5 || fail "man/ksmd.conf.5 is stale: run 'make man'"
pass_msg "ksmd.conf(5) matches the key table"

# every option of --help is in the page, and every page option is in --help
for opt in $("$KSMD" --help | grep -oE -- '--[a-z-]+' | sort -u); do
    grep -q -- "$opt" $T/ksmd.8.txt || fail "ksmd(8) lacks $opt"
done
for opt in $(grep -oE -- '--[a-z][a-z-]+' $T/ksmd.8.txt | sort -u); do
    "$KSMD" --help | grep -q -- "$opt" || fail "ksmd --help lacks $opt (in the man page)"
done
for opt in $("$KSMDCTL" --help | grep -oE -- '--[a-z-]+' | sort -u); do
    grep -q -- "$opt" $T/ksmdctl.8.txt || fail "ksmdctl(8) lacks $opt"
done
for verb in $("$KSMDCTL" --help | awk '/^Commands:/{c=1;next} /^$/{c=0} c{print $1}'); do
    grep -qE "^ +$verb( |$)" $T/ksmdctl.8.txt || fail "ksmdctl(8) lacks the command $verb"
done
pass_msg "SYNOPSIS and commands match --help"
# every key of the table is in the shipped ksmd.conf or documented as optional
for k in $("$KSMD" --man-keys | awk '/^\.It Ic/{print $3}' | sort -u); do
    grep -q "$k" $T/ksmd.conf.5.txt || fail "ksmd.conf(5) lacks $k"
done
echo "man: all checks passed"
