# Sourced by docker-entrypoint.sh and pgf-rejoin (issue 15): secrets read from files, TLS,
# who may connect how (pg_hba.conf, pg_ident.conf), and the least-privilege roles.
# The caller defines log and die. Nothing here runs on its own.
#
# TLS is on when $PGF_TLS_DIR (default /etc/pg-failover/tls) holds server.crt, server.key and
# ca.crt. Then the server takes TLS connections only (hostssl, scram-sha-256; no plain `host`
# line, so sslmode=disable finds no pg_hba entry), and every connection this image opens to
# another node verifies that node's certificate (sslmode=verify-full against ca.crt).

: "${PGF_TLS_DIR:=/etc/pg-failover/tls}"
PGF_TLS_FILES=(server.crt server.key ca.crt)
# pg_ident.conf's map for `local` (peer) connections.
PGF_PEER_MAP=pgf

tls_enabled() {
  local f
  for f in "${PGF_TLS_FILES[@]}"; do [ -e "$PGF_TLS_DIR/$f" ] || return 1; done
}

# The libpq keys that every connection to another node carries with TLS on (nothing without).
tls_conninfo() {
  tls_enabled || return 0
  printf 'sslmode=verify-full sslrootcert=%s' "$PGF_TLS_DIR/ca.crt"
}

