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

# The JWT signing key and the MFA sealing key must survive restarts (or every
# session, or every second factor, dies with them): generate them the first
# time and keep them in .env, which the host reads as
# `spin up` does. .env is ignored by git.
for name in JWT_SECRET MFA_KEY; do
  var="SPIN_VARIABLE_$name"
  if [ -z "${!var:-}" ] && ! grep -qs "^$var=" .env; then
    echo "$var=$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" >> .env
    echo "[up] generated $var in .env"
  fi
done

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap cleanup EXIT INT TERM

if target/release/native-worker --help | grep -q '^  run'; then
  target/release/native-worker run &
  pids+=($!)
fi
target/release/host up --from spin.toml --listen "${LISTEN:-127.0.0.1:3000}" &
pids+=($!)
wait -n "${pids[@]}"
