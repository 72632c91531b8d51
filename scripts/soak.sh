#!/usr/bin/env bash
# Soak the API (release build, PostgreSQL menu and orders, Redis sessions,
# the default session lock) with a steady mix of reads, cart writes and
# checkouts, and check that nothing fails and memory stays flat.
#
#   scripts/soak.sh                   # 60 s, after a 10 s warm-up
#   SOAK_SECONDS=600 scripts/soak.sh
#
# The load: `wrk -t64 -c64`, one connection per wrk thread, so that each
# connection is one visitor with a session of its own: the thread keeps the
# session cookie of the first `Set-Cookie: km_session=...` it is answered
# with and sends it from then on (wrk's Lua gives a script its thread, not
# its connection). Each visitor goes round the same ten requests:
#
#   POST /api/v1/cart/items {"product_id":A,"quantity":1}   cart write
#   GET  /api/v1/products                                   read
#   GET  /api/v1/cart                                       read
#   PUT  /api/v1/cart/items/B {"quantity":2}                cart write
#   GET  /api/v1/menu                                       read
#   POST /api/v1/cart/items {"product_id":C,"quantity":1}   cart write
#   GET  /api/v1/products/A                                 read
#   PUT  /api/v1/cart/items/A {"quantity":3}                cart write
#   GET  /api/v1/cart                                       read
#   POST /api/v1/orders                                     checkout
#
# A, B and C are three different dishes, chosen per visitor and per round
# among the menu's available dishes: 5 reads, 4 writes and 1 checkout in
# every 10 requests, and the checkout finds a 3-line cart, which it empties.
# The soak's own database starts from the migrations' demo menu with every
# available dish's stock raised to 2,000,000,000 (past what any soak can
# order), so that a checkout never runs out of stock into a 409.
#
# The service runs with a clean environment as production would, except for
# APP_ENV=development (plain-HTTP cookies), SESSION_COOKIE_AGE=900 (what a
# failed run leaves in Redis expires in 15 minutes) and
# NEW_SESSION_LIMIT_PER_IP:
# every visitor comes from 127.0.0.1 here, where a real deployment has one
# address per visitor, so that limit is raised to 100000/600 (still counted
# in Redis, as every new session is). SESSION_LOCK is not set: with Redis
# sessions the service takes a session's turns through Redis.
#
# It prints the requests and how they split, the errors (non-2xx answers, as
# the Lua script counts them, plus wrk's socket errors: connect, read,
# write, timeout), p50/p99/max latency, the service's RSS (VmRSS from
# /proc/PID/status) after the warm-up and at the end, its growth, the peak
# (VmHWM), the service's CPU time, the machine's load average and idle share
# during the soak, and the orders stored against the checkouts answered
# 201; then the ERROR and WARN lines of the service's log (warm-up, soak
# and its stop by SIGTERM), counted, and each kind with its count. It exits
# 1 when there is any error (in the warm-up too), when fewer orders are
# stored than checkouts were answered 201 (or more than those plus one per
# connection and run, in flight when wrk stopped), when the RSS grew by more
# than SOAK_MAX_RSS_GROWTH_MIB, or when the service logged any ERROR line
# or panicked.
#
# Environment:
#   SOAK_SECONDS         seconds of soak (default 60)
#   SOAK_WARMUP_SECONDS  seconds of the same load first, not measured
#                        (default 10; 0 for none)
#   SOAK_PORT            port to serve on (default 18383; another free port
#                        is chosen when it is taken)
#   SOAK_PG_HOST, SOAK_PG_PORT, SOAK_PG_USER, SOAK_PG_DB
#                        defaults 127.0.0.1, 5432, postgres, km_soak: a fresh
#                        database, created first and dropped at exit
#   SOAK_REDIS_URL       Redis for the sessions (default
#                        redis://127.0.0.1:6379/14). The run refuses a
#                        database that already holds keys (saying how to
#                        recover), and never flushes one: at exit it deletes what it made there (the
#                        session records of its visitors' cookies and the
#                        keys under the service's prefixes `km:rate:` and
#                        `km:session-lock:`) and says what is left
#   SOAK_MAX_RSS_GROWTH_MIB  fail when VmRSS grew by more than this many
#                        MiB from the start to the end of the soak (default
#                        16; a whole or decimal number)
#   SOAK_SERVICE_LOG     where the service's log goes, kept after the run
#                        (default: a file in the run's temporary directory,
#                        read for ERROR and WARN lines, then deleted)
#   SOAK_SKIP_BUILD=1    do not run `cargo build --release -p api`
#
# One run at a time per machine, and never during a `just bench`: both take
# the flock on $TMPDIR/km-bench.lock.
#
# Needs curl, psql, redis-cli, flock and python3; installs wrk with apt-get
# when it is missing. Dropping the database uses DROP DATABASE ... WITH
# (FORCE), PostgreSQL 13 or later.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOAD_NAME=soak
# shellcheck source=scripts/lib/load.sh
. "$ROOT/scripts/lib/load.sh"

