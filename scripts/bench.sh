#!/usr/bin/env bash
# Benchmark the API (release build, PostgreSQL menu, Redis sessions) with wrk,
# against a ceiling measured in the same run.
#
#   scripts/bench.sh                  # 10 s per scenario
#   BENCH_SECONDS=30 scripts/bench.sh
#
# On this shared machine absolute req/s swing by half from one hour to the
# next, so each cart scenario is also given as a ratio to a ceiling: the
# `bench-ceiling` binary (crates/bench-ceiling), a bare axum handler on the
# same Redis, with the same axum, tokio and fred versions, the same release
# profile and a fred pool built as the service builds its own (same size,
# timeouts and reconnect policy), doing only the Redis round trips the cart
# request needs (`GET` for a read; `GET` then `SET ... EX` for a write) on
# copies of the service's own session records (same bytes, same size; a
# key that is not there is a 404, for a read as for a write). Each
# ceiling scenario runs right before the service scenario it is the ceiling
# of (ceil-read, cart-get, ceil-write, cart-put, ...): adjacent runs drift
# less from each other than the two halves of a run would.
#
# Logging: the service first runs every scenario as production runs it
# (LOG_FORMAT=json and no RUST_LOG, i.e. its default filter: a JSON request
# line at INFO per request), its output to BENCH_SERVICE_LOG (/dev/null by
# default; the SESSION_LOCK=process instance, with the same logging, to
# BENCH_SERVICE_LOG.process); then it is restarted with RUST_LOG=warn (no request lines) and
# cart-get and cart-put run again, each after its ceiling again, as
# cart-get/warn and cart-put/warn: the difference is the cost of logging.
#
# Environment:
#   BENCH_SECONDS       seconds per scenario (default 10)
#   BENCH_PORT          port to serve on (default 18181; another free port is
#                       chosen when it is taken)
#   BENCH_CEILING_PORT  the ceiling's port (default 18282, same fallback)
#   BENCH_DATABASE_URL  use this database as is (it is neither created nor
#                       dropped); by default a fresh `km_bench` database is
#                       created on BENCH_PG_HOST:BENCH_PG_PORT and dropped at exit
#   BENCH_PG_HOST, BENCH_PG_PORT, BENCH_PG_USER, BENCH_PG_DB
#                       defaults 127.0.0.1, 5432, postgres, km_bench
#   BENCH_REDIS_URL     Redis for the sessions (default redis://127.0.0.1:6379/15;
#                       that default logical database 15 is FLUSHDB'd first,
#                       a URL you give is never flushed). The ceiling uses the
#                       same database, its keys under `km-bench-ceiling:`.
#                       At exit, with either URL, the run deletes in that
#                       database what it made: the session records of the
#                       cookies it was given, the ceiling's keys, and every
#                       key under the service's own prefixes `km:rate:` and
#                       `km:session-lock:` (so do not give it a database a
#                       running instance of the service uses)
#   BENCH_REDIS_POOL_SIZE  REDIS_POOL_SIZE for both the service and the
#                       ceiling (default: unset, the service's default, 4)
#   BENCH_LOGGING       both (default, as above), production (no /warn rows)
#                       or warn (every scenario with RUST_LOG=warn only)
#   BENCH_SERVICE_LOG   where the service's log goes (default /dev/null; give
#                       a file to see why it did not start; the second
#                       instance's goes to the same name with .process added)
#   BENCH_SKIP_BUILD=1  do not run `cargo build --release -p api -p bench-ceiling`
#   BENCH_VERBOSE=1     also print wrk's full output (to stderr)
#   BENCH_SERVICE_ENV   more environment for the service only, as NAME=value
#                       words (e.g. "TOKIO_WORKER_THREADS=1"): for experiments
#   BENCH_PROFILE       scenario names, comma-separated (e.g. ceil-read,cart-get;
#                       an unknown name stops the run before it starts): each
#                       runs under `perf record -F 999` (needs perf) of the
#                       process it measures, its top symbols by self time are
#                       printed, and its data stays in BENCH_PROFILE_DIR
#                       (default /tmp/km-bench-profile) as NAME.data, a / in
#                       NAME as - (cart-get/warn: cart-get-warn.data). Profiled
#                       rows run slower (perf's sampling is charged to the
#                       process, cpu/r too): compare them with each other
#   BENCH_SESSION_LOCK  SESSION_LOCK for the service measured (default: unset,
#                       the service's default, which with Redis sessions takes
#                       turns across instances through Redis; `process` for
#                       turns within the process only)
#   BENCH_VISITORS      visitors of cart-put, one session each (default 64; at
#                       most 99). Preparation starts 1 + BENCH_VISITORS
#                       sessions from 127.0.0.1, and the service, started with
#                       a clean environment, refuses new sessions from one IP
#                       past NEW_SESSION_LIMIT_PER_IP's default, 100 per 600 s
#                       (`Limit::NewSessionPerIp` in crates/api/src/limits.rs,
#                       which the script reads to check BENCH_VISITORS): the
#                       next one is a 429. The counters are deleted at exit.
#
# One run at a time per machine (flock on $TMPDIR/km-bench.lock).
#
# Needs curl, psql, redis-cli (Redis 6.2 or later), flock and python3 (and perf
# for BENCH_PROFILE); installs wrk
# with apt-get when it is missing. Dropping the database at exit uses DROP
# DATABASE ... WITH (FORCE), PostgreSQL 13 or later.
#
# Scenarios, each `wrk -t2 -c64 -d${BENCH_SECONDS}s --latency`, in this order:
#   ceil-read    ceiling GET /read, the copy of cart-get's session
#   cart-get     GET /api/v1/cart with a 5-line cart's session cookie (the
#                visitor is also the reader below, so the record holds the
#                reading list too)
#   ceil-write   ceiling PUT /write over copies of the 64 visitors' sessions,
#                with the same wrk script as cart-put
#   cart-put     PUT /api/v1/cart/items/3 {"quantity":q}, 64 visitors (one 5-line
#                cart each; requests take the visitors' cookies in turn), q
#                changing from one PUT to the next on a cart so that each
#                one writes the session (a PUT of the quantity a line
#                already has saves nothing: it would measure a read)
#   cart-put/process  the same on a second instance of the service, idle
#                until then, with SESSION_LOCK=process and the same logging:
#                what the lock of the measured service costs, side by side
#   ceil-write-1 ceiling PUT /write, every connection on the one key of ceil-read
#   cart-put-1/process  the PUT of cart-put-1 below on the SESSION_LOCK=process
#                instance: this pair runs the other way round (process
#                first), so that the order of a pair does not lean the cost
#                of the lock one way
#   cart-put-1   the same PUT, every connection on the one cart of cart-get:
#                writes to one session take turns by design (no lost updates),
#                so this measures one session's serialized write rate
#   ceil-healthz the ceiling's bare handler: no Redis, the same body as
#                the service's /healthz
#   healthz      GET /healthz: the floor of the middleware stack, as a
#                percentage of ceil-healthz
#   products     GET /api/v1/products (the ratio: to cart-get)
#   books        GET /api/v1/books?genre=mystery,horror (the library, public)
#   reading      GET /api/v1/reading-list of a reader with 5 books in progress
#                and 5 finished (the session of cart-get)
#   book-recs    GET /api/v1/recommendations/books of that reader (scores the
#                whole library)
#   then, with RUST_LOG=warn: ceil-read/2, cart-get/warn, ceil-write/2,
#   cart-put/warn.
#
# The table gives req/s, p50, p99, non-2xx responses and the ratio: a cart
# scenario's req/s as a percentage of its ceiling's (cart-get of ceil-read,
# cart-put and cart-put/process of ceil-write, cart-put-1 and
# cart-put-1/process of ceil-write-1, the /warn rows of the
# /2 ceilings, healthz of ceil-healthz), products as a multiple of cart-get; and redis/r, the Redis
# commands processed per request (INFO stats before and after, so counting
# whatever else uses that Redis server meanwhile). Then the peak RSS
# (VmHWM) of the service and of the ceiling. cpu/r: the user + system CPU
# time the measured process (the ceiling for ceil-*, else the service) used
# per request, in microseconds (from /proc/PID/stat, clock ticks of 10 ms,
# a fraction of a percent of a scenario's total): what a change to the
# service's own code moves. idle: the share of the whole machine's CPU time
# (all cores, /proc/stat) left idle during the scenario; near 0% means the
# machine was the limit, and the CPU per request of all processes together
# is then 100% of the cores divided by req/s.
#
# A scenario with any non-2xx answer or socket error, or no req/s above 0,
# has `invalid` as its ratio; a scenario whose base is invalid or not above 0
# gets `-` and is invalid too. After the table the script names the invalid
# scenarios and exits 1, as it does when a cart check fails. wrk failing
# (it cannot connect: the service or the ceiling is gone) stops the run at
# once, also with exit 1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOAD_NAME=bench
# shellcheck source=scripts/lib/load.sh
. "$ROOT/scripts/lib/load.sh"

