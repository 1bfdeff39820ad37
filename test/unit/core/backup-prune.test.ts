import { describe, expect, it } from 'vitest';
import { backupsToPrune, FAILED_KEPT_PER_KIND } from '../../../src/core/backup-prune.js';
import type { BackupRecord } from '../../../src/dcs/backups.js';
import { CONFIG, DAY, HOUR, MINUTE, NOW, backupConfig, failed, record } from './backup-fixtures.js';

// Retention of the catalogue: the newest `keep` good dumps; full and diff records back to the
// oldest of the newest `retentionFull` good fulls (pgBackRest expires the files itself).
const ids = (records: BackupRecord[]) => records.map((r) => r.id);
const dumpsEvery6h = (count: number, from = 0) => Array.from({ length: count }, (_, i) => record('dump', from + i * 6 * HOUR));

describe('backupsToPrune: dumps', () => {
  it('keeps the newest 30 good dumps and prunes the rest, oldest first', () => {
    const dumps = dumpsEvery6h(33);
    expect(ids(backupsToPrune(dumps, CONFIG, NOW))).toEqual(ids([dumps[32]!, dumps[31]!, dumps[30]!]));
  });

  it('prunes nothing while there are no more than `keep` good dumps', () => {
    expect(backupsToPrune(dumpsEvery6h(30), CONFIG, NOW)).toEqual([]);
  });

  it('follows the configured keep', () => {
    const dumps = dumpsEvery6h(5);
    expect(ids(backupsToPrune(dumps, backupConfig({ dumps: { keep: 2 } }), NOW))).toEqual(ids([dumps[4]!, dumps[3]!, dumps[2]!]));
  });

  it('prunes failed dumps older than the oldest kept good one, and keeps newer failures', () => {
    const good = [record('dump', HOUR), record('dump', 7 * HOUR)];
    const newer = failed('dump', 2 * HOUR);
    const older = failed('dump', 8 * HOUR);
    const pruned = backupsToPrune([...good, newer, older], backupConfig({ dumps: { keep: 2 } }));
    expect(ids(pruned)).toEqual([older.id]);
  });

  it('prunes failed dumps older than keep × interval even when no good dump exists', () => {
    const config = backupConfig({ dumps: { keep: 2, intervalMs: 6 * HOUR } });
    const recent = failed('dump', 11 * HOUR);
    const old = failed('dump', 13 * HOUR);
    expect(ids(backupsToPrune([recent, old], config, NOW))).toEqual([old.id]);
    // Without the time only the oldest kept good dump dates a failure.
    expect(backupsToPrune([recent, old], config)).toEqual([]);
  });

  it(`keeps at most ${FAILED_KEPT_PER_KIND} failed records of a kind`, () => {
    const failures = Array.from({ length: FAILED_KEPT_PER_KIND + 3 }, (_, i) => failed('dump', (i + 1) * 15 * MINUTE));
    expect(ids(backupsToPrune(failures, CONFIG, NOW))).toEqual(ids(failures.slice(FAILED_KEPT_PER_KIND).reverse()));
  });

  it('never prunes a record whose time does not parse', () => {
    const undated = { ...record('dump', 100 * DAY), startedAt: 'not a time' };
    expect(backupsToPrune([...dumpsEvery6h(31), undated], CONFIG, NOW)).not.toContainEqual(undated);
  });
});

describe('backupsToPrune: full and diff', () => {
  it('keeps everything back to the oldest of the two newest good fulls', () => {
    const fulls = [record('full', DAY), record('full', 8 * DAY), record('full', 15 * DAY)];
    const keptDiff = record('diff', 3 * DAY);
    // A diff of the expired full (15 d) goes with it, as pgBackRest expires it.
    const diffOfExpired = record('diff', 10 * DAY);
    const older = record('diff', 16 * DAY);
    const pruned = backupsToPrune([...fulls, keptDiff, diffOfExpired, older, record('dump', HOUR)], CONFIG, NOW);
    expect(ids(pruned)).toEqual(ids([older, fulls[2]!, diffOfExpired]));
  });

  it('prunes nothing physical while there are no more good fulls than retentionFull', () => {
    expect(backupsToPrune([record('full', 8 * DAY), record('diff', 3 * DAY), record('full', DAY)], CONFIG, NOW).filter((r) => r.kind !== 'dump')).toEqual([]);
  });

  it('prunes failed full and diff attempts from before the oldest kept full', () => {
    const before = failed('full', 9 * DAY);
    const after = failed('diff', 2 * DAY);
    expect(ids(backupsToPrune([record('full', DAY), record('full', 8 * DAY), before, after], CONFIG, NOW))).toEqual([before.id]);
  });

  it('a failed full does not count toward retentionFull', () => {
    const fulls = [failed('full', HOUR), record('full', DAY), record('full', 8 * DAY)];
    expect(backupsToPrune(fulls, CONFIG, NOW)).toEqual([]);
  });

  it('follows the configured retentionFull', () => {
    const fulls = [record('full', DAY), record('full', 8 * DAY)];
    const diff = record('diff', 2 * DAY);
    expect(ids(backupsToPrune([...fulls, diff], backupConfig({ pgbackrest: { retentionFull: 1 } }), NOW))).toEqual(ids([fulls[1]!, diff]));
  });

  it('prunes failed physical attempts older than retentionFull × the full interval when no full is good', () => {
    const recent = failed('full', 13 * DAY);
    const old = failed('full', 15 * DAY);
    expect(ids(backupsToPrune([recent, old], CONFIG, NOW))).toEqual([old.id]);
  });

  it('does not touch dumps for fulls, nor fulls for dumps', () => {
    const records = [...dumpsEvery6h(2), record('full', 30 * DAY)];
    expect(backupsToPrune(records, backupConfig({ dumps: { keep: 5 }, pgbackrest: { retentionFull: 1 } }), NOW)).toEqual([]);
  });
});