SOAK_SECONDS="${SOAK_SECONDS:-60}"
WARMUP_SECONDS="${SOAK_WARMUP_SECONDS:-10}"
CONNECTIONS=64
COOKIE_NAME=km_session
SECRET_KEY_FIXED="kitchen-memory-soak-secret-key-0123456789abcdef"
SESSION_LIMIT="100000/600"
STOCK=2000000000
MAX_GROWTH="${SOAK_MAX_RSS_GROWTH_MIB:-16}"
# Anonymous sessions expire this long after their last change: a run that
# fails before its clean-up leaves records that expire within 15 minutes,
# not the default two weeks (the soak's visitors write every ten requests,
# so their sessions never come near it).
SESSION_AGE=900

PG_HOST="${SOAK_PG_HOST:-127.0.0.1}"
PG_PORT="${SOAK_PG_PORT:-5432}"
PG_USER="${SOAK_PG_USER:-postgres}"
PG_DB="${SOAK_PG_DB:-km_soak}"
REDIS_URL="${SOAK_REDIS_URL:-redis://127.0.0.1:6379/14}"

case "$SOAK_SECONDS" in
    '' | *[!0-9]* | 0) die "SOAK_SECONDS must be a positive whole number, not '$SOAK_SECONDS'" ;;
esac
case "$WARMUP_SECONDS" in
    '' | *[!0-9]*) die "SOAK_WARMUP_SECONDS must be a whole number, not '$WARMUP_SECONDS'" ;;
esac
[[ $MAX_GROWTH =~ ^[0-9]+(\.[0-9]+)?$ ]] \
    || die "SOAK_MAX_RSS_GROWTH_MIB must be a number of MiB (like 16 or 2.5), not '$MAX_GROWTH'"
case "$PG_DB" in
    *[!a-z0-9_]* | '') die "SOAK_PG_DB must be a lower-case name of letters, digits and _, not '$PG_DB'" ;;
esac

# ---------------------------------------------------------------- tools
load_tools

# ---------------------------------------------------------------- build
load_build "${SOAK_SKIP_BUILD:-0}" api
BIN="$(release_bin api)"

# ---------------------------------------------------------------- one at a time
# The same lock as scripts/bench.sh (scripts/lib/load.sh): a soak and a
# benchmark on one machine would each measure the other.
load_lock

# ---------------------------------------------------------------- clean-up
load_work
FAILURE_LOGS=("$WORK/api.err")
# The service's log (JSON lines): read after the soak for its errors and
# warnings, which the answers alone do not show (a lock renewal lost, a
# store error behind a retry, a menu reload that failed, a 5xx's cause).
SERVICE_LOG="${SOAK_SERVICE_LOG:-$WORK/service.log}"
: > "$SERVICE_LOG" || die "cannot write SOAK_SERVICE_LOG=$SERVICE_LOG"
FAILURE_LOGS+=("$SERVICE_LOG")
COOKIES_OUT="$WORK/cookies.txt"
: > "$COOKIES_OUT"
API_PID=""

