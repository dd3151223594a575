# shellcheck shell=bash
# Makes, when they are missing, the public base images that `Dockerfile` and
# `compose.yaml` name, for machines that cannot pull from a registry:
#
#   debian:bookworm-slim          a minimal Debian root (debootstrap --variant=minbase)
#   rust:<V>-slim-bookworm        that root + gcc + libc6-dev + the host's Rust toolchain
#   nats:2                        that root + Debian's nats-server package
#
# Each is made only when `docker image inspect` says it is missing, so a machine that can
# pull (or pulled already) keeps the official images. The images made here carry the label
# `zone-cluster.local-base`, naming how they were made. Sourced by scripts/compose-smoke and
# scripts/docker-base-images; needs scripts/lib/ensure-tools.sh (for _apt_install).

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SUITE=bookworm
DEBIAN_IMAGE="debian:bookworm-slim"

_sudo() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

_image_exists() {
    docker image inspect "$1" >/dev/null 2>&1
}

ensure_debootstrap() {
    if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
        echo "==> installing debootstrap (Debian package)"
        _apt_install debootstrap
    fi
}

_base_workdir=""
_base_cleanup() {
    if [ -n "$_base_workdir" ] && [ -d "$_base_workdir" ]; then
        # The roots hold root-owned files; debootstrap may leave /proc mounted on failure.
        for m in "$_base_workdir"/*/proc "$_base_workdir"/*/sys; do
            if mountpoint -q "$m" 2>/dev/null; then _sudo umount -l "$m" || true; fi
        done
        _sudo rm -rf "$_base_workdir"
    fi
}

