import { describe, expect, it } from 'vitest';
import { databaseNameProblem, databaseOwnerOf, isRecoveryConflict, oneLine, readDumpResult } from '../../../src/backup/dump-output.js';

// What the dump script and pg_dump print, read back into a record's fields.

const SHA = 'a'.repeat(64);
const CONFLICT = [
  'pg_dump: error: Dumping the contents of table "t" failed: PQgetResult() failed.',
  'pg_dump: detail: Error message from server: ERROR:  canceling statement due to conflict with recovery',
  'DETAIL:  User was holding a relation lock for too long.',
  'pg_dump: detail: Command was: COPY public.t (id, note) TO stdout;',
].join('\n');

describe('readDumpResult', () => {
  it.each([
    ['a good dump: size and checksum from the marker line', 0, `noise\npgf-dump 12345 ${SHA}\n`, '', { ok: true, sizeBytes: 12345, sha256: SHA }],
    ['exit 0 without the marker is a failure, never a record with no checksum', 0, 'pgf-dump 12 short\n', '', { ok: false, recoveryConflict: false }],
    ['a recovery conflict on a standby is named as such', 1, '', CONFLICT, { ok: false, recoveryConflict: true }],
    ['the timeout (124) names the limit', 124, '', '', { ok: false, error: 'pg_dump did not finish within 90 s (backup.dumps.timeoutMs) and was stopped' }],
    ['a kill after the timeout (137) too', 137, '', '', { ok: false, recoveryConflict: false }],
    ['an unwritable directory', 20, '', 'cannot write /backups/dumps', { ok: false, error: 'the backup directory cannot be written: cannot write /backups/dumps' }],
    ['a file that exists', 21, '', '/backups/dumps/x.dump exists', { ok: false, error: 'a dump file with this id exists already: /backups/dumps/x.dump exists' }],
    [
      'any other pg_dump error, its lines joined',
      1,
      '',
      'pg_dump: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL:  database "nope" does not exist\n',
      { ok: false, error: 'pg_dump failed (exit 1): error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL: database "nope" does not exist' },
    ],
  ])('%s', (_name, exitCode, stdout, stderr, expected) => {
    expect(readDumpResult(exitCode, stdout, stderr, 90_000)).toMatchObject(expected);
  });

  it('says what the conflict was, in one line without the COPY command', () => {
    const result = readDumpResult(1, '', CONFLICT, 90_000);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toMatch(/^cancelled by a recovery conflict on the standby .*max_standby_streaming_delay.*canceling statement due to conflict with recovery DETAIL: User was holding a relation lock/);
    expect(result.error).not.toContain('\n');
    expect(result.error).not.toContain('COPY');
  });
});

describe('oneLine', () => {
  it('bounds a long stderr and replaces what is not printable', () => {
    const line = oneLine(`pg_dump: error: ${'x'.repeat(1000)}\u0007`);
    expect(line.length).toBe(400);
    expect(line.endsWith('...')).toBe(true);
    expect(oneLine('a\u0007b')).toBe('a?b');
  });
});

describe('isRecoveryConflict', () => {
  it.each([
    ['ERROR:  canceling statement due to conflict with recovery', true],
    ['FATAL:  terminating connection due to conflict with recovery', true],
    ['ERROR:  canceling statement due to statement timeout', false],
  ])('%s', (text, expected) => expect(isRecoveryConflict(text)).toBe(expected));
});

describe('databaseOwnerOf', () => {
  const listing = [
    ';',
    '; Archive created at 2026-11-29 23:45:00 UTC',
    ';     dbname: app',
    ';',
    '3363; 1262 16384 DATABASE - app app',
    '215; 1259 16390 TABLE public t app',
  ].join('\n');
  it('reads the DATABASE entry of pg_restore -C -l', () => expect(databaseOwnerOf(listing)).toBe('app'));
  it('is null when the listing has none', () => expect(databaseOwnerOf('215; 1259 16390 TABLE public t app\n')).toBeNull());
});

describe('databaseNameProblem', () => {
  it.each([
    ['scratch', null],
    ['app_restore_2', null],
    ['Scratch', 'invalid'],
    ['1st', 'invalid'],
    ['a-b', 'invalid'],
    ['x'.repeat(64), 'invalid'],
    ['dbname=other host=evil', 'invalid'],
  ])('%s', (name, expected) => {
    const problem = databaseNameProblem(name);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(/^invalid database name .*: expected lower-case letters/);
  });
});
