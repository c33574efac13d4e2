# syntax=docker/dockerfile:1.7
#
# Tidal container image: one binary, /tidal, for every component
# (`tidal extender`, and later the descheduler, the predictor, ...).
#
#   docker build -t ghcr.io/tidal-k8s/tidal:0.1.0 .
#
# BuildKit is needed for the cache mounts (it is the default builder since Docker 23).
# The Cargo registry and target/ stay in cache mounts between builds, so a source
# change recompiles only the workspace crates, not the ~250 dependencies.

# Keep this at the workspace's rust-version (Cargo.toml); newer works too.
ARG RUST_VERSION=1.89

# ---------------------------------------------------------------------------
# Build stage.
# Build on Debian bookworm: the runtime image (distroless cc-debian12) ships
# bookworm's glibc 2.36. A binary built on a newer glibc (trixie) would fail at
# start with "GLIBC_2.xx not found". The slim image already has gcc and libc6-dev,
# which `ring` needs for its C and assembly code. TLS is rustls, so no OpenSSL.
# ---------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_NET_RETRY=5

COPY . .

# --locked: build exactly what Cargo.lock pins. The build fails if the lockfile is stale.
# target/ is a cache mount and is not kept in the image, so copy the binary out of it.
RUN --mount=type=cache,id=tidal-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=tidal-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=tidal-target,target=/src/target,sharing=locked \
    cargo build --release --locked --bin tidal \
 && install -D -m 0755 target/release/tidal /out/tidal

# ---------------------------------------------------------------------------
# Runtime stage: distroless "cc" = glibc + libgcc_s + CA certificates.
# There is no shell or package manager. The :nonroot tag is uid/gid 65532.
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

LABEL org.opencontainers.image.title="tidal" \
      org.opencontainers.image.description="Load-aware scheduler extender, descheduler and demand predictor for Kubernetes" \
      org.opencontainers.image.source="https://github.com/tidal-k8s/tidal" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /out/tidal /tidal

USER 65532:65532
# `tidal extender` listens here: scheduler verbs, /healthz, /readyz, /metrics, /debug/nodes.
EXPOSE 8888
ENTRYPOINT ["/tidal"]
