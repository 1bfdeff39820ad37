import { Counter, Gauge, Registry } from 'prom-client';
import type { Journal } from '../core/journal.js';
import type { Published } from '../core/types.js';
import type { HistoryRecord } from '../dcs/store.js';
import { nodeStatuses, shownLsnOf, type Role } from '../status/cluster-status.js';
import type { SynchronousStatus } from '../status/synchronous-status.js';
import type { AgentState } from './agent-state.js';
import { backupMetrics } from './backup-metrics.js';

// GET /metrics: one fresh prom-client registry per scrape, filled from a snapshot of the
// agent. Nothing is kept between scrapes, so a metric never outlives the fact it reports
// (a removed node, a former leader), and the function is pure but for the text rendering.

const ROLES: readonly Role[] = ['primary', 'replica', 'down', 'unknown'];
const COUNTED_KINDS = ['failover', 'switchover'] as const;

export interface MetricsInput {
  state: AgentState;
  /** What etcd holds; null when this scrape could not read it (those metrics are then left out). */
  cluster: {
    published: Published | null;
    history: HistoryRecord[];
    /** The running operation's journal (null: none); absent when not read, and then its metrics are left out. */
    journal?: Journal | null;
    /** Zero-loss mode as status shows it; absent when not read (or unreadable), and then its metrics are left out. */
    synchronous?: SynchronousStatus;
  } | null;
}

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export async function renderMetrics(input: MetricsInput): Promise<string> {
  const registry = new Registry();
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Counter<L>({ name, help, labelNames, registers });
  const { state } = input;
  const published = input.cluster?.published ?? null;

  gauge('pgf_agent_info', 'Always 1; names this agent.', ['agent']).set({ agent: state.agentId }, 1);
  gauge('pgf_is_leader', '1 when this agent is the elected leader and its lease is fresh by its own clock.').set(state.isLeader ? 1 : 0);
  gauge('pgf_etcd_up', '1 when this agent holds a fresh etcd lease and its last etcd write worked (as GET /health).').set(etcdUp(state) ? 1 : 0);
  counter('pgf_etcd_errors_total', 'etcd writes of the agent loop that failed since the agent started.').inc(state.edges.etcdErrors);
  counter('pgf_docker_errors_total', 'Docker calls of the observer (container inspect) that failed since the agent started.').inc(state.edges.dockerErrors);

  // Per node, as this agent itself observes it; role and lag follow `failover status` exactly.
  const role = gauge('pgf_node_role', '1 for the role this agent observes the node in (primary, replica, down, unknown), 0 for the others.', ['node', 'role']);
  const reachable = gauge('pgf_node_reachable', '1 when the last SQL probe of the node succeeded.', ['node']);
  const timeline = gauge('pgf_node_timeline', 'Timeline the node reports.', ['node']);
  const lsn = gauge('pgf_node_wal_lsn_bytes', 'WAL position as a byte offset: current on a primary, replayed on a replica (the LSN of status).', ['node']);
  const received = gauge('pgf_node_wal_receive_lsn_bytes', 'Replica: last WAL position received, as a byte offset.', ['node']);
  const lagBytes = gauge('pgf_node_lag_bytes', 'Bytes the node is behind the published primary (0 on the primary; absent when unknown).', ['node']);
  const lagSeconds = gauge('pgf_node_replay_lag_seconds', 'Replica: 0 when all received WAL is replayed, else the age of the last replayed commit.', ['node']);
  const streaming = gauge('pgf_node_streaming', 'Replica: 1 when its WAL receiver is streaming.', ['node']);
  for (const node of nodeStatuses(state.view, published)) {
    for (const r of ROLES) role.set({ node: node.name, role: r }, node.role === r ? 1 : 0);
    reachable.set({ node: node.name }, node.reachable ? 1 : 0);
    const sql = state.view.nodes[node.name]?.sql;
    if (!sql?.ok) continue;
    timeline.set({ node: node.name }, sql.timeline);
    // A double holds an LSN exactly up to 2^53 bytes (8 PiB of WAL).
    lsn.set({ node: node.name }, Number(shownLsnOf(sql)));
    if (node.lagBytes !== null) lagBytes.set({ node: node.name }, node.lagBytes);
    if (!sql.inRecovery) continue;
    if (sql.receiveLsn !== null) received.set({ node: node.name }, Number(sql.receiveLsn));
    if (sql.replayLagMs !== undefined && sql.replayLagMs !== null) lagSeconds.set({ node: node.name }, sql.replayLagMs / 1000);
    streaming.set({ node: node.name }, sql.streaming ? 1 : 0);
  }

  if (state.backups) backupMetrics(registry, state.backups, Date.now());

  if (input.cluster !== null) {
    gauge('pgf_epoch', 'Epoch of the published primary (0 when none is published).').set(published?.epoch ?? 0);
    const publishedGauge = gauge('pgf_published_primary', '1 for the node published as the primary.', ['node']);
    if (published) publishedGauge.set({ node: published.name }, 1);
    const promotions = counter('pgf_promotions_total', 'Promotions recorded in the etcd history, by kind.', ['kind']);
    for (const kind of COUNTED_KINDS) promotions.inc({ kind }, input.cluster.history.filter((h) => h.kind === kind).length);
    const last = input.cluster.history.filter((h) => h.kind !== 'bootstrap').sort((a, b) => b.epoch - a.epoch)[0];
    const duration = gauge('pgf_last_promotion_duration_seconds', 'The newest failover or switchover: from its start to the publication of the new primary.', ['kind']);
    const at = gauge('pgf_last_promotion_timestamp_seconds', 'The newest failover or switchover: when the new primary was published (Unix time).', ['kind']);
    if (last) {
      if (last.timings.total !== undefined) duration.set({ kind: last.kind }, last.timings.total / 1000);
      const publishedAt = Date.parse(last.at);
      if (Number.isFinite(publishedAt)) at.set({ kind: last.kind }, publishedAt / 1000);
    }
    if (input.cluster.journal !== undefined) operationMetrics(registry, input.cluster.journal);
    if (input.cluster.synchronous !== undefined) synchronousMetrics(registry, input.cluster.synchronous);
  }
  return registry.metrics();
}

