#!/usr/bin/env bash
# Install the system packages the test suite needs and the machine lacks (Debian/Ubuntu):
#   chromium                  the UI end-to-end test drives Debian's Chromium with Playwright
#   openjdk-17-jre-headless   the Spark tests need Java 17
#   postgresql                the deployment test runs its own PostgreSQL server (initdb,
#                             postgres from /usr/lib/postgresql/<version>/bin)
# Idempotent: installs nothing, and does not touch apt, when all are present. Runs as root
# (CI) without sudo; otherwise uses sudo. Where apt-get or root is unavailable it says what is
# missing and exits 0: the tests that need it skip with a reason.
set -euo pipefail

packages=()
if [ -x /usr/bin/chromium ]; then
    echo "install-test-deps: chromium present (/usr/bin/chromium)"
else
    packages+=(chromium)
fi
if command -v java >/dev/null 2>&1; then
    echo "install-test-deps: java present ($(command -v java))"
else
    packages+=(openjdk-17-jre-headless)
fi

pg_bin=""
for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
        pg_bin="$dir"
    fi
done
if [ -n "$pg_bin" ]; then
    echo "install-test-deps: postgresql present ($pg_bin)"
else
    packages+=(postgresql)
fi

if [ ${#packages[@]} -eq 0 ]; then
    echo "install-test-deps: nothing to install"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: WARNING: no apt-get here; install ${packages[*]} yourself" \
        "(the tests that need them will be skipped)" >&2
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "install-test-deps: WARNING: not root and no sudo; as root run:" \
        "apt-get update && apt-get install -y ${packages[*]}" \
        "(the tests that need them will be skipped)" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: ${as_root[*]:+${as_root[*]} }apt-get update"
${as_root[@]+"${as_root[@]}"} apt-get update -q
echo "install-test-deps: ${as_root[*]:+${as_root[*]} }apt-get install -y ${packages[*]}"
${as_root[@]+"${as_root[@]}"} apt-get install -y -q "${packages[@]}"
echo "install-test-deps: installed ${packages[*]}"
# Debian's package creates and starts a "main" cluster on port 5432; the tests run their own
# server (a temporary folder, a free port), so the one the install just made is removed again.
if [[ " ${packages[*]} " == *" postgresql "* ]] && command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters --no-header 2>/dev/null | while read -r version cluster _; do
        if [ "$cluster" = "main" ]; then
            echo "install-test-deps: removing the package's default cluster $version/main"
            ${as_root[@]+"${as_root[@]}"} pg_dropcluster --stop "$version" main || true
        fi
    done
fi
