import type { NodeConfig } from '../config/schema.js';
import { attemptFields, backupIdAt, backupRecordSchema, type BackupRecord } from '../dcs/backups.js';
import { execIn } from '../docker/engine.js';
import { type BackupEdges, type BackupSource, dumpDatabaseOf } from './edges.js';
import { databaseNameProblem, databaseOwnerOf, oneLine, readDumpResult } from './dump-output.js';

// The plan's logical dumps, the I/O half: `pg_dump -Fc` inside a node's container, as the
// OS user postgres over the local socket (peer maps it to the image's superuser,
// $POSTGRES_USER): no password anywhere, not in the command, not in the environment.
// The file goes to the shared backup volume under a `.partial` name and is renamed only
// once pg_dump succeeded and its size and sha256 are known, so a file under a dump's
// final name is always complete. A failed dump is a record with ok: false and one line
// saying why; an exception means something unexpected (a record that does not validate).

/** The dump script's own margin over pg_dump's limit, for cleaning up and reporting. */
const EXEC_MARGIN_MS = 30_000;

// Arguments arrive as $1..$n, never spliced into the script's text. `timeout` stops pg_dump
// itself at the limit (the exec's own deadline would only stop waiting for it).
export const DUMP_SCRIPT = `
set -u
dir=$1 id=$2 limit=$3
export PGUSER="\${POSTGRES_USER:-postgres}"
umask 077
mkdir -p "$dir/dumps" 2>/dev/null && [ -w "$dir/dumps" ] || { echo "cannot write $dir/dumps" >&2; exit 20; }
partial="$dir/dumps/$id.dump.partial" final="$dir/dumps/$id.dump"
# A partial file older than any dump may run is a leftover of one that died with its container.
find "$dir/dumps" -maxdepth 1 -name '*.dump.partial' -mmin +$((limit / 60 + 1)) -delete 2>/dev/null
[ -e "$final" ] && { echo "$final exists" >&2; exit 21; }
timeout -s TERM -k 10 "$limit" pg_dump -Fc --no-password -f "$partial"
rc=$?
[ $rc -eq 0 ] || { rm -f -- "$partial"; exit $rc; }
size=$(stat -c %s -- "$partial") && sum=$(sha256sum -- "$partial") || { rm -f -- "$partial"; exit 23; }
mv -- "$partial" "$final" || { rm -f -- "$partial"; exit 22; }
echo "pgf-dump $size \${sum%% *}"
`;

export interface DumpOptions {
  /** Who asked: 'schedule', or `cli:user@host`. */
  by: string;
  /** The clock (ms since the epoch); Date.now by default. */
  now?: () => number;
}

/** One dump of the application database from `source`, as a catalogue record (not yet stored). */
export async function takeDump(edges: BackupEdges, source: BackupSource, options: DumpOptions): Promise<BackupRecord> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const id = backupIdAt('dump', new Date(startedAt));
  const database = dumpDatabaseOf(edges);
  const limitMs = edges.backup.dumps.timeoutMs;
  const limitSec = Math.ceil(limitMs / 1000);
  const outcome = await execIn(edges.engine(source.node), source.node.container, ['sh', '-c', DUMP_SCRIPT, 'pgf-dump', edges.backup.directory, id, String(limitSec)], {
    env: [`PGDATABASE=${database}`],
    timeoutMs: limitMs + EXEC_MARGIN_MS,
  }).then(
    (result) => readDumpResult(result.exitCode, result.stdout, result.stderr, limitMs),
    // Docker could not run it (the container stopped, the engine did not answer): a failed dump too.
    (error: unknown) => ({ ok: false as const, recoveryConflict: false, error: `the dump could not be run in ${source.node.container}: ${oneLine(error instanceof Error ? error.message : String(error))}` }),
  );
  const finishedAt = now();
  const base = { ...attemptFields('dump', startedAt, finishedAt, { node: source.node.name, role: source.role }, options.by, id), database };
  const record: BackupRecord = outcome.ok
    ? { ...base, ok: true, sizeBytes: outcome.sizeBytes, file: `dumps/${id}.dump`, sha256: outcome.sha256 }
    : { ...base, ok: false, sizeBytes: 0, error: outcome.error };
  return backupRecordSchema.parse(record);
}

/** Whether a failed dump was cancelled by a recovery conflict on its standby (worth another source). */
export const cancelledByRecovery = (record: BackupRecord): boolean => !record.ok && record.role === 'replica' && /recovery conflict/.test(record.error ?? '');

/** Deletes a dump's file from the shared volume, through `node`'s container. A file already gone is fine. */
export async function removeDump(edges: BackupEdges, node: NodeConfig, record: BackupRecord): Promise<{ ok: true } | { ok: false; error: string }> {
  if (record.file === undefined) return { ok: true };
  // record.file was validated against dumps/<id>.dump: it cannot name anything outside the dumps.
  const path = `${edges.backup.directory}/${backupRecordSchema.shape.file.parse(record.file)}`;
  try {
    const result = await execIn(edges.engine(node), node.container, ['rm', '-f', '--', path], { timeoutMs: 20_000 });
    return result.exitCode === 0 ? { ok: true } : { ok: false, error: oneLine(result.stderr) || `rm exited ${result.exitCode}` };
  } catch (error) {
    return { ok: false, error: oneLine(error instanceof Error ? error.message : String(error)) };
  }
}

