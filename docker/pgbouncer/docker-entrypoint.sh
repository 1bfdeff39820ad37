#!/bin/bash
# Writes pgbouncer.ini and the user list from the environment, then runs PgBouncer
# in the foreground as postgres. Passwords come from the environment only and land in
# a file readable by postgres alone. Starts as root so that the databases file may sit
# on a volume the agents share (PGBOUNCER_DATABASES_FILE), whoever created it.
set -euo pipefail

dir=/var/lib/pgbouncer
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required (the password PgBouncer logs in with)}"
: "${PGBOUNCER_ADMIN_PASSWORD:?PGBOUNCER_ADMIN_PASSWORD is required (the admin console the agents use)}"

quote() { printf '"%s"' "${1//\"/\"\"}"; }
databases_file=${PGBOUNCER_DATABASES_FILE:-$dir/databases.ini}

(
  umask 077
  {
    printf '%s %s\n' "$(quote "$POSTGRES_USER")" "$(quote "$POSTGRES_PASSWORD")"
    printf '%s %s\n' "$(quote "$PGBOUNCER_ADMIN_USER")" "$(quote "$PGBOUNCER_ADMIN_PASSWORD")"
  } > "$dir/userlist.txt"
)
chown postgres:postgres "$dir/userlist.txt"

# Never a stale target: whatever an earlier run was pointed at, this run starts
# with no databases until the leader writes the current ones.
mkdir -p "$(dirname "$databases_file")"
echo '; written by the pg-failover leader' > "$databases_file"
chmod 0644 "$databases_file"

cat > "$dir/pgbouncer.ini" <<INI
[databases]
%include $databases_file

[pgbouncer]
listen_addr = *
listen_port = ${PGBOUNCER_PORT}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
; Roles other than POSTGRES_USER are looked up on the server they connect to.
auth_user = ${POSTGRES_USER}
admin_users = ${PGBOUNCER_ADMIN_USER}
pool_mode = ${PGBOUNCER_POOL_MODE}
max_client_conn = 1000
default_pool_size = 20
; A dead server must not hold a client long, and must not block the retry for 15 s.
server_connect_timeout = 2
server_login_retry = 0.2
; Containers get new addresses when recreated: do not trust a name (or its absence) for long.
dns_max_ttl = 5
dns_nxdomain_ttl = 1
; What clients wait for while the leader pauses the endpoint in a switchover.
query_wait_timeout = 60
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
INI

chown postgres:postgres "$dir/pgbouncer.ini"
exec pgbouncer -u postgres "$dir/pgbouncer.ini"