BENCH_SECONDS="${BENCH_SECONDS:-10}"
THREADS=2
CONNECTIONS=64
COOKIE_NAME=km_session
SECRET_KEY_FIXED="kitchen-memory-bench-secret-key-0123456789abcdef"
CEIL_PREFIX="km-bench-ceiling:"
LOGGING="${BENCH_LOGGING:-both}"
SERVICE_LOG="${BENCH_SERVICE_LOG:-/dev/null}"
PROFILE_DIR="${BENCH_PROFILE_DIR:-/tmp/km-bench-profile}"

PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"
PG_DB="${BENCH_PG_DB:-km_bench}"
DEFAULT_REDIS_URL="redis://127.0.0.1:6379/15"
REDIS_URL="${BENCH_REDIS_URL:-$DEFAULT_REDIS_URL}"

case "$BENCH_SECONDS" in
    '' | *[!0-9]* | 0) die "BENCH_SECONDS must be a positive whole number, not '$BENCH_SECONDS'" ;;
esac
case "$LOGGING" in
    both | production | warn) ;;
    *) die "BENCH_LOGGING must be both, production or warn, not '$LOGGING'" ;;
esac
VISITORS="${BENCH_VISITORS:-64}"
case "$VISITORS" in
    '' | *[!0-9]* | 0*) die "BENCH_VISITORS must be a positive whole number, not '$VISITORS'" ;;
