#!/usr/bin/env bash
# Fuzz the running API against its committed spec with schemathesis: every
# check, and the examples, coverage, fuzzing and stateful phases, for a
# bounded time. Passes only with no failing check (no server error, no
# undocumented status, no response that breaks its schema, ...) and no
# panic in the server's log.
#
#   scripts/schemathesis.sh                  # about 2 minutes
#   FUZZ_SECONDS=600 scripts/schemathesis.sh # longer
#   FUZZ_SEED=1234 scripts/schemathesis.sh   # repeat a run (its seed is printed)
#
# Environment:
#   FUZZ_SECONDS       schemathesis's time budget for the whole run (default 120)
#   FUZZ_SEED          the seed to generate from (default: a new one each run)
#   FUZZ_SKIP_BUILD=1  do not run `cargo build -p api` first
#   API_BIN            the binary to serve (default target/debug/api)
#   SCHEMATHESIS_VENV  the virtualenv to use, made when missing (default
#                      ~/.cache/kitchen-memory/schemathesis-<version>)
#
# The service runs on a free port of 127.0.0.1 with its embedded default
# (SQLite, sessions in the database) in a temporary DATA_DIR. What a run
# leaves, for reading after a failure, is in target/schemathesis/:
#   output.txt   schemathesis's full report (each failure with a curl line)
#   server.log   the service's log
# The configuration is schemathesis.toml at the root of the repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION=4.32.5
FUZZ_SECONDS="${FUZZ_SECONDS:-120}"
VENV="${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/kitchen-memory/schemathesis-$SCHEMATHESIS_VERSION}"
BIN="${API_BIN:-$ROOT/target/debug/api}"
SPEC="$ROOT/openapi/openapi.json"
OUT="$ROOT/target/schemathesis"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'schemathesis.sh: %s\n' "$*" >&2; exit 2; }

case "$FUZZ_SECONDS" in
    '' | *[!0-9]* | 0) die "FUZZ_SECONDS must be a positive whole number, not '$FUZZ_SECONDS'" ;;
esac

# ------------------------------------------------------------ schemathesis
st="$VENV/bin/schemathesis"
installed="$("$st" --version 2>/dev/null || true)"
if [[ "$installed" != *"version $SCHEMATHESIS_VERSION"* ]]; then
    log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3 python3-venv)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
        || die "could not install schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV"
fi

# ------------------------------------------------------------ the service
if [[ "${FUZZ_SKIP_BUILD:-}" != 1 ]]; then
    log "building the service"
    cargo build -q -p api
fi
[[ -x "$BIN" ]] || die "no binary at $BIN; build it with 'cargo build -p api' or set API_BIN"

mkdir -p "$OUT"
data_dir="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$data_dir"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
log "starting $BIN on $base (DATA_DIR $data_dir)"
# A clean environment: whatever configuration the caller's shell holds
# (DATABASE_URL, SESSION_BACKEND, ...), the service runs on its defaults.
# Every generated request comes from 127.0.0.1 and most carry no cookie, so
# the rate limits are set far above what the run sends: a 429 is documented,
# but would only hide the operations behind it from the fuzzer.
env -i PATH="$PATH" HOME="$HOME" \
    DATA_DIR="$data_dir" LISTEN_ADDR="127.0.0.1:$port" RUST_LOG=info \
    LOGIN_LIMIT_PER_IP=100000/1 LOGIN_LIMIT_PER_USERNAME=100000/1 \
    REGISTER_LIMIT_PER_IP=100000/1 NEW_SESSION_LIMIT_PER_IP=100000/1 \
    "$BIN" >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the service did not start"; }
    sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null || die "the service does not answer on $base/healthz"

# ------------------------------------------------------------ the run
seed_args=()
[[ -n "${FUZZ_SEED:-}" ]] && seed_args=(--seed "$FUZZ_SEED")
log "running schemathesis for at most ${FUZZ_SECONDS}s against $SPEC"
started=$SECONDS
set +e
# Every check runs: schemathesis enables all of them unless told otherwise
# (`--checks all` would also override the few per-operation exceptions in
# schemathesis.toml). Run from target/schemathesis so what schemathesis
# keeps between runs (its example database, its cache) stays out of the
# source tree.
(cd "$OUT" && "$st" --config-file "$ROOT/schemathesis.toml" --no-color run "$SPEC" \
    --url "$base" \
    --phases examples,coverage,fuzzing,stateful \
    --max-time "$FUZZ_SECONDS" \
    --continue-on-failure \
    "${seed_args[@]}") >"$OUT/output.txt" 2>&1
st_status=$?
set -e
elapsed=$((SECONDS - started))
cat "$OUT/output.txt"

kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

# ------------------------------------------------------------ the verdict
cases="$(grep -Eo '^ *[0-9]+ generated' "$OUT/output.txt" | grep -Eo '[0-9]+' | tail -n 1 || true)"
panics="$(grep -c 'panicked' "$OUT/server.log" || true)"
problems=()
if [[ "$st_status" != 0 ]]; then
    problems+=("schemathesis found failures (exit $st_status): see FAILURES above, or $OUT/output.txt")
fi
if [[ "$panics" != 0 ]]; then
    echo
    echo "The server's log has $panics panic(s):"
    grep -n -A3 'panicked' "$OUT/server.log" | head -n 40
    problems+=("$panics panic(s) in the server's log, $OUT/server.log")
fi
if ((${#problems[@]})); then
    seed="$(sed -n 's/^Seed: *\([0-9][0-9]*\).*/\1/p' "$OUT/output.txt" | tail -n 1)"
    echo
    echo "SCHEMATHESIS FAILED (${cases:-?} cases in ${elapsed}s):"
    printf '  - %s\n' "${problems[@]}"
    # The summary's count per kind of finding (ST103 undocumented status, ...).
    grep -E '^ +❌ ST[0-9]+' "$OUT/output.txt" | sed 's/^ */      /' || true
    echo "  Each finding above has a curl line that repeats it; the same cases come again with"
    echo "  FUZZ_SEED=${seed:-<the seed printed above>} scripts/schemathesis.sh"
    exit 1
fi
echo "schemathesis: clean, ${cases:-?} cases in ${elapsed}s, no panic in the server log"
