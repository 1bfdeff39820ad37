import type { AgentView, ContainerState, NodeObservation, SqlFailure, SqlProbe } from '../core/types.js';
import { isContainerNotRunning } from '../core/liveness.js';
import { containerState } from '../docker/engine.js';
import { NodeProber } from '../postgres/probe.js';
import type { ClusterContext } from './cluster-context.js';

const INSPECT_EVERY_MS = 2000;

interface NodeWatch {
  prober: NodeProber;
  sql: SqlProbe | SqlFailure;
  at: number;
  lastSqlOkAt: number;
  lastLsn: bigint | null;
  container: { state: ContainerState; at: number };
  lastInspectAt: number;
}

/**
 * Watches every node on its own loop, so a node that does not answer (a frozen
 * container, or a dead one whose address no longer exists) costs only its own
 * probe timeout and never delays what the agent knows of the others. The agent
 * reads a snapshot at any moment without waiting.
 *
 * Container states come from Docker's event stream; an inspect every
 * INSPECT_EVERY_MS reconciles them. SQL is not probed on a container Docker
 * reports not running: it cannot answer, and the attempt would hang.
 */
export class Observer {
  private readonly watches = new Map<string, NodeWatch>();
  private running = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly cluster: ClusterContext,
    readonly agentId: string,
    startedAt: number,
    /** Called when an inspect fails for another reason than a missing container (counted in /metrics). */
    private readonly onDockerError: () => void = () => undefined,
  ) {
    for (const node of cluster.nodes) {
      this.watches.set(node.name, {
        prober: new NodeProber(cluster.sqlEndpoint(node), cluster.config.timings.probeTimeoutMs),
        sql: { ok: false, error: 'not probed yet' },
        at: startedAt,
        // Counting from the agent's start means a primary already dead at start-up is
        // declared failed after one failure time, not at once.
        lastSqlOkAt: startedAt,
        lastLsn: null,
        container: { state: 'unknown', at: 0 },
        lastInspectAt: 0,
      });
    }
  }

  /** Starts one probe loop per node and resolves once every node has been probed once. */
  async start(): Promise<void> {
    this.running = true;
    await Promise.all(this.cluster.nodes.map((node) => this.probeOnce(node.name)));
    for (const node of this.cluster.nodes) this.loop(node.name);
  }

  private loop(name: string): void {
    const interval = this.cluster.config.timings.probeIntervalMs;
    const next = async () => {
      if (!this.running) return;
      const began = Date.now();
      await this.probeOnce(name).catch(() => undefined);
      if (!this.running) return;
      this.timers.push(setTimeout(() => void next(), Math.max(0, interval - (Date.now() - began))));
      if (this.timers.length > 64) this.timers.splice(0, this.timers.length - 16);
    };
    void next();
  }

  private async probeOnce(name: string): Promise<void> {
    const watch = this.watches.get(name)!;
    const node = this.cluster.node(name)!;
    const startedAt = Date.now();
    if (startedAt - watch.lastInspectAt >= INSPECT_EVERY_MS || watch.container.state === 'unknown') {
      watch.lastInspectAt = startedAt;
      const state = await containerState(this.cluster.engine(node), node.container);
      // containerState turns a failed or timed-out inspect into 'unknown' (a 404 is 'missing').
      if (state === 'unknown') this.onDockerError();
      this.noteContainerEvent(name, state, startedAt);
    }
    const notRunning = isContainerNotRunning(watch.container.state);
    const sql = notRunning ? ({ ok: false, error: `container ${watch.container.state}` } as SqlFailure) : await watch.prober.probe();
    if (notRunning) watch.prober.close();
    const at = Date.now();
    watch.sql = sql;
    watch.at = at;
    if (sql.ok) {
      watch.lastSqlOkAt = at;
      watch.lastLsn = sql.lsn;
    }
  }

  /** Docker's event stream is the fast path; newer news wins over older, whatever its source. */
  noteContainerEvent(node: string, state: ContainerState, at: number): void {
    const watch = this.watches.get(node);
    if (watch && at >= watch.container.at) watch.container = { state, at };
  }

  /** What this agent knows now, without waiting for any probe. */
  snapshot(now: number): AgentView {
    const nodes: Record<string, NodeObservation> = {};
    for (const node of this.cluster.nodes) {
      const watch = this.watches.get(node.name)!;
      const state = watch.container.state;
      // A death Docker reported after the last probe overrides that probe's success.
      const sql = isContainerNotRunning(state) && watch.container.at > watch.at ? ({ ok: false, error: `container ${state}` } as SqlFailure) : watch.sql;
      nodes[node.name] = { name: node.name, containerName: node.container, container: state, sql, at: Math.max(watch.at, watch.container.at), lastSqlOkAt: watch.lastSqlOkAt };
    }
    return { agentId: this.agentId, at: now, nodes };
  }

  /** The last WAL position a successful probe reported for a node: after its loss, the yardstick for lag. */
  lastLsnOf(node: string): bigint | null {
    return this.watches.get(node)?.lastLsn ?? null;
  }

  close(): void {
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    for (const watch of this.watches.values()) watch.prober.close();
  }
}
