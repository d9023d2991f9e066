#!/usr/bin/env bash
# Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres) for the PostgreSQL
# store's tests and benchmark. Installs the `postgresql` package with apt-get when no
# initdb is found; needs root (CI runs as root). Prints the binaries' folder.
set -euo pipefail
find_bindir() {
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
        fi
    done | sort -V | tail -n 1
}
bindir="$(find_bindir)"
if [ -n "$bindir" ]; then
    echo "$bindir"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is missing and installing it needs root: apt-get install -y postgresql" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
bindir="$(find_bindir)"
test -n "$bindir"
echo "$bindir"
