import { claims } from '../core/sync-set.js';
import type Docker from 'dockerode';
import type { ClusterStore } from '../dcs/store.js';
import { withClient } from '../postgres/connection.js';
import { faultFor, type Scenario } from './faults.js';
import type { LabAccess } from './lab-access.js';
import { SplitBrainMonitor } from './monitor.js';
import type { NodeAnswer } from './split-brain.js';
import { watchWholeRound } from './round-phases.js';
import { Writer } from './writer.js';
import { sleep, until } from './wait.js';
import { awaitHealthy, streamingTo } from './cluster-checks.js';
import { awaitSamePrimary } from './no-failover.js';
import { awaitRejoinMethod } from './rejoin-method.js';
import type { EtcdMembers } from './etcd-members.js';

export interface RoundResult {
  round: number;
  scenario: Scenario;
  from: string;
  to: string | null;
  epoch: number | null;
  detectMs: number | null;
  rtoMs: number | null;
  convergeMs: number | null;
  rejoinMs: number | null;
  /** The longest time without an acknowledged write around the fault: how long writes were refused. */
  gapMs: number | null;
  acked: number;
  /** Errors the writer saw, and its longest single wait (connect + insert): what a client lived through. */
  writerErrors?: number;
  longestWaitMs?: number;
  lost: number;
  /** standby-loss: the longest stretch after the fault without an acknowledged write, and the fault to the write that ended it. */
  stallMs?: number | null;
  resumeMs?: number | null;
  /** replica-cut: how long the replica was planned to stay cut off, and its reconnect to streaming from the primary again. */
  cutMs?: number | null;
  followMs?: number | null;
  /** How the old primary came back (the newest finished 'rejoin' event naming it since the undo): follow, rewind or clone; null when none was seen. */
  rejoinMethod?: string | null;
  splitBrain: boolean;
  /**
   * Every node answered the split-brain monitor (over SQL, or through the Docker API when
   * SQL could not reach it) at least every OBSERVATION_BOUND_MS (1.5 s) throughout the round, the undo of the
   * fault included: "no split brain" was seen, not merely not seen.
   */
  observable: boolean;
  /** Per node, the longest time the monitor went without an answer from it. */
  unobservedMs: Record<string, number>;
  /**
   * How far the watch went, in ms from the fault: the undo (restart, unpause, reconnect),
   * and the last moment watched; each node's last answer, and every change of its answer
   * as [ms, answer]; how many answers its server gave from inside its container (`psql`
   * through the Docker API) when SQL could not reach it.
   */
  watch?: {
    restoredMs: number | null;
    untilMs: number;
    lastSeen: Record<string, NodeAnswer>;
    changes: Record<string, Array<[number, NodeAnswer]>>;
    viaDockerExec: Record<string, number>;
  };
  /** What the fault hit besides the primary, and how long its parts took (etcd-member-loss, oom-backend, target-dies, double-failure...). */
  fault?: Record<string, string | number | null>;
  /** Every acknowledged write, as [ms from the fault, node]: the round's timeline. */
  timeline?: Array<[number, string]>;
  /** The recorded synchronous set promised at the fault (zero-loss mode): then no acknowledged row may be lost. */
  synchronous?: boolean;
  error?: string;
}

export interface RoundContext {
  access: LabAccess;
  store: ClusterStore;
  engine: Docker;
  probeIntervalMs: number;
  /** The writer's route: the published primary (as an etcd-aware application) or the write endpoint. */
  via?: 'primary' | 'write-endpoint';
  /** Every etcd member, one client each (null when the drill was not given several). */
  etcdMembers: EtcdMembers | null;
  /** standby-loss: how long the standbys stay down (default 15 s). */
  outageMs?: number;
  /** replica-cut: how long the replica stays cut off its network (default 15 s). */
  cutMs?: number;
  log: (line: string) => void;
  /** Told the undo of the fault in force (null once undone), so that Ctrl-C can undo it. */
  onFault?: (restore: (() => Promise<void>) | null) => void;
}

