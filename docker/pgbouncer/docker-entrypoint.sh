#!/bin/bash
# Writes pgbouncer.ini, its HBA file and the auth file, then runs PgBouncer in the
# foreground as postgres. Starts as root so that the databases file may sit on a volume
# the agents share (PGBOUNCER_DATABASES_FILE), whoever created it, and so that the TLS
# files and secrets are readable whatever their owner on the host.
#
# Secrets (issue 15): PGBOUNCER_ADMIN_PASSWORD_FILE and PGBOUNCER_AUTH_PASSWORD_FILE (or
# the variables without _FILE). They reach no process's arguments, and PgBouncer's own
# environment holds neither. Clients are looked up with auth_query through the auth
# role (PGBOUNCER_AUTH_USER, default pgbouncer_auth) and the node image's SECURITY
# DEFINER function pgbouncer.user_lookup: the superuser's password is not here.
# TLS: when $PGF_TLS_DIR holds server.crt, server.key and ca.crt, clients must use TLS
# and PgBouncer verifies the nodes' certificates with ca.crt: verify-full, or what
# PGBOUNCER_SERVER_TLS_SSLMODE says (verify-ca only). A read endpoint with two replicas or
# more needs verify-ca: PgBouncer 1.18 checks a database on several hosts against the
# joined string "a,b" (pgbouncer/pgbouncer#1300, fixed upstream after 1.18), so under
# verify-full it reaches none of them.
set -euo pipefail

dir=/var/lib/pgbouncer
die() { echo "pgbouncer-entrypoint: $*" >&2; exit 2; }
log() { echo "pgbouncer-entrypoint: $*" >&2; }

# secret NAME VAR: sets VAR to $NAME or to the content of the file $NAME_FILE (one line;
# a final newline is dropped), then unsets both so that PgBouncer does not inherit them.
secret() {
  local name=$1 file_var="$1_FILE" value
  if [ -n "${!file_var:-}" ]; then
    [ -z "${!name:-}" ] || die "both $name and $file_var are set; give one of them"
    [ -f "${!file_var}" ] && [ -r "${!file_var}" ] || die "$file_var names ${!file_var}, which is not a readable file"
    value=$(<"${!file_var}")
  else
    value=${!name:-}
  fi
  unset "$name" "$file_var"
  [[ $value != *$'\n'* ]] || die "$name holds more than one line; a password is one line"
  printf -v "$2" '%s' "$value"
}

role_name() { # VALUE WHAT
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_.-]{0,62}$ ]] || die "$2 must be a role name of letters, digits, _ . - (got '$1')"
}

printable_ascii() { local LC_ALL=C; [[ $1 =~ ^[\ -~]+$ ]]; }

quote() { printf '"%s"' "${1//\"/\"\"}"; }

# The SCRAM-SHA-256 verifier of a password read from stdin, as PostgreSQL stores it: the
# admin console checks the admin's password against it, so the auth file does not hold
# that password itself. Printable ASCII only (SASLprep leaves it as it is).
scram_verifier() {
  perl -MDigest::SHA=hmac_sha256,sha256 -MMIME::Base64 -e '
    local $/; my $p = <STDIN>;
    open(my $r, "<", "/dev/urandom") or die; read($r, my $salt, 16) == 16 or die;
    my $u = hmac_sha256($salt . pack("N", 1), $p); my $h = $u;
    for (2 .. 4096) { $u = hmac_sha256($u, $p); $h ^= $u; }
    print "SCRAM-SHA-256\$4096:", encode_base64($salt, ""), "\$",
      encode_base64(sha256(hmac_sha256("Client Key", $h)), ""), ":", encode_base64(hmac_sha256("Server Key", $h), "");'
}

databases_file=${PGBOUNCER_DATABASES_FILE:-$dir/databases.ini}
admin_user=${PGBOUNCER_ADMIN_USER:-pgbouncer}
auth_user=${PGBOUNCER_AUTH_USER:-pgbouncer_auth}
tls_dir=${PGF_TLS_DIR:-/etc/pg-failover/tls}
role_name "$admin_user" PGBOUNCER_ADMIN_USER
role_name "$auth_user" PGBOUNCER_AUTH_USER
[ "$admin_user" != "$auth_user" ] || die "PGBOUNCER_ADMIN_USER and PGBOUNCER_AUTH_USER must differ: the auth role never logs in as a client"

secret PGBOUNCER_ADMIN_PASSWORD admin_password
secret PGBOUNCER_AUTH_PASSWORD auth_password
secret POSTGRES_PASSWORD superuser_password
[ -n "$admin_password" ] || die "PGBOUNCER_ADMIN_PASSWORD_FILE (or PGBOUNCER_ADMIN_PASSWORD) is required: the admin console's password, which the agents use"

if [ -n "$auth_password" ]; then
  lookup=auth_query
  [ -z "$superuser_password" ] || log "POSTGRES_PASSWORD is not used: users are looked up through $auth_user"
elif [ -n "$superuser_password" ]; then
  # Before issue 15: PgBouncer held the superuser's password and looked users up as the
  # superuser. Kept only so that a setup without an auth role still starts.
  lookup=superuser
  role_name "${POSTGRES_USER:-postgres}" POSTGRES_USER
  auth_user=${POSTGRES_USER:-postgres}
  auth_password=$superuser_password
  log "warning: no PGBOUNCER_AUTH_PASSWORD_FILE: looking users up as the superuser $auth_user, whose password PgBouncer then holds; give PgBouncer its own auth role"
