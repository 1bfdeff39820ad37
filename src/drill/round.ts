import type Docker from 'dockerode';
import type { ClusterStore } from '../dcs/store.js';
import { withClient } from '../postgres/connection.js';
import { faultFor, type Scenario } from './faults.js';
import type { LabAccess } from './lab-access.js';
import { SplitBrainMonitor } from './split-brain.js';
import { Writer } from './writer.js';
import { sleep, until } from './wait.js';
import { awaitHealthy, streamingTo } from './cluster-checks.js';
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
  splitBrain: boolean;
  /** What the fault hit besides the primary, and how long its parts took (etcd-member-loss). */
  fault?: Record<string, string | number | null>;
  /** Every acknowledged write, as [ms from the fault, node]: the round's timeline. */
  timeline?: Array<[number, string]>;
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
  log: (line: string) => void;
  /** Told the undo of the fault in force (null once undone), so that Ctrl-C can undo it. */
  onFault?: (restore: (() => Promise<void>) | null) => void;
}

export async function runRound(ctx: RoundContext, scenario: Scenario, round: number): Promise<RoundResult> {
  const from = await awaitHealthy(ctx);
  const primaryNode = ctx.access.node(from);
  await withClient(ctx.access.endpoint(primaryNode), { timeoutMs: 5000 }, (client) =>
    client.query('CREATE TABLE IF NOT EXISTS drill_rows (round int NOT NULL, seq int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (round, seq))'),
  );
  const writer = new Writer(ctx.access, ctx.store, round, ctx.via === 'write-endpoint' ? ctx.access.writeEndpoint() : null);
  const monitor = new SplitBrainMonitor(ctx.access);
  const other = ctx.access.config.nodes.find((n) => n.name !== from)!;
  const fault = await faultFor(scenario, {
    engine: ctx.engine,
    container: primaryNode.container,
    promote: () => requestPromote(ctx, other.name),
    leaderContainerDuringFailover: () => leaderContainerDuringFailover(ctx),
    etcdMembers: ctx.etcdMembers,
    containerOfService: (service) => containerOfService(ctx, service),
  });
  const result: RoundResult = { round, scenario, from, to: null, epoch: null, detectMs: null, rtoMs: null, convergeMs: null, rejoinMs: null, gapMs: null, acked: 0, lost: 0, splitBrain: false };
  writer.start();
  monitor.start();
  let faultAt = Date.now();
  let restoredEarlyAt: number | null = null;
  let injected = false;
  try {
    ctx.onFault?.(() => fault.restore());
    await fault.prepare?.();
    // Spread the fault over the agents' probe cycle, or every round would look alike.
    await sleep(1000 + Math.random() * ctx.probeIntervalMs);
    faultAt = Date.now();
    injected = true;
    await fault.inject();
    const published = await until('a new published primary', 60_000, async () => {
      const p = await ctx.store.published();
      return p && p.name !== from ? p : undefined;
    });
    result.to = published.name;
    result.epoch = published.epoch;
    if (scenario === 'restart-old-primary') {
      restoredEarlyAt = Date.now();
      await fault.restore();
    }
    const record = (await ctx.store.history()).find((h) => h.epoch === published.epoch);
    if (record?.startedAt !== undefined) result.detectMs = record.startedAt - faultAt;
    const firstAck = await until('a write accepted by the new primary', 30_000, async () => writer.acks.find((a) => a.node === published.name));
    result.rtoMs = firstAck.at - faultAt;
    const survivors = ctx.access.config.nodes.map((n) => n.name).filter((n) => n !== from && n !== published.name);
    await until('every surviving node streaming from the new primary', 60_000, async () => {
      const streaming = await streamingTo(ctx, published.name);
      return survivors.every((n) => streaming.includes(n));
    });
    result.convergeMs = Date.now() - faultAt;
    await sleep(300);
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  } finally {
    await writer.stop();
    await monitor.stop();
  }
  result.acked = writer.acks.length;
  result.writerErrors = writer.errors;
  result.longestWaitMs = writer.longestWaitMs;
  result.gapMs = longestGap(writer.acks.map((a) => a.at), faultAt);
  result.splitBrain = monitor.overlaps.length > 0;
  result.timeline = writer.acks.map((a) => [a.at - faultAt, a.node]);
  if (result.to) {
    try {
      const stored = await withClient(ctx.access.endpoint(ctx.access.node(result.to)), { timeoutMs: 5000 }, async (client) => {
        const { rows } = await client.query<{ seq: number }>('SELECT seq FROM drill_rows WHERE round = $1', [round]);
        return new Set(rows.map((r) => r.seq));
      });
      result.lost = writer.acks.filter((a) => !stored.has(a.seq)).length;
    } catch (error) {
      // The fault must still be undone below; the round fails instead.
      result.error ??= `could not read the rows back from ${result.to}: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  // Bring the old primary back as a person would; the agents must rebuild it as a replica.
  const restoredAt = restoredEarlyAt ?? Date.now();
  await fault.restore();
  ctx.onFault?.(null);
  // Whatever else the fault broke (an etcd member) heals alongside, and is timed on its own.
  const settling = (fault.settled?.() ?? Promise.resolve()).then(() => null, (error: unknown) => error);
  try {
    // A primary that was never hit (the round failed before) has nothing to rejoin.
    if (injected) {
      const primary = result.to ?? from;
      await until(`${from} streaming again`, 120_000, async () => (await streamingTo(ctx, primary)).includes(from), 50);
      result.rejoinMs = Date.now() - restoredAt;
    }
    const unsettled = await settling;
    if (unsettled) throw unsettled;
  } catch (error) {
    result.error ??= error instanceof Error ? error.message : String(error);
  }
  if (fault.detail) result.fault = { ...fault.detail };
  return result;
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
