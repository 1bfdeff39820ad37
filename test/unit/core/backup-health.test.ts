import { describe, expect, it } from 'vitest';
import { formatAge } from '../../../src/core/backup-catalog.js';
import { backupHealth, newestGood, type ArchiverStats, type BackupHealthInput } from '../../../src/core/backup-health.js';
import type { BackupRecord } from '../../../src/dcs/backups.js';
import { CONFIG, DAY, FRESH, HOUR, MINUTE, NOW, SECOND, backupConfig, failed, record } from './backup-fixtures.js';

// `failover health` on backups: problems make it unhealthy, warnings are listed only.
const ARCHIVING: ArchiverStats = { failedCount: 0, lastFailedAt: null, lastArchivedAt: NOW - MINUTE };

function input(records: BackupRecord[], overrides: Partial<BackupHealthInput> = {}): BackupHealthInput {
  return { now: NOW, config: CONFIG, records, archiver: ARCHIVING, ...overrides };
}

interface HealthCase {
  name: string;
  input: BackupHealthInput;
  problems: string[];
  warnings: string[];
}

describe('backupHealth', () => {
  it.each<HealthCase>([
    { name: 'everything fresh, archiving working', input: input(FRESH), problems: [], warnings: [] },
    {
      name: 'a dump older than twice its interval',
      input: input([record('full', DAY), record('dump', 13 * HOUR)]),
      problems: ['the last good dump is 13 h old, older than twice its 6 h interval'],
      warnings: [],
    },
    { name: 'a dump exactly twice its interval old is not yet a problem', input: input([record('full', DAY), record('dump', 12 * HOUR)]), problems: [], warnings: [] },
    {
      name: 'a full older than twice its interval, with the failure since',
      input: input([record('full', 15 * DAY), failed('full', HOUR + MINUTE, { error: 'ERROR: [047]: unable to create path' }), record('diff', HOUR), record('dump', HOUR)]),
      problems: ['the last good full backup is 15 d old, older than twice its 7 d interval; the last attempt failed 60 min ago: ERROR: [047]: unable to create path'],
      warnings: [],
    },
    {
      name: 'no good dump, a failed attempt: a problem',
      input: input([record('full', DAY), failed('dump', 10 * MINUTE, { durationMs: 0, error: 'pg_dump: error: permission denied' })]),
      problems: ['no good dump yet: the last attempt failed 10 min ago: pg_dump: error: permission denied'],
      warnings: [],
    },
    {
      name: 'no good full, a failed attempt: a problem',
      input: input([failed('full', 3 * MINUTE, { durationMs: 0, error: 'stanza does not exist' }), record('dump', HOUR)]),
      problems: ['no good full backup yet: the last attempt failed 3 min ago: stanza does not exist'],
      warnings: [],
    },
    {
      name: 'a fresh cluster with no backup and no attempt: warnings only',
      input: input([]),
      problems: [],
      warnings: ['no dump yet: the leader takes the first within minutes of starting', 'no full backup yet: the leader takes the first within minutes of starting'],
    },
    {
      name: 'no backup, schedule off: the warning says how to take one',
      input: input([], { config: backupConfig({ schedule: false }) }),
      problems: [],
      warnings: ['no dump yet, and backup.schedule is off: take one with `failover backup dump`', 'no full backup yet, and backup.schedule is off: take one with `failover backup full`'],
    },
    {
      name: 'a failed attempt after a good fresh dump: a warning',
      input: input([record('full', DAY), record('diff', HOUR), record('dump', 3 * HOUR), failed('dump', 20 * MINUTE, { durationMs: 0 })]),
      problems: [],
      warnings: ['the last dump attempt failed 20 min ago: pg_dump: error: connection to server failed; the last good dump is 3 h old'],
    },
    { name: 'a failure before the newest good dump is history', input: input([...FRESH, failed('dump', 2 * HOUR)]), problems: [], warnings: [] },
    {
      name: 'a stale differential is a warning (the archived WAL covers the same points)',
      input: input([record('full', 5 * DAY), record('diff', 3 * DAY), record('dump', HOUR)]),
      problems: [],
      warnings: ['the last good full or differential backup is 3 d old, older than twice its 24 h interval'],
    },
    {
      name: 'a failed diff after a fresh full: a warning',
      input: input([record('full', 2 * HOUR), failed('diff', 5 * MINUTE, { durationMs: 0, error: 'boom' }), record('dump', HOUR)]),
      problems: [],
      warnings: ['the last differential backup attempt failed 5 min ago: boom; the last good full or differential backup is 2 h old'],
    },
    {
      name: 'the schedule off does not silence an old backup',
      input: input([record('full', 15 * DAY), record('dump', 2 * DAY)], { config: backupConfig({ schedule: false }) }),
      problems: ['the last good dump is 2 d old, older than twice its 6 h interval', 'the last good full backup is 15 d old, older than twice its 7 d interval'],
      warnings: ['the last good full or differential backup is 15 d old, older than twice its 24 h interval'],
    },
    {
      name: 'a shorter configured interval is judged by itself',
      input: input([record('full', DAY), record('dump', 3 * HOUR)], { config: backupConfig({ dumps: { intervalMs: HOUR } }) }),
      problems: ['the last good dump is 3 h old, older than twice its 60 min interval'],
      warnings: [],
    },

    // Archiving (pg_stat_archiver of the primary).
    {
      name: 'archiving failing since its last success',
      input: input(FRESH, { archiver: { failedCount: 12, lastFailedAt: NOW - 30 * SECOND, lastArchivedAt: NOW - 40 * MINUTE } }),
      problems: ['WAL archiving is failing (12 failures, the last 30 s ago): the last segment was archived 40 min ago: no restore can reach a later point'],
      warnings: [],
    },
    {
      name: 'archiving failing and never succeeded',
      input: input(FRESH, { archiver: { failedCount: 1, lastFailedAt: NOW - 5 * SECOND, lastArchivedAt: null } }),
      problems: ['WAL archiving is failing (1 failure, the last 5 s ago): no WAL segment has ever been archived: no point in time can be restored'],
      warnings: [],
    },
    {
      name: 'failures counted, never a success, failure time unknown',
      input: input(FRESH, { archiver: { failedCount: 3, lastFailedAt: null, lastArchivedAt: null } }),
      problems: ['WAL archiving is failing (3 failures): no WAL segment has ever been archived: no point in time can be restored'],
      warnings: [],
    },
    { name: 'an old failure followed by a success is history', input: input(FRESH, { archiver: { failedCount: 4, lastFailedAt: NOW - HOUR, lastArchivedAt: NOW - MINUTE } }), problems: [], warnings: [] },
    { name: 'nothing archived yet and nothing failed: fine', input: input(FRESH, { archiver: { failedCount: 0, lastFailedAt: null, lastArchivedAt: null } }), problems: [], warnings: [] },
    { name: 'archiver not read: not judged', input: input(FRESH, { archiver: null }), problems: [], warnings: [] },
  ])('$name', ({ input: given, problems, warnings }) => {
    const health = backupHealth(given);
    expect(health.problems).toEqual(problems);
    expect(health.warnings).toEqual(warnings);
    for (const line of [...health.problems, ...health.warnings]) expect(line).not.toContain('\n');
  });
});