esac
# Preparation starts 1 + VISITORS new sessions from one IP: past the
# service's default new-session limit per IP the next one is a 429.
NEW_SESSION_LIMIT="$(sed -n 's/^ *Limit::NewSessionPerIp => (\([0-9][0-9]*\), [0-9][0-9]*),$/\1/p' \
    crates/api/src/limits.rs 2> /dev/null | head -n 1 || true)"
if [ -z "$NEW_SESSION_LIMIT" ]; then
    log "cannot read the default new-session limit in crates/api/src/limits.rs; BENCH_VISITORS is not checked against it"
elif [ $((1 + VISITORS)) -gt "$NEW_SESSION_LIMIT" ]; then
    die "BENCH_VISITORS=$VISITORS: preparation would start $((1 + VISITORS)) sessions from one IP, past the service's new-session limit of $NEW_SESSION_LIMIT per IP (NEW_SESSION_LIMIT_PER_IP's default); at most $((NEW_SESSION_LIMIT - 1))"
fi
# The same pool size for both, when one is given.
POOL_ENV=()
if [ -n "${BENCH_REDIS_POOL_SIZE:-}" ]; then
    POOL_ENV=(REDIS_POOL_SIZE="$BENCH_REDIS_POOL_SIZE")
fi
# Word-split on purpose: "NAME=value NAME=value" (no spaces or quotes in a
# value). What the script sets itself cannot be overridden: the table's
# labels would no longer say what ran.
read -r -a EXTRA_ENV <<< "${BENCH_SERVICE_ENV:-}"
for assignment in "${EXTRA_ENV[@]}"; do
    [[ $assignment =~ ^[A-Z_][A-Z0-9_]*= ]] \
        || die "BENCH_SERVICE_ENV takes NAME=value words, not '$assignment'"
    case "${assignment%%=*}" in
        PATH | HOME | APP_ENV | LISTEN_ADDR | DATABASE_URL | SESSION_BACKEND | SESSION_LOCK | REDIS_URL \
            | REDIS_POOL_SIZE | SECRET_KEY | SESSION_COOKIE_NAME | SESSION_COOKIE_SECURE | DATA_DIR \
            | LOG_FORMAT | RUST_LOG)
            die "BENCH_SERVICE_ENV cannot set ${assignment%%=*}: the script sets it (see BENCH_SESSION_LOCK, BENCH_REDIS_POOL_SIZE, BENCH_LOGGING)"
            ;;
    esac
done

# The scenarios BENCH_PROFILE may name (spaces around the commas ignored).
SCENARIOS=" ceil-read cart-get ceil-write cart-put cart-put/process ceil-write-1 cart-put-1/process cart-put-1 ceil-healthz healthz products books reading book-recs ceil-read/2 cart-get/warn ceil-write/2 cart-put/warn "
PROFILE="${BENCH_PROFILE:-}"
PROFILE="${PROFILE// /}"
if [ -n "$PROFILE" ]; then
    command -v perf > /dev/null 2>&1 || die "BENCH_PROFILE needs perf (Debian: linux-perf)"
    IFS=, read -r -a profiled <<< "$PROFILE"
    for name in "${profiled[@]}"; do
        case "$SCENARIOS" in
            *" $name "*) ;;
            *) die "BENCH_PROFILE: no scenario '$name'; the scenarios:$SCENARIOS" ;;
        esac
    done
fi

# ---------------------------------------------------------------- tools
load_tools

# ---------------------------------------------------------------- build
load_build "${BENCH_SKIP_BUILD:-0}" api bench-ceiling
BIN="$(release_bin api)"
CEIL_BIN="$(release_bin bench-ceiling)"

# ---------------------------------------------------------------- one at a time
# Two runs on one machine would measure each other, and share the default
# Redis database, PostgreSQL database and rate-limit counters: the second
# waits for the first (scripts/lib/load.sh).
load_lock

# ---------------------------------------------------------------- clean-up
load_work
FAILURE_LOGS=("$WORK/api.err" "$WORK/api2.err" "$WORK/ceiling.log")
JAR="$WORK/cookies.txt"
API_PID=""
API2_PID=""
CEIL_PID=""
PERF_PID=""

# What the run made in Redis, in the database it used (a URL given in
# BENCH_REDIS_URL is never flushed): the service's session records of the
# run's cookies (the reader's and every visitor's, also those of a
# preparation that stopped half way), its rate-limit counters and session
# locks, and the ceiling's copies.
clean_redis() {
    clean_service_keys "$JAR" "$WORK"/visitor-[0-9]*.txt
    del_matching "${CEIL_PREFIX}*" || log "could not delete the keys ${CEIL_PREFIX}*"
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$PERF_PID" ]; then
        kill -INT "$PERF_PID" 2> /dev/null
        wait "$PERF_PID" 2> /dev/null
    fi
    stop "$API_PID"
    stop "$API2_PID"
    stop "$CEIL_PID"
    load_finish "$status"
}
load_traps

# ---------------------------------------------------------------- database
if [ -n "${BENCH_DATABASE_URL:-}" ]; then
    DATABASE_URL="$BENCH_DATABASE_URL"
    log "using BENCH_DATABASE_URL as is"
else
    create_database
fi

