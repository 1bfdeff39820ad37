import type { AgentView, ContainerState, NodeObservation } from '../core/types.js';
import { containerState } from '../docker/engine.js';
import { NodeProber } from '../postgres/probe.js';
import type { Cluster } from './cluster.js';

/**
 * Probes every node (SQL and container state) and remembers, per node, when SQL
 * last succeeded: the failure detector measures "failing for" from that.
 */
export class Observer {
  private readonly probers = new Map<string, NodeProber>();
  private readonly lastSqlOkAt = new Map<string, number>();
  private readonly lastKnownLsn = new Map<string, bigint>();
  /** Container states learned from Docker's event stream between two probes. */
  private readonly eventStates = new Map<string, { state: ContainerState; at: number }>();

  constructor(
    private readonly cluster: Cluster,
    readonly agentId: string,
    startedAt: number,
  ) {
    for (const node of cluster.nodes) {
      this.probers.set(node.name, new NodeProber(cluster.sqlEndpoint(node), cluster.config.timings.probeTimeoutMs));
      // Counting from the agent's start means a primary already dead at start-up is
      // declared failed after one failure time, not at once.
      this.lastSqlOkAt.set(node.name, startedAt);
    }
  }

  noteContainerEvent(node: string, state: ContainerState, at: number): void {
    this.eventStates.set(node, { state, at });
  }

  async observe(clock: () => number): Promise<AgentView> {
    const observations = await Promise.all(
      this.cluster.nodes.map(async (node): Promise<NodeObservation> => {
        const startedAt = clock();
        const [container, sql] = await Promise.all([containerState(this.cluster.engine(node), node.container), this.probers.get(node.name)!.probe()]);
        const at = clock();
        if (sql.ok) {
          this.lastSqlOkAt.set(node.name, at);
          this.lastKnownLsn.set(node.name, sql.lsn);
        }
        // An event newer than this probe's start wins over an inspect that raced it.
        const event = this.eventStates.get(node.name);
        const state = event && event.at >= startedAt ? event.state : container;
        return { name: node.name, containerName: node.container, container: state, sql, at, lastSqlOkAt: this.lastSqlOkAt.get(node.name) ?? null };
      }),
    );
    return { agentId: this.agentId, at: clock(), nodes: Object.fromEntries(observations.map((o) => [o.name, o])) };
  }

  /** The last WAL position a successful probe reported for a node: after its loss, the yardstick for lag. */
  lastLsnOf(node: string): bigint | null {
    return this.lastKnownLsn.get(node) ?? null;
  }

  close(): void {
    for (const prober of this.probers.values()) prober.close();
  }
}
