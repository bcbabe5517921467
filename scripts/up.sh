#!/usr/bin/env bash
# Brings the whole service up on this machine: the backing services, the
# components, the schema, the worker and the host serving the API on
# http://127.0.0.1:3000 (override with LISTEN=host:port). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/build-components.sh
cargo build --release -p host -p native-worker

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/user_service?sslmode=disable}
export SPIN_VARIABLE_DATABASE_URL=${SPIN_VARIABLE_DATABASE_URL:-$DATABASE_URL}
target/release/native-worker migrate

# The service's secrets (the idempotency sealing key, the MFA sealing key,
# the Ed25519 key access tokens are signed with) are made the first time and
# kept in .env, which the host reads as `spin up` does: scripts/secrets.sh.
scripts/secrets.sh .env

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM

if target/release/native-worker --help | grep -q '^  run'; then
  target/release/native-worker run &
  pids+=($!)
fi
# The key-value store `cache` the cached reads go through must be the Redis
# that redis_url names (README, "Caching"): runtime-config.toml says the
# default one; another SPIN_VARIABLE_REDIS_URL gets a file of its own, unless
# RUNTIME_CONFIG_FILE names one.
if [ -z "${RUNTIME_CONFIG_FILE:-}" ]; then
  RUNTIME_CONFIG_FILE=runtime-config.toml
  if [ -n "${SPIN_VARIABLE_REDIS_URL:-}" ]; then
    RUNTIME_CONFIG_FILE=target/runtime-config.toml
    printf '[key_value_store.cache]\ntype = "redis"\nurl = "%s"\n' "$SPIN_VARIABLE_REDIS_URL" >"$RUNTIME_CONFIG_FILE"
  fi
fi
target/release/host up --from spin.toml --runtime-config-file "$RUNTIME_CONFIG_FILE" --listen "${LISTEN:-127.0.0.1:3000}" &
pids+=($!)
wait -n "${pids[@]}"