# ---------------------------------------------------------------- redis
redis_ping
REDIS_USED=1
if [ "$REDIS_URL" = "$DEFAULT_REDIS_URL" ]; then
    log "FLUSHDB on Redis logical database 15"
    [ "$(redis-cli -u "$REDIS_URL" FLUSHDB)" = OK ] || die "FLUSHDB failed"
fi

# ---------------------------------------------------------------- ports
PORT="$(free_port "${BENCH_PORT:-18181}")"
BASE="http://127.0.0.1:$PORT"
PORT2="$(free_port "$((PORT + 1))")"
BASE2="http://127.0.0.1:$PORT2"
CEIL_PORT="$(free_port "${BENCH_CEILING_PORT:-18282}")"
CEIL="http://127.0.0.1:$CEIL_PORT"

# ---------------------------------------------------------------- service
# The lock the service runs with: its default unless BENCH_SESSION_LOCK
# says otherwise (with Redis sessions, the default takes turns across
# instances through Redis).
LOCK_ENV=()
if [ -n "${BENCH_SESSION_LOCK:-}" ]; then
    LOCK_ENV=(SESSION_LOCK="$BENCH_SESSION_LOCK")
fi

# service_env LOGGING PORT: the service's environment (service_base_env,
# a clean one), with BENCH_REDIS_POOL_SIZE and BENCH_SERVICE_ENV.
# production: LOG_FORMAT=json and the service's default filter (request
# lines at INFO), as the image runs it; warn: RUST_LOG=warn.
service_env() {
    service_base_env "$2"
    SERVICE_ENV+=("${POOL_ENV[@]}")
    [ "$1" = warn ] && SERVICE_ENV+=(RUST_LOG=warn)
    SERVICE_ENV+=("${EXTRA_ENV[@]}")
}

# Each instance has a log of its own: the service measured's in
# BENCH_SERVICE_LOG (both of its runs, production then warn, one after the
# other), the process-lock instance's beside it, NAME.process. Each is
# emptied once here and appended to from then on.
if [ "$SERVICE_LOG" = /dev/null ]; then
    SERVICE_LOG2=/dev/null
else
    SERVICE_LOG2="$SERVICE_LOG.process"
    : > "$SERVICE_LOG" || die "cannot write BENCH_SERVICE_LOG=$SERVICE_LOG"
    : > "$SERVICE_LOG2" || die "cannot write $SERVICE_LOG2"
fi

# start_service production|warn: the service measured, with its lock.
start_service() {
    log "starting $BIN on 127.0.0.1:$PORT (SESSION_BACKEND=redis, ${LOCK_ENV[*]:-SESSION_LOCK unset}, logging: $1)"
    service_env "$1" "$PORT"
    env -i "${SERVICE_ENV[@]}" "${LOCK_ENV[@]}" \
        "$BIN" >> "$SERVICE_LOG" 2> "$WORK/api.err" 9>&- &
    API_PID=$!
    wait_ready "the service (its log: BENCH_SERVICE_LOG=$SERVICE_LOG)" "$API_PID" "$BASE/readyz"
    log "ready: $(curl -fsS "$BASE/readyz")"
}

# start_process_lock_instance production|warn: a second instance, idle
# while the first is measured, on the same Redis and database but with
# SESSION_LOCK=process (turns within its own process only), and the same
# logging as the first (else the */process rows would compare logging costs
# too): the */process rows, each next to the same scenario on the first,
# give what the lock costs.
start_process_lock_instance() {
    log "starting $BIN on 127.0.0.1:$PORT2 (SESSION_LOCK=process, logging: $1)"
    service_env "$1" "$PORT2"
    env -i "${SERVICE_ENV[@]}" SESSION_LOCK=process \
        "$BIN" >> "$SERVICE_LOG2" 2> "$WORK/api2.err" 9>&- &
    API2_PID=$!
    wait_ready "the process-lock instance" "$API2_PID" "$BASE2/readyz"
}

# peak_rss PID: its VmHWM in MiB.
peak_rss() {
    awk '/^VmHWM:/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"
}

# stop_service: records its peak RSS in SERVICE_RSS, then stops it.
SERVICE_RSS=()
stop_service() {
    check_alive "the service" "$API_PID"
    SERVICE_RSS+=("$(peak_rss "$API_PID") (logging: $1)")
    stop "$API_PID"
    API_PID=""
}

FIRST_LOGGING=production
[ "$LOGGING" = warn ] && FIRST_LOGGING=warn
start_service "$FIRST_LOGGING"
start_process_lock_instance "$FIRST_LOGGING"

# ---------------------------------------------------------------- cart
# prepare WHAT CURL_ARGS...: one request of the preparation, its answer's
# body left in $WORK/answer. Anything but a 2xx stops the run, saying WHAT,
# the HTTP status and the answer.
prepare() {
    local what=$1 status
    shift
    : > "$WORK/answer"
    status="$(curl -sS -o "$WORK/answer" -w '%{http_code}' "$@" 2> "$WORK/curl.err")" || true
    case "$status" in
        2??) return 0 ;;
    esac
    local hint=""
    [ "$status" = 429 ] \
        && hint=" (the new-session limit per IP? it counts this run's 1 + BENCH_VISITORS new sessions, and for 10 minutes those of an earlier run that did not get to delete its counters; see BENCH_VISITORS)"
    die "$what failed: HTTP ${status:-none}$hint: $(head -c 500 "$WORK/answer" 2> /dev/null)$(cat "$WORK/curl.err")"
}

