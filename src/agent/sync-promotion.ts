import { confirmedBeforePublish, syncForPromotion } from '../core/sync-promotion.js';
import { claims, formatStandbyNames, sameSet, type StandbySet, type SyncRecord } from '../core/sync-set.js';
import type { Journal } from '../core/journal.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import { encode } from '../dcs/store.js';
import { applyStandbyNames, readStandbyNames, readSyncState } from '../postgres/sync-state.js';
import { sleep } from '../time.js';
import { withClient } from '../postgres/connection.js';
import { RELOAD_SETTLE_MS } from '../core/sync-plan.js';
import type { ClusterContext } from './cluster-context.js';
import { describe } from './sync-manager.js';
import { repoint } from './node-ops.js';

/**
 * Before the publication, while no client can have written to the new primary: when its setting
 * was a settled preset and `number` of its standbys have flushed its position (they stream from
 * it already, pointed at it before the promotion), they hold every acknowledged commit, and the
 * record can name exactly them. Without this, the record names the new primary until the
 * manager confirms the same about a second later, and losing it in that second waits for it
 * (issue 13's double-failure drill). Waits at most `limitMs`; null: not confirmed, nothing changes.
 */
export async function confirmBeforePublish(cluster: ClusterContext, journal: Journal, prepared: PreparedSync | null, events: EventLog | null, limitMs = 300): Promise<SyncRecord | null> {
  const target = cluster.node(journal.to);
  if (!target || prepared === null || prepared.to !== journal.to || !prepared.settled || prepared.set === null) return null;
  const set = prepared.set;
  const pool = cluster.pool(target);
  const read = () => readSyncState(pool, target.name, []);
  let state = await read();
  const mark = state.lsn;
  const deadline = Date.now() + limitMs;
  while (!(sameSet(state.applied === 'unparsable' ? null : state.applied, set) && confirmedBeforePublish(set, state.senders, mark))) {
    if (Date.now() > deadline) return null;
    await sleep(5);
    state = await read();
  }
  const { durability } = cluster.config.replication.synchronous;
  const record: SyncRecord = { mode: 'quorum', number: set.number, standbys: set.standbys, epoch: journal.epoch, durability, degraded: false, pending: false, at: Date.now() };
  void events?.emit({ kind: 'sync', rule: 'publish', message: `${set.standbys.join(', ')} hold everything ${target.name} has before its publication: the synchronous set names them alone (${describe(record)})`, epoch: journal.epoch, nodes: set.standbys });
  return record;
}

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
  /** The target's setting (null: asynchronous). */
  set: StandbySet | null;
  /** The setting was in place, unchanged, for longer than RELOAD_SETTLE_MS before the promotion (a preset). */
  settled: boolean;
}

export async function prepareSyncForPromotion(cluster: ClusterContext, leadership: Leadership, journal: Journal, events: EventLog | null): Promise<PreparedSync> {
  const target = cluster.node(journal.to);
  if (!target) throw new Error(`node ${journal.to} is not in the config`);
  const record = await cluster.store.sync();
  const settings = cluster.config.replication.synchronous;
  const eligible = cluster.nodes.filter((node) => !node.tags.noFailover).map((node) => node.name);
  // A switchover's old primary too: it rejoins, and enters the set once it streams; the target's setting is then its preset.
  const fenced = [journal.from, ...(journal.replans ?? []).map((r) => r.abandoned)];
  const planned = syncForPromotion({ settings, record, to: target.name, eligible, fenced, epoch: journal.epoch, now: Date.now() });
  if (planned.record !== null) {
    if (!(await leadership.guard([{ key: cluster.store.keys.sync, value: encode(planned.record) }]))) throw new Error('lost leadership before recording the synchronous set');
    void events?.emit({ kind: 'sync', rule: 'promote', message: `synchronous set recorded before promoting ${target.name} (${describe(planned.record)})`, epoch: journal.epoch, nodes: planned.record.standbys });
  }
  const wanted = formatStandbyNames(planned.set);
  const pool = cluster.pool(target);
  // A fresh session: a pooled one, idle through the preset's reload, would report its own late re-read as the load time.
  const current = await withClient(cluster.sqlEndpoint(target), { timeoutMs: 2000, applicationName: 'pg-failover' }, readStandbyNames);
  // Settled: the preset was in place, and the server loaded its configuration RELOAD_SETTLE_MS ago or more.
  const settled = current.setting === wanted && current.loadedMsAgo >= RELOAD_SETTLE_MS;
  if (current.setting !== wanted) await applyStandbyNames(pool, wanted);
  return { to: target.name, promising: claims(planned.record ?? record), waitsForStandbys: planned.set !== null, set: planned.set, settled };
}
