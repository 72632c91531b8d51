#!/usr/bin/env bash
# Benchmark the API (release build, PostgreSQL menu, Redis sessions) with wrk.
#
#   scripts/bench.sh                  # 10 s per scenario
#   BENCH_SECONDS=30 scripts/bench.sh
#
# Environment:
#   BENCH_SECONDS       seconds per scenario (default 10)
#   BENCH_PORT          port to serve on (default 18181; another free port is
#                       chosen when it is taken)
#   BENCH_DATABASE_URL  use this database as is (it is neither created nor
#                       dropped); by default a fresh `km_bench` database is
#                       created on BENCH_PG_HOST:BENCH_PG_PORT and dropped at exit
#   BENCH_PG_HOST, BENCH_PG_PORT, BENCH_PG_USER, BENCH_PG_DB
#                       defaults 127.0.0.1, 5432, postgres, km_bench
#   BENCH_REDIS_URL     Redis for the sessions (default redis://127.0.0.1:6379/15;
#                       that default logical database 15 is FLUSHDB'd first,
#                       a URL you give is never flushed)
#   BENCH_SKIP_BUILD=1  do not run `cargo build --release -p api`
#   BENCH_VERBOSE=1     also print wrk's full output (to stderr)
#   BENCH_SESSION_LOCK  process (default, as the service) or redis (several instances)
#
# Needs curl, psql, redis-cli and python3; installs wrk with apt-get when it
# is missing. Dropping the database at exit uses DROP DATABASE ... WITH (FORCE),
# PostgreSQL 13 or later.
#
# Scenarios, each `wrk -t2 -c64 -d${BENCH_SECONDS}s --latency`:
#   products   GET /api/v1/products
#   cart-get   GET /api/v1/cart with a 5-line cart's session cookie
#   cart-put   PUT /api/v1/cart/items/3 {"quantity":2}, 64 visitors (one 5-line
#              cart each; requests take the visitors' cookies in turn)
#   cart-put-1 the same PUT, every connection on the one cart of cart-get:
#              writes to one session take turns by design (no lost updates),
#              so this measures one session's serialized write rate
#   books      GET /api/v1/books?genre=mystery,horror (the library, public)
#   reading    GET /api/v1/reading-list of a reader with 5 books in progress
#              and 5 finished (the session of cart-get)
#   book-recs  GET /api/v1/recommendations/books of that reader (scores the
#              whole library)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BENCH_SECONDS="${BENCH_SECONDS:-10}"
THREADS=2
CONNECTIONS=64
COOKIE_NAME=km_session
SECRET_KEY_FIXED="kitchen-memory-bench-secret-key-0123456789abcdef"

PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"
PG_DB="${BENCH_PG_DB:-km_bench}"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379/15"
REDIS_URL="${BENCH_REDIS_URL:-$DEFAULT_REDIS_URL}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

case "$BENCH_SECONDS" in
    '' | *[!0-9]* | 0) die "BENCH_SECONDS must be a positive whole number, not '$BENCH_SECONDS'" ;;
esac

# ---------------------------------------------------------------- tools
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
if ! command -v wrk > /dev/null 2>&1; then
    log "installing wrk"
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; then
        "${SUDO[@]}" apt-get update
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
    fi
fi
for tool in curl psql redis-cli python3; do
    command -v "$tool" > /dev/null 2>&1 || die "$tool is needed"
done

# ---------------------------------------------------------------- build
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "cargo build --release -p api"
    cargo build --release -p api
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/api"
[ -x "$BIN" ] || die "$BIN is missing; build it with cargo build --release -p api"

# ---------------------------------------------------------------- clean-up
WORK="$(mktemp -d "${TMPDIR:-/tmp}/km-bench.XXXXXX")"
API_PID=""
DB_CREATED=0

