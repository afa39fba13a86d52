#!/usr/bin/env bash
# Run compose.yaml's services as local processes (no Docker engine needed) and check the
# deployment end to end, then stop everything this script started:
#
#   postgres  a fresh database on the local PostgreSQL server (ADVISOR_TEST_POSTGRES_URL,
#             default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped afterwards
#   redis     redis-server on a free port (no persistence)
#   migrate   compose's migrate command, once
#   app       compose's app command and environment, as many replicas as compose's
#             deploy.replicas, each on its own loopback port
#   proxy     nginx with deploy/nginx.conf, its upstream and listen lines pointed at the above
#
# Checks: /healthz and /readyz through the front port; a recommendation saved by one replica
# and read through the other with a share link from ADVISOR_PUBLIC_URL; traffic reaching every
# replica; the rate limit shared through Redis and not reset by a forged X-Forwarded-For; the
# front still answering with one replica killed.
#
#   scripts/verify_compose.sh        (needs redis-server and nginx: apt-get install redis-server nginx-light)
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
for tool in redis-server nginx curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install redis-server nginx-light curl)" >&2; exit 2; }
done
work="$(mktemp -d)"
admin_url="${ADVISOR_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
database="advisor_compose_$(date +%s)_$$"
pids=()

free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
admin_sql() { "$python" - "$admin_url" "$1" <<'PY'
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    connection.execute(text(sys.argv[2]))
engine.dispose()
PY
}
stop_all() {
  set +e
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  admin_sql "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work"
}
trap stop_all EXIT
wait_for() {  # URL: until it answers 200 (30 s)
  for _ in $(seq 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "no answer from $1" >&2; tail -n 30 "$work"/*.log >&2; return 1
}

# The compose file's settings: app environment and command, migrate command, replica count.
eval "$("$python" - <<'PY'
import shlex, yaml
compose = yaml.safe_load(open("compose.yaml"))
app, migrate = compose["services"]["app"], compose["services"]["migrate"]
print("replicas=%d" % app["deploy"]["replicas"])
print("app_command=%s" % shlex.quote(" ".join(app["command"])))
print("migrate_command=%s" % shlex.quote(migrate["command"][-1]))
for key, value in app["environment"].items():
    print("export %s=%s" % (key, shlex.quote(str(value))))
PY
)"
echo "== compose.yaml: $replicas app replicas; app: $app_command"

# postgres and redis: the compose service names resolve to local processes.
admin_sql "CREATE DATABASE \"$database\""
export ADVISOR_DATABASE_URL="$("$python" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$admin_url" "$database")"
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!)
export ADVISOR_REDIS_URL="redis://127.0.0.1:$redis_port/0"
front_port="$(free_port)"
export ADVISOR_PUBLIC_URL="http://127.0.0.1:$front_port"
export ADVISOR_RATE_LIMIT="${VERIFY_RATE_LIMIT:-5/minute}"
echo "== postgres: database $database; redis: 127.0.0.1:$redis_port"

echo "== migrate (once): $migrate_command"
PATH="$PWD/.venv/bin:$PATH" sh -c "$migrate_command" >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; exit 1; }

app_ports=()
for i in $(seq "$replicas"); do
  port="$(free_port)"
  app_ports+=("$port")
  # compose's command, on loopback; the proxy's address here is 127.0.0.1.
  command="${app_command/--forwarded-allow-ips 172.28.0.10/--forwarded-allow-ips 127.0.0.1}"
  ADVISOR_HOST=127.0.0.1 ADVISOR_PORT="$port" PATH="$PWD/.venv/bin:$PATH" \
    $command >"$work/app-$i.log" 2>&1 &
  pids+=($!)
done
for port in "${app_ports[@]}"; do wait_for "http://127.0.0.1:$port/healthz"; done
echo "== app replicas on ports ${app_ports[*]}"

upstreams=""
for port in "${app_ports[@]}"; do upstreams+="    server 127.0.0.1:$port max_fails=1 fail_timeout=10s;\n"; done
sed -e "s|^    server app:8000.*|$upstreams|" -e "s|listen 80;|listen 127.0.0.1:$front_port;|" deploy/nginx.conf >"$work/site.conf"
cat >"$work/nginx.conf" <<EOF
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log $work/nginx-access.log;
  client_body_temp_path $work/client_body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  include $work/site.conf;
}
EOF
nginx -c "$work/nginx.conf" -p "$work" >"$work/nginx.log" 2>&1 &
pids+=($!)
front="http://127.0.0.1:$front_port"
wait_for "$front/healthz"
echo "== proxy (nginx, deploy/nginx.conf) on $front"

check() { printf '  %-64s ok\n' "$1"; }
fail() { echo "FAILED: $1" >&2; tail -n 20 "$work"/app-*.log >&2; exit 1; }
ready="$(curl -fs "$front/readyz")" || fail "readyz"
grep -q '"status":"ready"' <<<"$ready" || fail "readyz: $ready"
check "readyz through the front: ready"
for _ in $(seq 10); do curl -fs -o /dev/null "$front/healthz"; done
for i in $(seq "$replicas"); do
  grep -q "GET /healthz" "$work/app-$i.log" || { echo "replica $i got no traffic" >&2; exit 1; }
done
check "traffic reaches all $replicas replicas"

body='{"model": {"preset": "llama-3.1-8b"}, "workload": {"task": "qlora", "tokens": 1e8}, "constraints": {"max_gpus": 8}}'
id="$(curl -fs -H 'Content-Type: application/json' -d "$body" "$front/api/v1/recommend" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
for port in "${app_ports[@]}"; do
  curl -fs -o /dev/null "http://127.0.0.1:$port/api/v1/recommendations/$id"
done
check "recommendation $id saved once, readable from every replica"
page="$(curl -fs -H 'Host: evil.example' "$front/r/$id")" || fail "GET /r/$id"
grep -q "href=\"$ADVISOR_PUBLIC_URL/r/$id\"" <<<"$page" || fail "share link: $(grep -o 'id="share-link"[^>]*' <<<"$page")"
check "share link from ADVISOR_PUBLIC_URL, not the Host header"

estimate='{"model": {"preset": "gpt2"}, "hardware": {"gpu": "nvidia-t4"}}'
codes=""
for i in $(seq 8); do
  codes+="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H "X-Forwarded-For: 10.1.2.$i" -d "$estimate" "$front/api/v1/estimate") "
done
# The recommend above used one of the 5 per minute; 4 estimates more, then 429 from any replica.
[ "$codes" = "200 200 200 200 429 429 429 429 " ] || { echo "rate limit through the front: $codes" >&2; exit 1; }
check "rate limit shared via Redis, forged X-Forwarded-For ignored: $codes"

kill "${pids[-2]}"  # the last replica (pids: redis, replicas..., nginx)
wait "${pids[-2]}" 2>/dev/null || true
for _ in $(seq 10); do curl -fs -o /dev/null "$front/api/v1/gpus?limit=1"; done
check "front keeps answering with one replica stopped"
echo "== all checks passed; stopping what this script started"
