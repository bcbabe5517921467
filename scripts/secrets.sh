#!/usr/bin/env bash
# Makes the secrets a deployment needs, once, into an env file (default
# ./.env, which the host and `spin up` read; ignored by git), and leaves any
# already there (or set in the environment) alone: they must survive
# restarts, or every session and every second factor dies with them.
#   SPIN_VARIABLE_JWT_SECRET       seals idempotent answers (and signs HS256
#                                  tokens until a signing key is set)
#   SPIN_VARIABLE_MFA_KEY          seals TOTP secrets
#   SPIN_VARIABLE_JWT_SIGNING_KEY  an Ed25519 key (PKCS#8 PEM, line breaks
#                                  written \n): access tokens are EdDSA and
#                                  the JWKS lists its public half
# A deployment that had signed HS256 tokens until now (a JWT_SECRET but no
# signing key) also gets SPIN_VARIABLE_JWT_HS256_ACCEPTED_UNTIL, the switch
# plus the access-token lifetime, so tokens already out keep working.
# To bring your own key, set SPIN_VARIABLE_JWT_SIGNING_KEY (README,
# "Signing keys and rotation") before running this.
set -euo pipefail
env_file=${1:-.env}
touch "$env_file"

has() { local var="SPIN_VARIABLE_$1"; [ -n "${!var:-}" ] || grep -qs "^$var=" "$env_file"; }
add() { echo "SPIN_VARIABLE_$1=$2" >> "$env_file"; echo "[secrets] generated SPIN_VARIABLE_$1 in $env_file" >&2; }
random() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n'; }

had_hs256_secret=false
has JWT_SECRET && had_hs256_secret=true
has JWT_SECRET || add JWT_SECRET "$(random)"
has MFA_KEY || add MFA_KEY "$(random)"
if ! has JWT_SIGNING_KEY; then
  if ! command -v openssl >/dev/null; then
    echo "[secrets] installing openssl to make the signing key" >&2
    apt-get install -y -qq openssl >/dev/null
  fi
  pem=$(openssl genpkey -algorithm ed25519 2>/dev/null)
  add JWT_SIGNING_KEY "$(printf '%s' "$pem" | awk '{printf "%s\\n", $0}')"
  if $had_hs256_secret && ! has JWT_HS256_ACCEPTED_UNTIL; then
    add JWT_HS256_ACCEPTED_UNTIL "$(( $(date +%s) + ${SPIN_VARIABLE_ACCESS_TOKEN_TTL_SECS:-900} + 60 ))"
  fi
fi
