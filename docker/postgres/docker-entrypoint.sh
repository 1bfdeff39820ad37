#!/usr/bin/env bash
# Start a PostgreSQL node of the lab.
#   REPLICATION_MODE=primary  first start: initdb, replication settings, the replicator
#                             role, one physical slot per name in REPLICA_SLOTS
#   REPLICATION_MODE=replica  first start: pg_basebackup -R -X stream -S $REPLICATION_SLOT
#                             from PRIMARY_HOST, then a hot standby
# A data directory that already holds a cluster is started as it is: never initdb
# over it, never re-clone it. Whether it comes up as a primary or a standby is
# decided by its own standby.signal, which is what the orchestrator's fencing sets.
# Security (issue 15, see pgf-security.sh): passwords from *_FILE, TLS from $PGF_TLS_DIR,
# pg_hba.conf and pg_ident.conf rewritten at every start, least-privilege roles:
#   APP_USER, APP_PASSWORD(_FILE)        the application's role, owner of POSTGRES_DB
#   PGBOUNCER_AUTH_USER (pgbouncer_auth), PGBOUNCER_AUTH_PASSWORD(_FILE)   PgBouncer's lookup role
# Backups (issue 16, see pgf-backup.sh): PGF_BACKUP_DIR and PGF_BACKUP_STANZA turn WAL archiving
# with pgBackRest on, on whichever node is primary.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${REPLICATION_MODE:=primary}"
: "${REPLICATION_USER:=replicator}"
: "${PRIMARY_PORT:=5432}"
: "${NODE_NAME:=$(hostname)}"
: "${PEER_HOSTS:=}"
: "${REWIND_USER:=rewinder}"
: "${PGBOUNCER_AUTH_USER:=pgbouncer_auth}"
: "${APP_USER:=}"

