import { describe, expect, it } from 'vitest';
import { errorLineOf } from '../../../src/backup/pgbackrest.js';
import { reasonFromLog } from '../../../src/backup/restore-copy.js';
import { chooseBackupSet, checkRestoreName, parseRestoreTarget, type BackupPoint, type RestoreTarget } from '../../../src/backup/restore-target.js';
import { demuxLogs } from '../../../src/backup/restore-container.js';

// What `failover backup restore` accepts and refuses before anything is created, which backup a
// restore starts from, and how pgBackRest's and PostgreSQL's failures are told in one line.

describe('parseRestoreTarget', () => {
  it.each([
    ['UTC with Z, microseconds kept', '2026-11-29T23:37:12.199054Z', { type: 'time', target: '2026-11-29 23:37:12.199054+00:00', at: Date.parse('2026-11-29T23:37:12.199Z') }],
    ['a space and an offset with a colon', '2026-11-29 23:37:12+01:00', { type: 'time', target: '2026-11-29 23:37:12+01:00', at: Date.parse('2026-11-29T22:37:12Z') }],
    ['an offset of hours only', '2026-11-29T23:37:12-05', { type: 'time', target: '2026-11-29 23:37:12-05:00', at: Date.parse('2026-11-30T04:37:12Z') }],
    ['an offset without a colon', '2026-11-29T23:37:12.5+0530', { type: 'time', target: '2026-11-29 23:37:12.5+05:30', at: Date.parse('2026-11-29T18:07:12.5Z') }],
    ['an LSN, in the server\'s spelling', '0/3a000060', { type: 'lsn', target: '0/3A000060', lsn: 0x3a000060n }],
  ])('%s', (_name, text, expected) => {
    expect(parseRestoreTarget(text)).toEqual({ ok: true, value: expected });
  });

  it.each([
    ['a time without its zone (whose clock?)', '2026-11-29T23:37:12'],
    ['a date alone', '2026-11-29'],
    ['no such day', '2026-02-30T10:00:00Z'],
    ['no such hour', '2026-11-29T24:00:00Z'],
    ['more than microseconds', '2026-11-29T23:37:12.1234567Z'],
    ['a relative time', 'yesterday'],
    ['an LSN with a third part', '0/3/4'],
    ['something to pass to a shell', "2026-11-29T23:37:12Z'; rm -rf /"],
  ])('refuses %s', (_name, text) => {
    const parsed = parseRestoreTarget(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/neither a time nor an LSN; expected an ISO time with its zone .* or an LSN/);
  });
});

describe('checkRestoreName', () => {
  it.each(['x', 'before-drop', 'pitr-2026-11-29', 'a'.repeat(40)])('accepts %s', (name) => {
    expect(checkRestoreName(name)).toEqual({ ok: true, value: name });
  });
  it.each(['', 'Upper', 'under_score', '-lead', 'trail-', 'a'.repeat(41), 'dot.ted', 'sp ace', '../x'])('refuses %j', (name) => {
    expect(checkRestoreName(name).ok).toBe(false);
  });
});

describe('chooseBackupSet', () => {
  const at = (iso: string) => Date.parse(iso) / 1000;
  const full1: BackupPoint = { label: '20261129-100000F', stopSec: at('2026-11-29T10:00:05Z'), stopLsn: 0x3000050n };
  const diff1: BackupPoint = { label: '20261129-100000F_20261129-120000D', stopSec: at('2026-11-29T12:00:03Z'), stopLsn: 0x5000050n };
  const full2: BackupPoint = { label: '20261129-140000F', stopSec: at('2026-11-29T14:00:04Z'), stopLsn: 0x9000050n };
  const backups = [full2, full1, diff1];
  const now = Date.parse('2026-11-29T15:00:00Z');
  const time = (iso: string): RestoreTarget => ({ type: 'time', target: iso, at: Date.parse(iso) });
  const lsn = (n: bigint): RestoreTarget => ({ type: 'lsn', target: `0/${n.toString(16)}`, lsn: n });

  it.each([
    ['a time after every backup: the newest', time('2026-11-29T14:30:00Z'), full2.label],
    ['a time between two: the one before it (less WAL to replay)', time('2026-11-29T13:00:00Z'), diff1.label],
    ['a time just after the oldest ended', time('2026-11-29T10:00:06Z'), full1.label],
    ['an LSN between two: the one that ended before it', lsn(0x6000000n), diff1.label],
    ['an LSN at a backup\'s stop', lsn(0x9000050n), full2.label],
  ])('%s', (_name, target, label) => {
    const chosen = chooseBackupSet(target, backups, now);
    expect(chosen.ok && chosen.value.label).toBe(label);
  });

  it.each([
    ['a time before the oldest backup ended', time('2026-11-29T10:00:04Z'), /before the oldest backup \(20261129-100000F\) ended at 2026-11-29T10:00:05.000Z/],
    ['a time within the second the oldest ended (its stop is truncated)', time('2026-11-29T10:00:05.500Z'), /before the oldest backup/],
    ['a time still to come', time('2026-11-29T15:00:01Z'), /in the future/],
    ['an LSN before the oldest backup ended', lsn(0x3000000n), /before the oldest backup \(20261129-100000F\) ended at LSN 0\/3000050/],
  ])('refuses %s', (_name, target, error) => {
    const chosen = chooseBackupSet(target, backups, now);
    expect(chosen.ok).toBe(false);
    if (!chosen.ok) expect(chosen.error).toMatch(error);
  });

  it('refuses when there is no backup at all', () => {
    expect(chooseBackupSet(time('2026-11-29T14:30:00Z'), [], now)).toEqual({ ok: false, error: expect.stringMatching(/holds no backup.*failover backup full/) });
  });
});

