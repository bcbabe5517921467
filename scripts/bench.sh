#!/usr/bin/env bash
# The host's benchmark: wrk on loopback for a fixed time per target.
#   - GET  /api/v1/health/      (database and cache round trips)
#   - POST /api/v1/auth/login/  (Argon2id verification in Wasm dominates)
#   - GET  /allowed/hello       (a trivial component: the host's own cost)
#   - the same "hello" from a plain native hyper server (the baseline)
# Prints requests/s, p50 and p99 per target and the host/native ratio.
# DURATION (default 10s), CONNECTIONS (64) and THREADS (2) tune the load.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-64}; THREADS=${THREADS:-2}

scripts/services.sh
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
scripts/build-components.sh
cargo build --release -p host -p native-worker -p bench

export DATABASE_URL=postgres://postgres@127.0.0.1:5432/user_service_bench
target/release/native-worker migrate >/dev/null
export SPIN_VARIABLE_DATABASE_URL=$DATABASE_URL
export SPIN_VARIABLE_JWT_SECRET=bench-secret-bench-secret-bench-secret-42
# The benchmark is one client address: lift the per-address limits.
export SPIN_VARIABLE_RATE_LIMIT_LOGIN_PER_MINUTE=100000000
export SPIN_VARIABLE_RATE_LIMIT_REGISTER_PER_MINUTE=100000000
export RUST_LOG=warn

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
target/release/host up --from spin.toml --listen 127.0.0.1:3100 & pids+=($!)
target/release/host up --from tests/fixtures/misbehaving.toml --listen 127.0.0.1:3101 & pids+=($!)
target/release/native-baseline 127.0.0.1:3102 2>/dev/null & pids+=($!)
for port in 3100 3101 3102; do
  for _ in $(seq 120); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.5; done
done

email="bench-$(date +%s)@example.com"; password='Qz7!mLp#42vX'
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:3100/api/v1/users/ -H 'content-type: application/json' \
  -d "{\"name\":\"Load Tester\",\"email\":\"$email\",\"password\":\"$password\"}")
[ "$status" = 201 ] || { echo "registering the benchmark user failed ($status)" >&2; exit 1; }
lua=$(mktemp --suffix=.lua)
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$email","password":"$password"}'
LUA

results=()
run() { # name url [wrk args…]
  local name=$1 url=$2; shift 2
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  results+=("$(printf '%-28s %12s %10s %10s %8s' "$name" "$rps" "$p50" "$p99" "$non2xx")")
  RPS=$rps
}
run "GET /api/v1/health/" http://127.0.0.1:3100/api/v1/health/
run "POST /api/v1/auth/login/" http://127.0.0.1:3100/api/v1/auth/login/ -s "$lua"
run "trivial component (host)" http://127.0.0.1:3101/allowed/hello; trivial=$RPS
run "native hyper baseline" http://127.0.0.1:3102/; native=$RPS

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores"
printf '%-28s %12s %10s %10s %8s\n' target requests/s p50 p99 non-2xx
printf '%s\n' "${results[@]}"
awk -v t="$trivial" -v n="$native" 'BEGIN {
  printf "host cost: the trivial component serves %.1f%% of the native baseline'"'"'s requests/s; each request costs %.2fx native\n", 100*t/n, n/t }'
