#!/usr/bin/env bash
# The benchmark: wrk on loopback for a fixed time per target, under this
# repository's host (release) and under a real `spin up`, one server at a
# time so they never share the 2 cores or PostgreSQL's connections:
#   - GET  /api/v1/health/live/     (liveness: touches nothing)
#   - GET  /api/v1/health/          (readiness: checks kept a second in Redis)
#   - GET  /api/v1/users/preferences/  (a bearer token, the cached read)
#   - GET  /api/v1/users/profile/      (a bearer token, the cached read)
#   - both cached reads again with tracing on: every span exported over
#     OTLP (OTEL_EXPORTER_OTLP_ENDPOINT) to a local endpoint
#   - the cached preferences read again with the variables in the
#     environment (SPIN_VARIABLE_*) instead of a `--variable` file: every
#     other row gives them as `--variable @variables.toml` (README,
#     "Variables under spin up")
#   - POST /api/v1/internal/users/lookup/ (a service key, 500 users with two
#     devices each per call: reported as users per second)
#   - POST /api/v1/auth/login/      (Argon2id verification in Wasm), at 64
#     connections and at 1 (the latency of one login alone)
#   - GET  /allowed/hello           (a trivial component: the runtime's own cost)
#   - the same "hello" from a plain native hyper server (the baseline)
# For each it prints requests/s, p50, p99, non-2xx answers and socket errors,
# and the server's CPU time per request (its process tree's user+system time
# over the run, so PostgreSQL's and Redis's own CPU is not in it). Then the
# issue-12 goals with the measured figure beside each: ratios to the trivial
# component and to native, logins/s x CPU per login against the cores, the
# first request after start (compile cache cold and warm) and the server's
# resident memory at idle and at its peak under load.
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
export SPIN_VARIABLE_SERVICE_KEYS=bench-service-key
export RUST_LOG=warn
ticks_per_sec=$(getconf CLK_TCK)

work=$(mktemp -d)
server=
# Every variable, resolved from the exports above and the manifest's
# defaults, as the file `--variable @file.toml` reads.
target/release/host variables --from spin.toml --out "$work/variables.toml" >/dev/null
stop() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; fi; }
trap 'stop; rm -rf "$work"' EXIT

