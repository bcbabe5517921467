#!/usr/bin/env bash
# The runtimes' benchmark: wrk on loopback for a fixed time per target, under
# this repository's host (release) and under a real `spin up`, one server at
# a time so they never share the 2 cores:
#   - GET  /api/v1/health/      (database and cache round trips)
#   - POST /api/v1/auth/login/  (Argon2id verification in Wasm dominates)
#   - GET  /allowed/hello       (a trivial component: the runtime's own cost)
#   - the same "hello" from a plain native hyper server (the baseline)
# Prints requests/s, p50, p99, non-2xx answers and socket errors per target
# and runtime, the host/Spin throughput ratio, and each runtime's cost
# relative to native.
# DURATION (default 10s), CONNECTIONS (64) and THREADS (2) tune the load;
# RUNTIMES (default "host spin") picks the runtimes; SPIN_BIN (default
# ../shared/tools/spin) is the spin CLI, skipped with a note if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}; CONNECTIONS=${CONNECTIONS:-64}; THREADS=${THREADS:-2}
RUNTIMES=${RUNTIMES:-host spin}
spin_cli=${SPIN_BIN:-$(cd .. && pwd)/shared/tools/spin}

scripts/services.sh
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
scripts/build-components.sh
cargo build --release -p host -p native-worker -p bench

# Spin negotiates TLS unless told not to, and the local server's certificate
# is self-signed: every database address says sslmode=disable.
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/user_service_bench?sslmode=disable"
target/release/native-worker migrate >/dev/null
export SPIN_VARIABLE_DATABASE_URL=$DATABASE_URL
export SPIN_VARIABLE_JWT_SECRET=bench-secret-bench-secret-bench-secret-42
# The benchmark is one client address and one account: lift the per-address
# limits, and the per-account failure allowance (every login in flight counts
# against it until its password is checked).
export SPIN_VARIABLE_RATE_LIMIT_LOGIN_PER_MINUTE=100000000
export SPIN_VARIABLE_RATE_LIMIT_REGISTER_PER_MINUTE=100000000
export SPIN_VARIABLE_RATE_LIMIT_LOGIN_FAILURES=100000000
export RUST_LOG=warn

work=$(mktemp -d)
server=
stop() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi; }
trap 'stop; rm -rf "$work"' EXIT

# start RUNTIME MANIFEST PORT: serves MANIFEST on 127.0.0.1:PORT and waits for it.
start() {
  local runtime=$1 manifest=$2 port=$3
  case $runtime in
    host) target/release/host up --from "$manifest" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 & server=$! ;;
    # Quiet: components' output goes to the log files only, not the terminal too.
    spin) (cd "$work" && exec "$spin_cli" up --from "$OLDPWD/$manifest" --listen "127.0.0.1:$port" \
             --state-dir "$work/state" --log-dir "$work/logs" --quiet) >"$work/server.log" 2>&1 & server=$! ;;
    native) target/release/native-baseline "127.0.0.1:$port" >"$work/server.log" 2>&1 & server=$! ;;
  esac
  for _ in $(seq 240); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.25
  done
  echo "$runtime did not serve $manifest on port $port:" >&2; cat "$work/server.log" >&2; exit 1
}

email="bench-$(date +%s)@example.com"; password='Qz7!mLp#42vX'
cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$email","password":"$password"}'
LUA

declare -A rps p50 p99 non2xx
# measure KEY URL [wrk args…]
measure() {
  local key=$1 url=$2; shift 2
  # A 10 s timeout: slow Argon2 logins under 64 connections are slow, not failed.
  local out; out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency "$@" "$url")
  rps[$key]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50[$key]=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99[$key]=$(awk '$1=="99%" {print $2}' <<<"$out")
  local bad; bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local errors; errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
  non2xx[$key]="${bad:-0}/${errors:-0}"
}

runtimes=()
registered=
for runtime in $RUNTIMES; do
  if [ "$runtime" = spin ] && [ ! -x "$spin_cli" ]; then
    echo "[bench] no spin CLI at $spin_cli: Spin is not measured" >&2; continue
  fi
  runtimes+=("$runtime")
  echo "[bench] $runtime: the app" >&2
  start "$runtime" spin.toml 3100
  if [ -z "$registered" ]; then
    status=$(curl -s -o "$work/register.json" -w '%{http_code}' -X POST http://127.0.0.1:3100/api/v1/users/ \
      -H 'content-type: application/json' -d "{\"name\":\"Load Tester\",\"email\":\"$email\",\"password\":\"$password\"}")
    [ "$status" = 201 ] || { echo "registering the benchmark user under $runtime failed ($status): $(cat "$work/register.json")" >&2; exit 1; }
    registered=1
  fi
  measure "$runtime/health" http://127.0.0.1:3100/api/v1/health/
  measure "$runtime/login" http://127.0.0.1:3100/api/v1/auth/login/ -s "$work/login.lua"
  stop
  echo "[bench] $runtime: the trivial fixture" >&2
  start "$runtime" tests/fixtures/misbehaving.toml 3101
  measure "$runtime/hello" http://127.0.0.1:3101/allowed/hello
  stop
done
echo "[bench] native baseline" >&2
start native - 3102
measure native/hello http://127.0.0.1:3102/
stop

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $(nproc) cores, one server at a time"
header=$(printf '%-26s' target)
for runtime in "${runtimes[@]}"; do header+=$(printf ' | %-8s %10s %9s %9s %11s' "$runtime" requests/s p50 p99 non-2xx/err); done
[ "${#runtimes[@]}" = 2 ] && header+=$(printf ' | %s' "${runtimes[0]}/${runtimes[1]}")
echo "$header"
for target in "GET /api/v1/health/:health" "POST /api/v1/auth/login/:login" "trivial component:hello"; do
  name=${target%:*} key=${target##*:}
  line=$(printf '%-26s' "$name")
  for runtime in "${runtimes[@]}"; do
    k=$runtime/$key
    line+=$(printf ' | %-8s %10s %9s %9s %11s' "" "${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${non2xx[$k]}")
  done
  if [ "${#runtimes[@]}" = 2 ]; then
    line+=$(awk -v a="${rps[${runtimes[0]}/$key]}" -v b="${rps[${runtimes[1]}/$key]}" 'BEGIN { printf " | %.2fx", a/b }')
  fi
  echo "$line"
done
printf '%-26s | %-8s %10s %9s %9s %11s\n' "native hyper baseline" "" "${rps[native/hello]}" "${p50[native/hello]}" \
  "${p99[native/hello]}" "${non2xx[native/hello]}"
echo "(non-2xx answers / socket errors and timeouts; a ratio over failed requests measures failures, not work)"
for runtime in "${runtimes[@]}"; do
  awk -v r="$runtime" -v t="${rps[$runtime/hello]}" -v n="${rps[native/hello]}" 'BEGIN {
    printf "%s cost: the trivial component serves %.1f%% of the native baseline'"'"'s requests/s; each request costs %.2fx native\n", r, 100*t/n, n/t }'
done