for id in 1 2 3 4 5; do
    prepare "PUT /api/v1/cart/items/$id" -c "$JAR" -b "$JAR" \
        -X PUT -H 'Content-Type: application/json' -d '{"quantity":1}' \
        "$BASE/api/v1/cart/items/$id"
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
    prepare "adding book $id to the reading list" -H "Cookie: $COOKIE_HEADER" \
        -X POST -H 'Content-Type: application/json' \
        -d "{\"book_id\":$id}" "$BASE/api/v1/reading-list"
    if [ "$id" -le 5 ]; then
        pages=10
    else
        prepare "GET /api/v1/books/$id" "$BASE/api/v1/books/$id"
        pages="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["total_pages"])' < "$WORK/answer")"
    fi
    prepare "reading book $id" -H "Cookie: $COOKIE_HEADER" \
        -X PATCH -H 'Content-Type: application/json' \
        -d "{\"pages_read\":$pages}" "$BASE/api/v1/reading-list/$id"
done
log "prepared a reader with 5 books in progress and 5 finished"

# One 5-line cart per visitor for the write scenario, so that parallel
# writes go to different sessions as they would with real visitors.
COOKIE_LIST="$WORK/visitor-cookies.txt"
: > "$COOKIE_LIST"
for v in $(seq 1 "$VISITORS"); do
    vjar="$WORK/visitor-$v.txt"
    for id in 1 2 3 4 5; do
        prepare "preparing visitor $v's cart (PUT /api/v1/cart/items/$id)" -c "$vjar" -b "$vjar" \
            -X PUT -H 'Content-Type: application/json' -d '{"quantity":1}' \
            "$BASE/api/v1/cart/items/$id"
    done
    awk -F '\t' -v name="$COOKIE_NAME" 'NF >= 7 && $6 == name { v = $7 } END { print name "=" v }' "$vjar" >> "$COOKIE_LIST"
done
log "prepared $VISITORS more 5-line carts, one per visitor"

# ---------------------------------------------------------------- ceiling
# seed_copy COOKIE NAME: copies COOKIE's session record to the ceiling's
# key NAME (same bytes), and prints the record's size in bytes.
seed_copy() {
    local key dest
    key="$(session_key "$1")"
    dest="$CEIL_PREFIX$2"
    [ "$(redis-cli -u "$REDIS_URL" EXISTS "$key")" = 1 ] || die "no session record at the key of cookie $1"
    [ "$(redis-cli -u "$REDIS_URL" COPY "$key" "$dest" REPLACE)" = 1 ] || die "COPY $key $dest failed"
    redis-cli -u "$REDIS_URL" EXPIRE "$dest" 1209600 > /dev/null
    redis-cli -u "$REDIS_URL" STRLEN "$dest"
}
READER_BYTES="$(seed_copy "$COOKIE_HEADER" reader)"
READER_MEMORY="$(redis-cli -u "$REDIS_URL" MEMORY USAGE "${CEIL_PREFIX}reader")"
CEIL_COOKIE="$COOKIE_NAME=${CEIL_PREFIX}reader"
CEIL_COOKIE_LIST="$WORK/ceiling-cookies.txt"
: > "$CEIL_COOKIE_LIST"
v=0
while IFS= read -r cookie; do
    v=$((v + 1))
    VISITOR_BYTES="$(seed_copy "$cookie" "visitor-$v")"
    echo "$COOKIE_NAME=${CEIL_PREFIX}visitor-$v" >> "$CEIL_COOKIE_LIST"
done < "$COOKIE_LIST"
VISITOR_MEMORY="$(redis-cli -u "$REDIS_URL" MEMORY USAGE "${CEIL_PREFIX}visitor-$v")"
RECORDS="session records: cart-get's $READER_BYTES bytes (MEMORY USAGE $READER_MEMORY), a visitor's $VISITOR_BYTES bytes (MEMORY USAGE $VISITOR_MEMORY); the ceiling reads and writes copies"
log "$RECORDS"

log "starting $CEIL_BIN on 127.0.0.1:$CEIL_PORT"
env -i \
    PATH="$PATH" \
    LISTEN_ADDR="127.0.0.1:$CEIL_PORT" \
    REDIS_URL="$REDIS_URL" \
    "${POOL_ENV[@]}" \
    SESSION_COOKIE_NAME="$COOKIE_NAME" \
    "$CEIL_BIN" > "$WORK/ceiling.log" 2>&1 9>&- &
CEIL_PID=$!
wait_ready "the ceiling" "$CEIL_PID" "$CEIL/healthz"
curl -fsS -H "Cookie: $CEIL_COOKIE" -o /dev/null "$CEIL/read" || die "the ceiling does not read its key"

