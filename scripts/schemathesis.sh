#!/usr/bin/env bash
# Fuzz the running API against its committed spec with schemathesis: every
# check, and the examples, coverage, fuzzing and stateful phases, for a
# bounded time. Passes only with no failing check (no server error, no
# undocumented status, no response that breaks its schema, ...) and no
# panic in the server's log.
#
# Two runs share the time: one as an anonymous visitor (every operation;
# those that need a signed-in session get as far as their 401), then one
# signed in as an admin made with `api create-admin` before the service
# starts, whose session cookie goes with every request, so that the
# account, session-list and admin operations are exercised past their 401
# and the cart, profile and orders as an account's. The signed-in run
# leaves out what would end or replace its own session (register, login,
# which succeeds with an account the anonymous run registered from the
# spec's examples, logout, DELETE /session, ending one session by its
# handle, which may be its own); the anonymous run covers those. It fails
# if its session did not last.
#
#   scripts/schemathesis.sh                  # about 2 minutes
#   FUZZ_SECONDS=600 scripts/schemathesis.sh # longer
#   FUZZ_SEED=1234 scripts/schemathesis.sh   # repeat a run (its seed is printed)
#
# Environment:
#   FUZZ_SECONDS       schemathesis's time budget for both runs (default 120),
#                      half each
#   FUZZ_SEED          the seed both runs generate from (default: a new one
#                      each time, printed)
#   FUZZ_SKIP_BUILD=1  do not run `cargo build -p api` first
#   API_BIN            the binary to serve (default target/debug/api)
#   SCHEMATHESIS_VENV  the virtualenv to use, made when missing (default
#                      ~/.cache/kitchen-memory/schemathesis-<version>)
#
# The service runs on a free port of 127.0.0.1 with its embedded default
# (SQLite, sessions in the database) in a temporary DATA_DIR. What a run
# leaves, for reading after a failure, is in target/schemathesis/:
#   output.txt   schemathesis's full reports, anonymous then signed in (each
#                failure with a curl line)
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
    '' | *[!0-9]* | 0 | 1) die "FUZZ_SECONDS must be a whole number of at least 2, not '$FUZZ_SECONDS'" ;;
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

# The admin the signed-in run acts as, made in the service's database
# before it starts; its password is new each run and never leaves this
# script.
admin=fuzz-admin
admin_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')"
log "creating the admin $admin"
printf '%s\n' "$admin_password" \
    | env -i PATH="$PATH" HOME="$HOME" DATA_DIR="$data_dir" RUST_LOG=warn \
        "$BIN" create-admin "$admin" >"$OUT/create-admin.log" 2>&1 \
    || { cat "$OUT/create-admin.log" >&2; die "api create-admin failed"; }

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
    REGISTER_LIMIT_PER_IP=100000/1 REGISTER_LIMIT_PER_USERNAME=100000/1 \
    NEW_SESSION_LIMIT_PER_IP=100000/1 \
    "$BIN" >"$OUT/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; die "the service did not start"; }
    sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null || die "the service does not answer on $base/healthz"

# ------------------------------------------------------------ signing in
# The admin's session: the cookie the signed-in run sends with every request.
login_body="$(ADMIN="$admin" PASSWORD="$admin_password" python3 -c \
    'import json, os; print(json.dumps({"username": os.environ["ADMIN"], "password": os.environ["PASSWORD"], "remember_me": False}))')"
cookie="$(curl -fsS -o /dev/null -D - -H 'content-type: application/json' \
    --data-binary @- "$base/api/v1/auth/login" <<<"$login_body" \
    | sed -n 's/^[Ss]et-[Cc]ookie: *\(km_session=[^;]*\).*/\1/p' | tail -n 1)"
[[ -n "$cookie" ]] || die "signing in as $admin gave no session cookie"
signed_in() {
    curl -fsS -H "Cookie: $cookie" "$base/api/v1/auth/me" 2>/dev/null | grep -q '"role":"admin"'
}
signed_in || die "the admin's session does not answer GET /api/v1/auth/me as an admin"

