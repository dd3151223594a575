# Installs, from Debian's packages, the programs the tests and the local cluster need
# when they are missing. Sourced by scripts/test and scripts/run-local.

_apt_updated=0
_apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    if [ "$_apt_updated" = 0 ]; then
        $sudo apt-get update -qq
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

ensure_nats_server() {
    if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
        echo "==> installing nats-server (Debian package)"
        _apt_install nats-server
    fi
}

# PostgreSQL's server programs (initdb, postgres, pg_ctl, pg_isready): the APIs' PostgreSQL
# backend is tested against a real server that test-support starts per test (initdb into
# a temp dir, as the package's `postgres` user when run as root). Debian keeps them in
# /usr/lib/postgresql/<version>/bin, off PATH; the package's own cluster is not used.
ensure_postgresql() {
    if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null && [ -z "${PG_BIN:-}" ]; then
        echo "==> installing postgresql (Debian package)"
        _apt_install postgresql
    fi
}

ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
        echo "==> installing chromium (Debian package)"
        _apt_install chromium
    fi
}

# The fuzz target links libFuzzer, which is C++.
ensure_cxx() {
    if ! command -v c++ >/dev/null 2>&1; then
        echo "==> installing g++ (Debian package)"
        _apt_install g++
    fi
}

# schemathesis (PyPI, pinned) in a venv under target/ (ignored by git): the OpenAPI contract
# test (cluster-tests/tests/openapi_contract.rs) fuzzes each service from its own document
# with it. Exports SCHEMATHESIS, the `st` program the test runs.
SCHEMATHESIS_VERSION=4.32.5
SCHEMATHESIS_VENV=target/tools/schemathesis
ensure_schemathesis() {
    local st="$SCHEMATHESIS_VENV/bin/st"
    if ! "$st" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
        if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
            echo "==> installing python3 and python3-venv (Debian packages)"
            _apt_install python3 python3-venv
        fi
        echo "==> installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into $SCHEMATHESIS_VENV"
        rm -rf "$SCHEMATHESIS_VENV"
        python3 -m venv "$SCHEMATHESIS_VENV"
        "$SCHEMATHESIS_VENV/bin/pip" install --quiet --disable-pip-version-check \
            "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    SCHEMATHESIS="$(pwd)/$st"
    export SCHEMATHESIS
}
