#!/usr/bin/env bash
# Install the system packages the test suite needs and the machine lacks (Debian/Ubuntu):
#   chromium                  the UI end-to-end test drives Debian's Chromium with Playwright
#   openjdk-17-jre-headless   the Spark tests need Java 17
# Idempotent: installs nothing, and does not touch apt, when both are present. Runs as root
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
