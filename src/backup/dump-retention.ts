import type { BackupRecord } from '../dcs/backups.js';

// Which dump records (and their files) retention removes: backup.dumps.keep is the number of
// good dumps kept, newest first. Failed attempts are history, kept only while they say
// something about the dumps still kept: a failure older than the oldest kept good dump is
// removed, and of the newer ones at most `keep` stay, so a cluster whose dumps fail for weeks
// does not fill etcd with failures.

const startOf = (r: BackupRecord): number => {
  const at = Date.parse(r.startedAt);
  return Number.isFinite(at) ? at : -Infinity;
};

/** Newest first by start, then by id (which carries the time too). */
const newestFirst = (records: readonly BackupRecord[]): BackupRecord[] =>
  [...records].sort((a, b) => startOf(b) - startOf(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

export function dumpsToPrune(records: readonly BackupRecord[], keep: number): BackupRecord[] {
  const dumps = newestFirst(records.filter((r) => r.kind === 'dump'));
  const good = dumps.filter((r) => r.ok);
  const kept = good.slice(0, keep);
  const oldestKept = kept.length === keep ? startOf(kept[kept.length - 1]!) : -Infinity;
  const failed = dumps.filter((r) => !r.ok);
  const failedPruned = failed.filter((r, i) => i >= keep || startOf(r) < oldestKept);
  const prune = new Set([...good.slice(keep), ...failedPruned]);
  return dumps.filter((r) => prune.has(r));
}
