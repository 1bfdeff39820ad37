import type { NodeConfig } from '../config/schema.js';
import type { Published } from '../core/types.js';
import { publishedProblem, type ConfiguredNode } from '../dcs/config-check.js';
import { jsonText } from '../json.js';
import { nodeStatuses } from '../status/cluster-status.js';
import type { AgentState } from './agent-state.js';
import { etcdUp } from './metrics.js';

// The replies of GET /primary, /replica and /health, as pure functions of what the
// agent knows, so each status code rule is a unit test. Load balancers and proxies
// use the status code alone: 200 means "send traffic there", 503 means "don't".

export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

export function json(status: number, value: unknown): Reply {
  return { status, contentType: JSON_TYPE, body: jsonText(value) };
}

/**
 * The published primary; 200 only if this agent's own latest probe found it reachable and writable (not in recovery).
 * A record naming a node the config lacks, or a node at another host or port, is a 503 naming the problem: the
 * host a client reads here is the config's, never one that whoever reaches etcd chose (issue 15).
 */
export function primaryReply(published: Published | null, state: AgentState, nodes: readonly ConfiguredNode[]): Reply {
  if (published === null) return json(503, { error: 'no primary is published' });
  const problem = publishedProblem(published, nodes);
  if (problem !== null) return json(503, { error: `the published primary is not used: it ${problem}` });
  const sql = state.view.nodes[published.name]?.sql;
  const writable = sql?.ok === true && !sql.inRecovery;
  const { name, host, port, epoch, timeline, since } = published;
  return json(writable ? 200 : 503, { name, host, port, epoch, timeline, since, writable });
}

/** The replicas this agent sees healthy (reachable, in recovery, streaming); 200 when there is at least one. */
export function replicaReply(published: Published | null, state: AgentState, nodes: readonly NodeConfig[]): Reply {
  const replicas = nodeStatuses(state.view, published)
    .filter((n) => n.role === 'replica' && n.streaming === true)
    .map((n) => {
      const config = nodes.find((c) => c.name === n.name);
      const sql = state.view.nodes[n.name]?.sql;
      const replayLagMs = sql?.ok ? (sql.replayLagMs ?? null) : null;
      return {
        name: n.name,
        host: config?.host ?? null,
        port: config?.port ?? null,
        timeline: n.timeline,
        lsn: n.lsn,
        lagBytes: n.lagBytes,
        replayLagSeconds: replayLagMs === null ? null : replayLagMs / 1000,
        upstream: n.upstream,
      };
    });
  return json(replicas.length > 0 ? 200 : 503, { replicas });
}

/** 200 while the agent holds a fresh etcd lease and its last etcd write worked. */
export function healthReply(state: AgentState): Reply {
  const up = etcdUp(state);
  const { etcdOk, lastEtcdOkAt, lastEtcdError } = state.edges;
  return json(up ? 200 : 503, {
    agent: state.agentId,
    leader: state.isLeader,
    etcd: {
      connected: up,
      leaseHeld: state.leaseHeld,
      lastWriteOk: etcdOk,
      lastOkAt: lastEtcdOkAt === null ? null : new Date(lastEtcdOkAt).toISOString(),
      error: lastEtcdError,
    },
  });
}