describe('errorLineOf', () => {
  it('takes pgBackRest\'s ERROR line, the first detail and the first hint, as one line', () => {
    const stderr = [
      "ERROR: [055]: unable to load info file '/backups/pgbackrest/archive/man/archive.info' or '/backups/pgbackrest/archive/man/archive.info.copy':",
      "       FileMissingError: unable to open missing file '/backups/pgbackrest/archive/man/archive.info' for read",
      '       HINT: archive.info cannot be opened but is required to push/get WAL segments.',
      '       HINT: has a stanza-create been performed?',
    ].join('\n');
    expect(errorLineOf({ exitCode: 55, stdout: '', stderr }, 'pgbackrest check on pgsql')).toBe(
      "pgbackrest check on pgsql failed: ERROR [055]: unable to load info file '/backups/pgbackrest/archive/man/archive.info' or '/backups/pgbackrest/archive/man/archive.info.copy': (HINT: archive.info cannot be opened but is required to push/get WAL segments.)",
    );
  });
  it('reads the console\'s timestamped form too', () => {
    const stdout = '2026-11-29 23:36:58.431 P00  ERROR: [056]: unable to find primary cluster - cannot proceed\n2026-11-29 23:36:58.431 P00   INFO: backup command end: aborted with exception [056]';
    expect(errorLineOf({ exitCode: 56, stdout, stderr: '' }, 'x')).toBe('x failed: ERROR [056]: unable to find primary cluster - cannot proceed');
  });
  it('falls back to the last line, then to the exit code', () => {
    expect(errorLineOf({ exitCode: 1, stdout: 'first\nlast words\n', stderr: '' }, 'x')).toBe('x failed: last words');
    expect(errorLineOf({ exitCode: 9, stdout: '', stderr: '' }, 'x')).toBe('x failed: exit code 9');
  });
});

describe('reasonFromLog', () => {
  it('says what a target past the archive\'s last commit means', () => {
    const log = [
      '2026-11-29 23:37:24.879 UTC [39] LOG:  redo done at 0/4016120 system usage: CPU: user: 0.00 s',
      '2026-11-29 23:37:24.879 UTC [39] LOG:  last completed transaction was at log time 2026-11-29 23:37:12.010736+00',
      '2026-11-29 23:37:24.879 UTC [39] FATAL:  recovery ended before configured recovery target was reached',
      '2026-11-29 23:37:24.886 UTC [1] LOG:  database system is shut down',
    ].join('\n');
    expect(reasonFromLog(log)).toBe(
      'recovery ended before configured recovery target was reached (last completed transaction was at log time 2026-11-29 23:37:12.010736+00): the archive holds no commit after the target on the timelines restored',
    );
  });
});

describe('demuxLogs', () => {
  it('strips Docker\'s frame headers, and leaves a TTY\'s plain output as it is', () => {
    const frame = (stream: number, text: string) => Buffer.concat([Buffer.from([stream, 0, 0, 0, 0, 0, 0, text.length]), Buffer.from(text)]);
    expect(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n');
    expect(demuxLogs(Buffer.from('plain\n'))).toBe('plain\n');
  });
});
