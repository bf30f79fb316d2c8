#!/usr/bin/env bash
# Makes this machine able to run `make test`, and changes nothing that is
# already right, so running it twice is cheap:
#   - Debian packages the tests need (redis-server, postgresql, chromium,
#     nginx, caddy, wrk, nodejs/npm, curl), installed with apt-get only
#     when missing (of nginx and caddy only the binary is used: the
#     forward-auth tests run each unprivileged on a free port with its own
#     config; a service the package itself starts is not used);
#   - a Redis on 127.0.0.1:6379 and a PostgreSQL on 127.0.0.1:5432 that user
#     postgres reaches without a password, started only when not answering.
# GATEHOUSE_TEST_REDIS_ADDR / GATEHOUSE_TEST_POSTGRES_URL point the tests at
# other servers; when set, the matching local server is left alone.
set -euo pipefail

log() { printf 'ensure-services: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    log "need root for: $*"
    return 1
  fi
}

apt_updated=false
# apt_install PACKAGE... installs the packages, running apt-get update once.
apt_install() {
  if ! $apt_updated; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=true
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# need COMMAND PACKAGE: install PACKAGE when COMMAND is not on PATH.
missing=()
need() {
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || missing+=("$2")
}

ensure_packages() {
  need redis-server redis-server
  need redis-cli redis-tools
  need pg_ctlcluster postgresql
  need psql postgresql-client
  need /usr/bin/chromium chromium
  # The forward-auth tests run nginx's auth_request and Caddy's
  # forward_auth in front of the gateway.
  need /usr/sbin/nginx nginx
  need /usr/bin/caddy caddy
  need wrk wrk
  need curl curl
  need taskset util-linux
  # Node.js may come from another source (this machine's has npm inside);
  # ask Debian only for what is absent.
  need node nodejs
  need npm npm
  # Interop tests: identity providers nobody here wrote (Debian's python).
  need xmlsec1 xmlsec1
  /usr/bin/python3 -c 'import saml2' 2>/dev/null || missing+=(python3-pysaml2)
  /usr/bin/python3 -c 'import authlib, flask' 2>/dev/null || missing+=(python3-authlib python3-flask)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 20 ]; then
    log "warning: node $(node --version 2>/dev/null) is older than playwright-core's minimum (20); the browser test may fail"
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  if [ -n "${GATEHOUSE_TEST_REDIS_ADDR:-}" ]; then
    log "GATEHOUSE_TEST_REDIS_ADDR is set; not managing a local Redis"
    return
  fi
  redis_up && return
  log "starting redis-server on 127.0.0.1:6379"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis_up && return; sleep 0.1; done
  log "redis-server did not answer PING on 127.0.0.1:6379"
  return 1
}

pg_version() { ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  if [ -n "${GATEHOUSE_TEST_POSTGRES_URL:-}" ]; then
    log "GATEHOUSE_TEST_POSTGRES_URL is set; not managing a local PostgreSQL"
    return
  fi
  local v
  v=$(pg_version)
  if [ -z "$v" ]; then
    v=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
    log "creating PostgreSQL $v cluster main"
    as_root pg_createcluster "$v" main
  fi
  if ! pg_up; then
    log "starting PostgreSQL $v main"
    as_root pg_ctlcluster --skip-systemctl-redirect "$v" main start
    for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  fi
  pg_up || { log "PostgreSQL is not accepting connections on 127.0.0.1:5432"; return 1; }
  pg_trust_loopback "$v"
}

pg_login() { psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }

# A fresh Debian cluster asks for a password (scram-sha-256) on TCP, and
# user postgres has none. The tests connect as postgres over loopback, so
# trust exactly that: user postgres from 127.0.0.1 and ::1.
pg_trust_loopback() {
  pg_login && return
  local hba="/etc/postgresql/$1/main/pg_hba.conf"
  log "allowing user postgres from loopback without a password in $hba"
  as_root cp "$hba" "$hba.before-gatehouse"
  {
    echo "# Added by gatehouse .ci/ensure-services.sh for the test suite."
    echo "host all postgres 127.0.0.1/32 trust"
    echo "host all postgres ::1/128 trust"
    cat "$hba.before-gatehouse"
  } | as_root tee "$hba" >/dev/null
  as_root pg_ctlcluster --skip-systemctl-redirect "$1" main reload
  for _ in $(seq 50); do pg_login && return; sleep 0.1; done
  log "user postgres still cannot log in over 127.0.0.1:5432"
  return 1
}

ensure_packages
ensure_redis
ensure_postgres
log "services ready"
