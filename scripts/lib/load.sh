# What scripts/bench.sh and scripts/soak.sh share: both start the release
# build on PostgreSQL and Redis with a clean environment, load it with wrk,
# read its CPU and memory from /proc, and delete what they made at exit.
# Sourced, not run, after `set -euo pipefail`; the script sets first:
#
#   LOAD_NAME     bench or soak: messages' prefix, the temporary directory's
#   ROOT          the repository
#   PG_HOST, PG_PORT, PG_USER, PG_DB   where the run's database is made
#   REDIS_URL     the Redis database of the sessions
#   COOKIE_NAME   the session cookie's name
#
# and defines clean_redis (what its run made in Redis) and cleanup (stops
# its processes, then calls load_finish with the exit status).

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$LOAD_NAME" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
# load_tools: installs wrk when it is missing (apt-get, through sudo when
# not root), and checks the other tools both scripts call.
load_tools() {
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    if ! command -v wrk > /dev/null 2>&1; then
        log "installing wrk"
        if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; then
            "${sudo[@]}" apt-get update
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk
        fi
    fi
    local tool
    for tool in curl psql redis-cli flock python3; do
        command -v "$tool" > /dev/null 2>&1 || die "$tool is needed"
    done
}

# load_build SKIP PACKAGE...: `cargo build --release` of the packages
# unless SKIP is 1.
load_build() {
    local skip=$1
    shift
    [ "$skip" = 1 ] && return 0
    local args=() package
    for package in "$@"; do
        args+=(-p "$package")
    done
    log "cargo build --release ${args[*]}"
    cargo build --release "${args[@]}"
}

# release_bin NAME: the path of the release build's binary NAME, which must
# exist.
release_bin() {
    local bin="${CARGO_TARGET_DIR:-$ROOT/target}/release/$1"
    [ -x "$bin" ] || die "$bin is missing; build it with cargo build --release -p $1"
    echo "$bin"
}

# ---------------------------------------------------------------- one at a time
# load_lock: waits for the machine's one load run at a time. A benchmark and
# a soak on one machine would each measure the other, and share rate-limit
# counters and the default databases: both take this lock. The script
# starts the service, wrk and the rest with fd 9 closed (`9>&-`), so that
# none of them holds the lock after it.
load_lock() {
    exec 9> "${TMPDIR:-/tmp}/km-bench.lock"
    if ! flock -n 9; then
        log "a bench or soak run holds ${TMPDIR:-/tmp}/km-bench.lock; waiting for it"
        flock 9
    fi
}

# ---------------------------------------------------------------- clean-up
# load_work: the run's temporary directory in WORK, and the clean-up state.
load_work() {
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/km-$LOAD_NAME.XXXXXX")"
    DB_CREATED=0
    REDIS_USED=0
    # Files whose last lines are printed when the run fails.
    FAILURE_LOGS=()
}

# load_traps: cleanup at exit, also on Ctrl-C and SIGTERM.
load_traps() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# load_finish STATUS: after the script's cleanup has stopped its processes:
# its Redis keys, the database it made, the logs of a failed run, WORK;
# then exits with STATUS.
load_finish() {
    local status=$1 f
    set +e
    [ "$REDIS_USED" = 1 ] && clean_redis
    [ "$DB_CREATED" = 1 ] && drop_database
    if [ "$status" -ne 0 ]; then
        for f in "${FAILURE_LOGS[@]}"; do
            if [ -s "$f" ]; then
                log "$(basename "$f") (last 30 lines):"
                tail -n 30 "$f" >&2
            fi
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}

# stop PID: SIGTERM, then SIGKILL after 5 s.
stop() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 0
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
}

# ---------------------------------------------------------------- redis
# cookie_session_keys FILE...: the Redis keys of the session cookies named
# COOKIE_NAME in FILEs, one a line. A file may be a curl cookie jar
# (Netscape: tab-separated, name in field 6, value in field 7; an HttpOnly
# cookie's line starts with `#HttpOnly_`) or hold `NAME=VALUE` lines; a
# missing file is skipped (a preparation that stopped half way). The cookie
# is signed (the cookie crate's signed jar: base64 of a 32-byte HMAC, 44
# characters, then the value) and percent-encoded; the value is the session
# id, which the Redis store uses as the key as it is.
cookie_session_keys() {
    python3 - "$COOKIE_NAME" "$@" << 'EOF'
import sys, urllib.parse
name = sys.argv[1]
for path in sys.argv[2:]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        continue
    for line in lines:
        fields = line.split("\t")
        if len(fields) >= 7 and fields[5] == name:
            value = fields[6]
        elif line.startswith(name + "="):
            value = line[len(name) + 1:]
        else:
            continue
        value = urllib.parse.unquote(value)
        if len(value) > 44:
            print(value[44:])
EOF
}

