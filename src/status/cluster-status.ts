import { readBackups } from '../dcs/backups.js';
import { backupStatuses, type BackupKindStatus } from './backup-status.js';
import { formatLsn, lsnLag } from '../core/lsn.js';
import { isContainerNotRunning } from '../core/liveness.js';
import type { AgentView, Lsn, NodeObservation, Published, SqlProbe } from '../core/types.js';
import { readSnapshot } from '../dcs/snapshot.js';
import { EventLog } from '../dcs/events.js';
import type { ClusterEvent } from '../core/event.js';
import type { Journal } from '../core/journal.js';
import type { ClusterStore, PauseState, VerdictRecord } from '../dcs/store.js';
import type { SyncRecord } from '../core/sync-set.js';
import { readRejoins, type RejoinRecord } from '../dcs/rejoins.js';
import { rejoinStatuses, type RejoinStatus } from './rejoin-status.js';
import { synchronousStatus, type SynchronousConfig, type SynchronousStatus } from './synchronous-status.js';

// What `failover status --json` prints, built in one place: the CLI prints it and
// every agent serves it on GET /cluster, so the two can never drift apart.

export type Role = 'primary' | 'replica' | 'down' | 'unknown';

export interface OperationStatus {
  id: string;
  kind: 'failover' | 'switchover';
  from: string;
  to: string;
  epoch: number;
  step: string;
  /** How long the operation has been at its current step, and since it started. */
  stepMs: number;
  elapsedMs: number;
  error: string | null;
  /** Set while a switchover is being undone: why. */
  rollback: string | null;
  /** Targets this operation gave up, oldest first, and why. */
  replans: Array<{ abandoned: string; to: string; why: string }>;
}

export interface NodeStatus {
  name: string;
  container: string | null;
  role: Role;
  reachable: boolean;
  timeline: number | null;
  lsn: string | null;
  lagBytes: number | null;
  streaming: boolean | null;
  upstream: string | null;
  error?: string;
}

export interface ClusterStatus {
  cluster: string;
  epoch: number;
  leader: string | null;
  paused: boolean;
  pausedSince: string | null;
  primary: { name: string; host: string; port: number } | null;
  timeline: number | null;
  /** The leader's last verdict on the primary, the decision rule it matched (`failover rules`), and why. */
  verdict: { kind: string; rule: string | null; why: string } | null;
  notes: string[];
  /** The journaled operation under way, at which step and for how long. */
  operation: OperationStatus | null;
  /** Zero-loss mode: the recorded synchronous set, or the reader's config before one is recorded. */
  synchronous: SynchronousStatus;
  /** Rejoins running, or ended in the last ten minutes (issue 14). */
  rejoins: RejoinStatus[];
  /** The newest backup of each kind (issue 16); empty when the catalogue holds none. */
  backups?: BackupKindStatus[];
  /** The last three events of the event log, oldest first (`failover events` has them all). */
  events: ClusterEvent[];
  agents: Array<{ id: string; ageMs: number }>;
  nodes: NodeStatus[];
}

export function roleOf(observation: NodeObservation): Role {
  if (observation.sql.ok) return observation.sql.inRecovery ? 'replica' : 'primary';
  if (isContainerNotRunning(observation.container)) return 'down';
  return 'unknown';
}

/** The position status shows: the primary's current WAL position, a standby's replay (or receive) position. */
export function shownLsnOf(sql: SqlProbe): Lsn {
  return sql.inRecovery ? (sql.replayLsn ?? sql.receiveLsn ?? sql.lsn) : sql.lsn;
}

/** The freshest view is the one to show; the leader's wins a tie, as it is the one that acts. */
function pickView(views: AgentView[], leader: string | null): AgentView | undefined {
  return [...views].sort((a, b) => b.at - a.at || Number(b.agentId === leader) - Number(a.agentId === leader))[0];
}

