import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { BackupConfig } from '../../../src/config/backup-schema.js';
import type { BackupFact, BackupPolicy } from '../../../src/core/backup-catalog.js';
import { BACKUP_RULES, decideBackup, retryBackoffMs, situationOf, type BackupDecisionInput, type BackupRuleId } from '../../../src/core/backup-rules.js';
import type { BackupKind, BackupRecord } from '../../../src/dcs/backups.js';
import { CONFIG, DAY, FRESH, HOUR, MINUTE, NOW, backupConfig, failed, record } from './backup-fixtures.js';

// The schedule, one row per case: the catalogue and the time in, at most one kind due.
function input(records: BackupRecord[], overrides: Partial<BackupDecisionInput> = {}): BackupDecisionInput {
  return { now: NOW, config: CONFIG, records, running: false, ...overrides };
}

interface ScheduleCase {
  name: string;
  input: BackupDecisionInput;
  by: BackupRuleId;
  due: BackupKind | null;
  /** Words the one-line why must hold. */
  says?: string;
}

describe('decideBackup: first matching row wins', () => {
  it.each<ScheduleCase>([
    // Off and busy come first, whatever is due.
    { name: 'schedule off, nothing taken at all', input: input([], { config: backupConfig({ schedule: false }) }), by: 'backup-schedule-off', due: null, says: 'by hand' },
    { name: 'schedule off even with everything overdue', input: input([record('full', 30 * DAY)], { config: backupConfig({ schedule: false }) }), by: 'backup-schedule-off', due: null },
    { name: 'a backup is running: nothing more', input: input([], { running: true }), by: 'backup-running', due: null, says: 'in progress' },
    { name: 'running outranks an overdue full', input: input([record('full', 8 * DAY), record('dump', 7 * HOUR)], { running: true }), by: 'backup-running', due: null },

    // Full.
    { name: 'a new cluster takes a full first', input: input([]), by: 'backup-full-due', due: 'full', says: 'no good full backup yet' },
    { name: 'only failed fulls (backoff over): a full', input: input([failed('full', HOUR)]), by: 'backup-full-due', due: 'full' },
    { name: 'the newest good full is past its weekly interval', input: input([record('full', 7 * DAY + MINUTE), record('diff', HOUR), record('dump', HOUR)]), by: 'backup-full-due', due: 'full', says: 'the last good full backup is 7 d old, past its 7 d interval' },
    { name: 'exactly one interval old: due', input: input([record('full', 7 * DAY), record('diff', HOUR), record('dump', HOUR)]), by: 'backup-full-due', due: 'full' },
    { name: 'a full outranks an overdue dump', input: input([record('full', 8 * DAY), record('dump', 7 * HOUR)]), by: 'backup-full-due', due: 'full' },
    { name: 'a full due takes the place of a diff due too', input: input([record('full', 8 * DAY), record('dump', HOUR)]), by: 'backup-full-due', due: 'full' },
    { name: 'a failed diff does not hold a full back', input: input([record('full', 8 * DAY), failed('diff', MINUTE), record('dump', HOUR)]), by: 'backup-full-due', due: 'full' },

    // Diff after a promotion: the new primary's chain starts with a backup on its timeline.
    { name: 'a failover 10 min ago, the newest diff 2 h old: a diff now', input: input([record('full', 3 * DAY), record('diff', 2 * HOUR), record('dump', HOUR)], { promotedAt: NOW - 10 * MINUTE }), by: 'backup-diff-after-promotion', due: 'diff', says: 'predates the promotion of the current primary 10 min ago' },
    { name: 'a full due still outranks it', input: input([record('full', 8 * DAY), record('dump', HOUR)], { promotedAt: NOW - MINUTE }), by: 'backup-full-due', due: 'full' },
    { name: 'a diff taken after the promotion: nothing more', input: input([record('full', 3 * DAY), record('diff', 5 * MINUTE), record('dump', HOUR)], { promotedAt: NOW - 10 * MINUTE }), by: 'backup-nothing-due', due: null },
    { name: 'the after-promotion diff failed just now: wait', input: input([record('full', 3 * DAY), record('diff', 2 * HOUR), failed('diff', MINUTE, { durationMs: 0 }), record('dump', HOUR)], { promotedAt: NOW - 10 * MINUTE }), by: 'backup-retry-wait', due: null },
    { name: 'a promotion time in the future (a clock ahead) is not believed', input: input(FRESH, { promotedAt: NOW + HOUR }), by: 'backup-nothing-due', due: null },

    // Diff.
    { name: 'a full a day old: a diff', input: input([record('full', DAY + MINUTE), record('dump', HOUR)]), by: 'backup-diff-due', due: 'diff', says: 'the last good full or differential backup is 24 h old, past the 24 h differential interval' },
    { name: 'the newest diff is a day old: a diff', input: input([record('full', 3 * DAY), record('diff', 25 * HOUR), record('dump', HOUR)]), by: 'backup-diff-due', due: 'diff', says: '25 h old' },
    { name: 'a diff outranks an overdue dump', input: input([record('full', 3 * DAY), record('diff', 25 * HOUR), record('dump', 7 * HOUR)]), by: 'backup-diff-due', due: 'diff' },
    { name: 'a failed diff older than its backoff: retried', input: input([record('full', 3 * DAY), failed('diff', 20 * MINUTE, { durationMs: 10 }), record('dump', HOUR)]), by: 'backup-diff-due', due: 'diff' },

    // Dump.
    { name: 'physical fresh, no dump yet', input: input([record('full', HOUR)]), by: 'backup-dump-due', due: 'dump', says: 'no good dump yet' },
    { name: 'the newest good dump is past its 6 h interval', input: input([record('full', HOUR), record('dump', 6 * HOUR + 30 * MINUTE)]), by: 'backup-dump-due', due: 'dump', says: 'the last good dump is 6.5 h old, past its 6 h interval' },
    { name: 'a failed newer dump does not make the good one younger', input: input([record('full', HOUR), record('dump', 7 * HOUR), failed('dump', 2 * HOUR)]), by: 'backup-dump-due', due: 'dump' },
    { name: 'a full waiting on its backoff does not hold a dump back', input: input([failed('full', 2 * MINUTE), record('dump', 7 * HOUR)]), by: 'backup-dump-due', due: 'dump' },

    // Retry backoff.
    { name: 'a full failed 5 min ago: wait', input: input([failed('full', 6 * MINUTE, { error: 'unable to open file' }), record('dump', HOUR)]), by: 'backup-retry-wait', due: null, says: 'the last full backup failed 5 min ago (unable to open file); next try in 10 min' },
    { name: 'a dump failed 2 min ago: wait', input: input([...FRESH.filter((r) => r.kind !== 'dump'), record('dump', 7 * HOUR), failed('dump', 3 * MINUTE)]), by: 'backup-retry-wait', due: null, says: 'the last dump failed 2 min ago' },
    { name: 'both a full and a dump wait: both named', input: input([failed('full', 3 * MINUTE), failed('dump', 3 * MINUTE)]), by: 'backup-retry-wait', due: null, says: 'dump failed' },
    { name: 'a diff failed just now: wait', input: input([record('full', 3 * DAY), failed('diff', MINUTE, { durationMs: 0 }), record('dump', HOUR)]), by: 'backup-retry-wait', due: null, says: 'differential backup failed' },
    { name: 'a multi-line error reads as its first line', input: input([failed('full', MINUTE, { error: 'first line\nsecond line' }), record('dump', HOUR)]), by: 'backup-retry-wait', due: null, says: '(first line)' },

    // Nothing due.
    { name: 'every kind fresh', input: input(FRESH), by: 'backup-nothing-due', due: null, says: 'next full backup in 5 d, differential in 22 h, dump in 5 h' },
    { name: 'a dump just under its interval', input: input([record('full', HOUR), record('dump', 6 * HOUR - 1)]), by: 'backup-nothing-due', due: null },
    { name: 'an old failure of a fresh kind is history', input: input([...FRESH, failed('dump', 3 * HOUR), failed('full', 3 * DAY + HOUR)]), by: 'backup-nothing-due', due: null },
    { name: 'a good dump stamped in the future (a clock ahead) counts as fresh', input: input([record('full', HOUR), record('dump', -HOUR)]), by: 'backup-nothing-due', due: null },
  ])('$name -> $by', ({ input: given, by, due, says }) => {
    const decision = decideBackup(given);
    expect(decision.rule).toBe(by);
    expect(decision.due).toBe(due);
    expect(decision.why).not.toContain('\n');
    if (says !== undefined) expect(decision.why).toContain(says);
  });

  it('ignores records whose time does not parse (etcd values are input)', () => {
    const garbled = { ...record('dump', HOUR), startedAt: 'yesterday' };
    expect(decideBackup(input([record('full', HOUR), garbled]))).toMatchObject({ rule: 'backup-dump-due', due: 'dump' });
  });

  it('follows a short interval: 10 min dumps fall due after 10 min and back off 2.5 min... at least 1 min', () => {
    const config = backupConfig({ dumps: { intervalMs: 10 * MINUTE } });
    expect(decideBackup(input([record('full', HOUR), record('dump', 10 * MINUTE)], { config })).due).toBe('dump');
    expect(decideBackup(input([record('full', HOUR), record('dump', 9 * MINUTE)], { config })).due).toBeNull();
    const retried = (agoMs: number) => decideBackup(input([record('full', HOUR), failed('dump', agoMs, { durationMs: 0 })], { config }));
    expect(retried(2 * MINUTE).rule).toBe('backup-retry-wait');
    expect(retried(2.5 * MINUTE).rule).toBe('backup-dump-due');
  });
});

