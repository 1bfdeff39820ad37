// Which catalogue records go (issue 16's retention): the leader deletes them after each backup,
// a dump's file with its record. Pure: the catalogue, the config and the time in, the records
// to delete out. pgBackRest expires its own files (repo1-retention-full); for full and diff
// this only keeps the catalogue in step with what the repository still holds.
import { newestFirst, startOf, type BackupFact, type BackupKind, type BackupPolicy } from './backup-catalog.js';

/**
 * Failed attempts kept per kind, at most. The newest failures explain the present (health and
 * the retry backoff read them); a cause that lasts days would otherwise leave a record every
 * backoff (up to 96 a day) in etcd.
 */
export const FAILED_KEPT_PER_KIND = 10;

/**
 * The records to delete, oldest first:
 * - dumps: good ones beyond the newest `dumps.keep`; failed ones older than the oldest kept good
 *   dump, or (given `now`) older than keep × interval;
 * - full and diff: every record older than the oldest of the newest `retentionFull` good fulls
 *   (pgBackRest expired those backups, and a diff goes with its full); failed ones also when
 *   (given `now`) older than retentionFull × the full interval;
 * - failed records of any kind beyond the newest FAILED_KEPT_PER_KIND of that kind.
 * A record whose start time does not parse is never deleted: what cannot be dated cannot be
 * judged old.
 */
export function backupsToPrune<R extends BackupFact>(records: readonly R[], config: BackupPolicy, now?: number): R[] {
  const { keep, intervalMs } = config.dumps;
  const { retentionFull, fullIntervalMs } = config.pgbackrest;
  const dated = records.filter((r) => startOf(r) !== null);
  const prune = new Set<R>();

  const goodDumps = newestFirst(dated.filter((r) => r.kind === 'dump' && r.ok));
  for (const r of goodDumps.slice(keep)) prune.add(r);
  pruneFailed(dated, ['dump'], cutoffOf(goodDumps.slice(0, keep)), now === undefined ? null : now - keep * intervalMs, prune);

  const goodFulls = newestFirst(dated.filter((r) => r.kind === 'full' && r.ok));
  const fullCutoff = cutoffOf(goodFulls.slice(0, retentionFull));
  if (fullCutoff !== null) for (const r of dated) if (r.kind !== 'dump' && r.ok && startOf(r)! < fullCutoff) prune.add(r);
  pruneFailed(dated, ['full', 'diff'], fullCutoff, now === undefined ? null : now - retentionFull * fullIntervalMs, prune);

  for (const kind of ['dump', 'full', 'diff'] as const) {
    for (const r of newestFirst(dated.filter((d) => d.kind === kind && !d.ok)).slice(FAILED_KEPT_PER_KIND)) prune.add(r);
  }
  return newestFirst([...prune]).reverse();
}

/** The start of the oldest kept good record; null when none is kept. */
function cutoffOf(kept: readonly BackupFact[]): number | null {
  const oldest = kept.at(-1);
  return oldest === undefined ? null : startOf(oldest);
}

function pruneFailed<R extends BackupFact>(dated: readonly R[], kinds: readonly BackupKind[], cutoff: number | null, before: number | null, prune: Set<R>): void {
  for (const r of dated) {
    if (r.ok || !kinds.includes(r.kind)) continue;
    const start = startOf(r)!;
    if ((cutoff !== null && start < cutoff) || (before !== null && start < before)) prune.add(r);
  }
}