# All three files or none; readable; a key PostgreSQL will accept (it refuses a key that others
# can read). Checked before anything is written, so a wrong mount changes nothing.
check_tls() {
  [[ "$PGF_TLS_DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "PGF_TLS_DIR='$PGF_TLS_DIR' is not valid; expected an absolute path of letters, digits and . _ - /"
  local f present=() missing=()
  for f in "${PGF_TLS_FILES[@]}"; do
    if [ -e "$PGF_TLS_DIR/$f" ]; then present+=("$f"); else missing+=("$f"); fi
  done
  [ "${#present[@]}" -eq 0 ] && return 0
  [ "${#missing[@]}" -eq 0 ] || die "$PGF_TLS_DIR holds ${present[*]} but not ${missing[*]}: TLS needs server.crt, server.key and ca.crt (or none of them for no TLS)"
  local key="$PGF_TLS_DIR/server.key" me owner mode
  me=$(id -u)
  read -r owner mode < <(stat -L -c '%u %a' "$key")
  if [ "$owner" = "$me" ]; then
    (((8#$mode & 8#077) == 0)) || die "$key has mode $mode; PostgreSQL needs 0600 for a key owned by its user (chmod 0600)"
  elif [ "$owner" = 0 ]; then
    (((8#$mode & 8#037) == 0)) || die "$key is owned by root with mode $mode; PostgreSQL needs 0640 or less for a root-owned key"
  else
    die "$key is owned by uid $owner; chown it to this image's postgres user (uid $me) with mode 0600"
  fi
  for f in "${PGF_TLS_FILES[@]}"; do
    [ -r "$PGF_TLS_DIR/$f" ] || die "$PGF_TLS_DIR/$f is not readable by $(id -un) (uid $me): chown the key to uid $me (mode 0600), make the certificates readable"
  done
}

# The server's TLS settings as postgres command-line options, one word a line (nothing without
# TLS). On the command line they are derived from the mounted files at every start, and neither
# postgresql.conf nor ALTER SYSTEM can turn TLS off. A rotated certificate takes effect on reload.
tls_server_args() {
  tls_enabled || return 0
  printf '%s\n' -c ssl=on -c "ssl_cert_file=$PGF_TLS_DIR/server.crt" -c "ssl_key_file=$PGF_TLS_DIR/server.key" \
    -c "ssl_ca_file=$PGF_TLS_DIR/ca.crt" -c ssl_min_protocol_version=TLSv1.2
}

# Like the official image: VAR or VAR_FILE (a file holding the value, as Docker secrets mount
# them), not both. The value stays in this shell, not exported: no child process inherits it.
file_env() { # VAR
  local var=$1 file_var="${1}_FILE"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    die "both $var and $file_var are set; give one (the file is preferred: no password in the container's environment)"
  fi
  if [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || die "$file_var names ${!file_var}, which $(id -un) (uid $(id -u)) cannot read"
    printf -v "$var" '%s' "$(<"${!file_var}")"
  fi
  export -n "${var?}" "${file_var?}" 2>/dev/null || true
}

load_secrets() {
  local var
  for var in POSTGRES_PASSWORD REPLICATION_PASSWORD APP_PASSWORD PGBOUNCER_AUTH_PASSWORD; do file_env "$var"; done
}

# Role names go into pg_hba.conf, pg_ident.conf and SQL: plain identifiers only.
check_role_names() {
  local var
  for var in POSTGRES_USER REPLICATION_USER REWIND_USER PGBOUNCER_AUTH_USER ${APP_USER:+APP_USER}; do
    [[ "${!var}" =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || die "$var='${!var}' is not a valid role name; expected letters, digits and _ (at most 63, not starting with a digit)"
  done
  if [ -n "${APP_USER:-}" ]; then
    case "$APP_USER" in
      "$POSTGRES_USER" | "$REPLICATION_USER" | "$REWIND_USER" | "$PGBOUNCER_AUTH_USER") die "APP_USER='$APP_USER' is the name of another role of the image; give the application a role of its own" ;;
    esac
    [ "$POSTGRES_DB" != postgres ] || die "APP_USER='$APP_USER' owns POSTGRES_DB, which is 'postgres'; set POSTGRES_DB to the application's database"
  fi
  [[ "$POSTGRES_DB" =~ ^[^\"[:cntrl:]]{1,63}$ ]] || die "POSTGRES_DB='$POSTGRES_DB' is not a valid database name; expected 1 to 63 characters, no double quote"
  [ -n "${APP_USER:-}" ] || [ -z "${APP_PASSWORD:-}" ] || die "APP_PASSWORD is set but APP_USER is not; set APP_USER to the application's role"
}

# Written at every start (the data directory follows the mounted certificates and the
# environment). `local` is peer: the container's OS user postgres is the superuser and nobody
# else. Over the network: scram only, over TLS only when TLS is on; the replicator may only
# replicate; the rewind role may only open the postgres database (pg_rewind's connection).
write_access_rules() {
  local h=host
  tls_enabled && h=hostssl
  cat >"$PGDATA/pg_hba.conf.tmp" <<HBA
# Written by the entrypoint at every start; edits here are replaced. TLS: $( [ "$h" = hostssl ] && echo "on, hostssl only" || echo off)
# local socket inside the container (the orchestrator's docker exec): OS user postgres only
local   all          all                                  peer map=$PGF_PEER_MAP
local   replication  all                                  peer map=$PGF_PEER_MAP
# the replicator replicates and opens no database
$(printf '%-7s' "$h") replication  ${REPLICATION_USER}  all   scram-sha-256
$(printf '%-7s' "$h") all          ${REPLICATION_USER}  all   reject
# pg_rewind's source role: the postgres database only
$(printf '%-7s' "$h") postgres     ${REWIND_USER}  all   scram-sha-256
$(printf '%-7s' "$h") all          ${REWIND_USER}  all   reject
$(printf '%-7s' "$h") all          all  all   scram-sha-256
HBA
  mv "$PGDATA/pg_hba.conf.tmp" "$PGDATA/pg_hba.conf"
  printf '# Written by the entrypoint at every start.\n# MAP  OS-USER  ROLE\n%s  postgres  %s\n' "$PGF_PEER_MAP" "$POSTGRES_USER" >"$PGDATA/pg_ident.conf.tmp"
  mv "$PGDATA/pg_ident.conf.tmp" "$PGDATA/pg_ident.conf"
}

sql_literal() { printf "'%s'" "${1//\'/\'\'}"; }

# Opens every script that carries a password: the statement is never logged, even if it fails.
QUIET_SQL="SET log_statement = 'none'; SET log_min_error_statement = 'panic'; SET password_encryption = 'scram-sha-256';"

# PgBouncer's auth_query: the SCRAM secret of a login role that is not a superuser, not the
# replicator, not the rewind role, and not expired. Owned by the superuser, SECURITY DEFINER
# with a fixed search_path, executable only by the lookup role.
user_lookup_sql() { # AUTH_ROLE (empty: none yet)
  cat <<SQL
CREATE SCHEMA IF NOT EXISTS pgbouncer;
REVOKE ALL ON SCHEMA pgbouncer FROM PUBLIC;
CREATE OR REPLACE FUNCTION pgbouncer.user_lookup(p_usename text)
  RETURNS TABLE (usename name, passwd text)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS \$lookup\$
  SELECT a.rolname, a.rolpassword
    FROM pg_catalog.pg_authid a
   WHERE a.rolname = p_usename
     AND a.rolcanlogin AND NOT a.rolsuper AND NOT a.rolreplication AND NOT a.rolbypassrls
     AND a.rolname <> ALL (ARRAY[$(sql_literal "$REPLICATION_USER"), $(sql_literal "$REWIND_USER")]::name[])
     AND (a.rolvaliduntil IS NULL OR a.rolvaliduntil > pg_catalog.now())
\$lookup\$;
REVOKE ALL ON FUNCTION pgbouncer.user_lookup(text) FROM PUBLIC;
SQL
  [ -z "$1" ] || printf 'GRANT USAGE ON SCHEMA pgbouncer TO "%s";\nGRANT EXECUTE ON FUNCTION pgbouncer.user_lookup(text) TO "%s";\n' "$1" "$1"
}

# The roles of a new cluster, created on the primary's first start; "$@" is psql as the superuser.
create_roles() {
  local replication rewind
  replication=$(sql_literal "$REPLICATION_PASSWORD")
  # The replicator: REPLICATION LOGIN and nothing else. The rewind role shares its password.
  "$@" --dbname postgres <<SQL
$QUIET_SQL
CREATE ROLE "$REPLICATION_USER" WITH REPLICATION LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD $replication;
CREATE ROLE "$REWIND_USER" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD $replication;
-- pg_rewind's source role: only the four file functions it calls (PostgreSQL's docs).
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO "$REWIND_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO "$REWIND_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO "$REWIND_USER";
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO "$REWIND_USER";
-- To see that a new primary checkpointed on its timeline, and to ask for it (pg_checkpoint: 15+).
GRANT EXECUTE ON FUNCTION pg_catalog.pg_control_checkpoint() TO "$REWIND_USER";
SELECT format('GRANT pg_checkpoint TO %I', $(sql_literal "$REWIND_USER")) WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pg_checkpoint') \gexec
SQL
  local auth=""
  if [ -n "${PGBOUNCER_AUTH_PASSWORD:-}" ]; then
    auth=$PGBOUNCER_AUTH_USER
    "$@" --dbname postgres <<SQL
$QUIET_SQL
CREATE ROLE "$auth" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD $(sql_literal "$PGBOUNCER_AUTH_PASSWORD");
SQL
  else
    log "no PGBOUNCER_AUTH_PASSWORD: no PgBouncer lookup role (pgbouncer.user_lookup is there for one granted later)"
  fi
  # In every database there is, template1 included, before POSTGRES_DB is made from it.
  local db
  for db in $("$@" --dbname postgres -At -c 'SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1'); do
    user_lookup_sql "$auth" | "$@" --dbname "$db"
  done
  if [ -n "${APP_USER:-}" ]; then
    [ -n "${APP_PASSWORD:-}" ] || die "APP_USER='$APP_USER' has no password; set APP_PASSWORD_FILE (or APP_PASSWORD)"
    # The application's role owns its database and the public schema there (its migrations
    # create tables), and nothing more: no superuser, no CREATEROLE/CREATEDB, no server programs.
    "$@" --dbname postgres <<SQL
$QUIET_SQL
CREATE ROLE "$APP_USER" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD $(sql_literal "$APP_PASSWORD");
CREATE DATABASE "$POSTGRES_DB" OWNER "$APP_USER";
\connect "$POSTGRES_DB"
ALTER SCHEMA public OWNER TO "$APP_USER";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
  elif [ "$POSTGRES_DB" != postgres ]; then
    "$@" --dbname postgres -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
  fi
}
