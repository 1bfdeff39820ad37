import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DUMP_SCRIPT } from '../../../src/backup/dump.js';
import { readDumpResult } from '../../../src/backup/dump-output.js';

// The script that runs in a node's container, run here with a stand-in pg_dump on its PATH:
// a file appears under its final name only complete, with its size and sha256 reported.

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'pgf-dump-script-'));
const bin = join(root, 'bin');
mkdirSync(bin);
// Writes half a dump, then does what FAKE says: finish, fail as a standby's recovery conflict does, or hang.
writeFileSync(
  join(bin, 'pg_dump'),
  `#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -f ] && out=$2; shift; done
printf 'PGDMP-half-of-%s' "$PGDATABASE" >"$out"
case $FAKE in
  ok) printf -- '-and-the-rest' >>"$out" ;;
  conflict) echo 'pg_dump: detail: Error message from server: ERROR:  canceling statement due to conflict with recovery' >&2; exit 1 ;;
  hang) exec sleep 30 ;;
esac
`,
);
chmodSync(join(bin, 'pg_dump'), 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function dumpWith(fake: string, dir: string, id: string, limitSec = 60) {
  try {
    const { stdout, stderr } = await run('sh', ['-c', DUMP_SCRIPT, 'pgf-dump', dir, id, String(limitSec)], { env: { PATH: `${bin}:${process.env.PATH}`, PGDATABASE: 'app', FAKE: fake } });
    return { exitCode: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { exitCode: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const backupDir = () => mkdtempSync(join(root, 'backups-'));

describe('the dump script', () => {
  it('renames a finished dump into place and reports its size and sha256', async () => {
    const dir = backupDir();
    const result = await dumpWith('ok', dir, 'dump-20261129T120000Z');
    const content = readFileSync(join(dir, 'dumps', 'dump-20261129T120000Z.dump'));
    expect(content.toString()).toBe('PGDMP-half-of-app-and-the-rest');
    expect(readDumpResult(result.exitCode, result.stdout, result.stderr, 60_000)).toEqual({ ok: true, sizeBytes: content.length, sha256: createHash('sha256').update(content).digest('hex') });
    expect(readdirSync(join(dir, 'dumps'))).toEqual(['dump-20261129T120000Z.dump']);
  });

  it('leaves no file at all when pg_dump fails half way', async () => {
    const dir = backupDir();
    const result = await dumpWith('conflict', dir, 'dump-20261129T120000Z');
    expect(readDumpResult(result.exitCode, result.stdout, result.stderr, 60_000)).toMatchObject({ ok: false, recoveryConflict: true });
    expect(readdirSync(join(dir, 'dumps'))).toEqual([]);
  });

  it('stops pg_dump at the limit and removes its partial file', async () => {
    const dir = backupDir();
    const result = await dumpWith('hang', dir, 'dump-20261129T120000Z', 1);
    expect(readDumpResult(result.exitCode, result.stdout, result.stderr, 1000)).toMatchObject({ ok: false, error: expect.stringMatching(/did not finish within 1 s/) });
    expect(readdirSync(join(dir, 'dumps'))).toEqual([]);
  });

  it('never overwrites a dump of the same id', async () => {
    const dir = backupDir();
    mkdirSync(join(dir, 'dumps'));
    writeFileSync(join(dir, 'dumps', 'dump-20261129T120000Z.dump'), 'the first');
    const result = await dumpWith('ok', dir, 'dump-20261129T120000Z');
    expect(result.exitCode).toBe(21);
    expect(readFileSync(join(dir, 'dumps', 'dump-20261129T120000Z.dump'), 'utf8')).toBe('the first');
  });

  it('sweeps partial files older than any dump may run, and only those', async () => {
    const dir = backupDir();
    mkdirSync(join(dir, 'dumps'));
    const stale = join(dir, 'dumps', 'dump-20261128T000000Z.dump.partial');
    const recent = join(dir, 'dumps', 'dump-20261129T115959Z.dump.partial');
    writeFileSync(stale, 'died with its container');
    writeFileSync(recent, 'maybe still running');
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(stale, hourAgo, hourAgo);
    await dumpWith('ok', dir, 'dump-20261129T120000Z', 60);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });
});
