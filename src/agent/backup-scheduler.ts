import { backupEdgesOf, type BackupEdges } from '../backup/edges.js';
import { runDump } from '../backup/dump-runner.js';
import { runPhysical } from '../backup/physical-runner.js';
import { decideBackup, type BackupDecision } from '../core/backup-rules.js';
import type { BackupKind } from '../core/backup-catalog.js';
import type { EventLog } from '../dcs/events.js';
import { readBackups } from '../dcs/backups.js';
import { describeError } from '../postgres/connection.js';
import { readArchiver, type ArchiverRow } from '../postgres/archiver.js';
import type { BackupWatch } from '../status/agent-state.js';
import type { ClusterContext } from './cluster-context.js';

// The backup schedule (issue 16), run by the leader: the leader already knows which node is
// primary and which replicas stream in good time, which is what a dump's source and
// pgBackRest's archiving follow, and a new leader takes the schedule over from etcd's
// catalogue with nothing to hand on (no separate `pgbackup` service to keep in step).
//
// A backup runs in the background, never in the tick: a failover must not wait for a
// pg_dump. The etcd backup lock keeps it single cluster-wide, also against `failover backup`
// by hand. Every agent also watches (for /metrics): the catalogue and each node's
// pg_stat_archiver, refreshed now and then.

/** How often the leader asks the core whether a backup is due (a catalogue read each time). */
const CONSIDER_EVERY_MS = 5000;
/** How often every agent refreshes what /metrics shows of backups and archiving. */
const WATCH_EVERY_MS = 15_000;
/**
 * After a refusal (no published primary, or none any agent sees answering), how long the leader
 * waits before asking again. A refusal writes no record, so the core's retry backoff does not
 * apply; without this pause a primary down under `pause`, or a partition, would take the backup
 * lock and write an event every 5 s, pushing the outage's own events out of the bounded log.
 */
export const REFUSED_RETRY_MS = 60_000;

export class BackupScheduler {
  private readonly edges: BackupEdges | null;
  private running = false;
  private consideredAt = 0;
  private watchedAt = 0;
  private watching = false;
  private lastDecision = '';
  /** No new attempt before this time (ms): set by a refusal. */
  private holdUntil = 0;
  /** The last refusal reported as an event: the same one again is not reported again. */
  private lastRefusal = '';
  private readonly watch: BackupWatch = { readAt: null, records: [], archivers: {} };

  constructor(
    private readonly cluster: ClusterContext,
    private readonly events: EventLog,
  ) {
    this.edges = backupEdgesOf(cluster.config, (node) => cluster.engine(node));
  }

  /** What /metrics shows; reads memory only. Null when the config has no backup section. */
  snapshot(): BackupWatch | null {
    return this.edges ? this.watch : null;
  }

  /** Every agent, every tick: refresh the watched state now and then, in the background. */
  refresh(now: number): void {
    if (!this.edges || this.watching || now - this.watchedAt < WATCH_EVERY_MS) return;
    this.watching = true;
    this.watchedAt = now;
    void this.readWatch().finally(() => {
      this.watching = false;
    });
  }

  /**
   * The leader, every tick: start a due backup in the background; never waits for one.
   * `published` is the tick's own read: its `since` is when the primary was promoted.
   */
  consider(now: number, published: { since: string }): void {
    const edges = this.edges;
    if (!edges || !edges.backup.schedule || this.running || now - this.consideredAt < CONSIDER_EVERY_MS || now < this.holdUntil) return;
    this.consideredAt = now;
    this.running = true;
    const since = Date.parse(published.since);
    void this.takeDue(edges, now, Number.isFinite(since) ? since : null)
      .catch((error: unknown) => this.cluster.log.warn({ error: describeError(error) }, 'scheduled backup: could not run'))
      .finally(() => {
        this.running = false;
      });
  }

  private async takeDue(edges: BackupEdges, now: number, promotedAt: number | null): Promise<void> {
    const { etcd, keys } = this.cluster.store;
    const [{ records }, lock] = await Promise.all([readBackups(etcd, keys), etcd.get(keys.backupLock).string()]);
    // A promotion starts a new timeline: the core takes a diff on it (backup-diff-after-promotion).
    const decision = decideBackup({ now: Date.now(), config: edges.backup, records, running: lock !== null, promotedAt });
    this.logDecisionOnce(decision);
    if (decision.due === null) return;
    await this.take(edges, decision.due, decision, now);
  }

  private async take(edges: BackupEdges, kind: BackupKind, decision: BackupDecision, now: number): Promise<void> {
    const viewStaleMs = this.cluster.config.timings.failureTimeMs;
    const ctx = { edges, store: this.cluster.store, by: 'schedule', viewStaleMs };
    const run = kind === 'dump' ? await runDump(ctx) : await runPhysical({ ...ctx, kind });
    if (run.outcome === 'locked') return;
    if (run.outcome === 'refused') {
      this.holdUntil = now + REFUSED_RETRY_MS;
      const refusal = `${kind}:${run.rule}`;
      if (refusal !== this.lastRefusal) void this.events.emit({ kind: 'backup', rule: run.rule, message: `scheduled ${kind} not taken: ${run.reason}` });
      this.lastRefusal = refusal;
      return;
    }
    this.lastRefusal = '';
    const { record } = run;
    const what = `${record.id} from ${record.node} (${record.role})`;
    void this.events.emit({
      kind: 'backup',
      rule: decision.rule,
      message: record.ok ? `${what}: ${record.sizeBytes} bytes in ${record.durationMs} ms` : `${what} failed: ${record.error ?? 'unknown error'}`,
      nodes: [record.node],
      elapsedMs: record.durationMs,
    });
    this.cluster.log[record.ok ? 'info' : 'warn']({ id: record.id, node: record.node, ms: record.durationMs, bytes: record.sizeBytes, ...(record.error ? { error: record.error } : {}) }, `scheduled ${kind} ${record.ok ? 'taken' : 'failed'}`);
  }

  /** A decision is logged when it changes, not every 5 s. */
  private logDecisionOnce(decision: BackupDecision): void {
    const key = `${decision.rule}:${decision.due ?? ''}`;
    if (key === this.lastDecision) return;
    this.lastDecision = key;
    this.cluster.log.info({ rule: decision.rule, due: decision.due }, `backup schedule: ${decision.why}`);
  }

  private async readWatch(): Promise<void> {
    const { etcd, keys } = this.cluster.store;
    try {
      this.watch.records = (await readBackups(etcd, keys)).records;
      this.watch.readAt = Date.now();
    } catch (error) {
      this.cluster.log.debug({ error: describeError(error) }, 'backup catalogue not read');
    }
    const archivers: Record<string, ArchiverRow> = {};
    await Promise.all(
      this.cluster.nodes.map(async (node) => {
        try {
          archivers[node.name] = await readArchiver(this.cluster.pool(node));
        } catch {
          // A node that does not answer has no archiver figures this round.
        }
      }),
    );
    this.watch.archivers = archivers;
  }
}