export type RestoreResult =
  | { ok: true; database: string; owner: string; verifyMs: number; restoreMs: number; ms: number }
  /** changed: whether the failed restore left the database it created behind (it could not be dropped). */
  | { ok: false; error: string; changed: boolean };

// Step one, nothing changed: the file is the one recorded (sha256), and its listing names the database's owner.
const VERIFY_SCRIPT = `
set -u
file=$1 want=$2
[ -f "$file" ] || { echo "the dump file $file is missing" >&2; exit 30; }
got=$(sha256sum -- "$file") || exit 31
got=\${got%% *}
[ "$got" = "$want" ] || { echo "pgf-sha $got"; exit 32; }
# -C: without it the listing leaves the DATABASE entry (and its owner) out.
pg_restore -C -l -- "$file" || exit 33
`;

// Step two: create the database (createdb refuses one that exists, atomically) from template0,
// as pg_dump's documentation says: the dump holds everything the dumped database had, the
// objects it got from template1 included (the node image puts PgBouncer's lookup function
// there), and a copy of template1 would already hold them. Then restore in one transaction
// that stops at the first error, and drop the database again if it failed.
const RESTORE_SCRIPT = `
set -u
file=$1 into=$2 owner=$3 limit=$4
export PGUSER="\${POSTGRES_USER:-postgres}"
if [ -n "$owner" ]; then createdb --no-password -T template0 -O "$owner" "$into"; else createdb --no-password -T template0 "$into"; fi || exit 40
timeout -s TERM -k 10 "$limit" pg_restore --no-password --exit-on-error --single-transaction -d "$into" -- "$file"
rc=$?
[ $rc -eq 0 ] || { dropdb --no-password "$into" >/dev/null 2>&1 || echo pgf-left-behind; exit $rc; }
`;

/** A role name read from the dump's listing (a file is input) that is safe to hand to createdb. */
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Restores a dump into a new database `into` on the primary. The file is checked against
 * its recorded sha256 first; a database that exists is refused; nothing is changed when
 * either refuses. Ownership is kept: the new database belongs to the dumped database's
 * owner (the lab's APP_USER), and pg_restore, run as the superuser without --no-owner,
 * gives every object back to the role that owned it (roles are cluster-wide, so they exist
 * on the same cluster). A restore that fails drops the database it created.
 */
export async function restoreDump(edges: BackupEdges, primary: NodeConfig, record: BackupRecord, into: string): Promise<RestoreResult> {
  const refused = (error: string): RestoreResult => ({ ok: false, error, changed: false });
  const nameProblem = databaseNameProblem(into);
  if (nameProblem) return refused(nameProblem);
  if (record.kind !== 'dump' || !record.ok || record.file === undefined || record.sha256 === undefined) return refused(`${record.id} is not a good dump (only a dump with ok: true has a file to restore)`);
  const file = `${edges.backup.directory}/${record.file}`;
  const engine = edges.engine(primary);
  const started = Date.now();
  const verify = await execIn(engine, primary.container, ['sh', '-c', VERIFY_SCRIPT, 'pgf-verify', file, record.sha256], { timeoutMs: edges.backup.dumps.timeoutMs });
  if (verify.exitCode === 32) {
    const got = /^pgf-sha ([0-9a-f]{64})$/m.exec(verify.stdout)?.[1] ?? 'unreadable';
    return refused(`${record.file} does not match its record: sha256 ${got}, recorded ${record.sha256}; the file changed after the dump, nothing restored`);
  }
  if (verify.exitCode !== 0) return refused(`${record.file} cannot be read: ${oneLine(verify.stderr) || `exit ${verify.exitCode}`}`);
  const listed = databaseOwnerOf(verify.stdout);
  const owner = listed !== null && ROLE_NAME.test(listed) ? listed : '';
  const verifyMs = Date.now() - started;
  const limitMs = edges.backup.dumps.timeoutMs;
  const restore = await execIn(engine, primary.container, ['sh', '-c', RESTORE_SCRIPT, 'pgf-restore', file, into, owner, String(Math.ceil(limitMs / 1000))], {
    timeoutMs: limitMs + EXEC_MARGIN_MS,
  });
  if (restore.exitCode === 40) {
    const said = oneLine(restore.stderr);
    if (/already exists/.test(said)) return refused(`database ${into} exists already; choose another --into (nothing was changed)`);
    return refused(`database ${into} could not be created: ${said}`);
  }
  const ms = Date.now() - started;
  if (restore.exitCode !== 0) {
    const why = restore.exitCode === 124 || restore.exitCode === 137 ? `pg_restore did not finish within ${Math.ceil(limitMs / 1000)} s` : `pg_restore failed (exit ${restore.exitCode})`;
    const leftBehind = /^pgf-left-behind$/m.test(restore.stdout);
    const after = leftBehind ? `database ${into} was left behind (dropping it failed): drop it by hand` : `database ${into} was dropped again`;
    return { ok: false, error: `${why}: ${oneLine(restore.stderr)}; ${after}`, changed: leftBehind };
  }
  return { ok: true, database: into, owner: owner || 'the superuser', verifyMs, restoreMs: ms - verifyMs, ms };
}
