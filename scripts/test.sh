#!/usr/bin/env bash
# Runs every test: unit tests of each crate and the end-to-end tests that
# drive the real components through the host against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/build-components.sh
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