export async function runRound(ctx: RoundContext, scenario: Scenario, round: number): Promise<RoundResult> {
  const from = await awaitHealthy(ctx);
  const primaryNode = ctx.access.node(from);
  const epochBefore = (await ctx.store.published())?.epoch ?? 0;
  const via = ctx.via === 'write-endpoint' ? ctx.access.writeEndpoint() : null;
  await withClient(ctx.access.endpoint(primaryNode), { timeoutMs: 5000 }, async (client) => {
    await client.query('CREATE TABLE IF NOT EXISTS drill_rows (round int NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (round, seq))');
    // Through PgBouncer the writer is the application's role, which owns nothing here (issue 15).
    if (via && via.user !== ctx.access.config.superuser.user) await client.query(`GRANT SELECT, INSERT ON drill_rows TO "${via.user.replace(/"/g, '""')}"`);
  });
  const writer = new Writer(ctx.access, ctx.store, round, via);
  const monitor = new SplitBrainMonitor(ctx.access);
  const other = ctx.access.config.nodes.find((n) => n.name !== from)!;
  const synchronous = claims(await ctx.store.sync().catch(() => null));
  const fault = await faultFor(scenario, {
    engine: ctx.engine,
    container: primaryNode.container,
    node: from,
    round: ctx,
    promote: () => requestPromote(ctx, other.name),
    leaderContainerDuringFailover: () => leaderContainerDuringFailover(ctx),
    etcdMembers: ctx.etcdMembers,
    containerOfService: (service) => containerOfService(ctx, service),
    acks: () => writer.acks,
  });
  if (fault.writerPatienceMs !== undefined) writer.patienceMs = fault.writerPatienceMs;
  const result: RoundResult = {
    round, scenario, from, to: null, epoch: null, detectMs: null, rtoMs: null, convergeMs: null, rejoinMs: null, gapMs: null,
    acked: 0, lost: 0, splitBrain: false, observable: false, unobservedMs: {}, synchronous,
  };
  let faultAt = Date.now();
  let restoredAt: number | null = null;
  let injected = false;
  const watch = {
    start: () => {
      writer.start();
      monitor.start();
    },
    stop: async () => {
      await writer.stop();
      await monitor.stop();
    },
  };
  const errors = await watchWholeRound(watch, {
    fault: async () => {
      ctx.onFault?.(() => fault.restore());
      await fault.prepare?.();
      // Spread the fault over the agents' probe cycle, or every round would look alike.
      await sleep(1000 + Math.random() * ctx.probeIntervalMs);
      faultAt = Date.now();
      injected = true;
      await fault.inject();
      faultAt = fault.struckAt?.() ?? faultAt;
      if (fault.outcome === 'same-primary') return awaitSamePrimary(ctx, writer.acks, { name: from, epoch: epochBefore }, faultAt, result);
      const acceptable = fault.acceptable ?? ((node: string) => node !== from);
      const published = await until('a new published primary that the scenario expects', 60_000, async () => {
        const p = await ctx.store.published();
        return p && acceptable(p.name) ? p : undefined;
      });
      result.to = published.name;
      result.epoch = published.epoch;
      if (scenario === 'restart-old-primary') {
        restoredAt = Date.now();
        await fault.restore();
      }
      const record = (await ctx.store.history()).find((h) => h.epoch === published.epoch);
      if (record?.startedAt !== undefined) result.detectMs = record.startedAt - faultAt;
      const firstAck = await until('a write accepted by the new primary', 30_000, async () => writer.acks.find((a) => a.node === published.name));
      result.rtoMs = firstAck.at - faultAt;
      const down = fault.downUntilUndo?.() ?? [];
      const survivors = ctx.access.config.nodes.map((n) => n.name).filter((n) => n !== from && n !== published.name && !down.includes(n));
      await until('every surviving node streaming from the new primary', 60_000, async () => {
        const streaming = await streamingTo(ctx, published.name);
        return survivors.every((n) => streaming.includes(n));
      });
      result.convergeMs = Date.now() - faultAt;
    },
    // Bring the old primary back as a person would; the agents must rebuild it as a replica.
    undo: async () => {
      restoredAt ??= Date.now();
      await fault.restore();
      ctx.onFault?.(null);
    },
    rejoined: async () => {
      // Whatever else the fault broke (an etcd member) heals alongside, and is timed on its own.
      const settling = (fault.settled?.() ?? Promise.resolve()).then(() => null, (error: unknown) => error);
      // A primary that was never hit (the round failed before) has nothing to rejoin.
      if (injected) {
        const primary = await until(`${from} streaming again (every node a replica of the published primary)`, 120_000, () => wholeAgain(ctx), 50);
        result.rejoinMs = Date.now() - restoredAt!;
        const rejoinedAt = Date.now();
        await until(`the split-brain monitor to see ${primary} writable and every other node a replica`, 10_000, async () => monitor.seenWhole(primary, rejoinedAt), 20);
        // The returning node must not have taken the primary role back, nor caused another failover.
        if (result.to !== null && primary !== result.to) throw new Error(`the primary changed again while ${from} came back: ${result.to} -> ${primary}`);
      }
      const unsettled = await settling;
      if (unsettled) throw unsettled;
    },
  });
  const watchEnd = Date.now();
  // How the old primary came back, in the agents' own words (their 'rejoin' events). From the
  // fault on, not only from the undo: a switchover re-points its old primary before the undo.
  result.rejoinMethod = injected && fault.outcome !== 'same-primary' ? await awaitRejoinMethod(ctx.store, from, faultAt, errors.length === 0 ? 5000 : 0) : null;
  if (errors[0] !== undefined) result.error = errors[0];
  result.acked = writer.acks.length;
  result.writerErrors = writer.errors;
  result.longestWaitMs = writer.longestWaitMs;
  result.gapMs = longestGap(writer.acks.map((a) => a.at), faultAt);
  if (injected) Object.assign(result, fault.figures?.(writer.acks.map((a) => a.at), watchEnd));
  result.splitBrain = monitor.overlaps.length > 0;
  ({ observable: result.observable, unobservedMs: result.unobservedMs } = monitor.observability());
  result.watch = {
    restoredMs: restoredAt === null ? null : restoredAt - faultAt,
    untilMs: monitor.stoppedAt - faultAt,
    lastSeen: monitor.lastSeen(),
    changes: monitor.changes(faultAt),
    viaDockerExec: { ...monitor.viaDockerExec },
  };
  result.timeline = writer.acks.map((a) => [a.at - faultAt, a.node]);
  if (writer.acks.length > 0) {
    // Read back only now, after the old node's return: a return that rewound or rebuilt the wrong node would lose rows here.
    try {
      const holder = (await ctx.store.published())?.name ?? result.to ?? from;
      const stored = await withClient(ctx.access.endpoint(ctx.access.node(holder)), { timeoutMs: 5000 }, async (client) => {
        const { rows } = await client.query<{ seq: number }>('SELECT seq FROM drill_rows WHERE round = $1', [round]);
        return new Set(rows.map((r) => r.seq));
      });
      result.lost = writer.acks.filter((a) => !stored.has(a.seq)).length;
      if (result.synchronous && result.lost > 0) result.error ??= `${result.lost} acknowledged rows lost while the synchronous set promised none would be (safety rule 9)`;
      const verdict = await fault.judge?.({ acks: writer.acks, stored, round });
      if (verdict) result.error ??= verdict;
    } catch (error) {
      result.error ??= `could not read the rows back: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (fault.detail) result.fault = { ...fault.detail };
  return result;
}

/** The published primary once every other node streams from it; undefined until then. */
async function wholeAgain(ctx: RoundContext): Promise<string | undefined> {
  const published = await ctx.store.published();
  if (!published) return undefined;
  const streaming = await streamingTo(ctx, published.name);
  const others = ctx.access.config.nodes.map((n) => n.name).filter((n) => n !== published.name);
  return others.every((n) => streaming.includes(n)) ? published.name : undefined;
}

/** The longest stretch between two acknowledged writes that ends after the fault; null when none does. */
export function longestGap(acks: number[], faultAt: number): number | null {
  let longest: number | null = null;
  for (let i = 1; i < acks.length; i++) {
    if (acks[i]! < faultAt) continue;
    const gap = acks[i]! - acks[i - 1]!;
    if (longest === null || gap > longest) longest = gap;
  }
  return longest;
}

/** A planned switchover, filed as `failover promote` files it, awaited until the leader reports. */
async function requestPromote(ctx: RoundContext, target: string): Promise<void> {
  const id = `drill-${Date.now()}`;
  if (!(await ctx.store.fileRequest({ id, target, force: false, at: new Date().toISOString(), by: 'drill' }))) throw new Error('another operation is in progress');
  const outcome = await until('the switchover to finish', 60_000, () => ctx.store.result(id), 20);
  await ctx.store.etcd.delete().key(ctx.store.keys.requestResult(id));
  if (!outcome.ok) throw new Error(`switchover refused: ${outcome.error}`);
}

/**
 * Waits until a failover journal exists, then names the container of the agent
 * leading it: in the lab, the compose service of an agent is named after its id.
 */
async function leaderContainerDuringFailover(ctx: RoundContext): Promise<string> {
  await until('a failover under way', 30_000, () => ctx.store.journal(), 5);
  const leader = await until('the leader agent', 5000, () => ctx.store.leader(), 5);
  return containerOfService(ctx, leader);
}

/** In the lab, agents and etcd members are compose services named after their id or member name. */
async function containerOfService(ctx: RoundContext, service: string): Promise<string> {
  // Only in the compose project of the drill's own nodes: never another project's service of that name.
  const labels = (await ctx.engine.getContainer(ctx.access.config.nodes[0]!.container).inspect()).Config.Labels ?? {};
  const project = labels['com.docker.compose.project'];
  const filter = [`com.docker.compose.service=${service}`, ...(project ? [`com.docker.compose.project=${project}`] : [])];
  const containers = await ctx.engine.listContainers({ all: true, filters: { label: filter } });
  const found = containers[0]?.Names[0]?.replace(/^\//, '');
  if (!found) throw new Error(`no container found for ${service} (expected a compose service named after it)`);
  return found;
}