/** Every node of one agent's view as status shows it, sorted by name; lag is measured against the published primary in that view. */
export function nodeStatuses(view: AgentView | undefined, published: Published | null): NodeStatus[] {
  const observations = view ? Object.values(view.nodes) : [];
  const primaryObservation = published ? view?.nodes[published.name] : undefined;
  const primaryLsn = primaryObservation?.sql.ok && !primaryObservation.sql.inRecovery ? primaryObservation.sql.lsn : null;
  return observations
    .map((o): NodeStatus => {
      const role = roleOf(o);
      const sql = o.sql.ok ? o.sql : null;
      const position = sql ? shownLsnOf(sql) : null;
      return {
        name: o.name,
        container: o.containerName ?? null,
        role,
        reachable: o.sql.ok,
        timeline: sql?.timeline ?? null,
        lsn: position === null ? null : formatLsn(position),
        lagBytes: sql === null ? null : sql.inRecovery ? (primaryLsn === null || position === null ? null : Number(lsnLag(primaryLsn, position))) : 0,
        streaming: sql?.inRecovery ? sql.streaming : null,
        upstream: sql?.upstreamHost ?? null,
        ...(o.sql.ok ? {} : { error: o.sql.error }),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function summarise(input: {
  cluster: string;
  published: Published | null;
  leader: string | null;
  paused: PauseState | null;
  verdict: VerdictRecord | null;
  views: AgentView[];
  now: number;
  journal?: Journal | null;
  events?: ClusterEvent[];
  /** The recorded synchronous set (null: none, or unreadable). */
  sync?: SyncRecord | null;
  /** The reader's `replication.synchronous`: what status shows before a set is recorded. */
  syncSettings: SynchronousConfig;
  rejoins?: RejoinRecord[];
}): ClusterStatus {
  return {
    cluster: input.cluster,
    epoch: input.published?.epoch ?? 0,
    leader: input.leader,
    paused: input.paused !== null,
    pausedSince: input.paused?.since ?? null,
    primary: input.published ? { name: input.published.name, host: input.published.host, port: input.published.port } : null,
    timeline: input.published?.timeline ?? null,
    verdict: input.verdict ? { kind: input.verdict.verdict, rule: input.verdict.rule ?? null, why: input.verdict.why ?? input.verdict.verdict } : null,
    notes: input.verdict?.notes ?? [],
    operation: input.journal ? operationStatus(input.journal, input.now) : null,
    synchronous: synchronousStatus(input.sync ?? null, input.syncSettings),
    rejoins: rejoinStatuses(input.rejoins ?? [], input.now),
    events: input.events ?? [],
    agents: input.views.map((v) => ({ id: v.agentId, ageMs: Math.max(0, input.now - v.at) })).sort((a, b) => a.id.localeCompare(b.id)),
    nodes: nodeStatuses(pickView(input.views, input.leader), input.published),
  };
}

/** The status from one snapshot (every field at the same etcd revision), and the latest events. */
export async function readStatus(store: ClusterStore, cluster: string, syncSettings: SynchronousConfig): Promise<ClusterStatus> {
  const [{ published, leader, paused, verdict, views, journal, sync, unreadable }, events, rejoins, backups] = await Promise.all([
    readSnapshot(store.etcd, store.keys),
    new EventLog(store.etcd, store.keys, 'status').latest(3),
    readRejoins(store.etcd, store.keys).catch(() => ({ records: [], unreadable: [] })),
    readBackups(store.etcd, store.keys).catch(() => ({ records: [], unreadable: [] })),
  ]);
  const status = summarise({ cluster, published, leader, paused, verdict, views, journal, events, sync, syncSettings, rejoins: rejoins.records, now: Date.now() });
  if (backups.records.length > 0) status.backups = backupStatuses(backups.records);
  const problems = [
    ...unreadable.map((u) => `unreadable etcd value ${u.key}: ${u.problem}`),
    ...rejoins.unreadable.map((key) => `unreadable etcd value ${key}: not a rejoin record`),
    ...backups.unreadable.map((key) => `unreadable etcd value ${key}: not a backup record`),
  ];
  return problems.length === 0 ? status : { ...status, notes: [...status.notes, ...problems] };
}

function operationStatus(journal: Journal, now: number): OperationStatus {
  const stepSince = journal.completed.at(-1)?.at ?? journal.startedAt;
  return {
    id: journal.id,
    kind: journal.kind,
    from: journal.from,
    to: journal.to,
    epoch: journal.epoch,
    step: journal.step,
    stepMs: Math.max(0, now - stepSince),
    elapsedMs: Math.max(0, now - journal.startedAt),
    error: journal.error ?? null,
    rollback: journal.rollback?.why ?? null,
    replans: (journal.replans ?? []).map(({ abandoned, to, why }) => ({ abandoned, to, why })),
  };
}
