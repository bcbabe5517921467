#!/usr/bin/env bash
# Builds every Spin component (release, wasm32-wasip2) into the shared target
# dir, where spin.toml and the test fixtures expect them. This is what
# `spin build` would run, component by component.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --target wasm32-wasip2 --release \
  -p health-component -p auth-component -p users-component -p preferences-component \
  -p docs-component -p testing-component