# session_key COOKIE: the Redis key of one `NAME=VALUE` session cookie.
session_key() {
    printf '%s\n' "$1" > "$WORK/one-session-cookie"
    cookie_session_keys "$WORK/one-session-cookie"
}

# del_matching PATTERN: deletes the keys matching PATTERN in REDIS_URL.
del_matching() {
    redis-cli -u "$REDIS_URL" --scan --pattern "$1" | xargs -r redis-cli -u "$REDIS_URL" DEL > /dev/null
}

# clean_service_keys FILE...: deletes what the service made for the run in
# REDIS_URL: the session records of the cookies in FILEs (as
# cookie_session_keys reads them), and its rate-limit counters and session
# locks (every key under its prefixes `km:rate:` and `km:session-lock:`).
clean_service_keys() {
    cookie_session_keys "$@" | xargs -r redis-cli -u "$REDIS_URL" DEL > /dev/null \
        || log "could not delete the run's session records"
    local prefix
    for prefix in km:rate: km:session-lock:; do
        del_matching "${prefix}*" || log "could not delete the keys ${prefix}*"
    done
}

# redis_ping: dies when REDIS_URL does not answer.
redis_ping() {
    redis-cli -u "$REDIS_URL" PING | grep -q PONG || die "Redis does not answer at $REDIS_URL"
}

# ---------------------------------------------------------------- database
# create_database: a fresh PG_DB (dropped first if a run left it), dropped
# by load_finish; its URL in DATABASE_URL. DROP DATABASE ... WITH (FORCE)
# needs PostgreSQL 13 or later.
create_database() {
    log "creating database $PG_DB on $PG_HOST:$PG_PORT"
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qX \
        -c "SET client_min_messages = warning" \
        -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
        -c "CREATE DATABASE \"$PG_DB\"" > /dev/null
    DB_CREATED=1
    DATABASE_URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
}

drop_database() {
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -v ON_ERROR_STOP=1 -qX \
        -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" > /dev/null \
        || log "could not drop database $PG_DB"
}

# ---------------------------------------------------------------- ports
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

# free_port PREFERRED: PREFERRED when it is free, else one the kernel picks.
free_port() {
    if port_is_free "$1"; then
        echo "$1"
    else
        log "port $1 is taken; using another"
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    fi
}

# ---------------------------------------------------------------- service
# service_base_env PORT: SERVICE_ENV, the environment both scripts run the
# service with, listening on 127.0.0.1:PORT. A clean one (`env -i`), so
# that the caller's APP_ENV, SESSION_COOKIE_*, RUST_LOG, ... cannot change
# what runs: development (plain-HTTP cookies), a fixed SECRET_KEY_FIXED,
# Redis sessions with the service's default lock, JSON logs at the default
# filter (request lines at INFO), as the image runs it. The script adds
# its own.
service_base_env() {
    SERVICE_ENV=(
        PATH="$PATH" HOME="${HOME:-/tmp}"
        APP_ENV=development
        LISTEN_ADDR="127.0.0.1:$1"
        DATABASE_URL="$DATABASE_URL"
        SESSION_BACKEND=redis
        REDIS_URL="$REDIS_URL"
        SECRET_KEY="$SECRET_KEY_FIXED"
        SESSION_COOKIE_NAME="$COOKIE_NAME"
        SESSION_COOKIE_SECURE=false
        DATA_DIR="$WORK/data"
        LOG_FORMAT=json
    )
}

# wait_ready NAME PID URL: until URL answers 2xx (60 s at most).
wait_ready() {
    local name=$1 pid=$2 url=$3
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2> /dev/null || die "$name exited while starting"
        if curl -fsS -o /dev/null "$url" 2> /dev/null; then
            return 0
        fi
        sleep 0.2
    done
    die "$name was not ready after 60 s"
}

# check_alive NAME PID: dies saying how PID ended, if it has.
check_alive() {
    local status=0
    [ -z "$2" ] || kill -0 "$2" 2> /dev/null && return 0
    wait "$2" 2> /dev/null || status=$?
    die "$1 (pid $2) is gone, exit status $status (128 + n: killed by signal n)"
}

# ---------------------------------------------------------------- /proc
# cpu_ticks PID: the user and system CPU time PID has used, in clock ticks
# (nothing when PID is gone).
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2> /dev/null || true
}
TICK_HZ="$(getconf CLK_TCK)"

# machine_ticks: the whole machine's idle (idle + iowait) and total CPU
# time so far, in clock ticks of all cores together.
machine_ticks() {
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t }' /proc/stat
}