# What the run made in Redis: the session records of the cookies the wrk
# runs wrote to $COOKIES_OUT (`km_session=VALUE` a line), the service's
# rate-limit counters and session locks; then what is left there, which
# the run did not make.
clean_redis() {
    clean_service_keys "$COOKIES_OUT"
    local left
    left="$(redis-cli -u "$REDIS_URL" DBSIZE 2> /dev/null || echo "?")"
    [ "$left" = 0 ] || log "$left keys are left in $REDIS_URL after the clean-up"
}

cleanup() {
    local status=$?
    set +e
    stop "$API_PID"
    load_finish "$status"
}
load_traps

# ---------------------------------------------------------------- redis
redis_ping
keys="$(redis-cli -u "$REDIS_URL" DBSIZE)"
[ "$keys" = 0 ] \
    || die "$REDIS_URL holds $keys keys: the soak needs a Redis database of its own (SOAK_REDIS_URL), and deletes nothing it did not make. Left by a soak that stopped before its clean-up? They expire within 15 minutes (its sessions live $SESSION_AGE s), or, when nothing else uses that database: redis-cli -u '$REDIS_URL' FLUSHDB (the default: redis-cli -n 14 FLUSHDB)"
REDIS_USED=1

# ---------------------------------------------------------------- service
psql_soak() {
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -v ON_ERROR_STOP=1 -qAtX "$@"
}

create_database

PORT="$(free_port "${SOAK_PORT:-18383}")"
BASE="http://127.0.0.1:$PORT"

# A clean environment (service_base_env): no SESSION_LOCK, the service's
# default.
service_base_env "$PORT"
SERVICE_ENV+=(
    SESSION_COOKIE_AGE="$SESSION_AGE"
    NEW_SESSION_LIMIT_PER_IP="$SESSION_LIMIT"
)

# The demo menu, then stock no soak can exhaust on every available dish;
# the service reads the menu as it starts, after this.
env -i "${SERVICE_ENV[@]}" "$BIN" migrate > /dev/null 2> "$WORK/api.err" 9>&- \
    || die "api migrate failed: $(tail -n 5 "$WORK/api.err")"
PRODUCTS="$(psql_soak -c "UPDATE products SET stock = $STOCK WHERE available RETURNING id" | sort -n | paste -sd, -)"
[ "$(tr ',' '\n' <<< "$PRODUCTS" | grep -c .)" -ge 3 ] \
    || die "the demo menu has fewer than 3 available dishes ($PRODUCTS); the soak's carts need 3"
log "dishes ordered: $PRODUCTS (stock $STOCK each)"

log "starting $BIN on 127.0.0.1:$PORT (SESSION_BACKEND=redis, SESSION_LOCK unset)"
env -i "${SERVICE_ENV[@]}" "$BIN" >> "$SERVICE_LOG" 2> "$WORK/api.err" 9>&- &
API_PID=$!
wait_ready "the service" "$API_PID" "$BASE/readyz"

