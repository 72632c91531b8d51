# Kitchen Memory API: a two-stage build.
#
#   docker build -t kitchen-memory-api .
#   docker run --rm -p 8080:8080 -e SECRET_KEY=... -e DATABASE_URL=postgres://... kitchen-memory-api
#
# `api` serves (and applies pending migrations on start), `api migrate` only
# migrates, `api openapi` prints the OpenAPI document:
#
#   docker run --rm kitchen-memory-api openapi

############################################################################
# Builder
############################################################################
FROM rust:1.95-bookworm AS builder

WORKDIR /src

# 1. Dependencies only, cached as long as the manifests and the lock file do
#    not change. Every workspace member's manifest must be present (cargo
#    loads the whole workspace even for `-p api`), and every target a
#    manifest names explicitly must exist, hence the stub files.
COPY Cargo.toml Cargo.lock ./
COPY crates/domain/Cargo.toml crates/domain/Cargo.toml
COPY crates/api/Cargo.toml    crates/api/Cargo.toml
COPY crates/bench-ceiling/Cargo.toml crates/bench-ceiling/Cargo.toml
COPY migration/Cargo.toml     migration/Cargo.toml
COPY tests/Cargo.toml         tests/Cargo.toml
RUN mkdir -p crates/domain/src crates/api/src crates/bench-ceiling/src migration/src tests/api \
 && touch crates/domain/src/lib.rs crates/api/src/lib.rs migration/src/lib.rs tests/lib.rs \
 && echo 'fn main() {}' > crates/api/src/main.rs \
 && echo 'fn main() {}' > crates/bench-ceiling/src/main.rs \
 && echo 'fn main() {}' > tests/api/main.rs \
 && cargo build --release -p api --locked \
 && rm -rf crates migration tests

# 2. The real sources. COPY keeps the files' modification times from the
#    build context, which can be older than the stub build above; touch them
#    so cargo rebuilds the workspace crates instead of shipping the stub (the
#    `api openapi` check below fails the build if that ever happens).
COPY . .
RUN find crates migration tests -name '*.rs' -exec touch {} + \
 && cargo build --release -p api --locked \
 && install -m 0755 target/release/api /usr/local/bin/api \
 && /usr/local/bin/api openapi | grep -q '"openapi"'

############################################################################
# Runtime
############################################################################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to a managed PostgreSQL / Redis.
# curl: only for the container healthcheck (see docker-compose.yml).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user with a fixed numeric id (so `runAsNonRoot` checks and
# volume ownership are predictable).
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /app/data \
 && chown -R app:app /app

COPY --from=builder /usr/local/bin/api /usr/local/bin/api

# /app/data is DATA_DIR (the default `./data`, relative to the working
# directory /app): the default SQLite database and the generated development
# secret live there. With DATABASE_URL pointing at PostgreSQL and SECRET_KEY
# set, nothing is written to it. Mount a volume there to keep a SQLite file.
WORKDIR /app
ENV DATA_DIR=/app/data \
    LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json

USER 10001:10001
EXPOSE 8080

# Exec form: the binary is PID 1 and receives SIGTERM itself; it then stops
# accepting connections and finishes the requests in flight.
ENTRYPOINT ["/usr/local/bin/api"]