describe('newestGood', () => {
  const records = [record('dump', 3 * HOUR), failed('dump', HOUR), record('dump', 2 * HOUR), record('full', 30 * MINUTE)];

  it('is the newest good record of the kind, failures and other kinds ignored', () => {
    expect(newestGood(records, 'dump')?.startedAt).toBe(new Date(NOW - 2 * HOUR).toISOString());
    expect(newestGood(records, 'diff')).toBeNull();
    expect(newestGood(records, ['full', 'diff'])?.kind).toBe('full');
  });

  it('does not depend on the order of the catalogue', () => {
    expect(newestGood([...records].reverse(), 'dump')).toEqual(newestGood(records, 'dump'));
  });

  it('skips a record whose time does not parse', () => {
    expect(newestGood([{ ...record('dump', HOUR), startedAt: 'garbage' }], 'dump')).toBeNull();
  });
});

describe('formatAge', () => {
  it.each([
    [0, '0 s'],
    [45 * SECOND, '45 s'],
    [90 * SECOND, '90 s'],
    [13 * MINUTE, '13 min'],
    [90 * MINUTE, '90 min'],
    [13 * HOUR, '13 h'],
    [12.4 * HOUR, '12.4 h'],
    [DAY, '24 h'],
    [25 * HOUR, '25 h'],
    [7 * DAY, '7 d'],
    [7.5 * DAY, '7.5 d'],
  ])('%i ms reads %s', (ms, text) => {
    expect(formatAge(ms)).toBe(text);
  });
});