# ---------------------------------------------------------------- load
LUA="$WORK/soak.lua"
cat > "$LUA" << 'EOF'
-- One connection per thread (-t N -c N): a thread's globals are its
-- visitor's. request() and response() run in the thread's own Lua state;
-- setup() and done() in the main one, which wrk also calls request() in
-- once, to check the request, before any thread starts.
local products = {}
for id in string.gmatch(os.getenv("KM_SOAK_PRODUCTS") or "", "%d+") do
    products[#products + 1] = id
end
local cookie_name = os.getenv("KM_SOAK_COOKIE_NAME") or "km_session"
local threads = {}

visitor = 0
step = 0
round = 0
cookie = nil
kind = "read"
-- Answers by kind (2xx only), non-2xx answers, the last one seen.
reads, writes, checkouts, bad = 0, 0, 0, 0
last_bad = ""

function setup(thread)
    thread:set("visitor", #threads)
    threads[#threads + 1] = thread
end

local function dish(k)
    return products[((visitor + round + k) % #products) + 1]
end

function request()
    step = step % 10 + 1
    if step == 1 then
        round = round + 1
    end
    local a, b, c = dish(0), dish(1), dish(2)
    local headers = {}
    if cookie then
        headers["Cookie"] = cookie
    end
    local method, path, body = "GET", nil, nil
    kind = "read"
    if step == 1 then
        method, path, body = "POST", "/api/v1/cart/items", '{"product_id":' .. a .. ',"quantity":1}'
    elseif step == 2 then
        path = "/api/v1/products"
    elseif step == 3 then
        path = "/api/v1/cart"
    elseif step == 4 then
        method, path, body = "PUT", "/api/v1/cart/items/" .. b, '{"quantity":2}'
    elseif step == 5 then
        path = "/api/v1/menu"
    elseif step == 6 then
        method, path, body = "POST", "/api/v1/cart/items", '{"product_id":' .. c .. ',"quantity":1}'
    elseif step == 7 then
        path = "/api/v1/products/" .. a
    elseif step == 8 then
        method, path, body = "PUT", "/api/v1/cart/items/" .. a, '{"quantity":3}'
    elseif step == 9 then
        path = "/api/v1/cart"
    else
        method, path = "POST", "/api/v1/orders"
    end
    if body then
        headers["Content-Type"] = "application/json"
        kind = "write"
    end
    if step == 10 then
        kind = "checkout"
    end
    last_path = method .. " " .. path
    return wrk.format(method, path, headers, body)
end

function response(status, headers, body)
    -- A response's Set-Cookie headers arrive as one entry (the last); the
    -- session cookie is set alone, on the visitor's first write.
    local set = headers["set-cookie"] or headers["Set-Cookie"]
    if set then
        local value = string.match(set, "^" .. cookie_name .. "=([^;]*)")
        if value and value ~= "" then
            cookie = cookie_name .. "=" .. value
        end
    end
    if status < 200 or status > 299 then
        bad = bad + 1
        last_bad = status .. " to " .. last_path .. ": " .. string.sub(body or "", 1, 300)
    elseif kind == "checkout" then
        checkouts = checkouts + 1
    elseif kind == "write" then
        writes = writes + 1
    else
        reads = reads + 1
    end
end

function done(summary, latency, requests)
    local r, w, c, b, without = 0, 0, 0, 0, 0
    local out = io.open(os.getenv("KM_SOAK_COOKIES_OUT"), "a")
    for _, t in ipairs(threads) do
        r = r + t:get("reads")
        w = w + t:get("writes")
        c = c + t:get("checkouts")
        b = b + t:get("bad")
        local k = t:get("cookie")
        if k then
            out:write(k, "\n")
        else
            without = without + 1
        end
        local last = t:get("last_bad")
        if last ~= "" then
            io.write("soak-last-non-2xx: ", last, "\n")
        end
    end
    out:close()
    io.write(string.format("soak-counts: reads=%d writes=%d checkouts=%d non2xx=%d without_cookie=%d\n",
        r, w, c, b, without))
end
EOF

# run_load SECONDS OUT: the mix for SECONDS, wrk's report in OUT.
run_load() {
    KM_SOAK_PRODUCTS="$PRODUCTS" KM_SOAK_COOKIE_NAME="$COOKIE_NAME" KM_SOAK_COOKIES_OUT="$COOKIES_OUT" \
        wrk -t"$CONNECTIONS" -c"$CONNECTIONS" -d"${1}s" --timeout 10s --latency -s "$LUA" "$BASE" \
        > "$2" 2>&1 9>&- || {
        cat "$2" >&2
        check_alive "the service" "$API_PID"
        die "wrk failed"
    }
    check_alive "the service" "$API_PID"
}

# counts OUT: "reads writes checkouts non2xx without_cookie socket_errors"
counts() {
    local socket
    socket="$(sed -n 's/^ *Socket errors: *//p' "$1" \
        | awk -F', *' '{ n = 0; for (i = 1; i <= NF; i++) { split($i, f, " "); n += f[2] } print n }')"
    awk -v socket="${socket:-0}" '/^soak-counts:/ {
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["reads"], v["writes"], v["checkouts"], v["non2xx"], v["without_cookie"], socket
    }' "$1"
}

vm() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$API_PID/status"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }
signed_mib() { awk -v kb="$1" 'BEGIN { printf "%+.1f MiB", kb / 1024 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

FAILED=()
WARM_CHECKOUTS=0
runs=1
if [ "$WARMUP_SECONDS" -gt 0 ]; then
    runs=2
    log "warm-up: ${WARMUP_SECONDS} s"
    run_load "$WARMUP_SECONDS" "$WORK/warmup.txt"
    read -r _ _ WARM_CHECKOUTS warm_bad _ warm_socket <<< "$(counts "$WORK/warmup.txt")"
    [ -n "$WARM_CHECKOUTS" ] || { cat "$WORK/warmup.txt" >&2; die "no counts from the warm-up's Lua script"; }
    if [ "$warm_bad" != 0 ] || [ "$warm_socket" != 0 ]; then
        grep '^soak-last-non-2xx:' "$WORK/warmup.txt" | head -n 5 >&2 || true
        FAILED+=("warm-up: $warm_bad non-2xx answers, $warm_socket socket errors")
    fi
fi

rss_start="$(vm VmRSS)"
cpu_start="$(cpu_ticks "$API_PID")"
load_start="$(loadavg)"
read -r idle_start total_start <<< "$(machine_ticks)"
log "soak: ${SOAK_SECONDS} s, wrk -t$CONNECTIONS -c$CONNECTIONS (VmRSS $(mib "$rss_start"), load average $load_start)"
run_load "$SOAK_SECONDS" "$WORK/soak.txt"
rss_end="$(vm VmRSS)"
hwm="$(vm VmHWM)"
cpu_end="$(cpu_ticks "$API_PID")"
load_end="$(loadavg)"
read -r idle_end total_end <<< "$(machine_ticks)"

read -r reads writes checkouts non2xx without_cookie socket <<< "$(counts "$WORK/soak.txt")"
[ -n "$checkouts" ] || { cat "$WORK/soak.txt" >&2; die "no counts from the soak's Lua script"; }
requests="$(awk '/ requests in / { print $1 }' "$WORK/soak.txt")"
rps="$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/soak.txt")"
p50="$(awk '$1 == "50%" { print $2 }' "$WORK/soak.txt")"
p99="$(awk '$1 == "99%" { print $2 }' "$WORK/soak.txt")"
max="$(awk '$1 == "Latency" { print $4 }' "$WORK/soak.txt")"
errors=$((non2xx + socket))
growth_kb=$((rss_end - rss_start))
growth_pct="$(awk -v a="$rss_start" -v g="$growth_kb" 'BEGIN { printf "%+.1f%%", 100 * g / a }')"
cpu_us="$(awk -v t="$((cpu_end - cpu_start))" -v hz="$TICK_HZ" -v r="${requests:-0}" \
    'BEGIN { if (r > 0) printf "%.1f", 1e6 * t / hz / r; else print "?" }')"
idle="$(awk -v i="$((idle_end - idle_start))" -v t="$((total_end - total_start))" \
    'BEGIN { if (t > 0) printf "%.0f%%", 100 * i / t; else print "?" }')"
orders="$(psql_soak -c "SELECT count(*) FROM orders")"
min_stock="$(psql_soak -c "SELECT min(stock) FROM products WHERE id IN ($PRODUCTS)")"

if [ "$errors" -gt 0 ]; then
    grep '^soak-last-non-2xx:' "$WORK/soak.txt" | head -n 5 >&2 || true
    grep -E '^ *Socket errors:' "$WORK/soak.txt" >&2 || true
    FAILED+=("soak: $errors errors ($non2xx non-2xx answers, $socket socket errors)")
fi
[ "${without_cookie:-0}" = 0 ] \
    || FAILED+=("$without_cookie visitors never got a session cookie")
# Every checkout answered 201 is an order; past those, at most one checkout
# per connection and run was still in flight when wrk stopped (it stops
# without reading the last answers), and may have been stored.
answered=$((WARM_CHECKOUTS + checkouts))
in_flight=$((CONNECTIONS * runs))
[ "$orders" -ge "$answered" ] && [ "$orders" -le $((answered + in_flight)) ] \
    || FAILED+=("$orders orders stored for $answered checkouts answered 201 (warm-up $WARM_CHECKOUTS, soak $checkouts) and at most $in_flight in flight when wrk stopped")
[ "$checkouts" -gt 0 ] || FAILED+=("no checkout succeeded")
if awk -v g="$growth_kb" -v m="$MAX_GROWTH" 'BEGIN { exit !(g / 1024 > m) }'; then
    FAILED+=("VmRSS grew by $(signed_mib "$growth_kb"), past SOAK_MAX_RSS_GROWTH_MIB=$MAX_GROWTH")
fi

# The service stopped as a deploy stops it (SIGTERM), so that what it logs
# while stopping (checkouts cut short, say) is counted too.
stop "$API_PID"
API_PID=""
# log_summary: "ERRORS WARNINGS NOT_JSON", then each distinct (level,
# target, message) of those with its count and one line's other fields, the
# most frequent first, at most 10 of each level.
log_summary() {
    python3 - "$SERVICE_LOG" << 'EOF'
import collections, json, sys
seen = {"ERROR": collections.Counter(), "WARN": collections.Counter()}
example = {}
unreadable = 0
with open(sys.argv[1], errors="replace") as f:
    for line in f:
        try:
            entry = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        level = entry.get("level")
        if level not in seen:
            continue
        fields = dict(entry.get("fields") or {})
        key = (entry.get("target", "?"), str(fields.pop("message", "")))
        seen[level][key] += 1
        if "span" in entry:
            fields["span"] = entry["span"]
        example.setdefault((level, key), fields)
print(sum(seen["ERROR"].values()), sum(seen["WARN"].values()), unreadable)
for level in ("ERROR", "WARN"):
    for (target, message), n in seen[level].most_common(10):
        print(f"  {level} x{n} {target}: {message} {json.dumps(example[(level, (target, message))])[:300]}")
EOF
}
log_report="$(log_summary)" || die "cannot read the service's log $SERVICE_LOG"
read -r log_errors log_warnings log_unreadable <<< "$(head -n 1 <<< "$log_report")"
log_lines="$(tail -n +2 <<< "$log_report")"
panics="$(grep -c 'panicked' "$WORK/api.err" || true)"
[ "$log_errors" = 0 ] || FAILED+=("the service logged $log_errors ERROR lines")
[ "${panics:-0}" = 0 ] || FAILED+=("the service panicked $panics times (its stderr)")

echo
echo "Kitchen Memory API soak: wrk -t$CONNECTIONS -c$CONNECTIONS -d${SOAK_SECONDS}s (warm-up: ${WARMUP_SECONDS} s); sessions in Redis, menu and orders in PostgreSQL; SESSION_LOCK unset (the Redis lock)"
echo "requests:      ${requests:-?} (${rps:-?} req/s): $reads reads, $writes cart writes, $checkouts checkouts answered 2xx"
echo "errors:        $errors ($non2xx non-2xx answers, $socket socket errors)"
echo "latency:       p50 ${p50:-?}, p99 ${p99:-?}, max ${max:-?}"
echo "RSS (VmRSS):   $(mib "$rss_start") at the start (after the warm-up), $(mib "$rss_end") at the end: $(signed_mib "$growth_kb") ($growth_pct); peak (VmHWM) $(mib "$hwm")"
echo "service CPU:   $cpu_us us/request"
echo "machine:       load average $load_start at the start, $load_end at the end; $idle of the CPU time idle during the soak ($(nproc) cores)"
echo "service log:   $log_errors ERROR, $log_warnings WARN lines (JSON; $log_unreadable lines not JSON)${SOAK_SERVICE_LOG:+, kept in $SOAK_SERVICE_LOG}"
[ -z "$log_lines" ] || printf '%s\n' "$log_lines"
echo "orders stored: $orders (checkouts answered 201: warm-up $WARM_CHECKOUTS, soak $checkouts; the rest were in flight when wrk stopped); lowest stock left $min_stock"
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "FAILED:"
    printf '  %s\n' "${FAILED[@]}"
    exit 1
fi
echo "ok"