// Timestamps (the leader's clock) rather than ages keep the scrape free of a clock; an
// alert computes `time() - ...` and so notices an operation that stopped moving.
function operationMetrics(registry: Registry, journal: Journal | null): void {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  gauge('pgf_operation_in_progress', '1 while a failover or switchover journal is in etcd (an operation is running or waits to be rolled forward).').set(journal ? 1 : 0);
  const started = gauge('pgf_operation_started_timestamp_seconds', 'The running operation: when it began (Unix time).', ['kind']);
  const stepStarted = gauge('pgf_operation_step_started_timestamp_seconds', 'The running operation: when its current step became current, i.e. the previous one completed (Unix time).', ['kind', 'step']);
  if (!journal) return;
  started.set({ kind: journal.kind }, journal.startedAt / 1000);
  stepStarted.set({ kind: journal.kind, step: journal.step }, (journal.completed.at(-1)?.at ?? journal.startedAt) / 1000);
}

// The same object `failover status` shows as `synchronous`, so a dashboard and status agree.
function synchronousMetrics(registry: Registry, sync: SynchronousStatus): void {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  gauge('pgf_synchronous_mode', '1 when zero-loss mode is quorum (synchronous_standby_names = ANY k (...)), 0 when off; from the etcd sync record, else the config.').set(sync.mode === 'quorum' ? 1 : 0);
  gauge('pgf_synchronous_number', 'k of ANY k: how many standbys must flush a commit before it is acknowledged.').set(sync.number);
  gauge('pgf_synchronous_standbys', 'Standbys in the recorded synchronous set (0 before one is recorded).').set(sync.standbys.length);
  const member = gauge('pgf_synchronous_standby', '1 for each node in the recorded synchronous set.', ['node']);
  for (const node of sync.standbys) member.set({ node }, 1);
  gauge('pgf_synchronous_degraded', '1 when preferred durability went asynchronous: commits are acknowledged without k standbys.').set(sync.degraded ? 1 : 0);
  gauge('pgf_synchronous_pending', '1 while the recorded standbys have not yet confirmed everything acknowledged before (or none is recorded in quorum mode).').set(sync.pending ? 1 : 0);
  gauge('pgf_synchronous_promising', '1 when the record promises every acknowledged commit is on k recorded standbys (quorum, not degraded, not pending): a failover then loses none.').set(sync.promising ? 1 : 0);
}

/** The one definition of "connected to etcd", shared by /health and pgf_etcd_up. */
export function etcdUp(state: AgentState): boolean {
  return state.leaseHeld && state.edges.etcdOk;
}
