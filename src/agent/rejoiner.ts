import { EMPTY_REJOIN_PROGRESS, nextRejoinStep, REJOIN_TIMINGS, rebuilt, repointed, type RejoinProgress } from '../core/rejoin-progress.js';
import type { Published } from '../core/types.js';
import type { HistoryRecord } from '../dcs/store.js';
import { describeError } from '../postgres/connection.js';
import type { ClusterContext } from './cluster-context.js';
import type { EventLog } from '../dcs/events.js';
import { rebuild, repoint } from './node-ops.js';

/**
 * Brings a standby that does not stream from the published primary back: the cheap
 * re-point first, the always-correct rebuild when that did not help or cannot (a
 * node on an older timeline that a failover fenced). It gives nodes time to
 * follow after an operation re-pointed them, and after a rebuild.
 */
export class Rejoiner {
  private readonly rejoining = new Set<string>();
  private progress: RejoinProgress = EMPTY_REJOIN_PROGRESS;

  constructor(
    private readonly cluster: ClusterContext,
    private readonly helperLabels: Record<string, string>,
    /** Checked right before touching the node: a deposed leader must not stop a node a new leader now owns. */
    private readonly stillLeading: () => boolean,
    private readonly events: EventLog | null = null,
  ) {}

  /** An operation re-pointed every node but its target: the rejoin rule waits before judging them. */
  operationRepointed(target: string): void {
    this.progress = repointed(
      this.progress,
      this.cluster.nodes.map((n) => n.name).filter((n) => n !== target),
      Date.now(),
    );
  }

  /**
   * A replica that does not stream from the published primary: first the cheap
   * re-point; if it still does not stream, or it is on an older timeline (a
   * returning old primary whose WAL went past the fork), rebuild it.
   */
  rejoin(name: string, reason: string, published: Published | null, latest: HistoryRecord | undefined): void {
    const node = this.cluster.node(name);
    const primary = published ? this.cluster.node(published.name) : undefined;
    if (!node || !primary || this.rejoining.has(name)) return;
    this.rejoining.add(name);
    const log = this.cluster.log.child({ node: name, primary: primary.name, epoch: published?.epoch });
    const began = Date.now();
    void (async () => {
      try {
        // The node the last failover fenced: its WAL likely went past the fork. After a
        // switchover the old primary stopped cleanly and is meant to follow: it gets the grace.
        const wasOldPrimary = latest?.kind === 'failover' && latest.from === name;
        const step = nextRejoinStep(this.progress, name, Date.now(), wasOldPrimary, REJOIN_TIMINGS(this.cluster.config.timings.rejoinGraceMs));
        if (step.kind === 'wait' || !this.stillLeading()) return;
        if (step.kind === 'repoint') {
          log.info({ reason, why: step.why }, 're-pointing replica');
          await repoint(this.cluster, node, primary);
          this.progress = repointed(this.progress, [name], Date.now());
          void this.events?.emit({ kind: 'rejoin', rule: 'healthy', message: `${name} re-pointed at ${primary.name}: ${reason}`, nodes: [name, primary.name], ...epochOf(published), elapsedMs: Date.now() - began });
        } else {
          log.warn({ reason, why: step.why }, 'rebuilding replica with pg_basebackup');
          void this.events?.emit({ kind: 'rejoin', rule: 'healthy', message: `rebuilding ${name} from ${primary.name} with pg_basebackup: ${step.why}`, nodes: [name, primary.name], ...epochOf(published) });
          await rebuild(this.cluster, node, primary, this.helperLabels);
          this.progress = rebuilt(this.progress, name, Date.now());
          log.info({ ms: Date.now() - began }, 'replica rebuilt');
          void this.events?.emit({ kind: 'rejoin', rule: 'healthy', message: `${name} rebuilt from ${primary.name}`, nodes: [name, primary.name], ...epochOf(published), elapsedMs: Date.now() - began });
        }
      } catch (error) {
        log.error({ error: describeError(error) }, 'rejoin failed');
        void this.events?.emit({ kind: 'rejoin', rule: 'healthy', message: `rejoin of ${name} failed: ${describeError(error)}`, nodes: [name], ...epochOf(published), elapsedMs: Date.now() - began });
      } finally {
        this.rejoining.delete(name);
      }
    })();
  }
}

const epochOf = (published: Published | null): { epoch?: number } => (published ? { epoch: published.epoch } : {});
