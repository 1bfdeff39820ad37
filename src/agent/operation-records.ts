import type { Journal } from '../core/journal.js';
import type { Published } from '../core/types.js';
import type { SyncRecord } from '../core/sync-set.js';
import { publishedProblem } from '../dcs/config-check.js';
import { historyRecord } from '../dcs/history.js';
import { encode, type RequestResult } from '../dcs/store.js';
import type { ClusterContext } from './cluster-context.js';

// What an operation writes to etcd besides its journal: at its publication the new primary
// and its history record; at its end a requested operation's result, and for a rolled-back
// switchover the old primary published again.

export async function resultWrites(cluster: ClusterContext, journal: Journal, published: Published | null): Promise<Array<{ key: string; value: string }>> {
  if (!journal.requestedBy.startsWith('cli:')) return [];
  const epoch = published?.epoch ?? (await cluster.store.published().catch(() => null))?.epoch ?? journal.epoch;
  if (journal.rollback) {
    const undone: RequestResult = { id: journal.id, ok: false, from: journal.from, to: journal.to, epoch, kind: journal.kind, ms: null, error: `rolled back: ${journal.rollback.why}; ${journal.from} is the primary again` };
    return [{ key: cluster.store.keys.requestResult(journal.id), value: encode(undone) }];
  }
  // Writes are refused from the first step (fence or stop) until the new primary is published.
  const publishedStep = journal.completed.find((c) => c.step === 'publish');
  const result: RequestResult = {
    id: journal.id,
    ok: true,
    from: journal.from,
    to: journal.to,
    epoch,
    kind: journal.kind,
    ms: publishedStep ? publishedStep.at - journal.startedAt : null,
  };
  return [{ key: cluster.store.keys.requestResult(journal.id), value: encode(result) }];
}

/**
 * A rolled-back switchover's old primary is the primary again from now: `since` moves, so
 * what the agents saw of it while it was stopped (exited, silent) does not fail it on the
 * next tick (the detector ignores evidence older than the publication). Same epoch, same node.
 */
export async function republishWrites(cluster: ClusterContext, journal: Journal): Promise<Array<{ key: string; value: string }>> {
  if (!journal.rollback) return [];
  // Unreadable, it is left for a person to repair: the leader holds on it (rule hold-unreadable-state).
  const current = await cluster.store.published().catch(() => null);
  if (current === null || current.name !== journal.from) return [];
  return [{ key: cluster.store.keys.primary, value: encode({ ...current, since: new Date().toISOString() }) }];
}

/**
 * The primary an operation resumed past its publication published, read back from etcd and
 * checked like any value read there (issue 15); why it cannot be used, otherwise.
 */
export async function publishedAfterResume(cluster: ClusterContext): Promise<Published | string> {
  const published = await cluster.store.published().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  if (published === null) return 'nothing is published';
  if (typeof published === 'string') return published;
  return publishedProblem(published, cluster.nodes) ?? published;
}

export function publishWrites(cluster: ClusterContext, leader: string, journal: Journal, published: Published, synchronous: boolean, syncRecord: SyncRecord | null = null): Array<{ key: string; value: string }> {
  const timings: Record<string, number> = Object.fromEntries(journal.completed.map((c) => [c.step, c.ms]));
  timings.total = Date.now() - journal.startedAt;
  const record = historyRecord({
    epoch: journal.epoch,
    from: journal.from,
    to: journal.to,
    kind: journal.kind,
    reason: journal.reason,
    at: published.since,
    timeline: published.timeline,
    timings,
    startedAt: journal.startedAt,
    leader: leader,
    synchronous: synchronous,
  });
  return [
    { key: cluster.store.keys.primary, value: encode(published) },
    { key: cluster.store.keys.history(journal.epoch), value: encode(record) },
    // The synchronous set confirmed before the publication, in the same transaction (sync-promotion.ts).
    ...(syncRecord ? [{ key: cluster.store.keys.sync, value: encode(syncRecord) }] : []),
  ];
}