describe('retryBackoffMs', () => {
  it.each([
    [6 * HOUR, 15 * MINUTE],
    [7 * DAY, 15 * MINUTE],
    [40 * MINUTE, 10 * MINUTE],
    [MINUTE, MINUTE],
    [2 * MINUTE, MINUTE],
  ])('an interval of %i ms waits %i ms after a failure', (interval, backoff) => {
    expect(retryBackoffMs(interval)).toBe(backoff);
  });
});

describe('the backup rule table', () => {
  const ids = BACKUP_RULES.map((rule) => rule.id);

  it('gives every row a unique kebab-case id and says when, what and why', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of BACKUP_RULES) {
      expect(rule.id).toMatch(/^backup(-[a-z]+)+$/);
      expect(rule.when.length, rule.id).toBeGreaterThan(10);
      expect(rule.action.length, rule.id).toBeGreaterThan(5);
      expect(rule.why.length, rule.id).toBeGreaterThan(10);
    }
  });

  it('has a case for every row here (a new row without its test fails)', () => {
    const text = readFileSync(new URL(import.meta.url), 'utf8');
    const covered = new Set([...text.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
    expect(readdirSync(new URL('.', import.meta.url))).toContain('backup-rules.test.ts');
  });

  it('ends with a row that always decides', () => {
    expect(BACKUP_RULES.at(-1)!.choose(situationOf(input(FRESH)))).not.toBeNull();
  });
});

describe('the contracts on disk fit the core\'s structural types', () => {
  it('a BackupConfig is a BackupPolicy and a BackupRecord a BackupFact', () => {
    expectTypeOf<BackupConfig>().toExtend<BackupPolicy>();
    expectTypeOf<BackupRecord>().toExtend<BackupFact>();
  });
});
