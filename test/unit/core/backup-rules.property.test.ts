import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backupHealth } from '../../../src/core/backup-health.js';
import { backupsToPrune } from '../../../src/core/backup-prune.js';
import { decideBackup, newestGood } from '../../../src/core/backup-rules.js';
import type { BackupConfig } from '../../../src/config/backup-schema.js';
import type { BackupKind, BackupRecord } from '../../../src/dcs/backups.js';
import { DAY, HOUR, MINUTE, NOW, backupConfig, record } from './backup-fixtures.js';

// The schedule and the retention against random catalogues, and a leader's loop run over weeks.
const RUNS = Number(process.env.PGF_BACKUP_RUNS ?? 500);
const KINDS: BackupKind[] = ['dump', 'full', 'diff'];

const arbConfig: fc.Arbitrary<BackupConfig> = fc
  .record({
    schedule: fc.boolean(),
    dumpInterval: fc.integer({ min: 1, max: 48 }).map((h) => h * HOUR),
    keep: fc.integer({ min: 1, max: 6 }),
    fullInterval: fc.integer({ min: 1, max: 14 }).map((d) => d * DAY),
    diffInterval: fc.integer({ min: 1, max: 48 }).map((h) => h * HOUR),
    retentionFull: fc.integer({ min: 1, max: 3 }),
  })
  .map((c) => backupConfig({ schedule: c.schedule, dumps: { intervalMs: c.dumpInterval, keep: c.keep }, pgbackrest: { fullIntervalMs: c.fullInterval, diffIntervalMs: c.diffInterval, retentionFull: c.retentionFull } }));

/** Records up to 20 days old, at distinct whole seconds (ids are per second). */
const arbRecords: fc.Arbitrary<BackupRecord[]> = fc
  .uniqueArray(fc.record({ kind: fc.constantFrom(...KINDS), agoS: fc.integer({ min: 0, max: 20 * 86_400 }), ok: fc.boolean(), durationS: fc.integer({ min: 0, max: 3_600 }) }), {
    maxLength: 25,
    selector: (r) => `${r.kind}${r.agoS}`,
  })
  .map((rows) => rows.map((r) => record(r.kind, r.agoS * 1000, { ok: r.ok, durationMs: r.durationS * 1000 })));

const ageOfNewestGood = (records: BackupRecord[], kind: BackupKind | BackupKind[]): number | null => {
  const good = newestGood(records, kind);
  return good === null ? null : NOW - Date.parse(good.startedAt);
};