# The server and every process under it (`spin up` runs its trigger as a child).
tree() {
  local pids=("$1") i=0 child
  while [ $i -lt ${#pids[@]} ]; do
    for child in $(cat "/proc/${pids[$i]}/task/"*/children 2>/dev/null); do pids+=("$child"); done
    i=$((i + 1))
  done
  echo "${pids[@]}"
}
# cpu_ticks PID: user+system clock ticks of the tree so far.
cpu_ticks() { local p t=0; for p in $(tree "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
# rss_kib PID FIELD: VmRSS (now) or VmHWM (peak) summed over the tree, in KiB.
rss_kib() { local p t=0; for p in $(tree "$1"); do t=$((t + $(awk -v f="$2:" '$1==f {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo $t; }

# start RUNTIME MANIFEST PORT [READY_PATH]: serves MANIFEST on 127.0.0.1:PORT
# and waits until READY_PATH answers 200 (or the port opens); sets
# started_ms to the time from launch to that first answer.
start() {
  local runtime=$1 manifest=$2 port=$3 ready=${4:-}
  local began; began=$(date +%s%N)
  # The app's key-value store `cache` on the benchmark's Redis (runtime-config.toml).
  local config=()
  [ "$manifest" != spin.toml ] || config=(--runtime-config-file "$PWD/runtime-config.toml")
  [ "$manifest" != spin.toml ] || [ -n "${variables_from_env:-}" ] || config+=(--variable "@$work/variables.toml")
  case $runtime in
    host) target/release/host up --from "$manifest" --listen "127.0.0.1:$port" "${config[@]}" >"$work/server.log" 2>&1 & server=$! ;;
    # Quiet: components' output goes to the log files only, not the terminal too.
    spin) (cd "$work" && exec "$spin_bin" up --from "$OLDPWD/$manifest" --listen "127.0.0.1:$port" "${config[@]}" \
             --state-dir "$work/state" --log-dir "$work/logs" --quiet ${spin_flags:-}) >"$work/server.log" 2>&1 & server=$! ;;
    native) target/release/native-baseline "127.0.0.1:$port" >"$work/server.log" 2>&1 & server=$! ;;
  esac
  for _ in $(seq 12000); do
    if [ -n "$ready" ]; then
      [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$ready" 2>/dev/null)" = 200 ] && break
    else
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    fi
    kill -0 "$server" 2>/dev/null || { echo "$runtime did not serve $manifest:" >&2; cat "$work/server.log" >&2; exit 1; }
    sleep 0.005
  done
  started_ms=$((($(date +%s%N) - began) / 1000000))
}

password='Qz7!mLp#42vX'

declare -A rps p50 p99 non2xx cpu_us mem
failures=()
# measure KEY URL [wrk args…]
measure() {
  local key=$1 url=$2; shift 2
  local connections=$CONNECTIONS threads=$THREADS
  case $key in */login1) connections=1 threads=1 ;; esac
  local before; before=$(cpu_ticks "$server")
  # A 10 s timeout: slow Argon2 logins under 64 connections are slow, not failed.
  local out; out=$(wrk -t"$threads" -c"$connections" -d"$DURATION" --timeout 10s --latency "$@" "$url")
  local after; after=$(cpu_ticks "$server")
  rps[$key]=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50[$key]=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99[$key]=$(awk '$1=="99%" {print $2}' <<<"$out")
  local total; total=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu_us[$key]=$(awk -v t=$((after - before)) -v hz="$ticks_per_sec" -v n="${total:-0}" 'BEGIN { if (n > 0) printf "%.0f", 1e6 * t / hz / n; else print "-" }')
  local bad; bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  local errors; errors=$(awk '/Socket errors/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
  non2xx[$key]="${bad:-0}/${errors:-0}"
  local first; first=$(grep -m1 '^first failure: ' <<<"$out" || true)
  [ -z "$first" ] || failures+=("$key: ${first#first failure: }")
}

# register PORT: a new benchmark user on the running server; sets email and
# token (registration's own access token: a login would tombstone the cached
# profile for a minute, see cache_keys::profile) and writes login.lua.
register() {
  email="bench-$(date +%s%N)@example.com"
  local status
  status=$(curl -s -o "$work/register.json" -w '%{http_code}' -X POST "http://127.0.0.1:$1/api/v1/users/" \
    -H 'content-type: application/json' -d "{\"name\":\"Load Tester\",\"email\":\"$email\",\"password\":\"$password\"}")
  [ "$status" = 201 ] || { echo "registering the benchmark user failed ($status): $(cat "$work/register.json")" >&2; exit 1; }
  token=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["access_token"])' "$work/register.json")
  cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$email","password":"$password"}'
response = function(status, headers, body)
  if status ~= 200 and not failed then failed = true; print("first failure: " .. status .. " " .. body) end
end
LUA
}

# lookup_users: 500 users with two devices each, straight into the database
# (registering them through the API would measure Argon2id), and lookup.lua,
# which asks for all 500 in each call of the fan-out lookup.
lookup_users() {
  psql -q "${DATABASE_URL%%\?*}" -v ON_ERROR_STOP=1 >/dev/null <<SQL
WITH prefs AS (INSERT INTO user_preferences (email, push) SELECT true, true FROM generate_series(1, 500) RETURNING id),
numbered AS (SELECT id, row_number() OVER () AS n FROM prefs),
users AS (INSERT INTO users (email, name, password, preferences_id)
          SELECT 'lookup-' || n || '-' || extract(epoch FROM now())::bigint || '@example.com', 'Broadcast ' || n, 'x', id
          FROM numbered RETURNING id)
INSERT INTO devices (user_id, token, platform)
SELECT id, platform || ':' || id, platform FROM users, (VALUES ('ios'), ('android')) AS p(platform);
SQL
  local ids
  ids=$(psql -tA "${DATABASE_URL%%\?*}" -c "SELECT string_agg('\"' || id || '\"', ',') FROM (SELECT id FROM users WHERE email LIKE 'lookup-%' ORDER BY created_at DESC LIMIT 500) u")
  cat > "$work/lookup.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Service-Key"] = "bench-service-key"
wrk.body = '{"ids":[$ids]}'
response = function(status, headers, body)
  if status ~= 200 and not failed then failed = true; print("first failure: " .. status .. " " .. body) end
end
LUA
}

runtimes=()
for runtime in $RUNTIMES; do
  if [ "$runtime" = spin ]; then
    [ -x "$spin_cli" ] || { echo "[bench] no spin CLI at $spin_cli: Spin is not measured" >&2; continue; }
    spin_bin=$("$spin_cli" --path)
  fi
  runtimes+=("$runtime")
  echo "[bench] $runtime: the app" >&2
  if [ "$runtime" = host ]; then
    # Cold: an empty compile cache. Warm: the same cache, on a second start.
    export HOST_COMPILE_CACHE="$work/compile-cache"
    start host spin.toml 3100 /api/v1/health/live/; mem[host/cold]=$started_ms; stop
  else
    # Cold: Spin's wasmtime cache disabled for this start (it has no directory flag).
    spin_flags=--disable-cache start spin spin.toml 3100 /api/v1/health/live/; mem[spin/cold]=$started_ms; stop
  fi
  start "$runtime" spin.toml 3100 /api/v1/health/live/; mem[$runtime/warm]=$started_ms
  register 3100
  sleep 1
  mem[$runtime/idle]=$(rss_kib "$server" VmRSS)
  measure "$runtime/live" http://127.0.0.1:3100/api/v1/health/live/
  measure "$runtime/health" http://127.0.0.1:3100/api/v1/health/
  # One read first fills each cache: 64 clients missing a cold cache at once
  # would each open a connection of the component's own pool (README,
  # connection budgets), and this measures the cached read.
  for path in /api/v1/users/preferences/ /api/v1/users/profile/; do
    curl -s -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:3100$path"
  done
  measure "$runtime/preferences" http://127.0.0.1:3100/api/v1/users/preferences/ -H "Authorization: Bearer $token"
  measure "$runtime/profile" http://127.0.0.1:3100/api/v1/users/profile/ -H "Authorization: Bearer $token"
  # Reads alone; logins hold Argon2id's 19 MiB per instance on top.
  mem[$runtime/reads]=$(rss_kib "$server" VmHWM)
  # The lookup on a fresh server: 64 clients of the readiness check leave
  # the health component's pool holding 64 idle PostgreSQL connections, and
  # 64 concurrent lookups beside them would find the server's 100 taken
  # (503s that measure the budget, not the lookup; README, connection budgets).
  stop
  start "$runtime" spin.toml 3100 /api/v1/health/live/
  [ -f "$work/lookup.lua" ] || lookup_users
  measure "$runtime/lookup" http://127.0.0.1:3100/api/v1/internal/users/lookup/ -s "$work/lookup.lua"
  # Logins on a fresh server: PostgreSQL pools are per component and keep
  # idle connections, so after 64 clients on each read the auth component
  # would find PostgreSQL's 100 connections taken (README, connection budgets).
  stop
  start "$runtime" spin.toml 3100 /api/v1/health/live/
  measure "$runtime/login" http://127.0.0.1:3100/api/v1/auth/login/ -s "$work/login.lua"
  measure "$runtime/login1" http://127.0.0.1:3100/api/v1/auth/login/ -s "$work/login.lua"
  mem[$runtime/peak]=$(rss_kib "$server" VmHWM)
  stop
  echo "[bench] $runtime: the trivial fixture" >&2
  start "$runtime" tests/fixtures/misbehaving.toml 3101
  measure "$runtime/hello" http://127.0.0.1:3101/allowed/hello
  stop
  # Tracing on (issue 20): the cached reads again, every span exported over
  # OTLP to a local endpoint (the native baseline, which answers 200 to
  # anything), for a fresh user (the logins above tombstoned the profile).
  echo "[bench] $runtime: the cached reads with tracing on" >&2
  start native - 3103; sink=$server; server=
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:3103 OTEL_SERVICE_NAME=user-service
  start "$runtime" spin.toml 3100 /api/v1/health/live/
  unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_SERVICE_NAME
  register 3100
  for path in /api/v1/users/preferences/ /api/v1/users/profile/; do
    curl -s -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:3100$path"
  done
  measure "$runtime/preferences_traced" http://127.0.0.1:3100/api/v1/users/preferences/ -H "Authorization: Bearer $token"
  measure "$runtime/profile_traced" http://127.0.0.1:3100/api/v1/users/profile/ -H "Authorization: Bearer $token"
  stop
  server=$sink; stop
  echo "[bench] $runtime: the cached read with the variables in the environment" >&2
  variables_from_env=1 start "$runtime" spin.toml 3100 /api/v1/health/live/
  curl -s -o /dev/null -H "Authorization: Bearer $token" http://127.0.0.1:3100/api/v1/users/preferences/
  measure "$runtime/preferences_env" http://127.0.0.1:3100/api/v1/users/preferences/ -H "Authorization: Bearer $token"
  stop
done
unset HOST_COMPILE_CACHE
echo "[bench] native baseline" >&2
start native - 3102
measure native/hello http://127.0.0.1:3102/
stop

cores=$(nproc)
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION on $cores cores, one server at a time ($(date -u +%F))"
header=$(printf '%-34s' target)
for runtime in "${runtimes[@]}"; do header+=$(printf ' | %-5s %10s %9s %9s %11s %8s' "$runtime" requests/s p50 p99 non-2xx/err cpu-us); done
[ "${#runtimes[@]}" = 2 ] && header+=$(printf ' | %s' "${runtimes[0]}/${runtimes[1]}")
echo "$header"
for target in "GET /api/v1/health/live/:live" "GET /api/v1/health/ (ready):health" \
  "GET /api/v1/users/preferences/:preferences" "GET /api/v1/users/profile/:profile" \
  "  preferences, tracing on (OTLP):preferences_traced" "  profile, tracing on (OTLP):profile_traced" \
  "  preferences, SPIN_VARIABLE_* env:preferences_env" \
  "POST /api/v1/internal/users/lookup/ (500):lookup" \
  "POST /api/v1/auth/login/:login" "POST /api/v1/auth/login/ (1 conn):login1" "trivial component:hello"; do
  name=${target%:*} key=${target##*:}
  line=$(printf '%-34s' "$name")
  for runtime in "${runtimes[@]}"; do
    k=$runtime/$key
    line+=$(printf ' | %-5s %10s %9s %9s %11s %8s' "" "${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${non2xx[$k]}" "${cpu_us[$k]}")
  done
  if [ "${#runtimes[@]}" = 2 ]; then
    line+=$(awk -v a="${rps[${runtimes[0]}/$key]}" -v b="${rps[${runtimes[1]}/$key]}" 'BEGIN { printf " | %.2fx", a/b }')
  fi
  echo "$line"
done
printf '%-34s | %-5s %10s %9s %9s %11s %8s\n' "native hyper baseline" "" "${rps[native/hello]}" "${p50[native/hello]}" \
  "${p99[native/hello]}" "${non2xx[native/hello]}" "${cpu_us[native/hello]}"
echo "(non-2xx answers / socket errors and timeouts; a ratio over failed requests measures failures, not work;"
echo " cpu-us: the server process tree's CPU time per request, PostgreSQL and Redis not included)"
for failure in "${failures[@]}"; do echo "first failure of $failure" | cut -c1-300; done
echo
echo "Goals (issue 12; the cached reads: issue 19, which judges them under spin up), per runtime:"
for runtime in "${runtimes[@]}"; do
  awk -v r="$runtime" -v pref="${rps[$runtime/preferences]}" -v hello="${rps[$runtime/hello]}" -v native="${rps[native/hello]}" \
      -v prof="${rps[$runtime/profile]}" -v profp99="${p99[$runtime/profile]}" -v prefp99="${p99[$runtime/preferences]}" \
      -v live="${rps[$runtime/live]}" -v health="${rps[$runtime/health]}" \
      -v logins="${rps[$runtime/login]}" -v login_cpu="${cpu_us[$runtime/login]}" -v login1="${p50[$runtime/login1]}" \
      -v cores="$cores" 'BEGIN {
    printf "%s: cached preferences %.0f%% of the trivial component (goal 50%%), p99 %s (goal 20ms)\n", r, 100*pref/hello, prefp99
    printf "%s: cached profile %.0f%% of the trivial component (goal 50%%), p99 %s (goal 20ms)\n", r, 100*prof/hello, profp99
    printf "%s: health live %.0f req/s, ready %.0f req/s (goal 10000)\n", r, live, health
    printf "%s: trivial component %.1f%% of native (goal 30%%); each request costs %.2fx native\n", r, 100*hello/native, native/hello
    printf "%s: login %.1f/s x %.1f ms CPU per login = %.2f cores busy of %d (one login alone: %s)\n", r, logins, login_cpu/1000, logins*login_cpu/1e6, cores, login1
  }'
  awk -v r="$runtime" -v calls="${rps[$runtime/lookup]}" -v p99="${p99[$runtime/lookup]}" 'BEGIN {
    printf "%s: fan-out lookup %.0f users/s at 500 per call (%.1f calls/s, p99 %s)\n", r, 500*calls, calls, p99 }'
  awk -v r="$runtime" -v on1="${rps[$runtime/preferences_traced]}" -v off1="${rps[$runtime/preferences]}" \
      -v on2="${rps[$runtime/profile_traced]}" -v off2="${rps[$runtime/profile]}" 'BEGIN {
    printf "%s: tracing on (every span exported): preferences %.0f req/s (%.0f%% of off), profile %.0f (%.0f%%)\n", r, on1, 100*on1/off1, on2, 100*on2/off2 }'
  awk -v r="$runtime" -v env="${rps[$runtime/preferences_env]}" -v file="${rps[$runtime/preferences]}" -v hello="${rps[$runtime/hello]}" \
      -v p99="${p99[$runtime/preferences_env]}" 'BEGIN {
    printf "%s: variables from SPIN_VARIABLE_* instead of a --variable file: cached preferences %.0f req/s (%.0f%% of the trivial component, %.0f%% of the same read with the file), p99 %s\n", r, env, 100*env/hello, 100*env/file, p99 }'
  echo "$runtime: first answer after start: ${mem[$runtime/cold]} ms with the compile cache cold, ${mem[$runtime/warm]} ms warm (goal 200 ms)"
  echo "$runtime: resident memory: $((${mem[$runtime/idle]} / 1024)) MiB idle, peak $((${mem[$runtime/reads]} / 1024)) MiB under the read loads, $((${mem[$runtime/peak]} / 1024)) MiB under $CONNECTIONS concurrent logins (a fresh server)"
done
