import type { ClusterEvent } from '../core/event.js';
import { userNetworkOf } from '../docker/engine.js';
import { EventLog } from '../dcs/events.js';
import { withClient } from '../postgres/connection.js';
import { streamingTo } from './cluster-checks.js';
import type { Fault, FaultTarget } from './faults.js';
import { failoverSeen } from './no-failover.js';
import { isRejoinOf, methodOf } from './rejoin-method.js';
import { sleep, until } from './wait.js';

export const DEFAULT_CUT_MS = 15_000;

/** What the judge of a replica-cut round looks at once the writer has stopped. */
export interface ReplicaCutFacts {
  replica: string;
  /** The round's rows on the primary, and on the replica once it replayed the primary's position (or why they could not be read). */
  primaryRows: ReadonlySet<number>;
  replicaRows: ReadonlySet<number> | string;
  /** The cluster's events from the round's start to the judge. */
  events: readonly ClusterEvent[];
}

/**
 * A cut replica must come back by following, with its data intact: the same rows as the
 * primary once it caught up, and no rewind or clone of it started at any point of the
 * round (a network fault between a replica and the primary is no reason to rebuild).
 * A sentence when it fails, null when it holds.
 */
export function judgeReplicaCut(facts: ReplicaCutFacts): string | null {
  const rebuild = facts.events.find((e) => {
    if (!isRejoinOf(e, facts.replica)) return false;
    const method = methodOf(e);
    return method === 'rewind' || method === 'clone';
  });
  if (rebuild) return `a ${methodOf(rebuild)} of ${facts.replica} was started (event ${rebuild.id}: ${rebuild.message}); a cut replica must come back by following`;
  if (typeof facts.replicaRows === 'string') return `could not read the round's rows on ${facts.replica}: ${facts.replicaRows}`;
  const replicaRows = facts.replicaRows;
  const missing = [...facts.primaryRows].filter((seq) => !replicaRows.has(seq));
  const extra = [...replicaRows].filter((seq) => !facts.primaryRows.has(seq));
  if (missing.length > 0 || extra.length > 0) {
    const sample = (seqs: number[]) => seqs.slice(0, 5).join(', ') + (seqs.length > 5 ? ', ...' : '');
    const parts = [
      ...(missing.length > 0 ? [`${missing.length} of the primary's rows missing (${sample(missing)})`] : []),
      ...(extra.length > 0 ? [`${extra.length} rows the primary does not hold (${sample(extra)})`] : []),
    ];
    return `${facts.replica}'s data differs from the primary's after it caught up: ${parts.join('; ')}`;
  }
  return null;
}

/**
 * replica-cut: one replica (the first node in config order that is not the published
 * primary) is disconnected from its user-defined Docker network for `cutMs` while the
 * writer commits on the primary, then reconnected. No failover may follow; the replica
 * must stream from the same primary again by itself (followMs: reconnect to streaming),
 * and the judge checks its rows and that no rebuild of it started.
 */
export function replicaCut(target: FaultTarget): Fault {
  const { engine, round } = target;
  const cutMs = round.cutMs ?? DEFAULT_CUT_MS;
  const replica = round.access.config.nodes.find((n) => n.name !== target.node);
  if (!replica) throw new Error('replica-cut needs a replica: the config names no node besides the primary');
  const handle = engine.getContainer(replica.container);
  const detail: Record<string, string | number | null> = { replica: replica.name, network: null, cutMs, disconnectedMs: null, followMs: null };
  const primary = { name: target.node, epoch: 0 };
  let network: string | null = null;
  let windowStart = Date.now();
  let reconnectedAt: number | null = null;
  let followMs: number | null = null;

  const reconnect = async () => {
    if (!network) return;
    const networks = (await handle.inspect()).NetworkSettings.Networks ?? {};
    if (!(network in networks)) await engine.getNetwork(network).connect({ Container: replica.container });
  };

  return {
    detail,
    outcome: 'same-primary',
    prepare: async () => {
      windowStart = Date.now();
      primary.epoch = (await round.store.published())?.epoch ?? 0;
      network = userNetworkOf((await handle.inspect()).NetworkSettings.Networks) ?? null;
      if (!network) throw new Error(`${replica.container} is on no user-defined network to cut`);
      detail.network = network;
    },
    inject: async () => {
      const struckAt = Date.now();
      await engine.getNetwork(network!).disconnect({ Container: replica.container, Force: true });
      detail.disconnectedMs = Date.now() - struckAt;
      // The cut is a fixed stretch: watched, not slept through. Nothing may fail over meanwhile.
      while (Date.now() < struckAt + cutMs) {
        const seen = failoverSeen(primary, { published: await round.store.published(), journal: await round.store.journal() });
        if (seen) throw new Error(`no failover was expected, but ${seen}`);
        await sleep(Math.min(200, Math.max(0, struckAt + cutMs - Date.now())));
      }
      reconnectedAt = Date.now();
      await reconnect();
      await until(`${replica.name} streaming from ${primary.name} again after the cut`, 60_000, async () => (await streamingTo(round, primary.name)).includes(replica.name), 50);
      followMs = Date.now() - reconnectedAt;
      detail.followMs = followMs;
    },
    restore: async () => {
      reconnectedAt ??= Date.now();
      await reconnect();
    },
    figures: () => ({ cutMs, followMs }),
    judge: async ({ stored, round: id }) => {
      const primaryNode = round.access.node(primary.name);
      let replicaRows: Set<number> | string;
      try {
        // The writer has stopped: the primary's position now covers every row it will ever hold for the round.
        const lsn = await withClient(round.access.endpoint(primaryNode), { timeoutMs: 2000 }, async (c) => (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
        await until(`${replica.name} replaying up to ${lsn}`, 30_000, () =>
          withClient(round.access.endpoint(replica), { timeoutMs: 1000 }, async (c) => (await c.query<{ ok: boolean | null }>('SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 AS ok', [lsn])).rows[0]?.ok === true),
        100);
        replicaRows = await withClient(round.access.endpoint(replica), { timeoutMs: 5000 }, async (c) => {
          const { rows } = await c.query<{ seq: number }>('SELECT seq FROM drill_rows WHERE round = $1', [id]);
          return new Set(rows.map((r) => r.seq));
        });
      } catch (error) {
        replicaRows = error instanceof Error ? error.message : String(error);
      }
      const events = await new EventLog(round.store.etcd, round.store.keys, 'drill').list(windowStart);
      return judgeReplicaCut({ replica: replica.name, primaryRows: stored, replicaRows, events });
    },
  };
}
