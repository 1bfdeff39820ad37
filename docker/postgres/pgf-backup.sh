# Sourced by docker-entrypoint.sh (issue 16): continuous WAL archiving with pgBackRest.
# The caller defines log and die. Nothing here runs on its own.
#
#   PGF_BACKUP_DIR             the shared backup storage every node mounts (the lab's `backups`
#                              volume at /backups); pgBackRest's repository is $PGF_BACKUP_DIR/pgbackrest.
#                              Unset: no archiving, nothing written.
#   PGF_BACKUP_STANZA          the stanza (the cluster's name, as the orchestrator's config says)
#   PGF_BACKUP_RETENTION_FULL  full backups kept, each with the WAL to restore past it (default 2)
#   PGF_BACKUP_ARCHIVE         on (default) | off: off for a restored copy, which reads the
#                              repository (restore_command) and must never push into it
#   PGF_ARCHIVE_TIMEOUT        the longest a committed change waits to reach the archive while the
#                              primary is quiet (archive_timeout, default 60s)
#
# Where the settings live: pgBackRest's config is /etc/pgbackrest/pgbackrest.conf, inside the
# container (not a volume), written at every start; the PostgreSQL settings are command-line
# options, derived from the environment at every start like TLS (pgf-security.sh). So they hold
# for a node started on existing data, for a clone, and after pg_rewind alike, and they never
# travel inside the data directory: a backup restored elsewhere, or a node of an image without
# PGF_BACKUP_DIR, does not inherit an archive_command pointing at this cluster's repository.
#
# archive_mode is `on`, not `always`. With `on` the node that is primary archives, and only it: a
# promoted replica starts archiving at promotion, with its new timeline's .history file and the
# old timeline's last segment as .partial, with no operator action. `always` (every standby
# archiving what it receives) would also push the segments a killed primary completed but had not
# archived yet, and it is refused here for these reasons (pgBackRest 2.45's own docs and code):
#  - pgBackRest's `check` and `backup` refuse archive_mode=always ("archive_mode=always not
#    supported") unless archive-mode-check=n, whose help says: "WAL segments pushed from a standby
#    server might be logically the same as WAL segments pushed from the primary but have different
#    checksums ... it is critical to ensure that only one archiver is writing to the repository".
#  - archive-push of a segment the repository holds with another checksum fails with
#    ArchiveDuplicateError, and PostgreSQL retries that segment forever: a standby that won the race
#    would stop the primary's archiving for good, and its pg_wal would grow until the disk is full.
#  - two pushers racing on one segment (both find it missing, both write; the file name carries the
#    checksum) can leave two files for it, after which every archive-push and archive-get of that
#    segment fails with "duplicates found in archive": restores through it break.
# What `on` leaves open: segments the primary completed but had not archived when it died (the
# archiver runs within moments of a segment's end, so this is at most the last one or two, or a
# backlog while archiving was failing). The WAL in progress is not lost: the promoted replica
# carries it into its new timeline, which it archives.

: "${PGF_BACKUP_DIR:=}"
: "${PGF_BACKUP_STANZA:=}"
: "${PGF_BACKUP_RETENTION_FULL:=2}"
: "${PGF_BACKUP_ARCHIVE:=on}"
: "${PGF_ARCHIVE_TIMEOUT:=60s}"
PGF_PGBACKREST_CONF=/etc/pgbackrest/pgbackrest.conf

backup_enabled() { [ -n "$PGF_BACKUP_DIR" ]; }

backup_repository() { printf '%s/pgbackrest' "$PGF_BACKUP_DIR"; }

