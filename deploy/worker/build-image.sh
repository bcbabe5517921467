#!/usr/bin/env bash
# Builds the worker's container image and proves it runs:
#   1. a static binary: cargo build --release for x86_64-unknown-linux-musl
#      (the target is added with rustup, and Debian's musl-tools installed,
#      when missing);
#   2. the image from deploy/worker/Containerfile with buildah (installed
#      with apt-get when missing and we are root): vfs storage, chroot
#      isolation, docker format (to keep the HEALTHCHECK), in a storage of
#      its own under the target directory, so nothing is shared with other
#      users of this machine's podman or buildah;
#   3. checks of what was built: static, non-root, the healthcheck, the size;
#   4. the image run with podman on the host's network: `--version`, then
#      `migrate` against the local PostgreSQL into a database of its own,
#      then `run`, its own HEALTHCHECK run by `podman healthcheck run`, and
#      SIGTERM.
#
#   deploy/worker/build-image.sh [TAG]      # default: the commit's short hash
#
# The image stays in that storage (target/containers); `podman --root
# "$PWD/target/containers/storage" … push …` (README, "Deploying") sends it on.
# A machine that cannot run containers still builds and checks the image;
# step 4 then fails with podman's reason.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
say() { echo "[image] +${SECONDS}s $*" >&2; }
target_dir=${CARGO_TARGET_DIR:-$root/target}
tag=${1:-$(git rev-parse --short HEAD 2>/dev/null || echo dev)}
image="localhost/user-service-worker:$tag"
passed=0

install_if_missing() { # install_if_missing COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  [ "$(id -u)" = 0 ] || { say "$1 is missing: apt-get install $2 (as root)"; exit 1; }
  say "installing Debian's $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null; }
}

# 1. The static binary. One release build for musl, kept in the usual target
# directory; later runs only relink what changed.
musl=x86_64-unknown-linux-musl
rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
# ring (rustls's cryptography, for PostgreSQL TLS) compiles C and assembly:
# for musl, with Debian's musl-gcc wrapper.
install_if_missing x86_64-linux-musl-gcc musl-tools
started=$SECONDS
cargo build --release --locked --target "$musl" -p native-worker
binary="$target_dir/$musl/release/native-worker"
say "binary built in $((SECONDS - started)) s: $(du -h "$binary" | cut -f1)"
# Static: no program interpreter (a dynamic binary would find no loader
# and no libc in a scratch image).
command -v readelf >/dev/null || { say "readelf is missing (binutils)"; exit 1; }
if readelf -lW "$binary" | grep -q 'program interpreter'; then
  say "$binary is dynamically linked"; readelf -lW "$binary" | grep interpreter >&2; exit 1
fi
passed=$((passed + 1))

# 2. The image, from a context holding only the binary.
install_if_missing buildah buildah
install_if_missing podman podman
storage=(--root "$target_dir/containers/storage" --runroot "$target_dir/containers/run" --storage-driver vfs)
context=$(mktemp -d /tmp/worker-image.XXXXXX)
trap 'rm -rf "$context"' EXIT
cp "$binary" "$context/native-worker"
started=$SECONDS
buildah "${storage[@]}" build --isolation chroot --format docker --pull=never \
  -f deploy/worker/Containerfile -t "$image" "$context" >&2
say "image $image built in $((SECONDS - started)) s"
passed=$((passed + 1))

# 3. What the image says of itself.
inspect=$(buildah "${storage[@]}" inspect --type image "$image")
user=$(jq -r '.Docker.config.User // .OCIv1.config.User' <<<"$inspect")
health=$(jq -c '.Docker.config.Healthcheck.Test' <<<"$inspect")
entry=$(jq -c '.OCIv1.config.Entrypoint' <<<"$inspect")
layers=$(jq '.OCIv1.rootfs.diff_ids | length' <<<"$inspect")
bytes=$(podman "${storage[@]}" image inspect --format '{{.Size}}' "$image")
say "user $user, entrypoint $entry, healthcheck $health, $layers layer(s), $((bytes / 1024)) KiB"
[ "$user" = "65532:65532" ] || { say "the image must not run as root (user: $user)"; exit 1; }
[ "$health" = '["CMD","/native-worker","health"]' ] || { say "no /health healthcheck: $health"; exit 1; }
passed=$((passed + 1))

# 4. The image runs. Host network: the services listen on this machine's
# loopback. This machine may itself be a container: no systemd (cgroupfs,
# file events, no healthcheck timer: the check is run by hand below), cgroups
# v1 beside a v2 hierarchy with a controller (crun refuses that "hybrid"
# layout, runc takes it), and no CAP_SYS_RESOURCE (podman's default rlimits
# are above ours and cannot be raised: ask for what we have).
install_if_missing runc runc
podman=(podman "${storage[@]}" --runtime runc --cgroup-manager cgroupfs --events-backend file)
options=(--network host --ulimit "nofile=$(ulimit -Sn):$(ulimit -Sn)" --ulimit nproc=4096:4096)
run=("${podman[@]}" run --rm --no-healthcheck "${options[@]}")
version=$("${run[@]}" "$image" --version)
say "podman run $image --version: $version"
[[ "$version" == "native-worker "* ]] || { say "unexpected --version: $version"; exit 1; }
passed=$((passed + 1))

