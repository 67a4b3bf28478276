#!/bin/bash
# Install every Debian package listed in deps/*.txt that is not installed yet.
# Idempotent: when everything is present it does nothing (no apt-get update).
set -euo pipefail
cd "$(dirname "$0")/.."
lists=("$@")
[ ${#lists[@]} -eq 0 ] && lists=(deps/*.txt)
want=$(grep -hv '^\s*#' "${lists[@]}" | awk 'NF {print $1}' | sort -u)
missing=()
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
