#!/usr/bin/env bash
# Checks docker-compose.yml (with docker-compose, or the docker compose
# plugin) and, when nginx is installed, deploy/nginx.conf with `nginx -t`.
# Starts nothing: no Docker engine is needed.
#
#   scripts/compose-config.sh        # `just compose-config`
#
# SECRET_KEY is required by docker-compose.yml; a placeholder stands in when
# none is set. The nginx check reads the configuration inside a minimal
# `http` block, as the nginx image includes it, with the instances' names
# (api-1, api-2, known only on the compose network) replaced by 127.0.0.1
# (nginx resolves an upstream's name when it reads its configuration), the
# `resolve` parameter of their server lines removed (nginx 1.27.3 and later,
# as in the nginx:1.28 image; Debian's nginx 1.22 refuses it) and port 80
# replaced by a free port of 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export SECRET_KEY="${SECRET_KEY:-compose-config-placeholder-secret-0123456789}"
if command -v docker-compose > /dev/null 2>&1; then
    docker-compose -f docker-compose.yml config --quiet
elif docker compose version > /dev/null 2>&1; then
    docker compose -f docker-compose.yml config --quiet
else
    echo "compose-config: neither docker-compose nor the docker compose plugin is installed (Debian: apt-get install docker-compose)" >&2
    exit 1
fi
echo "docker-compose.yml is valid"

NGINX="$(command -v nginx || true)"
[ -n "$NGINX" ] || NGINX="$(command -v /usr/sbin/nginx || true)"
if [ -z "$NGINX" ]; then
    echo "deploy/nginx.conf not checked: nginx is not installed (Debian: apt-get install nginx-light)"
    exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/km-nginx-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# `nginx -t` binds the listening ports too: a free port of 127.0.0.1 for
# port 80, which only root may bind.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2> /dev/null || echo 18080)"
sed -E -e 's/server api-[0-9]+:/server 127.0.0.1:/' -e '/^ *server 127\.0\.0\.1:/s/ resolve;/;/' -e "s/^( *listen) 80;/\\1 127.0.0.1:$port;/" \
    deploy/nginx.conf > "$work/site.conf"
grep -q "listen 127.0.0.1:$port;" "$work/site.conf" || {
    echo "compose-config: no \`listen 80;\` line in deploy/nginx.conf to check it with" >&2
    exit 1
}
cat > "$work/nginx.conf" << EOF
pid $work/nginx.pid;
error_log stderr;
events {}
http {
    access_log off;
    include $work/site.conf;
}
EOF
if ! "$NGINX" -q -t -e stderr -p "$work/" -c "$work/nginx.conf"; then
    echo "deploy/nginx.conf is not valid (nginx -t above)" >&2
    exit 1
fi
echo "deploy/nginx.conf is valid (nginx -t)"