# ---------------------------------------------------------------- wrk
# The cart writes, on the service and on the ceiling alike. Each request
# takes the next cookie of the list $KM_BENCH_COOKIES names (the 64 visitors,
# or one cookie for the one-cart scenarios); the two threads start half the
# list apart. And each PUT changes the cart, so that the session is written:
# a PUT of the quantity a line already has changes nothing, and the service
# then saves nothing (redis/r would show 1 command instead of 2). A thread
# sets the odd quantities 1, 3, 5, 7 in turn, the other the even ones, each
# moving on to the next every time it comes back to a cookie, so a PUT never
# repeats the one before it on that cart (with one cart, nearly never: a
# thread's requests in flight may be served out of order).
PUT_LUA="$WORK/put.lua"
cat > "$PUT_LUA" << 'EOF'
local cookies = {}
for line in io.lines(os.getenv("KM_BENCH_COOKIES")) do
    cookies[#cookies + 1] = line
end
local counter = 0
local parity = 0
local threads = 0
function setup(thread)
    thread:set("offset", threads * math.floor(#cookies / 2))
    thread:set("thread_index", threads)
    threads = threads + 1
end
function init(args)
    counter = tonumber(offset) or 0
    parity = (tonumber(thread_index) or 0) % 2
end
function request()
    counter = counter + 1
    local round = math.floor(counter / #cookies)
    local headers = {}
    headers["Content-Type"] = "application/json"
    headers["Cookie"] = cookies[(counter % #cookies) + 1]
    return wrk.format("PUT", nil, headers, string.format('{"quantity":%d}', 2 * (round % 4) + 1 + parity))
end
EOF
ONE_COOKIE="$WORK/one-cookie.txt"
echo "$COOKIE_HEADER" > "$ONE_COOKIE"
CEIL_ONE_COOKIE="$WORK/ceiling-one-cookie.txt"
echo "$CEIL_COOKIE" > "$CEIL_ONE_COOKIE"

declare -a ROWS=()

# Commands the Redis server has processed so far (all its clients: the
# count per request is exact only while nothing else uses that server).
redis_commands() {
    redis-cli -u "$REDIS_URL" INFO stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" { print $2 }'
}
declare -A RPS=()
# The invalid scenarios: FAILED lists each as "name (why)"; INVALID[name]
# is set for those whose own answers make them so (no ratio to them).
declare -A INVALID=()
FAILED=()

# above_zero X: whether X is a number above 0 (an empty X is not).
above_zero() {
    awk -v x="$1" 'BEGIN { exit !(x + 0 > 0) }'
}

# start_profile NAME PID: with NAME in BENCH_PROFILE, starts `perf record`
# on PID into $PROFILE_DIR/NAME.data (a / in NAME becomes -); stop_profile
# NAME stops it and prints the top symbols by self time.
start_profile() {
    case ",$PROFILE," in *",$1,"*) ;; *) return 0 ;; esac
    local data="$PROFILE_DIR/${1//\//-}.data"
    mkdir -p "$PROFILE_DIR"
    rm -f "$data" "$data.old"
    perf record -q -F 999 -p "$2" -o "$data" > /dev/null 2> "$WORK/perf.err" 9>&- &
    PERF_PID=$!
    sleep 0.2
}
stop_profile() {
    [ -n "$PERF_PID" ] || return 0
    kill -INT "$PERF_PID" 2> /dev/null || true
    wait "$PERF_PID" 2> /dev/null || true
    PERF_PID=""
    local data="$PROFILE_DIR/${1//\//-}.data"
    if [ ! -s "$data" ]; then
        log "profile of $1: perf recorded nothing: $(tail -n 3 "$WORK/perf.err" 2> /dev/null)"
        return 0
    fi
    log "profile of $1: $data (top symbols by self time; this row ran under perf)"
    perf report -q -i "$data" --no-children --sort dso,symbol --percent-limit 0.8 2> /dev/null \
        | sed 's/  \+-  \+- *$//; s/ \+$//' | cut -c1-160 | head -40 >&2 || true
}

# run_wrk NAME RATIO_TO URL [wrk args...]: runs wrk, prints one summary
# line and adds a row to the table. RATIO_TO: the ceiling scenario whose
# percentage to give, `x:NAME` for a multiple of NAME, or `-`. The PUT
# script reads its cookies from the file $WRK_COOKIES names. A scenario
# with a non-2xx answer, a socket error (wrk goes on, and exits 0, when
# its target dies mid-run) or no req/s above 0 is invalid: `invalid` as
# its ratio. One whose base is so gets no ratio (`-`), which makes it
# invalid too. Either way it is named after the table, and the run exits 1.
run_wrk() {
    local name=$1 ratio_to=$2 url=$3
    shift 3
    local out="$WORK/wrk-${name//\//-}.txt" cmds_before cmds_after
    cmds_before="$(redis_commands)"
    # The process the scenario measures: the ceiling for ceil-*, the
    # process-lock instance for */process, else the service.
    local measured=$API_PID cpu_before cpu_after cpu_per_request=?
    case "$name" in
        ceil-*) measured=$CEIL_PID ;;
        */process) measured=$API2_PID ;;
    esac
    cpu_before="$(cpu_ticks "$measured")"
    local idle_before total_before idle_after total_after idle=?
    read -r idle_before total_before <<< "$(machine_ticks)"
    log "wrk: $name ($url)"
    start_profile "$name" "$measured"
    if ! KM_BENCH_COOKIES="${WRK_COOKIES:-/dev/null}" \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${BENCH_SECONDS}s" --latency "$@" "$url" > "$out" 2>&1 9>&-; then
        cat "$out" >&2
        check_alive "the service" "$API_PID"
        check_alive "the ceiling" "$CEIL_PID"
        die "wrk failed for $name"
    fi
    cmds_after="$(redis_commands)"
    cpu_after="$(cpu_ticks "$measured")"
    read -r idle_after total_after <<< "$(machine_ticks)"
    [ "$total_after" -gt "$total_before" ] \
        && idle="$(awk -v i="$((idle_after - idle_before))" -v t="$((total_after - total_before))" 'BEGIN { printf "%.0f%%", 100 * i / t }')"
    stop_profile "$name"
    if [ "${BENCH_VERBOSE:-0}" = 1 ]; then
        cat "$out" >&2
    fi
    local rps p50 p99 non2xx errors ratio=- requests per_request=?
    rps="$(awk '/^Requests\/sec:/ { print $2 }' "$out")"
    p50="$(awk '$1 == "50%" { print $2 }' "$out")"
    p99="$(awk '$1 == "99%" { print $2 }' "$out")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")"
    errors="$(sed -n 's/^ *Socket errors: *//p' "$out")"
    RPS[$name]="${rps:-}"
    requests="$(awk '/ requests in / { print $1 }' "$out")"
    # A negative count: someone reset the server's statistics meanwhile.
    [ -n "$requests" ] && [ "$requests" -gt 0 ] && [ -n "$cmds_before" ] && [ -n "$cmds_after" ] \
        && [ "$cmds_after" -ge "$cmds_before" ] \
        && per_request="$(awk -v c="$((cmds_after - cmds_before))" -v r="$requests" 'BEGIN { printf "%.1f", c / r }')"
    [ -n "$requests" ] && [ "$requests" -gt 0 ] && [ -n "$cpu_before" ] && [ -n "$cpu_after" ] \
        && [ "$cpu_after" -ge "$cpu_before" ] \
        && cpu_per_request="$(awk -v t="$((cpu_after - cpu_before))" -v hz="$TICK_HZ" -v r="$requests" 'BEGIN { printf "%.1f", 1e6 * t / hz / r }')"
    local why=() base_name="" base=""
    [ "${non2xx:-0}" = 0 ] || why+=("$non2xx non-2xx answers")
    [ -z "$errors" ] || why+=("socket errors: $errors")
    above_zero "${rps:-}" || why+=("no req/s above 0")
    case "$ratio_to" in
        -) ;;
        x:*) base_name="${ratio_to#x:}" ;;
        *) base_name="$ratio_to" ;;
    esac
    [ -z "$base_name" ] || base="${RPS[$base_name]:-}"
    if [ "${#why[@]}" -gt 0 ]; then
        ratio=invalid
        INVALID[$name]=1
    elif [ -z "$base_name" ]; then
        :
    elif [ -n "${INVALID[$base_name]:-}" ] || ! above_zero "$base"; then
        why+=("no ratio: $base_name is invalid")
    elif [ "$base_name" != "$ratio_to" ]; then
        ratio="$(awk -v a="$rps" -v b="$base" -v n="$base_name" 'BEGIN { printf "%.2fx %s", a / b, n }')"
    else
        ratio="$(awk -v a="$rps" -v b="$base" -v n="$base_name" 'BEGIN { printf "%.0f%% %s", 100 * a / b, n }')"
    fi
    if [ "${#why[@]}" -gt 0 ]; then
        local reasons
        reasons="$(printf '%s; ' "${why[@]}")"
        FAILED+=("$name (${reasons%; })")
    fi
    printf '%s: %s req/s, p50 %s, p99 %s, non-2xx %s, ratio %s, Redis commands/request %s, CPU us/request %s, machine idle %s%s\n' \
        "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "$ratio" "$per_request" "$cpu_per_request" "$idle" \
        "${errors:+, socket errors: $errors}"
    ROWS+=("$(printf '%-18s %11s %9s %9s %8s  %-20s %6s %7s %5s  %s' \
        "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non2xx:-0}" "$ratio" "$per_request" "$cpu_per_request" "$idle" "${errors:--}")")
}

