import { syncForPromotion } from '../core/sync-promotion.js';
import { claims, formatStandbyNames } from '../core/sync-set.js';
import type { Journal } from '../core/journal.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import { encode } from '../dcs/store.js';
import { applyStandbyNames } from '../postgres/sync-state.js';
import type { ClusterContext } from './cluster-context.js';
import { describe } from './sync-manager.js';
import { repoint } from './node-ops.js';

/**
 * Zero-loss mode's first commit on the new primary waits for a standby to stream from it. The
 * other standbys are pointed at the target as soon as it is chosen and the old primary fenced:
 * they stream from it as a cascading standby, and follow it onto its new timeline the moment it
 * is promoted (recovery_target_timeline = latest), instead of starting to connect after the
 * publication. Not awaited: a standby that does not answer is left to repoint-replicas.
 */
export function pointOthersAtTarget(cluster: ClusterContext, journal: Journal, onDone: (node: string, error: unknown) => void): void {
  const target = cluster.node(journal.to);
  if (!target) return;
  const skip = new Set([journal.from, journal.to, ...(journal.replans ?? []).map((r) => r.abandoned)]);
  for (const replica of cluster.nodes.filter((node) => !skip.has(node.name))) {
    repoint(cluster, replica, target).then(
      () => onDone(replica.name, null),
      (error: unknown) => onDone(replica.name, error),
    );
  }
}

/**
 * Before the target is promoted: record what its synchronous_standby_names will name (and the
 * target itself), then set it on the target while it is still a standby, so that its first
 * commit as a primary already waits for its standbys (core/sync-promotion.ts says why).
 * Returns whether the operation runs under a promising record: the history says so.
 */
export interface PreparedSync {
  /** The node it was prepared for (an operation re-planned onto another target prepares again). */
  to: string;
  /** The record promises: the promotion is a synchronous one (history says so). */
  promising: boolean;
  /** The target's first commits will wait for standbys. */
  waitsForStandbys: boolean;
}

export async function prepareSyncForPromotion(cluster: ClusterContext, leadership: Leadership, journal: Journal, events: EventLog | null): Promise<PreparedSync> {
  const target = cluster.node(journal.to);
  if (!target) throw new Error(`node ${journal.to} is not in the config`);
  const record = await cluster.store.sync();
  const settings = cluster.config.replication.synchronous;
  const eligible = cluster.nodes.filter((node) => !node.tags.noFailover).map((node) => node.name);
  const fenced = [...(journal.kind === 'failover' ? [journal.from] : []), ...(journal.replans ?? []).map((r) => r.abandoned)];
  const planned = syncForPromotion({ settings, record, to: target.name, eligible, fenced, epoch: journal.epoch, now: Date.now() });
  if (planned.record !== null) {
    if (!(await leadership.guard([{ key: cluster.store.keys.sync, value: encode(planned.record) }]))) throw new Error('lost leadership before recording the synchronous set');
    void events?.emit({ kind: 'sync', rule: 'promote', message: `synchronous set recorded before promoting ${target.name} (${describe(planned.record)})`, epoch: journal.epoch, nodes: planned.record.standbys });
  }
  // Nothing to change on an asynchronous cluster that never was otherwise: skip the round trip.
  if (planned.set !== null || record !== null) await applyStandbyNames(cluster.pool(target), formatStandbyNames(planned.set));
  return { to: target.name, promising: claims(planned.record ?? record), waitsForStandbys: planned.set !== null };
}
