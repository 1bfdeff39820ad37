import type { AgentView } from '../core/types.js';
import { describeError } from '../postgres/connection.js';
import type { ClusterContext } from './cluster-context.js';
import type { EdgeHealth } from './edge-health.js';

/**
 * Publishes the agent's own view under its lease: views are what the other agents
 * vote with. A change of verdict-relevant state goes out at once, otherwise once a
 * second (fresh enough for the failure time, light on etcd); while a node is failing,
 * every tick, so the votes stay current.
 */
export class ViewPublisher {
  private lastSignature = '';
  private lastAt = 0;

  constructor(
    private readonly cluster: ClusterContext,
    private readonly edges: EdgeHealth,
  ) {}

  /** False when etcd could not be written: the agent then does not act this tick. */
  async publish(view: AgentView, leaseId: string): Promise<boolean> {
    try {
      const signature = viewSignature(view);
      const failing = Object.values(view.nodes).some((o) => !o.sql.ok);
      if (failing || signature !== this.lastSignature || Date.now() - this.lastAt >= 1000) {
        await this.cluster.store.putView(view, leaseId);
        this.lastSignature = signature;
        this.lastAt = Date.now();
        if (this.edges.etcdSucceeded(Date.now())) this.cluster.log.info('etcd reachable again');
      }
      return true;
    } catch (error) {
      if (this.edges.etcdFailed(describeError(error))) this.cluster.log.warn({ error: describeError(error) }, 'etcd unreachable: not acting until it returns');
      return false;
    }
  }
}

function viewSignature(view: AgentView): string {
  return Object.values(view.nodes)
    .map((o) => `${o.name}:${o.container}:${o.sql.ok ? `${o.sql.inRecovery}:${o.sql.streaming}:${o.sql.timeline}` : 'down'}`)
    .join('|');
}