CART_PUT="$BASE/api/v1/cart/items/3"
run_wrk ceil-read - "$CEIL/read" -H "Cookie: $CEIL_COOKIE"
run_wrk cart-get ceil-read "$BASE/api/v1/cart" -H "Cookie: $COOKIE_HEADER"
WRK_COOKIES="$CEIL_COOKIE_LIST" run_wrk ceil-write - "$CEIL/write" -s "$PUT_LUA"
# The lock's two pairs in opposite orders (locked first, then process
# first): a row run second in a pair is further from its ceiling and on a
# machine warmed by the first, so one order alone would lean the cost of the
# lock one way. The report says which ran first in each pair.
WRK_COOKIES="$COOKIE_LIST" run_wrk cart-put ceil-write "$CART_PUT" -s "$PUT_LUA"
WRK_COOKIES="$COOKIE_LIST" run_wrk cart-put/process ceil-write "${CART_PUT/$BASE/$BASE2}" -s "$PUT_LUA"
WRK_COOKIES="$CEIL_ONE_COOKIE" run_wrk ceil-write-1 - "$CEIL/write" -s "$PUT_LUA"
WRK_COOKIES="$ONE_COOKIE" run_wrk cart-put-1/process ceil-write-1 "${CART_PUT/$BASE/$BASE2}" -s "$PUT_LUA"
WRK_COOKIES="$ONE_COOKIE" run_wrk cart-put-1 ceil-write-1 "$CART_PUT" -s "$PUT_LUA"
stop "$API2_PID"
API2_PID=""
run_wrk ceil-healthz - "$CEIL/healthz"
run_wrk healthz ceil-healthz "$BASE/healthz"
run_wrk products x:cart-get "$BASE/api/v1/products"
run_wrk books - "$BASE/api/v1/books?genre=mystery,horror"
run_wrk reading - "$BASE/api/v1/reading-list" -H "Cookie: $COOKIE_HEADER"
run_wrk book-recs - "$BASE/api/v1/recommendations/books" -H "Cookie: $COOKIE_HEADER"