log() { printf '%s entrypoint: %s\n' "$(date -u +%FT%T.%3NZ)" "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=pgf-security.sh
. /usr/local/lib/pg-failover/pgf-security.sh
# shellcheck source=pgf-backup.sh
. /usr/local/lib/pg-failover/pgf-backup.sh

cluster_exists() { [ -s "$PGDATA/PG_VERSION" ]; }

write_replication_settings() {
  cat >>"$PGDATA/postgresql.conf" <<CONF

# --- pg-failover lab ---
listen_addresses = '*'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
# Every standby streams on a physical slot (which keeps the WAL it still needs, up to
# max_slot_wal_keep_size), so wal_keep_size is only a margin. It is small, and WAL segments are
# removed rather than recycled, because pg_rewind (before PostgreSQL 18) copies every segment in
# the new primary's pg_wal: a smaller pg_wal is a faster rejoin of a diverged old primary
# (issue 14). The cost: a new segment is zero-filled instead of reusing an old file.
wal_keep_size = '${WAL_KEEP_SIZE:-64MB}'
wal_recycle = ${WAL_RECYCLE:-off}
min_wal_size = '${MIN_WAL_SIZE:-32MB}'
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
# TLS (ssl, ssl_*_file) is set on the command line at every start from $PGF_TLS_DIR; pg_hba.conf too is rewritten then.
CONF
}

init_primary() {
  [ -n "${POSTGRES_PASSWORD:-}" ] || die "POSTGRES_PASSWORD is empty; set POSTGRES_PASSWORD_FILE (or POSTGRES_PASSWORD)"
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is empty; set REPLICATION_PASSWORD_FILE (or REPLICATION_PASSWORD)"
  [ -z "$APP_USER" ] || [ -n "${APP_PASSWORD:-}" ] || die "APP_USER='$APP_USER' has no password; set APP_PASSWORD_FILE (or APP_PASSWORD)"
  log "initialising a new primary in $PGDATA"
  local pwfile
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  # shellcheck disable=SC2086
  initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  rm -f "$pwfile"
  write_replication_settings
  write_access_rules

  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w start >/dev/null
  local psql=(psql -v ON_ERROR_STOP=1 -X -q --username "$POSTGRES_USER")
  # Passwords travel on psql's standard input, never in its arguments.
  create_roles "${psql[@]}"
  create_stanza_if_new
  local slot
  for slot in ${REPLICA_SLOTS:+${REPLICA_SLOTS//,/ }}; do
    "${psql[@]}" --dbname postgres -c "SELECT pg_create_physical_replication_slot('$slot')" >/dev/null
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
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is empty; set REPLICATION_PASSWORD_FILE (or REPLICATION_PASSWORD)"
  [ -n "${REPLICATION_SLOT:-}" ] || die "REPLICATION_SLOT is empty; set the physical slot this replica streams from"
  local tries=0 host
  # After failovers the first primary may be a standby: whichever peer answers as the primary is cloned.
  until host=$(primary_among "$PRIMARY_HOST" ${PEER_HOSTS//,/ }); do
    tries=$((tries + 1))
    [ "$tries" -lt 120 ] || die "no primary among $PRIMARY_HOST ${PEER_HOSTS:-} answered within 60 s"
    sleep 0.5
  done
  log "cloning from $host:$PRIMARY_PORT on slot $REPLICATION_SLOT"
  pgf-rejoin clone "$host" "$PRIMARY_PORT" "$REPLICATION_SLOT" && pgf-rejoin swap || {
    log "pg_basebackup from $host failed (wrong REPLICATION_PASSWORD, or slot $REPLICATION_SLOT missing on the primary); the agents will retry"
    exit "$EX_REJOIN_FAILED"
  }
}

# The first host that answers as a primary (not in recovery), printed.
primary_among() {
  local host
  for host in "$@"; do
    [ -n "$host" ] && [ "$host" != "$(hostname)" ] || continue
    if pgf-rejoin source-ok "$host" "${PRIMARY_PORT}" 1; then printf '%s\n' "$host"; return 0; fi
  done
  return 1
}

# initdb only for the first primary of a new cluster: an emptied data directory of a node whose
# peers already answer belongs to a running cluster, and a new empty primary there would be a
# writable stray. It exits for the agents to rejoin it as a clone of the published primary.
# pg_isready sends no password, and deliberately does not verify the peer's certificate: any
# peer that answers at all, even with a certificate this node would refuse, forbids an initdb.
refuse_initdb_in_a_running_cluster() {
  local host
  for host in ${PEER_HOSTS//,/ }; do
    if pg_isready -q -h "$host" -p "$PRIMARY_PORT" -t 1; then
      log "no cluster in $PGDATA, but peer $host answers: this is not the first primary of a new cluster, so no initdb; the agents rejoin it as a clone"
      exit "$EX_REJOIN_FAILED"
    fi
  done
}

# A node that must come back as a standby of another carries pg-failover.rebuild, written by
# the orchestrator while the node is stopped (issue 14):
#   EPOCH, SOURCE, PRIMARY_HOST, PRIMARY_PORT, REPLICATION_SLOT, TIMELINE (the source's at the
#   time), METHOD (follow | rewind | clone, chosen by the orchestrator's rejoin rule), FAILED
#   (methods that failed at earlier starts).
# Only these keys are read, each checked against a pattern; nothing in it is executed. The
# marker is acted on only while the source answers as a primary on TIMELINE or later: a stale
# one (its source died, or was demoted) is dropped and the node starts as the standby it is,
# with its data untouched; the agents rejoin it from whoever is published. A rewind that
# fails falls back to a clone, which replaces the data only once it is complete.
# Exit 75: the rejoin failed and the data may not start (a partial rewind) or there is none;
# the agents retry with a fresh marker.
REBUILD_MARKER="$PGDATA/pg-failover.rebuild"
REJOINED="$PGDATA/pg-failover.rejoined"
EX_REJOIN_FAILED=75
declare -A MARK=()
read_marker() {
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      EPOCH | TIMELINE | PRIMARY_PORT) [[ "$value" =~ ^[0-9]{1,10}$ ]] || return 1 ;;
      SOURCE | PRIMARY_HOST) [[ "$value" =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$ ]] || return 1 ;;
      REPLICATION_SLOT) [[ "$value" =~ ^[a-z0-9_]{1,63}$ ]] || return 1 ;;
      METHOD) [[ "$value" =~ ^(follow|rewind|clone)$ ]] || return 1 ;;
      FAILED) [[ "$value" =~ ^[a-z,]*$ ]] || return 1 ;;
      *) continue ;;
    esac
    MARK[$key]=$value
  done <"$REBUILD_MARKER"
  [ -n "${MARK[PRIMARY_HOST]:-}" ] && [ -n "${MARK[REPLICATION_SLOT]:-}" ]
}

write_marker() {
  local key
  for key in EPOCH SOURCE PRIMARY_HOST PRIMARY_PORT REPLICATION_SLOT TIMELINE METHOD FAILED; do
    printf '%s=%s\n' "$key" "${MARK[$key]:-}"
  done >"$REBUILD_MARKER.tmp"
  mv "$REBUILD_MARKER.tmp" "$REBUILD_MARKER"
}

rejoin_failed() { # METHOD: recorded in the marker, so the next attempt takes the next path
  MARK[FAILED]=${MARK[FAILED]:+${MARK[FAILED]},}$1
  write_marker
}

