# Kitchen Memory: everyday commands. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Serve the API (development: SQLite under ./data, sessions in the database)
run:
    cargo run -p api

# Run every test (SQLite and in-memory stores only)
test:
    cargo test --workspace

# Run the tests against the local PostgreSQL and Redis as well
test-services:
    TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432 TEST_REDIS_URL=redis://127.0.0.1:6379 cargo test --workspace -- --include-ignored

# Regenerate openapi/openapi.json from the code
openapi:
    cargo run -q -p api -- openapi > openapi/openapi.json.tmp
    mv openapi/openapi.json.tmp openapi/openapi.json

# Apply the database migrations (DATABASE_URL, default SQLite under ./data)
migrate:
    cargo run -p api -- migrate

# Format the code
fmt:
    cargo fmt --all

# Check formatting and clippy lints, warnings as errors
lint:
    cargo fmt --all -- --check && cargo clippy --workspace --all-targets -- -D warnings

# Benchmark the release build with wrk against bench-ceiling, in one run (PostgreSQL + Redis; BENCH_SECONDS=10)
bench:
    bash scripts/bench.sh

# Soak the release build: 60 s of reads, cart writes and checkouts at 64 connections, errors and RSS growth (PostgreSQL + Redis; SOAK_SECONDS=60)
soak:
    bash scripts/soak.sh

# Fuzz the running service against openapi/openapi.json with schemathesis (FUZZ_SECONDS=120)
fuzz:
    bash scripts/schemathesis.sh

# Validate docker-compose.yml (a placeholder SECRET_KEY when none is set) and deploy/nginx.conf (when nginx is installed)
compose-config:
    bash scripts/compose-config.sh

# What a real browser does with the cookies and CORS (needs Debian's chromium)
test-browser:
    cargo build -p api
    npm ci --prefix tests/browser --no-audit --no-fund
    npm test --prefix tests/browser
