#!/usr/bin/env bash
# Start a PostgreSQL node of the lab.
#   REPLICATION_MODE=primary  first start: initdb, replication settings, the replicator
#                             role, one physical slot per name in REPLICA_SLOTS
#   REPLICATION_MODE=replica  first start: pg_basebackup -R -X stream -S $REPLICATION_SLOT
#                             from PRIMARY_HOST, then a hot standby
# A data directory that already holds a cluster is started as it is: never initdb
# over it, never re-clone it. Whether it comes up as a primary or a standby is
# decided by its own standby.signal, which is what the orchestrator's fencing sets.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${REPLICATION_MODE:=primary}"
: "${REPLICATION_USER:=replicator}"
: "${PRIMARY_PORT:=5432}"
: "${NODE_NAME:=$(hostname)}"

log() { printf '%s entrypoint: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }
die() { log "$*"; exit 1; }

cluster_exists() { [ -s "$PGDATA/PG_VERSION" ]; }

write_replication_settings() {
  cat >>"$PGDATA/postgresql.conf" <<CONF

# --- pg-failover lab ---
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '${WAL_KEEP_SIZE:-256MB}'
max_slot_wal_keep_size = '${MAX_SLOT_WAL_KEEP_SIZE:-1GB}'
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
# Short timeouts so that "a replica still hears from the primary" is evidence within
# seconds: the receiver pings after wal_receiver_timeout/2 of silence.
wal_sender_timeout = '${WAL_SENDER_TIMEOUT:-3s}'
wal_receiver_timeout = '${WAL_RECEIVER_TIMEOUT:-3s}'
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '500ms'
recovery_target_timeline = 'latest'
password_encryption = 'scram-sha-256'
CONF
  cat >"$PGDATA/pg_hba.conf" <<HBA
# local socket inside the container (the orchestrator's docker exec, health checks)
local   all          all                            trust
local   replication  all                            trust
# over the network: passwords only; the replication role may not open a database
host    replication  ${REPLICATION_USER}  all       scram-sha-256
host    all          ${REPLICATION_USER}  all       reject
host    all          all                  all       scram-sha-256
HBA
}

init_primary() {
  [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is empty; set it (see .env.example)"
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is empty; set it (see .env.example)"
  log "initialising a new primary in $PGDATA"
  local pwfile
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  write_replication_settings

  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
  local psql=(psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER" --dbname postgres)
  "${psql[@]}" -v user="$REPLICATION_USER" -v pass="$REPLICATION_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"user" WITH REPLICATION LOGIN PASSWORD :'pass';
SQL
  if [ "$POSTGRES_DB" != postgres ]; then
    "${psql[@]}" -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
  fi
  local slot
  for slot in ${REPLICA_SLOTS//,/ }; do
    "${psql[@]}" -c "SELECT pg_create_physical_replication_slot('$slot')" >/dev/null
    log "created physical slot $slot"
  done
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) log "running $f"; . "$f" ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
}

init_replica() {
  [ -n "${PRIMARY_HOST:-}" ] || die "PRIMARY_HOST is empty; a replica needs the primary's host name"
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is empty; set it (see .env.example)"
  [ -n "${REPLICATION_SLOT:-}" ] || die "REPLICATION_SLOT is empty; set the physical slot this replica streams from"
  log "cloning from $PRIMARY_HOST:$PRIMARY_PORT on slot $REPLICATION_SLOT"
  local tries=0
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -t 1; do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || die "primary $PRIMARY_HOST:$PRIMARY_PORT did not answer within 60 s"
    sleep 0.5
  done
  rm -rf "${PGDATA:?}"/* "${PGDATA:?}"/.[!.]* 2>/dev/null || true
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -D "$PGDATA" -R -X stream -c fast -S "$REPLICATION_SLOT" \
    -d "host=$PRIMARY_HOST port=$PRIMARY_PORT user=$REPLICATION_USER application_name=$NODE_NAME" \
    || die "pg_basebackup from $PRIMARY_HOST failed (wrong REPLICATION_PASSWORD, or slot $REPLICATION_SLOT missing on the primary)"
  chmod 0700 "$PGDATA"
}

# A fenced old primary carries pg-failover.rebuild, written by the orchestrator after a
# failover: on its next start it clones the new primary before PostgreSQL starts, so it
# comes back as a replica without a stop/rebuild/start round trip. Only three keys are
# read from the file; nothing in it is executed.
REBUILD_MARKER="$PGDATA/pg-failover.rebuild"
rebuild_from_marker() {
  local key value host="" port=5432 slot="" marker
  marker=$(cat "$REBUILD_MARKER")
  while IFS='=' read -r key value; do
    case "$key" in
      PRIMARY_HOST) host=$value ;;
      PRIMARY_PORT) port=$value ;;
      REPLICATION_SLOT) slot=$value ;;
    esac
  done <<<"$marker"
  [ -n "$host" ] && [ -n "$slot" ] || { log "ignoring $REBUILD_MARKER: PRIMARY_HOST or REPLICATION_SLOT missing"; return 0; }
  [ -n "${REPLICATION_PASSWORD:-}" ] || { log "cannot rebuild from $host: REPLICATION_PASSWORD is empty; starting as a fenced standby"; return 0; }
  local tries=0
  until pg_isready -q -h "$host" -p "$port" -t 1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 20 ]; then log "new primary $host:$port does not answer; starting as a fenced standby"; return 0; fi
    sleep 0.5
  done
  log "rebuilding as a replica of $host:$port on slot $slot"
  rm -rf "${PGDATA:?}"/* "${PGDATA:?}"/.[!.]* 2>/dev/null || true
  if ! PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -D "$PGDATA" -R -X stream -c fast -S "$slot" \
      -d "host=$host port=$port user=$REPLICATION_USER application_name=$NODE_NAME"; then
    # Keep the instruction for the next start; the orchestrator's own rebuild is the fallback.
    rm -rf "${PGDATA:?}"/* 2>/dev/null || true
    printf '%s\n' "$marker" >"$REBUILD_MARKER"
    die "pg_basebackup from $host failed; will retry at the next start"
  fi
  chmod 0700 "$PGDATA"
}

# The replication password for the WAL receiver, outside the conninfo: the agents name
# this file (passfile=) instead of writing the password into primary_conninfo, which
# PostgreSQL would print in its log on every reload.
write_passfile() {
  [ -n "${REPLICATION_PASSWORD:-}" ] || return 0
  local file=/var/lib/postgresql/.pgpass-replication esc_user esc_pass
  esc_user=${REPLICATION_USER//\\/\\\\}; esc_user=${esc_user//:/\\:}
  esc_pass=${REPLICATION_PASSWORD//\\/\\\\}; esc_pass=${esc_pass//:/\\:}
  (umask 077 && printf '*:*:*:%s:%s\n' "$esc_user" "$esc_pass" > "$file.tmp" && mv "$file.tmp" "$file")
}

if [ "${1:-postgres}" = postgres ]; then
  write_passfile
  if [ -f "$REBUILD_MARKER" ]; then
    rebuild_from_marker
    # Never initdb a fresh primary where a rebuild was asked for and did not happen.
    cluster_exists || die "no cluster in $PGDATA and the rebuild did not happen; start again once the new primary answers"
  fi
  if ! cluster_exists; then
    case "$REPLICATION_MODE" in
      primary) init_primary ;;
      replica) init_replica ;;
      *) die "REPLICATION_MODE='$REPLICATION_MODE' is not valid; expected primary or replica" ;;
    esac
  elif [ -f "$PGDATA/standby.signal" ]; then
    log "existing cluster, starting as a standby"
  else
    log "existing cluster, starting as it was left"
  fi
  shift || true
  # cluster_name names the node in ps, in logs and to a client behind PgBouncer (SHOW cluster_name).
  exec postgres -D "$PGDATA" ${NODE_NAME:+-c "cluster_name=$NODE_NAME"} "$@"
fi
exec "$@"
