#!/usr/bin/env bash
# How a stopped node of the lab comes back as a standby of another node, without ever
# destroying data before its replacement is complete (issue 14). Run as postgres, with
# PostgreSQL stopped, by the entrypoint (a rejoin marker) or by hand:
#   pgf-rejoin follow HOST PORT SLOT   point the node at HOST (standby.signal, primary_conninfo): no copy
#   pgf-rejoin rewind HOST PORT SLOT TIMELINE   pg_rewind from HOST (crash recovery first if it was
#                                      killed) once HOST checkpointed on TIMELINE, then follow
#   pgf-rejoin clone  HOST PORT SLOT   pg_basebackup of HOST into $PGDATA/.pgf-clone, then follow (in the clone);
#                                      the old data stays in place until `swap`
#   pgf-rejoin swap                    replace the data directory's contents by the complete clone
#   pgf-rejoin recover                 finish a swap a crash interrupted, drop an incomplete clone
#   pgf-rejoin source-ok HOST PORT MIN_TIMELINE   exit 0 when HOST answers as a primary on a timeline >= MIN_TIMELINE
# The swap moves directory entries (renames on one file system): it is instant whatever the
# size, and a journal file (.pgf-swap) makes it finish after a crash at any point.
# With TLS on (certificates in $PGF_TLS_DIR, see pgf-security.sh) every connection to HOST
# verifies its certificate: sslmode=verify-full against the mounted ca.crt. Passwords come from
# the passfile only, never from the arguments or the environment.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
: "${REPLICATION_USER:=replicator}"
: "${REWIND_USER:=rewinder}"
: "${NODE_NAME:=$(hostname)}"
: "${PGF_PASSFILE:=/var/lib/postgresql/.pgpass-replication}"

CLONE="$PGDATA/.pgf-clone"
OLD="$PGDATA/.pgf-old"
SWAP="$PGDATA/.pgf-swap"

log() { printf '%s pgf-rejoin: %s\n' "$(date -u +%FT%T.%3NZ)" "$*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=pgf-security.sh
. /usr/local/lib/pg-failover/pgf-security.sh

conninfo() { # HOST PORT USER [extra]
  local tls
  tls=$(tls_conninfo)
  printf "host=%s port=%s user=%s passfile=%s application_name=%s connect_timeout=3%s%s" "$1" "$2" "$3" "$PGF_PASSFILE" "$NODE_NAME" "${tls:+ $tls}" "${4:+ $4}"
}

# The standby settings, written straight into postgresql.auto.conf (no server runs to ALTER
# SYSTEM): earlier values go first, so a rewind's copy of the source's own settings cannot win.
follow_config() { # DIR HOST PORT SLOT
  local dir=$1 auto="$1/postgresql.auto.conf"
  touch "$auto"
  sed -i -e '/^primary_conninfo[[:space:]]*=/d' -e '/^primary_slot_name[[:space:]]*=/d' "$auto"
  printf "primary_conninfo = '%s'\nprimary_slot_name = '%s'\n" \
    "$(conninfo "$2" "$3" "$REPLICATION_USER" | sed "s/'/''/g")" "$4" >>"$auto"
  : >"$dir/standby.signal"
  chmod 0700 "$dir"
}

entries() { # DIR: its entries, hidden ones included, one per line
  (shopt -s dotglob nullglob; for e in "$1"/*; do printf '%s\n' "$e"; done)
}

move_old_aside() {
  mkdir -p "$OLD"
  local e
  while IFS= read -r e; do
    case "${e##*/}" in .pgf-clone | .pgf-old | .pgf-swap | .pgf-swap.tmp) continue ;; esac
    mv "$e" "$OLD/"
  done < <(entries "$PGDATA")
}

move_clone_in() {
  local e
  while IFS= read -r e; do
    [ "${e##*/}" = .pgf-complete ] && continue
    mv "$e" "$PGDATA/"
  done < <(entries "$CLONE")
}

swap_phase() { printf '%s\n' "$1" >"$SWAP.tmp" && mv "$SWAP.tmp" "$SWAP"; }

finish_swap() {
  rm -rf "$CLONE" "$OLD"
  rm -f "$SWAP" "$SWAP.tmp"
  chmod 0700 "$PGDATA"
}

cmd_swap() {
  [ -f "$CLONE/.pgf-complete" ] || die "no complete clone in $CLONE: nothing to swap, the data directory is left as it is"
  swap_phase old-aside
  move_old_aside
  swap_phase clone-in
  move_clone_in
  finish_swap
  log "data directory replaced by the clone"
}

cmd_recover() {
  if [ -f "$SWAP" ]; then
    # A swap began only with a complete clone: finish it from the phase it reached.
    local phase
    phase=$(cat "$SWAP")
    log "finishing a swap interrupted at $phase"
    if [ "$phase" = old-aside ]; then
      move_old_aside
      swap_phase clone-in
    fi
    move_clone_in
    finish_swap
    return 0
  fi
  # No swap began: a clone left behind (complete or not) is dropped, the data in place is kept.
  if [ -e "$CLONE" ] || [ -e "$OLD" ]; then
    log "dropping a clone that was never swapped in; the data directory is unchanged"
    rm -rf "$CLONE" "$OLD"
  fi
}

cmd_follow() { # HOST PORT SLOT
  follow_config "$PGDATA" "$1" "$2" "$3"
  log "following $1:$2 on slot $3"
}

# A killed server leaves postmaster.pid naming PID 1, which in a container is alive again (the
# entrypoint): pg_rewind's single-user crash recovery would take it for a running server. It is
# removed only when that process is not a postgres.
drop_stale_pidfile() {
  local pid
  pid=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null) || return 0
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
    die "PostgreSQL (PID $pid) runs on $PGDATA: stop it before a rejoin"
  fi
  rm -f "$PGDATA/postmaster.pid"
}

