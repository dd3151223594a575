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
