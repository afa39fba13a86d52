#!/usr/bin/env bash
# Load test on loopback: `gpu-advisor serve` with several workers, wrk driving each route for a
# bounded time, on SQLite and then on PostgreSQL; prints a Markdown table of requests/s, p50,
# p99 and errors per route, with each route's throughput as a ratio to /healthz in the same run.
#
#   scripts/load_test.sh [DURATION_S=10] [WORKERS=2] [CONNECTIONS=16]
#
# Needs Debian's wrk (apt-get install wrk). PostgreSQL: a fresh database on
# ADVISOR_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped
# afterwards; LOAD_TEST_BACKENDS="sqlite" skips it. Traffic goes to 127.0.0.1 only, every server
# started here is stopped here.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"; workers="${2:-2}"; connections="${3:-16}"
backends="${LOAD_TEST_BACKENDS:-sqlite postgresql}"
python=.venv/bin/python
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
admin_url="${ADVISOR_TEST_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
work="$(mktemp -d)"; server=""; database=""
admin_sql() { "$python" - "$admin_url" "$1" <<'PY'
import sys
from sqlalchemy import create_engine, text
engine = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with engine.connect() as connection:
    connection.execute(text(sys.argv[2]))
engine.dispose()
PY
}
stop_server() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi
}
cleanup() {
  stop_server
  if [ -n "$database" ]; then admin_sql "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export ADVISOR_RATE_LIMIT_ENABLED=false ADVISOR_LOG_LEVEL=warning

cat >"$work/recommend.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": {"preset": "llama-3.1-8b"}, "workload": {"task": "qlora", "seq_len": 2048, "tokens": 1e8}, "constraints": {"max_gpus": 8}}'
LUA
cat >"$work/estimate.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": {"preset": "llama-3.1-8b"}, "workload": {"task": "qlora"}, "hardware": {"gpu": "nvidia-h100-sxm"}}'
LUA

echo "uvicorn: $workers workers; wrk: 2 threads, $connections connections, ${duration}s per route; $(nproc) CPUs"
echo
echo "| backend | route | req/s | ratio to /healthz | p50 | p99 | requests | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for backend in $backends; do
  if [ "$backend" = postgresql ]; then
    database="advisor_load_$(date +%s)_$$"
    admin_sql "CREATE DATABASE \"$database\""
    url="$("$python" -c 'import sys; from sqlalchemy.engine import make_url; print(make_url(sys.argv[1]).set(database=sys.argv[2]).render_as_string(hide_password=False))' "$admin_url" "$database")"
  else
    url="sqlite:///$work/load.db"
  fi
  export ADVISOR_DATABASE_URL="$url"
  .venv/bin/gpu-advisor db upgrade >/dev/null 2>&1
  port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  .venv/bin/gpu-advisor serve --host 127.0.0.1 --port "$port" --workers "$workers" >"$work/server-$backend.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  base="http://127.0.0.1:$port"
  saved="$(curl -fs -H 'Content-Type: application/json' -d "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$work/recommend.lua")" "$base/api/v1/recommend" \
    | "$python" -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
  healthz_rps=""
  for target in "GET /healthz" "GET /api/v1/gpus" "GET /api/v1/recommendations/$saved" "POST /api/v1/estimate" "POST /api/v1/recommend"; do
    method="${target%% *}"; path="${target#* }"
    script=()
    case "$path" in
      /api/v1/estimate) script=(-s "$work/estimate.lua") ;;
      /api/v1/recommend) script=(-s "$work/recommend.lua") ;;
    esac
    out="$(wrk -t2 -c"$connections" -d"${duration}s" --latency --timeout 10s "${script[@]}" "$base$path")"
    rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    total="$(awk '/requests in/ {print $1}' <<<"$out")"
    non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
    socket_errors="$(awk -F'[ ,]+' '/Socket errors/ {print $4 + $6 + $8 + $10}' <<<"$out")"
    errors=$(( ${non2xx:-0} + ${socket_errors:-0} ))
    [ -z "$healthz_rps" ] && healthz_rps="$rps"
    ratio="$(awk -v a="$rps" -v b="$healthz_rps" 'BEGIN {printf "%.3f", a / b}')"
    label="$method ${path/$saved/{id\}}"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$backend" "$label" "$rps" "$ratio" "$p50" "$p99" "$total" "$errors"
  done
  stop_server
done