# pg_rewind learns the source's timeline from its last checkpoint: right after a promotion that
# still names the old timeline, and pg_rewind would find "no rewind required" for a node that
# diverged. The source is asked for a checkpoint (the pg_checkpoint role, PostgreSQL 15+; the
# agents also checkpoint a new primary once it is published) and must show one on TIMELINE.
await_source_checkpoint() { # HOST PORT TIMELINE
  local q=(psql -X -A -t -q -d "$(conninfo "$1" "$2" "$REWIND_USER" dbname=postgres)") tries=0 timeline
  "${q[@]}" -c CHECKPOINT >/dev/null 2>&1 || true
  log "checkpoint asked of $1:$2"
  until timeline=$("${q[@]}" -c 'SELECT timeline_id FROM pg_control_checkpoint()' 2>/dev/null) && [[ "$timeline" =~ ^[0-9]+$ ]] && [ "$timeline" -ge "$3" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt 20 ] || { log "$1:$2 shows no checkpoint on timeline $3 (last: ${timeline:-unknown}): pg_rewind would misjudge it"; return 1; }
    sleep 0.5
  done
}

cmd_rewind() { # HOST PORT SLOT TIMELINE
  log "pg_rewind from $1:$2"
  await_source_checkpoint "$1" "$2" "${4:-1}" || return 1
  drop_stale_pidfile
  local out status=0
  # A killed primary gets crash recovery from pg_rewind (PostgreSQL 13+) in single-user mode,
  # which refuses standby.signal: the signal is put back whatever happens, so that the node
  # can never start as a primary after a failed rewind.
  rm -f "$PGDATA/standby.signal"
  # pg_rewind copies the source's configuration files too: postgresql.conf is the same on every
  # node of the lab, pg_hba.conf and pg_ident.conf are rewritten at every start (TLS is set on
  # the command line), and the standby settings follow.
  # Each line of its output is logged as it comes, with the time: where a rewind spends its
  # time (crash recovery, copying, the final sync of the data directory) shows in the log.
  out=$(pg_rewind --target-pgdata="$PGDATA" --source-server="$(conninfo "$1" "$2" "$REWIND_USER" dbname=postgres)" --progress 2>&1 |
    while IFS= read -r line; do log "$line"; printf '%s\n' "$line"; done; exit "${PIPESTATUS[0]}") || status=$?
  : >"$PGDATA/standby.signal"
  [ "$status" -eq 0 ] || return 1
  # With the source's checkpoint on a later timeline, "same timeline" cannot be true: never follow on it.
  grep -q 'on the same timeline' <<<"$out" && { log "pg_rewind saw one timeline where there are two"; return 1; }
  rm -f "$PGDATA/pg-failover.rebuild"
  follow_config "$PGDATA" "$1" "$2" "$3"
  # pg_rewind says so when the node's WAL ends before the fork: nothing was copied, it just follows.
  if grep -q 'no rewind required' <<<"$out"; then echo follow; else echo rewind; fi
}

cmd_clone() { # HOST PORT SLOT
  rm -rf "$CLONE"
  mkdir -m 0700 "$CLONE"
  log "cloning $1:$2 on slot $3 into $CLONE (the data directory stays as it is until the swap)"
  if ! pg_basebackup -D "$CLONE" -X stream -c fast -S "$3" --progress -d "$(conninfo "$1" "$2" "$REPLICATION_USER")"; then
    rm -rf "$CLONE"
    return 1
  fi
  # The source's own leftovers must not travel: a marker would make this node rejoin again at its next start.
  rm -f "$CLONE/pg-failover.rebuild" "$CLONE/pg-failover.rejoined"
  follow_config "$CLONE" "$1" "$2" "$3"
  : >"$CLONE/.pgf-complete"
}

# A primary (not in recovery) on at least the given timeline, asked over a replication
# connection (the replicator's only right): IDENTIFY_SYSTEM gives the timeline, and
# in_hot_standby (PostgreSQL 14+) whether it is a standby.
cmd_source_ok() { # HOST PORT MIN_TIMELINE
  local q=(psql -X -A -t -q -d "$(conninfo "$1" "$2" "$REPLICATION_USER" "replication=true")")
  local standby timeline
  standby=$("${q[@]}" -c 'SHOW in_hot_standby' 2>/dev/null) || return 1
  [ "$standby" = off ] || return 1
  timeline=$("${q[@]}" -F ' ' -c 'IDENTIFY_SYSTEM' 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$timeline" ] && [ "$timeline" -ge "$3" ]
}

case "${1:-}" in
  follow) shift; cmd_follow "$@" ;;
  rewind) shift; cmd_rewind "$@" ;;
  clone) shift; cmd_clone "$@" ;;
  swap) cmd_swap ;;
  recover) cmd_recover ;;
  source-ok) shift; cmd_source_ok "$@" ;;
  *) die "usage: pgf-rejoin follow|clone HOST PORT SLOT | rewind HOST PORT SLOT TIMELINE | swap | recover | source-ok HOST PORT MIN_TIMELINE" ;;
esac
