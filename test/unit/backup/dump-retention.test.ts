import { describe, expect, it } from 'vitest';
import { dumpsToPrune } from '../../../src/backup/dump-retention.js';
import type { BackupRecord } from '../../../src/dcs/backups.js';

// backup.dumps.keep good dumps are kept, newest first; failures only while they are newer than the oldest kept dump.

const dump = (minute: number, ok = true): BackupRecord => {
  const at = new Date(Date.UTC(2026, 10, 29, 12, minute));
  const id = `dump-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
  return { id, kind: 'dump', ok, startedAt: at.toISOString(), finishedAt: at.toISOString(), durationMs: 1, node: 'replica-1', role: 'replica', sizeBytes: ok ? 10 : 0, by: 'schedule' };
};
const full = (minute: number): BackupRecord => ({ ...dump(minute), id: `full-20261129T12${String(minute).padStart(2, '0')}00Z`, kind: 'full' });
/** Each id's hour and minute, e.g. 1201. */
const ids = (records: BackupRecord[]) => records.map((r) => r.id.slice(-7, -3));

describe('dumpsToPrune', () => {
  it.each([
    ['nothing while at most keep good dumps exist', [dump(1), dump(2)], 2, []],
    ['the oldest good dumps past keep', [dump(1), dump(2), dump(3)], 2, ['1201']],
    ['keep 1 leaves the newest', [dump(3), dump(1), dump(2)], 1, ['1202', '1201']],
    ['a failure older than the oldest kept dump', [dump(1, false), dump(2), dump(3)], 2, ['1201']],
    ['a failure between kept dumps stays', [dump(1), dump(2, false), dump(3)], 2, []],
    ['failures with fewer than keep good dumps stay, up to keep of them', [dump(1, false), dump(2, false), dump(3, false), dump(4)], 2, ['1201']],
    ['other kinds are never pruned here', [full(1), dump(2), dump(3)], 1, ['1202']],
  ])('%s', (_name, records, keep, expected) => {
    expect(ids(dumpsToPrune(records, keep))).toEqual(expected);
  });
});
