import { formatLsn, lsnLag } from '../core/lsn.js';
import type { AgentView, Lsn, NodeObservation, Published, SqlProbe } from '../core/types.js';
import { readSnapshot } from '../dcs/snapshot.js';
import type { ClusterStore, PauseState, VerdictRecord } from '../dcs/store.js';

// What `failover status --json` prints, built in one place: the CLI prints it and
// every agent serves it on GET /cluster, so the two can never drift apart.

export type Role = 'primary' | 'replica' | 'down' | 'unknown';

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
  verdict: string | null;
  /** The id of the decision rule the leader matched last (see `failover rules`). */
  rule: string | null;
  notes: string[];
  agents: Array<{ id: string; ageMs: number }>;
  nodes: NodeStatus[];
}

export function roleOf(observation: NodeObservation): Role {
  if (observation.sql.ok) return observation.sql.inRecovery ? 'replica' : 'primary';
  if (['exited', 'dead', 'missing'].includes(observation.container)) return 'down';
  return 'unknown';
}

/** The position status shows: the primary's current WAL position, a standby's replay (or receive) position. */
export function positionOf(sql: SqlProbe): Lsn {
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
      const position = sql ? positionOf(sql) : null;
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
}): ClusterStatus {
  return {
    cluster: input.cluster,
    epoch: input.published?.epoch ?? 0,
    leader: input.leader,
    paused: input.paused !== null,
    pausedSince: input.paused?.since ?? null,
    primary: input.published ? { name: input.published.name, host: input.published.host, port: input.published.port } : null,
    timeline: input.published?.timeline ?? null,
    verdict: input.verdict?.verdict ?? null,
    rule: input.verdict?.rule ?? null,
    notes: input.verdict?.notes ?? [],
    agents: input.views.map((v) => ({ id: v.agentId, ageMs: Math.max(0, input.now - v.at) })).sort((a, b) => a.id.localeCompare(b.id)),
    nodes: nodeStatuses(pickView(input.views, input.leader), input.published),
  };
}

/** The status from one snapshot: every field at the same etcd revision. */
export async function readStatus(store: ClusterStore, cluster: string): Promise<ClusterStatus> {
  const { published, leader, paused, verdict, views, unreadable } = await readSnapshot(store.etcd, store.keys);
  const status = summarise({ cluster, published, leader, paused, verdict, views, now: Date.now() });
  return unreadable.length === 0 ? status : { ...status, notes: [...status.notes, ...unreadable.map((u) => `unreadable etcd value ${u.key}: ${u.problem}`)] };
}