cleanup() {
    local status=$?
    set +e
    if [ -n "$API_PID" ] && kill -0 "$API_PID" 2> /dev/null; then
        kill -TERM "$API_PID" 2> /dev/null
        for _ in $(seq 1 50); do
            kill -0 "$API_PID" 2> /dev/null || break
            sleep 0.1
        done
        kill -KILL "$API_PID" 2> /dev/null
        wait "$API_PID" 2> /dev/null
    fi
    if [ "$DB_CREATED" = 1 ]; then
        psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qX \
            -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" > /dev/null \
            || log "could not drop database $PG_DB"
    fi
    if [ "$status" -ne 0 ] && [ -s "$WORK/api.log" ]; then
        log "service log (last 30 lines):"
        tail -n 30 "$WORK/api.log" >&2
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- database
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    DATABASE_URL="$BENCH_DATABASE_URL"
    log "using BENCH_DATABASE_URL as is"
else
    log "creating database $PG_DB on $PG_HOST:$PG_PORT"
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qX \
        -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$PG_DB\"" > /dev/null
    DB_CREATED=1
    DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
fi

# ---------------------------------------------------------------- redis
redis-cli -u "$REDIS_URL" PING | grep -q PONG || die "Redis does not answer at $REDIS_URL"
if [ "$REDIS_URL" = "$DEFAULT_REDIS_URL" ]; then
    log "FLUSHDB on Redis logical database 15"
    [ "$(redis-cli -u "$REDIS_URL" FLUSHDB)" = OK ] || die "FLUSHDB failed"
fi

# ---------------------------------------------------------------- port
port_is_free() {
    python3 - "$1" << 'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}
PORT="${BENCH_PORT:-18181}"
if ! port_is_free "$PORT"; then
    taken="$PORT"
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    log "port $taken is taken; using $PORT"
fi
BASE="http://127.0.0.1:$PORT"

# ---------------------------------------------------------------- service
# A clean environment, so the caller's APP_ENV, SESSION_COOKIE_*, ... cannot
# change what is measured.
log "starting $BIN on 127.0.0.1:$PORT (SESSION_BACKEND=redis)"
env -i \
    PATH="$PATH" HOME="${HOME:-/tmp}" \
    APP_ENV=development \
    LISTEN_ADDR="127.0.0.1:$PORT" \
    DATABASE_URL="$DATABASE_URL" \
    SESSION_BACKEND=redis \
    SESSION_LOCK="${BENCH_SESSION_LOCK:-process}" \
    REDIS_URL="$REDIS_URL" \
    SECRET_KEY="$SECRET_KEY_FIXED" \
    SESSION_COOKIE_NAME="$COOKIE_NAME" \
    SESSION_COOKIE_SECURE=false \
    DATA_DIR="$WORK/data" \
    LOG_FORMAT=pretty \
    RUST_LOG=warn \
    "$BIN" > "$WORK/api.log" 2>&1 &
API_PID=$!

ready=0
for _ in $(seq 1 300); do
    kill -0 "$API_PID" 2> /dev/null || die "the service exited while starting"
    if curl -fsS -o /dev/null "$BASE/readyz" 2> /dev/null; then
        ready=1
        break
    fi
    sleep 0.2
done
[ "$ready" = 1 ] || die "the service was not ready after 60 s"
log "ready: $(curl -fsS "$BASE/readyz")"

# ---------------------------------------------------------------- cart
JAR="$WORK/cookies.txt"
for id in 1 2 3 4 5; do
    curl -fsS -o /dev/null -c "$JAR" -b "$JAR" \
        -X PUT -H 'Content-Type: application/json' -d '{"quantity":1}' \
        "$BASE/api/v1/cart/items/$id" || die "PUT /api/v1/cart/items/$id failed"
done
# Netscape cookie jar: tab-separated, name in field 6, value in field 7. An
# HttpOnly cookie's line starts with `#HttpOnly_`, so it must not be skipped
# as a comment.
COOKIE_VALUE="$(awk -F '\t' -v name="$COOKIE_NAME" 'NF >= 7 && $6 == name { v = $7 } END { print v }' "$JAR")"
[ -n "$COOKIE_VALUE" ] || die "no $COOKIE_NAME cookie in the jar"
COOKIE_HEADER="$COOKIE_NAME=$COOKIE_VALUE"

# Prints the cart the cookie names as "<orderable lines> <product:quantity,...>".
cart_state() {
    curl -fsS -H "Cookie: $COOKIE_HEADER" "$BASE/api/v1/cart" \
        | python3 -c 'import json, sys
lines = json.load(sys.stdin)["lines"]
print(len(lines), ",".join("%s:%s" % (l["product_id"], l["quantity"]) for l in lines) or "-")'
}
read -r lines_before _ <<< "$(cart_state)"
[ "$lines_before" = 5 ] || die "the prepared cart has $lines_before lines, not 5"
log "prepared a 5-line cart"

# The same visitor as a reader: 5 books in progress, 5 finished.
for id in 1 2 3 4 5 6 7 8 9 10; do
    curl -fsS -o /dev/null -H "Cookie: $COOKIE_HEADER" -X POST -H 'Content-Type: application/json' \
        -d "{\"book_id\":$id}" "$BASE/api/v1/reading-list" || die "adding book $id to the reading list failed"
    pages=$([ "$id" -le 5 ] && echo 10 || \
        curl -fsS "$BASE/api/v1/books/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["total_pages"])')
    curl -fsS -o /dev/null -H "Cookie: $COOKIE_HEADER" -X PATCH -H 'Content-Type: application/json' \
        -d "{\"pages_read\":$pages}" "$BASE/api/v1/reading-list/$id" || die "reading book $id failed"
done
log "prepared a reader with 5 books in progress and 5 finished"

# One 5-line cart per visitor for the write scenario, so that parallel
# writes go to different sessions as they would with real visitors.
VISITORS="${BENCH_VISITORS:-64}"
COOKIE_LIST="$WORK/visitor-cookies.txt"
: > "$COOKIE_LIST"
for v in $(seq 1 "$VISITORS"); do
    vjar="$WORK/visitor-$v.txt"
    for id in 1 2 3 4 5; do
        curl -fsS -o /dev/null -c "$vjar" -b "$vjar" \
            -X PUT -H 'Content-Type: application/json' -d '{"quantity":1}' \
            "$BASE/api/v1/cart/items/$id" || die "preparing visitor $v's cart failed"
    done
    awk -F '\t' -v name="$COOKIE_NAME" 'NF >= 7 && $6 == name { v = $7 } END { print name "=" v }' "$vjar" >> "$COOKIE_LIST"
done
log "prepared $VISITORS more 5-line carts, one per visitor"

# ---------------------------------------------------------------- wrk
PUT_LUA="$WORK/put.lua"
cat > "$PUT_LUA" << 'EOF'
wrk.method = "PUT"
wrk.body = '{"quantity":2}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = os.getenv("KM_BENCH_COOKIE")
EOF

# Each request takes the next visitor's cookie; the two threads start far apart.
VISITORS_LUA="$WORK/put-visitors.lua"
cat > "$VISITORS_LUA" << 'EOF'
local cookies = {}
for line in io.lines(os.getenv("KM_BENCH_COOKIES")) do
    cookies[#cookies + 1] = line
end
local counter = 0
local threads = 0
function setup(thread)
    thread:set("offset", threads * 32)
    threads = threads + 1
end
function init(args)
    counter = tonumber(offset) or 0
end
function request()
    counter = counter + 1
    local headers = {}
    headers["Content-Type"] = "application/json"
    headers["Cookie"] = cookies[(counter % #cookies) + 1]
    return wrk.format("PUT", nil, headers, '{"quantity":2}')
end
EOF

declare -a ROWS=()

# run_wrk NAME URL [wrk args...]: runs wrk and prints one summary line.
run_wrk() {
    local name=$1 url=$2
    shift 2
    local out="$WORK/wrk-$name.txt"
    log "wrk: $name ($url)"
    if ! KM_BENCH_COOKIE="$COOKIE_HEADER" KM_BENCH_COOKIES="$COOKIE_LIST" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${BENCH_SECONDS}s" --latency "$@" "$url" > "$out" 2>&1; then
        cat "$out" >&2
        die "wrk failed for $name"
    fi
    if [ "${BENCH_VERBOSE:-0}" = 1 ]; then
        cat "$out" >&2
    fi
    local rps p50 p99 non2xx errors
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p50="$(awk '$1 == "50%" { print $2 }' "$out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    errors="$(sed -n 's/^ *Socket errors: *//p' "$out")"
    printf '%s: %s req/s, p50 %s, p99 %s, non-2xx %s%s\n' \
        "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "${errors:+, socket errors: $errors}"
    ROWS+=("$(printf '%-11s %12s %10s %10s %8s  %s' \
        "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "${errors:--}")")
}

run_wrk products "$BASE/api/v1/products"
run_wrk cart-get "$BASE/api/v1/cart" -H "Cookie: $COOKIE_HEADER"
run_wrk cart-put "$BASE/api/v1/cart/items/3" -s "$VISITORS_LUA"
run_wrk cart-put-1 "$BASE/api/v1/cart/items/3" -s "$PUT_LUA"
run_wrk books "$BASE/api/v1/books?genre=mystery,horror"
run_wrk reading "$BASE/api/v1/reading-list" -H "Cookie: $COOKIE_HEADER"
run_wrk book-recs "$BASE/api/v1/recommendations/books" -H "Cookie: $COOKIE_HEADER"

# ---------------------------------------------------------------- checks
after="$(cart_state)" || after="? ?"
# And one of the visitors' carts.
visitor_lines="$(curl -fsS -H "Cookie: $(head -n 1 "$COOKIE_LIST")" "$BASE/api/v1/cart" \
    | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["lines"]))')" || visitor_lines="?"
read -r lines_after quantities_after <<< "$after"
if [ "$lines_after" = 5 ]; then
    cart_check="ok: the cart still has 5 lines after the write scenario (product:quantity $quantities_after)"
else
    cart_check="FAILED: the cart has $lines_after lines after the write scenario, not 5 (product:quantity $quantities_after)"
fi

kill -0 "$API_PID" 2> /dev/null || die "the service died during the benchmark"
hwm_kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$API_PID/status")"
peak_rss="$(awk -v k="$hwm_kib" 'BEGIN { printf "%.1f MiB", k / 1024 }')"

# ---------------------------------------------------------------- report
echo
echo "Kitchen Memory API: wrk -t$THREADS -c$CONNECTIONS -d${BENCH_SECONDS}s --latency; sessions in Redis, menu in PostgreSQL"
printf '%-11s %12s %10s %10s %8s  %s\n' scenario 'req/s' p50 p99 non-2xx 'socket errors'
printf '%s\n' "${ROWS[@]}"
echo "peak RSS (VmHWM): $peak_rss"
echo "cart check: $cart_check"

echo "visitor cart check: $visitor_lines lines (expected 5)"
[ "$lines_after" = 5 ] && [ "$visitor_lines" = 5 ] || exit 1