database="test_image_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
database_url="postgres://postgres@127.0.0.1:5432/$database?sslmode=disable"
# Dropped in the background: DROP DATABASE forces a checkpoint, which took
# 20 s on this busy machine (scripts/test.sh sweeps what a failed drop left).
drop_database() {
  command -v psql >/dev/null || return 0
  nohup psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 &
}
container="worker-image-check-$tag-$$"
cleanup() {
  "${podman[@]}" rm -f --time 0 "$container" >/dev/null 2>&1 || true
  drop_database
  rm -rf "$context"
}
trap cleanup EXIT
"${run[@]}" -e DATABASE_URL="$database_url" -e RUST_LOG=warn "$image" migrate
tables=$(psql -h 127.0.0.1 -U postgres -d "$database" -tAc "SELECT count(*) FROM refinery_schema_history")
say "migrate from the image applied $tables migrations (the ones compiled in)"
[ "$tables" -ge 1 ] || { say "no migration applied"; exit 1; }
passed=$((passed + 1))

# TLS from an image with no CA bundle: the address without sslmode=disable
# is verified TLS (native-worker/src/pg_tls.rs), trusting only the CA
# mounted and named by SSL_CERT_FILE, as a deployment would mount its own.
# Debian's PostgreSQL certificate is self-signed for `localhost`.
local_ca=/etc/ssl/certs/ssl-cert-snakeoil.pem
if [ -r "$local_ca" ] && [ "$(psql -h 127.0.0.1 -U postgres -tAc 'SHOW ssl')" = on ]; then
  tls_url="postgres://postgres@localhost:5432/$database"
  "${run[@]}" -v "$local_ca:/etc/postgres-ca.pem:ro" -e SSL_CERT_FILE=/etc/postgres-ca.pem \
    -e DATABASE_URL="$tls_url" -e RUST_LOG=warn "$image" migrate
  if "${run[@]}" -e DATABASE_URL="$tls_url" -e RUST_LOG=warn "$image" migrate 2>"$context/untrusted.log"; then
    say "the image connected to a server whose certificate it has no root for"; exit 1
  fi
  grep -q 'invalid peer certificate' "$context/untrusted.log" ||
    { say "refused, but not for the certificate:"; cat "$context/untrusted.log" >&2; exit 1; }
  say "migrate from the image over TLS: verified with the mounted CA, refused without it"
  passed=$((passed + 1))
else
  say "skipped the TLS check: the local PostgreSQL offers no TLS or has no $local_ca"
fi

# `run` under the image's own user, then its healthcheck as a runtime would
# ask it. Its queues are named for this check (never a deployment's), the
# same names every run: declarations are idempotent and it publishes
# nothing, so runs side by side share them harmlessly and none pile up.
suffix=image-check
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Its healthcheck stays (no timer: without systemd, podman logs that it
# cannot make one, and runs it when asked).
"${podman[@]}" run -d --name "$container" --health-interval disable "${options[@]}" -e DATABASE_URL="$database_url" -e HTTP_ADDR="127.0.0.1:$port" \
  -e PUSH_QUEUE="push.queue.$suffix" -e PUSH_READY_QUEUE="push.ready.$suffix" -e FAILED_QUEUE="failed.queue.$suffix" \
  -e EMAIL_QUEUE="email.queue.$suffix" -e AUDIT_QUEUE="audit.events.$suffix" -e STATUS_QUEUE="notification.status.$suffix" \
  -e FEEDBACK_QUEUE="device.feedback.$suffix" -e DLX_EXCHANGE="notifications.dlx.$suffix" -e RETRY_DELAYS_MS=1000 \
  "$image" run >/dev/null
healthy=''
for _ in $(seq 50); do
  # The image's own HEALTHCHECK (`native-worker health`), as a runtime runs it.
  if "${podman[@]}" healthcheck run "$container" >/dev/null 2>&1; then
    healthy=yes; break
  fi
  sleep 0.2
done
[ -n "$healthy" ] || { say "the running image never answered its healthcheck"; "${podman[@]}" logs "$container" >&2; exit 1; }
ready=$(curl -fsS "http://127.0.0.1:$port/ready" || true)
say "running image: healthcheck passes; /ready answers $ready"
jq -e '.status == "ready"' <<<"$ready" >/dev/null || { say "not ready"; "${podman[@]}" logs "$container" >&2; exit 1; }
started=$SECONDS
"${podman[@]}" stop --time 30 "$container" >/dev/null
say "stopped (SIGTERM, drained) in $((SECONDS - started)) s"
passed=$((passed + 1))
# Each build leaves the previous image of the tag untagged: drop those, so
# the storage under target/ does not grow by an image per run.
"${podman[@]}" image prune -f >/dev/null 2>&1 || true
echo "image: $passed passed, 0 failed"
