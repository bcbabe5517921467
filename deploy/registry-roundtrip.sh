#!/usr/bin/env bash
# The Spin app as an OCI artifact, end to end on this machine:
#   1. a throw-away OCI registry on loopback (Debian's docker-registry,
#      installed with apt-get when missing and we are root);
#   2. `spin registry push` of spin.toml and its built components;
#   3. `spin up --from-registry` by the pushed digest, with an empty cache
#      (so everything is pulled) and the runtime configuration rendered from
#      deploy/kubernetes/secret.template.yaml, as SpinKube would mount it;
#   4. deploy/smoke.sh (health, register, login, profile) against it.
#
#   deploy/registry-roundtrip.sh
#
# Needs: the components built (scripts/build-components.sh), PostgreSQL and
# Redis running (scripts/services.sh), and a native-worker binary for the
# schema (NATIVE_WORKER, else target/{debug,release}/native-worker, else
# built with cargo). SPIN_BIN names the spin CLI (default ../shared/tools/spin).
# Everything it starts is stopped and everything it made is removed on exit,
# the test database included.
#
# The registry speaks plain HTTP on 127.0.0.1: spin's -k (--insecure) makes
# both push and pull use http://. A real registry needs neither -k nor this
# script: see README, "Deploying".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
spin_cli=${SPIN_BIN:-$(cd .. && pwd)/shared/tools/spin}
say() { echo "[registry] +${SECONDS}s $*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds_since() { local ms=$(($(now_ms) - $1)); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }

[ -x "$spin_cli" ] || { say "no spin CLI at $spin_cli (set SPIN_BIN)"; exit 1; }
if ! command -v docker-registry >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian's docker-registry"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-registry >/dev/null; }
  else
    say "docker-registry is missing: apt-get install docker-registry (as root)"; exit 1
  fi
fi
for tool in curl jq ss envsubst; do
  command -v "$tool" >/dev/null || { say "$tool is missing"; exit 1; }
done
for wasm in auth users preferences docs health; do
  [ -f "target/wasm32-wasip2/release/${wasm}_component.wasm" ] ||
    { say "components not built: run scripts/build-components.sh"; exit 1; }
done

work=$(mktemp -d /tmp/registry-roundtrip.XXXXXX)
registry_pid='' spin_pid='' database=''
cleanup() {
  local status=$?
  # `spin up` runs the app in a child process of its own: stop both.
  if [ -n "$spin_pid" ]; then
    pkill -TERM -P "$spin_pid" 2>/dev/null || true
    kill "$spin_pid" 2>/dev/null || true
    wait "$spin_pid" 2>/dev/null || true
  fi
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  # In the background: DROP DATABASE forces a checkpoint, 20 s on a busy
  # machine (scripts/test.sh sweeps what a failed drop left).
  if [ -n "$database" ] && command -v psql >/dev/null; then
    nohup psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 &
  fi
  if [ "$status" != 0 ]; then
    for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -n 15 "$log"; }; done >&2
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT

# 1. The registry, on a port the kernel picks (no fixed port to collide on).
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry-data
http:
  addr: 127.0.0.1:0
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
registry=''
for _ in $(seq 100); do
  registry=$(ss -Hltnp 2>/dev/null | grep "pid=$registry_pid," | awk '{print $4}' | head -n1 || true)
  [ -n "$registry" ] && curl -fsS "http://$registry/v2/" >/dev/null 2>&1 && break
  registry=''
  sleep 0.1
done
[ -n "$registry" ] || { say "the registry did not come up"; exit 1; }
say "registry (OCI distribution API) on http://$registry"

# 2. Push. The reference names the commit, as a release pipeline would.
tag=$(git rev-parse --short HEAD 2>/dev/null || echo dev)
reference="$registry/user-service:$tag"
started=$(now_ms)
"$spin_cli" registry push -k --from spin.toml "$reference" >"$work/push.log" 2>&1 ||
  { say "push failed"; cat "$work/push.log" >&2; exit 1; }
push_secs=$(seconds_since "$started")
digest=$(grep -o 'sha256:[0-9a-f]\{64\}' "$work/push.log" | tail -n1)
[ -n "$digest" ] || { say "push printed no digest"; cat "$work/push.log" >&2; exit 1; }
say "pushed $reference ($digest) in ${push_secs}s"
# What the registry now holds: a Spin application manifest, one layer per
# component (and the manifest's own layer), as SpinKube's shim pulls it.
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$registry/v2/user-service/manifests/$digest" >"$work/manifest.json"
layers=$(jq '.layers | length' "$work/manifest.json")
bytes=$(jq '[.layers[].size] | add' "$work/manifest.json")
say "manifest $(jq -r '.config.mediaType' "$work/manifest.json"): $layers layers, $bytes bytes"

# 3. A database of its own, migrated by the worker as the cluster's Job does.
worker=${NATIVE_WORKER:-}
if [ -z "$worker" ]; then
  for candidate in target/debug/native-worker target/release/native-worker; do
    [ -x "$candidate" ] && { worker=$candidate; break; }
  done
fi
if [ -z "$worker" ]; then
  cargo build -q -p native-worker
  worker=target/debug/native-worker
fi
database="test_registry_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
database_url="postgres://postgres@127.0.0.1:5432/$database?sslmode=disable"
DATABASE_URL=$database_url RUST_LOG=warn "$worker" migrate >"$work/migrate.log" 2>&1 ||
  { say "migrate failed"; cat "$work/migrate.log" >&2; exit 1; }

# The runtime configuration exactly as the Secret template carries it,
# rendered with this run's values: the key `runtime-config.toml` of the
# Secret named by the SpinApp's runtimeConfig.loadFromSecret.
awk '
  /^ *runtime-config.toml: *\|/ { inside = 1; match($0, /^ */); indent = RLENGTH + 2; next }
  inside && /^[^ ]/ { inside = 0 }
  inside && NF == 0 { print ""; next }
  inside { match($0, /^ */); if (RLENGTH < indent) { inside = 0; next } print substr($0, indent + 1) }
' deploy/kubernetes/secret.template.yaml >"$work/runtime-config.template.toml"
grep -q variables_provider "$work/runtime-config.template.toml" ||
  { say "no runtime-config.toml in deploy/kubernetes/secret.template.yaml"; exit 1; }
export DATABASE_URL=$database_url REDIS_URL=redis://127.0.0.1:6379
JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
MFA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SERVICE_KEYS=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
JWT_SIGNING_KEY='' MFA_PREVIOUS_KEYS=''
export JWT_SECRET MFA_KEY SERVICE_KEYS JWT_SIGNING_KEY MFA_PREVIOUS_KEYS
envsubst '${DATABASE_URL} ${REDIS_URL} ${JWT_SECRET} ${JWT_SIGNING_KEY} ${SERVICE_KEYS} ${MFA_KEY} ${MFA_PREVIOUS_KEYS}' \
  <"$work/runtime-config.template.toml" >"$work/runtime-config.toml"
if grep -q '\${' "$work/runtime-config.toml"; then
  say "placeholders left unrendered:"; grep '\${' "$work/runtime-config.toml" >&2; exit 1
fi

# 4. Run it from the registry: by digest, from an empty cache, in an empty
# directory, with no SPIN_VARIABLE_* from this shell (the runtime
# configuration alone must be enough), on a port the kernel picks.
mkdir -p "$work/run" "$work/cache"
started=$(now_ms)
(
  cd "$work/run"
  for name in $(env | sed -n 's/^\(SPIN_VARIABLE_[A-Z0-9_]*\)=.*/\1/p'); do unset "$name"; done
  unset DATABASE_URL REDIS_URL JWT_SECRET MFA_KEY SERVICE_KEYS JWT_SIGNING_KEY MFA_PREVIOUS_KEYS
  exec "$spin_cli" up -k --from-registry "$registry/user-service@$digest" \
    --cache-dir "$work/cache" --runtime-config-file "$work/runtime-config.toml" \
    --listen 127.0.0.1:0 --state-dir "$work/run/state" --log-dir "$work/run/logs"
) >"$work/spin.log" 2>&1 &
spin_pid=$!
address=''
for _ in $(seq 900); do
  address=$(grep -o 'Serving http://[0-9.:]*' "$work/spin.log" | head -n1 | sed 's,Serving http://,,' || true)
  [ -n "$address" ] && break
  kill -0 "$spin_pid" 2>/dev/null || { say "spin up exited before serving"; cat "$work/spin.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$address" ] || { say "spin up did not serve within 90 s"; exit 1; }
pull_secs=$(seconds_since "$started")
pulled=$(find "$work/cache" -type f | wc -l)
say "spin up --from-registry serves on http://$address after ${pull_secs}s (pull and start; $pulled files in its cache)"
[ "$pulled" -gt 0 ] || { say "nothing was pulled into the cache"; exit 1; }

# From a loopback address of its own: per-address login and registration
# limits count in the shared Redis, and 127.0.0.1 is everyone's.
SMOKE_SOURCE_ADDRESS="127.$((RANDOM % 254 + 1)).$((RANDOM % 256)).$((RANDOM % 254 + 1))" deploy/smoke.sh "http://$address"
say "round trip: push ${push_secs}s, pull and start ${pull_secs}s"