describe('decideBackup against random catalogues', () => {
  it('takes at most one kind, only one that is due, never while off or busy, whatever the order of the catalogue', () => {
    fc.assert(
      fc.property(arbConfig, arbRecords, fc.boolean(), (config, records, running) => {
        const decision = decideBackup({ now: NOW, config, records, running });
        expect(decideBackup({ now: NOW, config, records: [...records].reverse(), running })).toEqual(decision);
        if (!config.schedule || running) expect(decision.due).toBeNull();
        const { dumps, pgbackrest } = config;
        const fullAge = ageOfNewestGood(records, 'full');
        const fullDue = fullAge === null || fullAge >= pgbackrest.fullIntervalMs;
        if (decision.due === 'full') expect(fullDue).toBe(true);
        if (decision.due === 'diff') {
          expect(fullDue).toBe(false);
          expect(ageOfNewestGood(records, ['full', 'diff'])!).toBeGreaterThanOrEqual(pgbackrest.diffIntervalMs);
        }
        if (decision.due === 'dump') {
          const age = ageOfNewestGood(records, 'dump');
          expect(age === null || age >= dumps.intervalMs).toBe(true);
        }
        if (decision.rule === 'backup-nothing-due') {
          expect(fullDue).toBe(false);
          expect(ageOfNewestGood(records, ['full', 'diff'])!).toBeLessThan(pgbackrest.diffIntervalMs);
          expect(ageOfNewestGood(records, 'dump')!).toBeLessThan(dumps.intervalMs);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('backupsToPrune against random catalogues', () => {
  it('deletes only what it was given, never a kept good backup, and is done in one pass', () => {
    fc.assert(
      fc.property(arbConfig, arbRecords, (config, records) => {
        const pruned = backupsToPrune(records, config, NOW);
        expect(new Set(pruned).size).toBe(pruned.length);
        for (const r of pruned) expect(records).toContain(r);
        const goodNewestFirst = (kind: BackupKind) => records.filter((r) => r.ok && r.kind === kind).sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
        for (const kept of goodNewestFirst('dump').slice(0, config.dumps.keep)) expect(pruned).not.toContain(kept);
        const keptFulls = goodNewestFirst('full').slice(0, config.pgbackrest.retentionFull);
        for (const kept of keptFulls) expect(pruned).not.toContain(kept);
        // A diff taken after the oldest kept full restores with it: it stays.
        const oldestKept = keptFulls.at(-1);
        if (oldestKept !== undefined)
          for (const diff of goodNewestFirst('diff').filter((d) => d.startedAt >= oldestKept.startedAt)) expect(pruned).not.toContain(diff);
        const rest = records.filter((r) => !pruned.includes(r));
        expect(backupsToPrune(rest, config, NOW)).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

/**
 * A leader's loop: every tick it asks decideBackup, takes what is due (it runs `duration` ms under
 * the lock and fails when `fails` says so), prunes the catalogue, and checks the health. Once
 * failures stop, health must come back within two intervals, and no kind is retried inside its backoff.
 */
describe('a leader running the schedule for weeks', () => {
  it('keeps every kind within twice its interval while backups succeed, and backs off after failures', () => {
    fc.assert(
      fc.property(
        // Fulls at most weekly here, so that the run outlasts twice every interval after the failures.
        arbConfig.map((c) => ({ ...c, schedule: true, pgbackrest: { ...c.pgbackrest, fullIntervalMs: Math.min(c.pgbackrest.fullIntervalMs, 7 * DAY) } })),
        fc.integer({ min: 1, max: 30 }).map((m) => m * MINUTE),
        fc.func(fc.boolean()),
        (config, duration, failsAt) => {
          const start = NOW;
          const failuresEnd = start + 3 * DAY;
          const end = start + 24 * DAY;
          const tick = 15 * MINUTE;
          let records: BackupRecord[] = [];
          let busyUntil = start;
          const lastFailure: Partial<Record<BackupKind, number>> = {};
          for (let now = start; now < end; now += tick) {
            const decision = decideBackup({ now, config, records, running: now < busyUntil });
            if (decision.due !== null) {
              const kind = decision.due;
              const failedAt = lastFailure[kind];
              if (failedAt !== undefined) expect(now - failedAt).toBeGreaterThanOrEqual(Math.max(MINUTE, Math.min(intervalOf(config, kind) / 4, 15 * MINUTE)));
              const ok = now >= failuresEnd || !failsAt(kind, now);
              records.push(record(kind, NOW - now, { ok, durationMs: duration }));
              busyUntil = now + duration;
              if (!ok) lastFailure[kind] = now + duration;
              const pruned = new Set(backupsToPrune(records, config, now));
              records = records.filter((r) => !pruned.has(r));
            }
            // After the failures, every kind is back within two of its intervals plus the time the others take.
            const settled = failuresEnd + 2 * Math.max(config.dumps.intervalMs, config.pgbackrest.fullIntervalMs) + 4 * duration;
            if (now > settled && (now - start) % HOUR === 0) expect(backupHealth({ now, config, records, archiver: null }).problems).toEqual([]);
          }
          expect(records.filter((r) => r.kind === 'dump' && r.ok).length).toBeLessThanOrEqual(config.dumps.keep);
          expect(records.filter((r) => r.kind === 'full' && r.ok).length).toBeLessThanOrEqual(config.pgbackrest.retentionFull);
        },
      ),
      { numRuns: Math.max(10, Math.floor(RUNS / 50)) },
    );
  }, 60_000);
});

const intervalOf = (config: BackupConfig, kind: BackupKind): number =>
  kind === 'dump' ? config.dumps.intervalMs : kind === 'full' ? config.pgbackrest.fullIntervalMs : config.pgbackrest.diffIntervalMs;
