#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml offline (validate.py says against what).
# Python tooling lives in a venv of its own, made on first use under the
# cargo target directory (target/deploy-venv) from PyPI: kubernetes-validate,
# which bundles Kubernetes' API schemas, and what it depends on (jsonschema,
# PyYAML). No cluster, no network beyond that first install.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
venv=${CARGO_TARGET_DIR:-$root/target}/deploy-venv
if [ ! -f "$venv/.ready" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" "jsonschema>=4.18" "PyYAML>=6"
  touch "$venv/.ready"
fi
exec "$venv/bin/python" "$root/deploy/kubernetes/validate/validate.py" "$root"