else
  die "PGBOUNCER_AUTH_PASSWORD_FILE (or PGBOUNCER_AUTH_PASSWORD) is required: the password of $auth_user, the role PgBouncer looks users up with"
fi
superuser_password=

# TLS: all three files or none; some of them is a mistake, not a reason to run in plain text.
tls_found=()
for f in server.crt server.key ca.crt; do [ -e "$tls_dir/$f" ] && tls_found+=("$f"); done
case ${#tls_found[@]} in
  3) tls=on ;;
  0) tls=off; log "TLS off: $tls_dir holds none of server.crt, server.key, ca.crt" ;;
  *) die "$tls_dir holds ${tls_found[*]} only; give server.crt, server.key and ca.crt (TLS) or none of them" ;;
esac
server_sslmode=${PGBOUNCER_SERVER_TLS_SSLMODE:-verify-full}
case $server_sslmode in
  verify-full | verify-ca) ;;
  *) die "PGBOUNCER_SERVER_TLS_SSLMODE must be verify-full or verify-ca (got '$server_sslmode'); with the cluster's CA at hand nothing less is needed" ;;
esac
[ "$tls" = on ] || [ -z "${PGBOUNCER_SERVER_TLS_SSLMODE:-}" ] || log "PGBOUNCER_SERVER_TLS_SSLMODE is not used: TLS is off"
if [ "$tls" = on ]; then
  # Copied for PgBouncer (running as postgres), the key 0600, whoever owns the originals.
  install -d -o postgres -g postgres -m 0700 "$dir/tls"
  install -o postgres -g postgres -m 0600 "$tls_dir/server.key" "$dir/tls/server.key"
  install -o postgres -g postgres -m 0644 "$tls_dir/server.crt" "$dir/tls/server.crt"
  install -o postgres -g postgres -m 0644 "$tls_dir/ca.crt" "$dir/tls/ca.crt"
fi

admin_secret=$admin_password
if printable_ascii "$admin_password"; then admin_secret=$(printf '%s' "$admin_password" | scram_verifier); fi
admin_password=
(
  umask 077
  {
    printf '%s %s\n' "$(quote "$auth_user")" "$(quote "$auth_password")"
    printf '%s %s\n' "$(quote "$admin_user")" "$(quote "$admin_secret")"
  } > "$dir/userlist.txt"
)
auth_password= admin_secret=
chown postgres:postgres "$dir/userlist.txt"
chmod 0600 "$dir/userlist.txt"

# Who may reach what. The admin console (database pgbouncer) answers the admin user only,
# and the admin user nothing else; the auth role logs no client in (PgBouncer uses it for
# its lookups only); everyone else reaches the real databases with SCRAM. With TLS on,
# every line is hostssl: a plain connection matches none and is refused.
conn=host
[ "$tls" = on ] && conn=hostssl
{
  echo "# written by the pg-failover PgBouncer entrypoint at start; first match wins"
  for net in 0.0.0.0/0 ::/0; do
    [ "$lookup" = auth_query ] && echo "$conn all $auth_user $net reject"
    echo "$conn pgbouncer $admin_user $net scram-sha-256"
    echo "$conn pgbouncer all $net reject"
    echo "$conn all $admin_user $net reject"
    echo "$conn all all $net scram-sha-256"
  done
} > "$dir/pg_hba.conf"
chown postgres:postgres "$dir/pg_hba.conf"
chmod 0600 "$dir/pg_hba.conf"

# Never a stale target: whatever an earlier run was pointed at, this run starts
# with no databases until the leader writes the current ones.
mkdir -p "$(dirname "$databases_file")"
echo '; written by the pg-failover leader' > "$databases_file"
chmod 0644 "$databases_file"

{
  cat <<INI
[databases]
%include $databases_file

[pgbouncer]
listen_addr = *
listen_port = ${PGBOUNCER_PORT}
unix_socket_dir =
auth_type = hba
auth_hba_file = $dir/pg_hba.conf
auth_file = $dir/userlist.txt
; Clients not in auth_file are looked up on the server they connect to, as this role.
auth_user = ${auth_user}
admin_users = ${admin_user}
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
  if [ "$lookup" = auth_query ]; then
    echo "; A SECURITY DEFINER function the node image installs in every database (no superuser behind PgBouncer)."
    echo "auth_query = SELECT usename, passwd FROM pgbouncer.user_lookup(\$1)"
  fi
  if [ "$tls" = on ]; then
    cat <<INI
; Clients must speak TLS; they verify this certificate with the cluster's CA.
client_tls_sslmode = require
client_tls_key_file = $dir/tls/server.key
client_tls_cert_file = $dir/tls/server.crt
client_tls_ca_file = $dir/tls/ca.crt
; The [databases] lines name the nodes as the config does; their certificates carry those names.
server_tls_sslmode = $server_sslmode
server_tls_ca_file = $dir/tls/ca.crt
INI
  fi
} > "$dir/pgbouncer.ini"

chown postgres:postgres "$dir/pgbouncer.ini"
log "starting: TLS $tls$([ "$tls" = on ] && echo " (nodes: $server_sslmode)"), users looked up as $auth_user ($lookup), admin console for $admin_user only"
exec pgbouncer -u postgres "$dir/pgbouncer.ini"