# debootstrap a minimal root into $1, with the extra packages $2 (comma-separated, may be
# empty). Downloads are shared between roots through $_base_workdir/cache.
_debootstrap() {
    local root="$1" include="$2"
    local args=(--variant=minbase "--cache-dir=$_base_workdir/cache")
    if [ -n "$include" ]; then args+=("--include=$include"); fi
    echo "    debootstrap $DEBIAN_SUITE${include:+ (+ $include)} from $DEBIAN_MIRROR"
    mkdir -p "$_base_workdir/cache"
    if ! _sudo debootstrap "${args[@]}" "$DEBIAN_SUITE" "$root" "$DEBIAN_MIRROR" \
        >"$root.log" 2>&1; then
        echo "debootstrap failed; the end of its log ($root.log):" >&2
        tail -n 30 "$root.log" >&2
        return 1
    fi
    # What the official slim images leave out: package lists, caches, docs, man pages.
    _sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/* \
        "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/tmp/*
    _sudo find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias \
        -exec rm -rf {} + 2>/dev/null || true
    # Apt inside containers: no recommends, keep no downloaded packages.
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' |
        _sudo tee "$root/etc/apt/apt.conf.d/90zone-cluster-slim" >/dev/null
    printf 'deb %s %s main\ndeb %s %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
        "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "$DEBIAN_SUITE" "$DEBIAN_SUITE" |
        _sudo tee "$root/etc/apt/sources.list" >/dev/null
    _sudo rm -f "$root/etc/hostname" "$root/etc/resolv.conf"
}

# docker import the root $1 as image $2 with the extra `--change` lines that follow.
_import() {
    local root="$1" image="$2"
    shift 2
    local changes=(
        --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        --change "LABEL zone-cluster.local-base=\"made by scripts/lib/docker-base.sh from Debian $DEBIAN_SUITE (debootstrap), not the official image\""
    )
    local c
    for c in "$@"; do changes+=(--change "$c"); done
    echo "    docker import -> $image"
    _sudo tar --numeric-owner -C "$root" -c . | docker import "${changes[@]}" - "$image" >/dev/null
}

# The Rust version of the host's toolchain (`1.95.0`).
host_rust_version() {
    rustc --version | awk '{print $2}'
}

# Makes every missing base image (call it plainly: not under `if`, `||` or `&&`, which
# would switch off `set -e` inside). $1: the Rust version the builder image must have (the
# Dockerfile's RUST_VERSION); $2: the nats image name compose.yaml uses; $3 (optional): the
# postgres image name of compose.yaml's `postgres` profile, made only when given.
ensure_base_images() {
    local rust_version="$1" nats_image="$2" postgres_image="${3:-}"
    local rust_image="rust:${rust_version}-slim-bookworm"
    local need_debian=0 need_rust=0 need_nats=0 need_postgres=0
    _image_exists "$DEBIAN_IMAGE" || need_debian=1
    _image_exists "$rust_image" || need_rust=1
    _image_exists "$nats_image" || need_nats=1
    if [ -n "$postgres_image" ]; then
        _image_exists "$postgres_image" || need_postgres=1
    fi
    if [ $((need_debian + need_rust + need_nats + need_postgres)) = 0 ]; then
        echo "==> base images present: $DEBIAN_IMAGE, $rust_image, $nats_image"
        return 0
    fi
    if [ "$need_rust" = 1 ] && [ "$rust_version" != "$(host_rust_version)" ]; then
        echo "error: $rust_image is missing and the host's Rust is $(host_rust_version), so it" >&2
        echo "       cannot be made from the host's toolchain. Pull it, or leave RUST_VERSION" >&2
        echo "       unset to build with the host's version." >&2
        return 1
    fi
    ensure_debootstrap
    # Callers run `_base_cleanup` from their EXIT trap too, for when this fails midway.
    _base_workdir="$(mktemp -d "${TMPDIR:-/var/tmp}/zone-cluster-base.XXXXXX")"
    if [ "$need_debian" = 1 ]; then
        echo "==> making $DEBIAN_IMAGE (minimal Debian root; no registry needed)"
        _debootstrap "$_base_workdir/debian" ""
        _import "$_base_workdir/debian" "$DEBIAN_IMAGE" 'CMD ["bash"]'
    fi
    if [ "$need_nats" = 1 ]; then
        echo "==> making $nats_image (Debian's nats-server package)"
        _debootstrap "$_base_workdir/nats" "nats-server"
        _sudo mkdir -p "$_base_workdir/nats/data"
        # Like the official image: nats-server is the entrypoint; client port 4222,
        # cluster 6222, monitoring 8222.
        _import "$_base_workdir/nats" "$nats_image" \
            'ENTRYPOINT ["/usr/sbin/nats-server"]' 'CMD ["-js", "-sd", "/data"]' \
            'EXPOSE 4222 6222 8222'
    fi
    if [ "$need_postgres" = 1 ]; then
        echo "==> making $postgres_image (Debian's postgresql-15 package)"
        _debootstrap "$_base_workdir/postgres" "postgresql-15"
        # The data volume's mount point, owned by the package's `postgres` user (a new
        # named volume takes the ownership of the directory it is mounted over).
        _sudo mkdir -p "$_base_workdir/postgres/var/lib/postgresql/data"
        _sudo chroot "$_base_workdir/postgres" chown postgres:postgres /var/lib/postgresql/data
        # The package's own cluster (/var/lib/postgresql/15/main) is not used: compose.yaml's
        # command initialises the volume.
        _import "$_base_workdir/postgres" "$postgres_image" \
            'USER postgres' 'EXPOSE 5432' \
            'CMD ["/usr/lib/postgresql/15/bin/postgres", "--help"]'
    fi
    if [ "$need_rust" = 1 ]; then
        echo "==> making $rust_image (gcc, libc6-dev and the host's Rust $rust_version toolchain)"
        _debootstrap "$_base_workdir/rust" "ca-certificates,gcc,libc6-dev"
        local sysroot host toolchain b d
        sysroot="$(rustc --print sysroot)"
        host="$(rustc -vV | sed -n 's/^host: //p')"
        if [ ! -x "$sysroot/bin/cargo" ] || [ "$sysroot" = /usr ]; then
            echo "error: the host's Rust ($sysroot) is not a rustup toolchain with cargo" >&2
            return 1
        fi
        # Laid out as in the official image (RUSTUP_HOME, CARGO_HOME, PATH), without rustup
        # itself and without the documentation.
        toolchain="/usr/local/rustup/toolchains/$rust_version-$host"
        _sudo mkdir -p "$_base_workdir/rust$toolchain" "$_base_workdir/rust/usr/local/cargo/bin"
        for d in bin lib libexec etc; do
            if [ -d "$sysroot/$d" ]; then _sudo cp -a "$sysroot/$d" "$_base_workdir/rust$toolchain/"; fi
        done
        # The host's own certificate authorities (a TLS-inspecting proxy's, say): the
        # builder fetches crates from crates.io, so it trusts what the host trusts.
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            _sudo cp /usr/local/share/ca-certificates/*.crt \
                "$_base_workdir/rust/usr/local/share/ca-certificates/"
            _sudo chroot "$_base_workdir/rust" /usr/sbin/update-ca-certificates >/dev/null 2>&1
        fi
        for b in "$_base_workdir/rust$toolchain"/bin/*; do
            _sudo ln -s "$toolchain/bin/$(basename "$b")" \
                "$_base_workdir/rust/usr/local/cargo/bin/$(basename "$b")"
        done
        _import "$_base_workdir/rust" "$rust_image" \
            'ENV RUSTUP_HOME=/usr/local/rustup' 'ENV CARGO_HOME=/usr/local/cargo' \
            'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            "ENV RUST_VERSION=$rust_version" 'CMD ["bash"]'
    fi
    _base_cleanup
}