# Bad values stop the node before anything is written, as a wrong TLS mount does.
check_backup() {
  backup_enabled || return 0
  [[ "$PGF_BACKUP_DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "PGF_BACKUP_DIR='$PGF_BACKUP_DIR' is not valid; expected an absolute path of letters, digits and . _ - /"
  [[ "$PGF_BACKUP_STANZA" =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] || die "PGF_BACKUP_STANZA='$PGF_BACKUP_STANZA' is not valid; expected the stanza (the cluster's name): lower-case letters, digits, - and _"
  [[ "$PGF_BACKUP_RETENTION_FULL" =~ ^[0-9]{1,3}$ ]] && [ "$PGF_BACKUP_RETENTION_FULL" -ge 1 ] || die "PGF_BACKUP_RETENTION_FULL='$PGF_BACKUP_RETENTION_FULL' is not valid; expected a whole number of full backups from 1 to 999"
  [[ "$PGF_BACKUP_ARCHIVE" =~ ^(on|off)$ ]] || die "PGF_BACKUP_ARCHIVE='$PGF_BACKUP_ARCHIVE' is not valid; expected on or off"
  [[ "$PGF_ARCHIVE_TIMEOUT" =~ ^[0-9]{1,6}(s|min)?$ ]] || die "PGF_ARCHIVE_TIMEOUT='$PGF_ARCHIVE_TIMEOUT' is not valid; expected a duration such as 60s or 5min (0 turns it off)"
}

# The repository directory, made by this image's postgres user when missing, and pgBackRest's
# config. An unwritable repository does not stop the node (a primary that refuses to start over
# its backups is an outage): archiving then fails, which pg_stat_archiver and `failover health` show.
write_backup_config() {
  backup_enabled || return 0
  local repo
  repo=$(backup_repository)
  if [ ! -d "$repo" ] && ! mkdir -p "$repo" 2>/dev/null; then
    log "cannot create the pgBackRest repository $repo as $(id -un) (uid $(id -u)): make $PGF_BACKUP_DIR writable by uid $(id -u); WAL archiving fails until then"
  elif [ ! -w "$repo" ]; then
    log "the pgBackRest repository $repo is not writable by $(id -un) (uid $(id -u)); WAL archiving fails until it is"
  fi
  # Logs go to stderr only (PostgreSQL's log for archive-push, the caller's exec for the rest):
  # the container's /var/log is not kept, and a log file per command would only fill it.
  cat >"$PGF_PGBACKREST_CONF.tmp" <<CONF
# Written by the entrypoint at every start from PGF_BACKUP_*; edits here are replaced.
[global]
repo1-path=$repo
repo1-retention-full=$PGF_BACKUP_RETENTION_FULL
start-fast=y
compress-type=zst
process-max=2
log-level-console=warn
log-level-stderr=warn
log-level-file=off

[$PGF_BACKUP_STANZA]
pg1-path=$PGDATA
pg1-socket-path=/var/run/postgresql
pg1-user=${POSTGRES_USER:-postgres}
CONF
  mv "$PGF_PGBACKREST_CONF.tmp" "$PGF_PGBACKREST_CONF"
}

# On a new cluster's first start (init_primary, with its temporary server up): the stanza, so
# that the first segment the primary completes can be archived. Without it every archive-push
# fails (no archive.info) until the first backup creates the stanza. A repository that holds
# this stanza for another cluster (a data directory wiped, the backups kept) is refused by
# pgBackRest: logged, and the node starts anyway; archiving then fails visibly.
create_stanza_if_new() {
  backup_enabled && [ "$PGF_BACKUP_ARCHIVE" = on ] || return 0
  local out
  if out=$(pgbackrest --stanza="$PGF_BACKUP_STANZA" stanza-create 2>&1); then
    log "pgBackRest stanza $PGF_BACKUP_STANZA ready in $(backup_repository)"
  else
    log "pgbackrest stanza-create failed, WAL archiving fails until it succeeds: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-400)"
  fi
}

# The archive settings as postgres command-line options, one word a line (nothing when backups
# are off). archive_mode needs a restart: it is read at every start; the command is the same on
# every node, so a promotion changes nothing but which node runs it.
backup_server_args() {
  backup_enabled || return 0
  if [ "$PGF_BACKUP_ARCHIVE" = off ]; then
    printf '%s\n' -c archive_mode=off
    return 0
  fi
  printf '%s\n' -c archive_mode=on -c "archive_command=pgbackrest --stanza=$PGF_BACKUP_STANZA archive-push %p" \
    -c "archive_timeout=$PGF_ARCHIVE_TIMEOUT"
}

backup_summary() {
  if ! backup_enabled; then echo "off (no PGF_BACKUP_DIR)"
  elif [ "$PGF_BACKUP_ARCHIVE" = off ]; then echo "off (PGF_BACKUP_ARCHIVE=off: restore_command only, repository $(backup_repository))"
  else echo "on: archive_mode=on, pgbackrest stanza $PGF_BACKUP_STANZA into $(backup_repository)"
  fi
}
