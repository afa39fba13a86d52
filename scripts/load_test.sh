#!/usr/bin/env bash
# Load test on loopback: uvicorn with several workers, wrk driving /api/v1/recommend (POST) and
# /api/v1/gpus (GET) for a bounded time each; prints throughput, p50/p99 latency and errors.
#
#   scripts/load_test.sh [DURATION_S=60] [WORKERS=2] [CONNECTIONS=16]
#
# Needs Debian's wrk (apt-get install wrk). Traffic goes to 127.0.0.1 only and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60}"; workers="${2:-2}"; connections="${3:-16}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
work="$(mktemp -d)"; port=$((20000 + RANDOM % 20000))
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
# LOAD_TEST_DATABASE_URL=postgresql+psycopg://... runs against PostgreSQL (an empty database).
export ADVISOR_DATABASE_URL="${LOAD_TEST_DATABASE_URL:-sqlite:///$work/load.db}"
export ADVISOR_RATE_LIMIT_ENABLED=false ADVISOR_LOG_LEVEL=warning
.venv/bin/gpu-advisor db upgrade >/dev/null
.venv/bin/gpu-advisor serve --host 127.0.0.1 --port "$port" --workers "$workers" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
cat >"$work/recommend.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model": {"preset": "llama-3.1-8b"}, "workload": {"task": "qlora", "seq_len": 2048, "tokens": 1e8}, "constraints": {"max_gpus": 8}}'
LUA
echo "uvicorn: $workers workers on 127.0.0.1:$port (${ADVISOR_DATABASE_URL%%:*}); wrk: 2 threads, $connections connections, ${duration}s per endpoint"
for target in "POST /api/v1/recommend" "GET /api/v1/gpus"; do
  method="${target%% *}"; path="${target#* }"
  script=(); [ "$method" = POST ] && script=(-s "$work/recommend.lua")
  out="$(wrk -t2 -c"$connections" -d"${duration}s" --latency --timeout 10s "${script[@]}" "http://127.0.0.1:$port$path")"
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  total="$(awk '/requests in/ {print $1}' <<<"$out")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
  sockerr="$(awk '/Socket errors/ {print $0}' <<<"$out")"
  printf '%-24s %8s req/s  p50 %-8s p99 %-8s  %s requests, %s non-2xx%s\n' \
    "$target" "$rps" "$p50" "$p99" "$total" "${non2xx:-0}" "${sockerr:+, $sockerr}"
done
