# The zone cluster's image: every service binary (character-api, quest-api, server-manager,
# zone-server) and the `bots` load client, on a slim Debian. compose.yaml runs each service
# from it with its own `command`. It uses nothing BuildKit-only, so the classic builder
# (what scripts/compose-smoke is tested with) builds it as well as BuildKit.
#
#   docker build -t zone-cluster:local .
#   docker build --build-arg RUST_VERSION=1.95.0 -t zone-cluster:local .
#
# The builder stage compiles the dependencies in a layer of their own (from the manifests,
# Cargo.lock and a stub for every source file), so changing the project's code rebuilds
# only the project's crates. Machines without a registry: scripts/docker-base-images makes
# the two base images named here (and nats:2 for compose.yaml) from Debian's packages.

# Oldest Rust the workspace builds with (Cargo.toml's rust-version); any newer one works.
ARG RUST_VERSION=1.89

# ---- planner: the workspace's shape without its code.
FROM debian:bookworm-slim AS planner
WORKDIR /src
COPY . .
# /skel: the manifests, the lock, and `fn main() {}` for every target's root file (lib, main,
# bins, benches, build scripts; tests and examples when a manifest lists them), so that
# adding or editing a module leaves the dependency layer below cached.
RUN stub() { mkdir -p "/skel/$(dirname "$1")" && echo 'fn main() {}' > "/skel/$1"; } \
    && mkdir /skel \
    && for f in $(find . -name Cargo.toml -o -name Cargo.lock); do \
        mkdir -p "/skel/$(dirname "$f")" && cp "$f" "/skel/$f"; done \
    && for f in $(find . -name '*.rs' \( -path '*/src/lib.rs' -o -path '*/src/main.rs' \
        -o -path '*/src/bin/*' -o -path '*/benches/*' -o -name build.rs \)); do stub "$f"; done \
    && for m in $(find . -name Cargo.toml); do \
        d=$(dirname "$m"); \
        if grep -q '^\[\[test\]\]' "$m"; then for f in $(find "$d/tests" -name '*.rs'); do stub "$f"; done; fi; \
        if grep -q '^\[\[example\]\]' "$m"; then for f in $(find "$d/examples" -name '*.rs'); do stub "$f"; done; fi; \
    done

# ---- builder: dependencies first (cached while Cargo.toml/Cargo.lock stay the same), then
# the project's crates.
FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never
ARG BINARIES="--bin character-api --bin quest-api --bin server-manager --bin zone-server --bin bots"
COPY --from=planner /skel/ ./
RUN cargo build --release --locked $BINARIES
COPY . .
# COPY keeps the sources' old modification times; make them newer than the stubs' build.
RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + \
    && cargo build --release --locked $BINARIES \
    && mkdir /out \
    && cp target/release/character-api target/release/quest-api target/release/server-manager \
        target/release/zone-server target/release/bots /out/

# ---- runtime.
FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="zone-cluster" \
      org.opencontainers.image.description="A distributed zone cluster for MMO worlds: character-api, quest-api, server-manager, zone-server, bots" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.source="https://github.com/zone-cluster/zone-cluster"
# An unprivileged user; /data is where the services keep their sled databases (compose
# mounts a named volume there, which starts with this ownership).
# ca-certificates: for a NATS server reached over TLS (`tls://`); HTTP between the services
# is plain (put TLS at the network layer).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --home-dir /data --shell /usr/sbin/nologin zone \
    && mkdir -p /data /security /etc/zone-cluster \
    && chown zone:zone /data /security
COPY --from=builder /out/ /usr/local/bin/
COPY quest-api/quests.toml /etc/zone-cluster/quests.toml
USER zone
WORKDIR /data
ENV DATA_DIR=/data \
    QUEST_CATALOG=/etc/zone-cluster/quests.toml
EXPOSE 7100 7101 7102 7200
CMD ["server-manager", "--help"]
