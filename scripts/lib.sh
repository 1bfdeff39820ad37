# Shared helpers of the lab scripts (sourced).
COMPOSE_FILE=compose.ha.yml
COMPOSE_PROJECT=pg-failover
LAB_CONTAINERS=(pgf-etcd pgf-etcd-2 pgf-etcd-3 pgsql pgsql-replica-1 pgsql-replica-2 pgf-pgbouncer pgf-pgbouncer-read pgf-agent-1 pgf-agent-2 pgf-agent-3)
LAB_PORTS=(2379 22379 32379 5432 5433 5434 6432 6433 8008 8009 8010)

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f "$COMPOSE_FILE" -p "$COMPOSE_PROJECT" "$@"
  else
    echo "lab: neither 'docker compose' nor 'docker-compose' is installed; run scripts/ensure-docker as root (it installs docker-compose)" >&2
    exit 2
  fi
}

ensure_node_modules() {
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "lab: installing npm packages (npm ci)" >&2
    npm ci --no-audit --no-fund >/dev/null
  fi
}

build_project() {
  npx tsc -p tsconfig.json
  chmod +x dist/cli/main.js
}

# openssl makes the lab's and the tests' certificates (scripts/tls). Debian ships it in
# almost every install; a minimal one gets Debian's package (root only).
ensure_openssl() {
  command -v openssl >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "lab: installing openssl (Debian's package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >/dev/null; }
  fi
  command -v openssl >/dev/null 2>&1 || { echo "lab: openssl is required (apt-get install openssl)" >&2; exit 2; }
}