if [ "$LOGGING" = both ]; then
    stop_service production
    start_service warn
    run_wrk ceil-read/2 - "$CEIL/read" -H "Cookie: $CEIL_COOKIE"
    run_wrk cart-get/warn ceil-read/2 "$BASE/api/v1/cart" -H "Cookie: $COOKIE_HEADER"
    WRK_COOKIES="$CEIL_COOKIE_LIST" run_wrk ceil-write/2 - "$CEIL/write" -s "$PUT_LUA"
    WRK_COOKIES="$COOKIE_LIST" run_wrk cart-put/warn ceil-write/2 "$CART_PUT" -s "$PUT_LUA"
fi

# ---------------------------------------------------------------- checks
after="$(cart_state)" || after="? ?"
# And one of the visitors' carts.
visitor_lines="$(curl -fsS -H "Cookie: $(head -n 1 "$COOKIE_LIST")" "$BASE/api/v1/cart" \
    | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["lines"]))')" || visitor_lines="?"
read -r lines_after quantities_after <<< "$after"
if [ "$lines_after" = 5 ]; then
    cart_check="ok: the cart still has 5 lines after the write scenarios (product:quantity $quantities_after)"
else
    cart_check="FAILED: the cart has $lines_after lines after the write scenarios, not 5 (product:quantity $quantities_after)"
fi

check_alive "the ceiling" "$CEIL_PID"
ceiling_rss="$(peak_rss "$CEIL_PID")"
if [ "$LOGGING" = both ]; then
    stop_service warn
else
    stop_service "$LOGGING"
fi

# ---------------------------------------------------------------- report
case "$LOGGING" in
    both) logging_note="LOG_FORMAT=json at the default filter (INFO request lines) to $SERVICE_LOG; /warn rows: RUST_LOG=warn" ;;
    production) logging_note="LOG_FORMAT=json at the default filter (INFO request lines) to $SERVICE_LOG" ;;
    warn) logging_note="LOG_FORMAT=json, RUST_LOG=warn" ;;
esac
echo
echo "Kitchen Memory API: wrk -t$THREADS -c$CONNECTIONS -d${BENCH_SECONDS}s --latency; sessions in Redis, menu in PostgreSQL"
echo "service logging: $logging_note"
echo "session lock: ${LOCK_ENV[*]:-SESSION_LOCK unset (the default of the service)}; the */process rows: a second instance with SESSION_LOCK=process, the same logging"
[ "${#EXTRA_ENV[@]}" -eq 0 ] || echo "service environment added (BENCH_SERVICE_ENV): ${EXTRA_ENV[*]}"
[ -z "$PROFILE" ] || echo "profiled under perf (slower): $PROFILE"
echo "ceiling: bench-ceiling, one GET (read) or GET + SET EX (write) per request; $RECORDS"
printf '%-18s %11s %9s %9s %8s  %-20s %6s %7s %5s  %s\n' scenario 'req/s' p50 p99 non-2xx ratio redis/r 'cpu/r' idle 'socket errors'
printf '%s\n' "${ROWS[@]}"
# percent_of A B: A's req/s as a percentage of B's, or ? when either is missing.
percent_of() {
    local a="${RPS[$1]:-}" b="${RPS[$2]:-}"
    if above_zero "$a" && above_zero "$b"; then
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.0f%%", 100 * a / b }'
    else
        echo "?"
    fi
}
echo "cost of the lock: cart-put $(percent_of cart-put cart-put/process) of cart-put/process (locked row first), cart-put-1 $(percent_of cart-put-1 cart-put-1/process) of cart-put-1/process (process row first)"
printf 'peak RSS (VmHWM) of the service: %s\n' "${SERVICE_RSS[@]}"
echo "peak RSS (VmHWM) of the ceiling: $ceiling_rss"
echo "cart check: $cart_check"

echo "visitor cart check: $visitor_lines lines (expected 5)"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "INVALID, the run failed:"
    printf '  %s\n' "${FAILED[@]}"
fi

[ "${#FAILED[@]}" -eq 0 ] || die "${#FAILED[@]} invalid scenario(s): ${FAILED[*]%% *}"
[ "$lines_after" = 5 ] && [ "$visitor_lines" = 5 ] || die "a cart check failed"
