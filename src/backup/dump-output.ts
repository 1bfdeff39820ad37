// What the dump and restore scripts print, read back: pure functions, unit-tested without Docker.
// The scripts run in a node's container (see dump.ts); their stdout ends with one marker line,
// and anything that went wrong is on stderr, which becomes the record's one-line error.

export interface DumpWritten {
  ok: true;
  sizeBytes: number;
  sha256: string;
}

export interface DumpFailed {
  ok: false;
  /** One line, for the catalogue and the operator. */
  error: string;
  /** pg_dump on a standby was cancelled because replay needed what its snapshot held. */
  recoveryConflict: boolean;
}

/** Exit codes of the dump script's own steps (pg_dump's and timeout's are passed through). */
export const DUMP_EXIT = { noDirectory: 20, exists: 21, rename: 22, checksum: 23, timedOut: 124 } as const;

const MAX_ERROR = 400;

/** Non-empty lines of a tool's stderr as one line: prefixes and the failed command's text dropped, whitespace collapsed, bounded. */
export function oneLine(stderr: string, max = MAX_ERROR): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.replace(/^(pg_dump|pg_restore|createdb|dropdb|psql): /, '').trim())
    .filter((line) => line.length > 0 && !/^(detail: )?Command was:/i.test(line));
  const text = lines.join(' ').replace(/\s+/g, ' ').replace(/[^\x20-\x7e]/g, '?');
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/**
 * A query on a hot standby is cancelled when replaying the primary's WAL needs what it holds
 * (an exclusive lock it must take, row versions the primary's vacuum removed, a buffer pin)
 * for longer than max_standby_streaming_delay: the server says "conflict with recovery".
 */
export function isRecoveryConflict(text: string): boolean {
  return /conflict with recovery/i.test(text);
}

export function readDumpResult(exitCode: number, stdout: string, stderr: string, limitMs: number): DumpWritten | DumpFailed {
  if (exitCode === 0) {
    const marker = /^pgf-dump (\d+) ([0-9a-f]{64})$/m.exec(stdout);
    if (marker) return { ok: true, sizeBytes: Number(marker[1]), sha256: marker[2]! };
    return { ok: false, error: 'the dump script ended without reporting the file\'s size and checksum', recoveryConflict: false };
  }
  const said = oneLine(stderr);
  if (isRecoveryConflict(stderr)) {
    return { ok: false, recoveryConflict: true, error: `cancelled by a recovery conflict on the standby (replay needed what the dump's snapshot held for longer than max_standby_streaming_delay): ${said}` };
  }
  const why = (() => {
    switch (exitCode) {
      case DUMP_EXIT.timedOut:
      case 137:
        return `pg_dump did not finish within ${Math.round(limitMs / 1000)} s (backup.dumps.timeoutMs) and was stopped`;
      case DUMP_EXIT.noDirectory:
        return 'the backup directory cannot be written';
      case DUMP_EXIT.exists:
        return 'a dump file with this id exists already';
      case DUMP_EXIT.rename:
        return 'the finished dump could not be renamed into place';
      case DUMP_EXIT.checksum:
        return 'the finished dump\'s size and checksum could not be read';
      default:
        return `pg_dump failed (exit ${exitCode})`;
    }
  })();
  return { ok: false, recoveryConflict: false, error: said.length > 0 ? `${why}: ${said}` : why };
}

/**
 * The owner of the dumped database, from `pg_restore -C -l`: its DATABASE entry reads
 * `<id>; <tableoid> <oid> DATABASE - <name> <owner>`. Null when the listing has none.
 */
export function databaseOwnerOf(listing: string): string | null {
  const entry = /^\d+; \d+ \d+ DATABASE - \S+ (\S+)\s*$/m.exec(listing);
  return entry ? entry[1]! : null;
}

/** A restore target's name: plain, so that it can be passed to createdb and pg_restore as it is. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function databaseNameProblem(name: string): string | null {
  return DATABASE_NAME.test(name) ? null : `invalid database name ${JSON.stringify(name.slice(0, 80))}: expected lower-case letters, digits and underscores, starting with a letter or underscore, at most 63`;
}
