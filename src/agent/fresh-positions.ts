import type { NodeObservation } from '../core/types.js';
import type { AgentView } from '../core/types.js';
import { probeOnce } from '../postgres/probe.js';
import type { ClusterContext } from './cluster-context.js';

/**
 * The leader's freshest look at every node but `except`, taken now (after a fence no more
 * WAL arrives, so the positions are final): one probe each over the warm pools, in parallel.
 * A node that does not answer now is unreachable now, whatever the agent's view last knew.
 * Other agents' views are not asked: the leader promotes through its own connections, so a
 * node it cannot reach is no target for it, and an older success seen elsewhere would keep
 * a target that just froze.
 */
export async function freshObservations(cluster: ClusterContext, except: string, view: AgentView | null): Promise<Record<string, NodeObservation>> {
  const nodes = cluster.nodes.filter((node) => node.name !== except);
  const timeoutMs = cluster.config.timings.probeTimeoutMs;
  const probed = await Promise.all(nodes.map(async (node) => ({ node, sql: await probeOnce(cluster.pool(node), timeoutMs), at: Date.now() })));
  const observations: Record<string, NodeObservation> = {};
  for (const { node, sql, at } of probed) {
    const known = view?.nodes[node.name];
    observations[node.name] = sql.ok
      ? { name: node.name, containerName: node.container, container: 'running', sql, at, lastSqlOkAt: at }
      : { name: node.name, containerName: node.container, container: known?.container ?? 'unknown', sql, at, lastSqlOkAt: known?.lastSqlOkAt ?? null };
  }
  return observations;
}
