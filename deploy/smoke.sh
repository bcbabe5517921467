#!/usr/bin/env bash
# Black-box smoke test of a running user service: health, register, login.
#
#   deploy/smoke.sh BASE_URL        # e.g. http://127.0.0.1:3000
#
# SMOKE_SOURCE_ADDRESS (optional) is the local address requests leave from:
# the service limits logins and registrations per client address, so a
# check on a shared loopback speaks from an address of its own (127.x.y.z).
#
# Needs only curl and jq, and nothing of the deployment but its address, so
# it runs the same against `spin up`, the host, or a cluster's ingress. It
# registers one throw-away account (smoke-<random>@example.com). Prints one
# line per check and ends with "smoke: N passed, N failed"; exits non-zero on
# any failure.
set -uo pipefail
base=${1:?usage: deploy/smoke.sh BASE_URL}
base=${base%/}
passed=0
failed=0
body=$(mktemp)
trap 'rm -f "$body"' EXIT

check() { # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" = 0 ]; then
    passed=$((passed + 1)); echo "[smoke] ok: $1"
  else
    failed=$((failed + 1)); echo "[smoke] FAILED: $1: $3"
  fi
}

source_address=()
[ -n "${SMOKE_SOURCE_ADDRESS:-}" ] && source_address=(--interface "$SMOKE_SOURCE_ADDRESS")

# request METHOD PATH [JSON]: the status on stdout, the body in $body.
request() {
  local args=(-sS -o "$body" -w '%{http_code}' -X "$1" --max-time 20 "${source_address[@]}")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$base$2" || echo 000
}

status=$(request GET /api/v1/health/)
[ "$status" = 200 ] && jq -e '.data.checks.database == "up" and .data.checks.cache == "up"' "$body" >/dev/null
check "GET /api/v1/health/ is 200 with database and cache up" $? "status $status: $(head -c 300 "$body")"

email="smoke-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')@example.com"
password='Vq8#mLp2!zr-long-9'
status=$(request POST /api/v1/users/ "{\"name\":\"Deployment Check\",\"email\":\"$email\",\"password\":\"$password\"}")
[ "$status" = 201 ] && jq -e --arg e "$email" '.success and .data.user.email == $e and (.data.access_token | length > 0)' "$body" >/dev/null
check "POST /api/v1/users/ registers $email" $? "status $status: $(head -c 300 "$body")"

status=$(request POST /api/v1/auth/login/ "{\"email\":\"$email\",\"password\":\"$password\"}")
[ "$status" = 200 ] && jq -e '.data.token_type == "Bearer" and (.data.refresh_token | length > 0)' "$body" >/dev/null
check "POST /api/v1/auth/login/ signs the new account in" $? "status $status: $(head -c 300 "$body")"
token=$(jq -r '.data.access_token // empty' "$body" 2>/dev/null)

status=$(curl -sS -o "$body" -w '%{http_code}' --max-time 20 "${source_address[@]}" -H "Authorization: Bearer $token" "$base/api/v1/users/profile/" || echo 000)
[ "$status" = 200 ] && jq -e --arg e "$email" '.data.email == $e' "$body" >/dev/null
check "GET /api/v1/users/profile/ with the login's token" $? "status $status: $(head -c 300 "$body")"

echo "[smoke] checked $base"
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
