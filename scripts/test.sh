#!/usr/bin/env bash
# Runs every test, the command CI runs (.ci/run):
#   1. the whole workspace on the host: unit tests of each crate, the host's
#      and the worker's own tests, and the end-to-end suite (tests/api) with
#      the components on this repository's host;
#   2. the deployment checks (deploy/): the Kubernetes manifests validated
#      offline, the worker's container image built and run, and the app
#      pushed to a local OCI registry and run from it (the last needs the
#      spin CLI); skipped when arguments filter the tests, or with
#      DEPLOY_CHECKS=0;
#   3. the end-to-end suite again under a real `spin up` (TEST_RUNTIME=spin),
#      if the spin CLI is there: SPIN_BIN, else ../shared/tools/spin beside
#      the repository.
# All always run; the script fails if any fails. Its last lines are each
# run's duration and summary, the last runner's summary last.
# Arguments go to both test runs (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/build-components.sh

# Every test makes a database of its own (test_*, worker_*) and leaves it
# behind; at about 10 MB each, a few runs fill a disk. Drop what earlier runs
# left (a database still in use, by a run going on elsewhere, is kept).
sweep_test_databases() {
  command -v psql >/dev/null || return 0
  local dropped=0 db
  while read -r db; do
    [ -n "$db" ] || continue
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 && dropped=$((dropped + 1))
  done < <(psql -h 127.0.0.1 -U postgres -tAc \
    "SELECT datname FROM pg_database WHERE datname ~ '^(test|worker)_[0-9a-z_]+$'" 2>/dev/null)
  echo "[test] dropped $dropped databases earlier runs left" >&2
}
sweep_test_databases

spin_cli=${SPIN_BIN:-$(cd .. && pwd)/shared/tools/spin}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

reports=()
failed=0
# run LABEL COMMAND…: runs it, output shown as it comes, and records how it ended.
run() {
  local label=$1; shift
  local log="$logs/${#reports[@]}.log" started=$SECONDS status=0
  echo "[test] $label: $*" >&2
  "$@" 2>&1 | tee "$log" || status=$?
  local summary
  summary=$(grep -E '^ *Summary \[' "$log" | tail -n1 || true)
  [ -n "$summary" ] || summary=$(grep -E '^test result:' "$log" | tail -n1 || true)
  [ -n "$summary" ] || summary=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 || true)
  [ "$status" = 0 ] || failed=1
  reports+=("[test] $label: exit $status after $((SECONDS - started)) s")
  reports+=("${summary:-[test] $label: no summary (exit $status)}")
}

if command -v cargo-nextest >/dev/null; then
  run "host runtime, whole workspace" cargo nextest run --workspace --no-fail-fast "$@"
else
  run "host runtime, whole workspace" cargo test --workspace --no-fail-fast "$@"
fi

if [ "${DEPLOY_CHECKS:-1}" != 0 ] && [ $# = 0 ]; then
  run "deploy: Kubernetes manifests" deploy/kubernetes/validate/run.sh
  run "deploy: worker image" deploy/worker/build-image.sh
  if [ -x "$spin_cli" ]; then
    run "deploy: registry round trip" env SPIN_BIN="$spin_cli" deploy/registry-roundtrip.sh
  fi
fi

if [ -x "$spin_cli" ]; then
  # Unpacks the CLI once (the wrapper does it on first use) and proves it runs.
  echo "[test] $("$spin_cli" --version)" >&2
  export TEST_RUNTIME=spin SPIN_BIN=$spin_cli
  # The workspace's build, filtered to the suite: `-p api-tests` would unify
  # features differently and rebuild host, native-worker and the suite.
  if command -v cargo-nextest >/dev/null; then
    run "spin up, end-to-end suite" cargo nextest run --workspace -E 'package(api-tests)' --no-fail-fast "$@"
  else
    run "spin up, end-to-end suite" cargo test --workspace --no-fail-fast --test api "$@"
  fi
else
  reports=("[test] no spin CLI at $spin_cli: the end-to-end suite ran on the host only" "${reports[@]}")
fi

printf '%s\n' "${reports[@]}"
exit "$failed"