rejoin_from_marker() {
  if ! read_marker; then
    log "ignoring $REBUILD_MARKER: a key is missing or does not have the expected form"
    cluster_exists && rm -f "$REBUILD_MARKER"
    return 0
  fi
  local host=${MARK[PRIMARY_HOST]} port=${MARK[PRIMARY_PORT]:-5432} slot=${MARK[REPLICATION_SLOT]}
  local method=${MARK[METHOD]:-clone} began how
  if cluster_exists && [ ! -f "$PGDATA/standby.signal" ] && [ -z "${MARK[FAILED]:-}" ]; then
    log "ignoring $REBUILD_MARKER (epoch ${MARK[EPOCH]:-?}): this node runs as a primary, not as a standby to rejoin"
    rm -f "$REBUILD_MARKER"
    return 0
  fi
  cluster_exists || method=clone
  [[ ",${MARK[FAILED]:-}," == *,rewind,* ]] && method=clone
  local tries=0
  until pgf-rejoin source-ok "$host" "$port" "${MARK[TIMELINE]:-1}"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 10 ]; then
      if cluster_exists && [ -z "${MARK[FAILED]:-}" ]; then
        log "$host:$port does not answer as a primary on timeline ${MARK[TIMELINE]:-1} or later: dropping the stale marker of epoch ${MARK[EPOCH]:-?}; starting as a standby, data untouched"
        rm -f "$REBUILD_MARKER"
        return 0
      fi
      log "$host:$port does not answer as a primary and this node cannot start on its own data; the agents will retry"
      exit "$EX_REJOIN_FAILED"
    fi
    sleep 0.5
  done
  began=$(date +%s%3N)
  log "rejoining as a standby of ${MARK[SOURCE]:-$host} ($host:$port, epoch ${MARK[EPOCH]:-?}) by $method"
  case "$method" in
    follow) pgf-rejoin follow "$host" "$port" "$slot"; how=follow ;;
    rewind)
      if ! how=$(pgf-rejoin rewind "$host" "$port" "$slot" "${MARK[TIMELINE]:-1}"); then
        log "pg_rewind failed; cloning instead (the data stays in place until the clone is complete)"
        rejoin_failed rewind
        method=clone
      fi ;;
  esac
  if [ "$method" = clone ]; then
    # The roles are checked again right before the swap: the source must still be a primary.
    if pgf-rejoin clone "$host" "$port" "$slot" && pgf-rejoin source-ok "$host" "$port" "${MARK[TIMELINE]:-1}" && pgf-rejoin swap; then
      how=clone
    else
      pgf-rejoin recover
      rejoin_failed clone
      log "the clone from $host:$port failed; the data directory is as it was; the agents will retry"
      exit "$EX_REJOIN_FAILED"
    fi
  fi
  printf 'METHOD=%s\nMS=%s\nEPOCH=%s\nSOURCE=%s\nAT=%s\n' "$how" "$(($(date +%s%3N) - began))" "${MARK[EPOCH]:-}" "${MARK[SOURCE]:-$host}" "$(date +%s%3N)" >"$REJOINED"
  rm -f "$REBUILD_MARKER"
  log "rejoined by $how in $(($(date +%s%3N) - began)) ms"
}

# The replication password for the WAL receiver, outside the conninfo: the agents name
# this file (passfile=) instead of writing the password into primary_conninfo, which
# PostgreSQL would print in its log on every reload.
write_passfile() {
  [ -n "${REPLICATION_PASSWORD:-}" ] || return 0
  local file=/var/lib/postgresql/.pgpass-replication esc_user esc_pass
  esc_user=${REPLICATION_USER//\\/\\\\}; esc_user=${esc_user//:/\\:}
  esc_pass=${REPLICATION_PASSWORD//\\/\\\\}; esc_pass=${esc_pass//:/\\:}
  # The rewind role (pg_rewind needs a database connection, which the replicator may not open) shares the password.
  (umask 077 && printf '*:*:*:%s:%s\n*:*:*:%s:%s\n' "$esc_user" "$esc_pass" "$REWIND_USER" "$esc_pass" > "$file.tmp" && mv "$file.tmp" "$file")
}

if [ "${1:-postgres}" = postgres ]; then
  # Bad input stops here, before anything is written.
  load_secrets
  check_role_names
  check_tls
  check_backup
  write_backup_config
  write_passfile
  # A swap a crash interrupted is finished, an unfinished clone dropped, before anything reads the data.
  pgf-rejoin recover
  [ -f "$REBUILD_MARKER" ] && rejoin_from_marker
  if ! cluster_exists; then
    case "$REPLICATION_MODE" in
      primary) refuse_initdb_in_a_running_cluster; init_primary ;;
      replica) init_replica ;;
      *) die "REPLICATION_MODE='$REPLICATION_MODE' is not valid; expected primary or replica" ;;
    esac
  elif [ -f "$PGDATA/standby.signal" ]; then
    log "existing cluster, starting as a standby"
  else
    log "existing cluster, starting as it was left"
  fi
  write_access_rules
  mapfile -t tls_args < <(tls_server_args)
  mapfile -t backup_args < <(backup_server_args)
  log "WAL archiving $(backup_summary)"
  log "TLS $(tls_enabled && echo "on ($PGF_TLS_DIR): hostssl only, peers verified with sslmode=verify-full" || echo "off (no certificates in $PGF_TLS_DIR)")"
  shift || true
  # cluster_name names the node in ps, in logs and to a client behind PgBouncer (SHOW cluster_name).
  exec postgres -D "$PGDATA" ${NODE_NAME:+-c "cluster_name=$NODE_NAME"} "${tls_args[@]}" "${backup_args[@]}" "$@"
fi
exec "$@"