# ------------------------------------------------------------ the runs
# One seed for both runs, printed, so that FUZZ_SEED repeats them both.
seed="${FUZZ_SEED:-$(python3 -c 'import random; print(random.randrange(2**32))')}"
log "seed $seed"
anonymous_seconds=$((FUZZ_SECONDS / 2))
signed_in_seconds=$((FUZZ_SECONDS - anonymous_seconds))
# fuzz NAME SECONDS [ARGS...]: one schemathesis run, its report in
# $OUT/output-NAME.txt; its exit status in st_status_NAME.
# Every check runs: schemathesis enables all of them unless told otherwise
# (`--checks all` would also override the few per-operation exceptions in
# schemathesis.toml). Run from target/schemathesis so what schemathesis
# keeps between runs (its example database, its cache) stays out of the
# source tree.
fuzz() {
    local name="$1" seconds="$2"
    shift 2
    log "running schemathesis $name for at most ${seconds}s against $SPEC"
    set +e
    (cd "$OUT" && "$st" --config-file "${FUZZ_CONFIG:-$ROOT/schemathesis.toml}" --no-color run "$SPEC" \
        --url "$base" \
        --phases examples,coverage,fuzzing,stateful \
        --max-time "$seconds" \
        --continue-on-failure \
        --seed "$seed" "$@") >"$OUT/output-$name.txt" 2>&1
    printf -v "st_status_${name//-/_}" '%s' "$?"
    set -e
}
started=$SECONDS
fuzz anonymous "$anonymous_seconds"
# Signed in as the admin. Left out: what ends or replaces this session.
# The cookie goes in as the spec's `session_cookie` scheme (a configuration
# of its own: schemathesis.toml plus that), not as a raw header: then
# schemathesis knows it for the credential it is, and its checks that
# leave the credential out (expecting a 401) really leave it out.
signed_in_config="$OUT/schemathesis-signed-in.toml"
{
    cat "$ROOT/schemathesis.toml"
    echo
    echo '[auth.openapi.session_cookie]'
    echo 'api_key = "${FUZZ_SESSION_COOKIE}"'
} >"$signed_in_config"
export FUZZ_SESSION_COOKIE="${cookie#km_session=}"
FUZZ_CONFIG="$signed_in_config" \
fuzz signed-in "$signed_in_seconds" \
    --exclude-name "POST /api/v1/auth/register" \
    --exclude-name "POST /api/v1/auth/login" \
    --exclude-name "POST /api/v1/auth/logout" \
    --exclude-name "DELETE /api/v1/session" \
    --exclude-name "DELETE /api/v1/auth/sessions/{handle}"
elapsed=$((SECONDS - started))
session_lasted=yes
signed_in || session_lasted=no
{
    echo "======== anonymous (${anonymous_seconds}s) ========"
    cat "$OUT/output-anonymous.txt"
    echo
    echo "======== signed in as the admin $admin (${signed_in_seconds}s) ========"
    cat "$OUT/output-signed-in.txt"
} >"$OUT/output.txt"
cat "$OUT/output.txt"

kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

# ------------------------------------------------------------ the verdict
# The cases each run generated (the last count its summary prints).
cases_of() { grep -Eo '^ *[0-9]+ generated' "$1" | grep -Eo '[0-9]+' | tail -n 1 || true; }
cases_anonymous="$(cases_of "$OUT/output-anonymous.txt")"
cases_signed_in="$(cases_of "$OUT/output-signed-in.txt")"
cases="$((${cases_anonymous:-0} + ${cases_signed_in:-0})) (${cases_anonymous:-?} anonymous, ${cases_signed_in:-?} signed in)"
panics="$(grep -c 'panicked' "$OUT/server.log" || true)"
problems=()
if [[ "$st_status_anonymous" != 0 ]]; then
    problems+=("schemathesis found failures in the anonymous run (exit $st_status_anonymous): see FAILURES above, or $OUT/output-anonymous.txt")
fi
if [[ "$st_status_signed_in" != 0 ]]; then
    problems+=("schemathesis found failures in the signed-in run (exit $st_status_signed_in): see FAILURES above, or $OUT/output-signed-in.txt")
fi
if [[ "$session_lasted" != yes ]]; then
    problems+=("the signed-in run's session ended during the run, so what came after it got no further than a 401: an operation that ends it is not left out, or the session was lost")
fi
if [[ "$panics" != 0 ]]; then
    echo
    echo "The server's log has $panics panic(s):"
    grep -n -A3 'panicked' "$OUT/server.log" | head -n 40
    problems+=("$panics panic(s) in the server's log, $OUT/server.log")
fi
if ((${#problems[@]})); then
    echo
    echo "SCHEMATHESIS FAILED (${cases:-?} cases in ${elapsed}s):"
    printf '  - %s\n' "${problems[@]}"
    # The summary's count per kind of finding (ST103 undocumented status, ...).
    grep -E '^ +❌ ST[0-9]+' "$OUT/output.txt" | sed 's/^ */      /' || true
    echo "  Each finding above has a curl line that repeats it; the same cases come again with"
    echo "  FUZZ_SEED=$seed scripts/schemathesis.sh"
    exit 1
fi
echo "schemathesis: clean, ${cases:-?} cases in ${elapsed}s, no panic in the server log"
