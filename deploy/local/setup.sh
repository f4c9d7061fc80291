#!/usr/bin/env bash
# Installs everything ucwatch needs on a fresh Debian machine, idempotently:
# Java 17+, Maven, Chromium and its driver (apt), a Python 3.11 virtual environment in .venv with ucwatch and its
# test dependencies (pip), the detection engine compiled with mypyc (gcc), the Apache Kafka broker jars and
# Apicurio Registry (Maven Central).
# Prints nothing more than progress; a second run takes seconds.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$REPO_DIR/.venv"
say() { echo "setup: $*"; }

apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup: $* missing and not root; install them (apt-get install $*) and retry" >&2
        exit 1
    fi
    say "installing $* from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
# Debian's Chromium and its driver, for the console's browser tests (tests/browser)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)   # mypyc's C, below
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

python=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        python=$(command -v "$candidate")
        break
    fi
done
if [ -z "$python" ]; then
    apt_install python3.11 python3.11-venv python3.11-dev
    python=$(command -v python3.11)
fi
"$python" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || apt_install python3.11-dev   # the headers mypyc's C is compiled against

stamp="$VENV/.installed-$(sha256sum "$REPO_DIR/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    say "creating $VENV with $python"
    "$python" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$REPO_DIR[all,test,dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
# The engine's hot modules compiled with mypyc (ucwatch/core/native.py); rebuilt when their sources change.
"$VENV/bin/python" -m ucwatch.core.native_build ensure | tail -1

bash "$REPO_DIR/deploy/local/kafka.sh" fetch
# A real Confluent-compatible registry (Apicurio) for the tests of the HTTP registry path;
# built once from Maven Central (about 230 MB, 2-3 minutes), then cached.
if [ "${UCWATCH_SKIP_REGISTRY:-0}" != 1 ]; then
    bash "$REPO_DIR/deploy/local/registry.sh" fetch
fi
say "ready: $VENV/bin/ucwatch"
