#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432, trust auth for postgres), Redis
# (127.0.0.1:6379) and RabbitMQ (127.0.0.1:5672, guest/guest) answer.
# A service already answering is left alone; one installed but stopped is
# started; one missing is installed from Debian's packages first.
set -euo pipefail

log() { echo "[services] $*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 tries=${3:-60}
  for _ in $(seq "$tries"); do
    port_open "$port" && return 0
    sleep 1
  done
  log "$name did not open port $port"; return 1
}

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"; DEBIAN_FRONTEND=noninteractive apt-get update -qq; APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if port_open 5432; then log "PostgreSQL is up"; return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    apt_install postgresql
    local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    # Local development and CI only: trust loopback connections, as the
    # project's URLs (postgres://postgres@127.0.0.1) expect.
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -n1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL
}

ensure_redis() {
  if port_open 6379; then log "Redis is up"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/user-service.log
  wait_port 6379 Redis
}

ensure_rabbitmq() {
  if port_open 5672; then log "RabbitMQ is up"; return; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ 120
}

ensure_postgres
ensure_redis
ensure_rabbitmq
