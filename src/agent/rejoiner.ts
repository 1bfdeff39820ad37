import { attemptFailed, chooseRejoin, DEFAULT_REJOIN_TIMINGS, followed, followExpired, NO_ATTEMPTS, type NodeWal, type RejoinAttempts, type RejoinChoice, type RejoinMethod, type RejoinTimings } from '../core/rejoin-method.js';
import { sqlOf, streamsFrom } from '../core/liveness.js';
import type { AgentView, Published } from '../core/types.js';
import { decodeAs, encode } from '../dcs/codec.js';
import { rejoinRecordSchema, type RejoinRecord } from '../dcs/rejoins.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import type { NodeConfig } from '../config/schema.js';
import { describeError } from '../postgres/connection.js';
import type { ClusterContext } from './cluster-context.js';
import { ensureSlot, readReturnMarker, repoint } from './node-ops.js';
import { failedMethodsOf } from './rejoin-marker.js';
import { cloneProgress, EX_REJOIN_FAILED, lastExit, primaryAnswersFrom, readHistory, rejoinByRestart, stoppedNodeWal, streamingWithResult } from './rejoin-io.js';

/** A clone of tens of gigabytes takes minutes: the leader waits this long for a node to stream again. */
const RESTART_LIMIT_MS: Record<RejoinMethod, number> = { follow: 120_000, rewind: 600_000, clone: 3_600_000 };
/** How often a streaming standby's rejoin record is read, and an exited node looked at. */
const LOOK_EVERY_MS = 2000;
const JUDGE_EVERY_MS = 1000;

/**
 * Brings back a node that does not follow the published primary, by the path the rule table
 * (core/rejoin-method.ts) chooses: follow (re-point in place), rewind or clone (a clean stop,
 * a marker, a start: the node's entrypoint does the work before PostgreSQL starts, and never
 * replaces data before the replacement is complete). Each attempt is journalled under
 * `rejoins/<node>`; a failed one is retried with backoff; a node whose entrypoint gave up
 * (exit 75) is started again with a fresh marker. It also reports rejoins the entrypoint
 * did on its own (a fenced old primary started by a person) once the node streams.
 */
export class Rejoiner {
  private readonly rejoining = new Set<string>();
  private readonly attempts = new Map<string, RejoinAttempts>();
  /** The last waiting or refusing rule said per node: one event per change, not per tick. */
  private readonly said = new Map<string, string>();
  private readonly lookedAt = new Map<string, number>();
  private readonly judgedAt = new Map<string, number>();
  /** Streaming nodes whose rejoin record in etcd was looked at since they last streamed: read once, not every 2 s. */
  private readonly recordChecked = new Set<string>();
  /** The AT of each node's last reported entrypoint rejoin. */
  private readonly reported = new Map<string, number>();
  private readonly timings: RejoinTimings;
  /** What this leader last wrote under rejoins/<node>. */
  private readonly records = new Map<string, RejoinRecord>();

  constructor(
    private readonly cluster: ClusterContext,
    private readonly leadership: Pick<Leadership, 'isLeader' | 'guard'>,
    private readonly events: EventLog | null = null,
  ) {
    this.timings = { ...DEFAULT_REJOIN_TIMINGS, followGraceMs: Math.max(cluster.config.timings.rejoinGraceMs, DEFAULT_REJOIN_TIMINGS.followGraceMs) };
  }

  /**
   * An operation pointed these replicas at its new primary: each gets the follow grace before it
   * is judged. Only those: a node the step could not reach was never re-pointed, and a grace
   * that ran out for it would count as a failed follow.
   */
  operationRepointed(nodes: readonly string[]): void {
    const now = Date.now();
    for (const node of nodes) this.attempts.set(node, followed(this.attemptsOf(node), now));
  }

  /** A running standby that does not stream from the published primary (the decision's `rejoin`). */
  rejoin(name: string, reason: string, published: Published | null, own: AgentView): void {
    const node = this.cluster.node(name);
    const primary = published ? this.cluster.node(published.name) : undefined;
    if (!node || !primary || !published || this.rejoining.has(name)) return;
    // The facts cost a Docker exec and a query: a node that waits (a follow's grace, a refusal) is judged once a second, not every tick.
    const now = Date.now();
    if (now - (this.judgedAt.get(name) ?? 0) < JUDGE_EVERY_MS) return;
    this.judgedAt.set(name, now);
    const sql = sqlOf(own.nodes[name]);
    if (sql === null) return;
    const end = [sql.receiveLsn, sql.replayLsn, sql.lsn].reduce<bigint | null>((a, b) => (b !== null && (a === null || b > a) ? b : a), null);
    this.run(node, primary, published, reason, async () => ({ timeline: sql.timeline, end }), () => primaryAnswersFrom(this.cluster, node, primary), sqlOf(own.nodes[primary.name])?.lsn ?? null);
  }

  /**
   * Every leader tick with a publication and no operation: forget the failures of nodes that
   * stream again, report rejoins their entrypoints did, and retry nodes whose entrypoint gave up
   * (not while paused).
   */
  tick(own: AgentView, published: Published, paused = false): void {
    const primary = this.cluster.node(published.name);
    if (!primary) return;
    const now = Date.now();
    if (this.due('#progress', now)) void this.recordCloneProgress(primary, published);
    for (const node of this.cluster.nodes) {
      if (node.name === published.name || this.rejoining.has(node.name)) continue;
      const observation = own.nodes[node.name];
      const sql = sqlOf(observation);
      if (sql !== null && sql.inRecovery && streamsFrom(sql, this.cluster.hostsOf()[primary.name] ?? [])) {
        this.attempts.delete(node.name);
        this.said.delete(node.name);
        if (this.due(node.name, now)) void this.reportReturn(node, published);
      } else {
        // Not streaming now: once it streams again, its record in etcd is looked at once more.
        this.recordChecked.delete(node.name);
        // Maintenance mode means hands off the data: a node whose rejoin failed waits for resume.
        if (!paused && observation && ['exited', 'created'].includes(observation.container) && this.due(node.name, now)) {
          void this.retryExited(node, primary, published);
        }
      }
    }
  }

  private due(node: string, now: number): boolean {
    if (now - (this.lookedAt.get(node) ?? 0) < LOOK_EVERY_MS) return false;
    this.lookedAt.set(node, now);
    return true;
  }

  private attemptsOf(node: string): RejoinAttempts {
    return this.attempts.get(node) ?? NO_ATTEMPTS;
  }

  /** A node whose entrypoint exited 75 (its rejoin failed, or an emptied node refused initdb): started again with a fresh marker. */
  private async retryExited(node: NodeConfig, primary: NodeConfig, published: Published): Promise<void> {
    const exit = await lastExit(this.cluster, node).catch(() => null);
    if (exit === null || exit.code !== EX_REJOIN_FAILED) return;
    const marker = await readReturnMarker(this.cluster, node).catch(() => null);
    const failed = marker === null ? [] : failedMethodsOf(marker);
    // The marker keeps what failed across leaders; the exit's time starts the backoff.
    if (!this.attempts.has(node.name) && failed.length > 0) this.attempts.set(node.name, { failed, lastFailedAt: exit.at, followedAt: null });
    this.run(node, primary, published, `its entrypoint exited ${exit.code}`, () => stoppedNodeWal(this.cluster, node), async () => null, null);
  }

  private run(node: NodeConfig, primary: NodeConfig, published: Published, reason: string, walOf: () => Promise<NodeWal | null>, reachable: () => Promise<boolean | null>, primaryLsn: bigint | null): void {
    this.rejoining.add(node.name);
    void (async () => {
      const began = Date.now();
      let method: RejoinMethod | null = null;
      try {
        const [wal, history, sourceReachable] = await Promise.all([walOf(), readHistory(this.cluster, primary, published.timeline).catch(() => null), reachable()]);
        // A follow's grace counts only while the primary answers from the node: a cut replica is not
        // failing to follow, and once the network heals it gets the whole grace again.
        const current = this.attemptsOf(node.name);
        if (sourceReachable === false && current.followedAt !== null) this.attempts.set(node.name, followed(current, Date.now()));
        else this.attempts.set(node.name, followExpired(current, Date.now(), this.timings));
        const choice = chooseRejoin({ now: Date.now(), node: node.name, wal, primary: { name: primary.name, timeline: published.timeline, lsn: primaryLsn }, history, sourceReachable, attempts: this.attemptsOf(node.name), timings: this.timings });
        if (choice.kind !== 'rejoin') return this.say(node.name, primary.name, published, choice);
        if (!this.leadership.isLeader()) return;
        method = choice.method;
        this.said.delete(node.name);
        this.emit(node.name, primary.name, published, choice.method, 'started', `rejoining ${node.name} from ${primary.name} by ${choice.method} (${choice.rule}): ${choice.why}; ${reason}`, choice.rule);
        await this.journal(node.name, { node: node.name, method: choice.method, source: primary.name, epoch: published.epoch, state: 'running', failed: this.attemptsOf(node.name).failed, startedAt: new Date(began).toISOString() });
        await ensureSlot(this.cluster, primary, this.cluster.slotOf(node));
        if (choice.method === 'follow') {
          await repoint(this.cluster, node, primary);
          this.attempts.set(node.name, followed(this.attemptsOf(node.name), Date.now()));
          return;
        }
        const outcome = await rejoinByRestart(
          this.cluster,
          node,
          { epoch: published.epoch, source: primary, timeline: published.timeline, method: choice.method, failed: this.attemptsOf(node.name).failed },
          async () => this.leadership.isLeader() && (await this.cluster.store.published())?.epoch === published.epoch,
          RESTART_LIMIT_MS[choice.method],
        );
        if (!outcome.ok) throw new Error(outcome.why);
        this.attempts.delete(node.name);
        this.reported.set(node.name, Number.MAX_SAFE_INTEGER);
        this.emit(node.name, primary.name, published, outcome.method, 'done', `${node.name} streams from ${primary.name} again: ${outcome.method}${outcome.ms === null ? '' : ` in ${outcome.ms} ms`} by its entrypoint`, choice.rule, Date.now() - began);
        await this.journal(node.name, { node: node.name, method: outcome.method, source: primary.name, epoch: published.epoch, state: 'done', failed: [], startedAt: new Date(began).toISOString(), ms: Date.now() - began });
      } catch (error) {
        this.cluster.log.error({ node: node.name, error: describeError(error) }, 'rejoin failed');
        if (method !== null) {
          this.attempts.set(node.name, attemptFailed(this.attemptsOf(node.name), method, Date.now()));
          this.emit(node.name, primary.name, published, method, 'failed', `rejoin of ${node.name} by ${method} failed: ${describeError(error)}; retried with backoff`, 'rejoin-wait-backoff', Date.now() - began);
          await this.journal(node.name, { node: node.name, method, source: primary.name, epoch: published.epoch, state: 'failed', failed: this.attemptsOf(node.name).failed, startedAt: new Date(began).toISOString(), error: describeError(error) }).catch(() => undefined);
        }
      } finally {
        this.rejoining.delete(node.name);
      }
    })();
  }

  /** A rejoin the node's entrypoint did on its own (a fenced node started by a person or a drill): reported once it streams. */
  private async reportReturn(node: NodeConfig, published: Published): Promise<void> {
    await this.closeStaleRecord(node.name).catch(() => undefined);
    const result = await streamingWithResult(this.cluster, node).catch(() => null);
    if (result === null || result.at === null) return;
    const last = this.reported.get(node.name);
    if (last === undefined) {
      // A leader that just took over reports only what happened in the last minute, not every old return.
      this.reported.set(node.name, result.at);
      if (Date.now() - result.at > 60_000) return;
    } else if (last >= result.at) {
      return;
    }
    this.reported.set(node.name, result.at);
    const running = this.records.get(node.name);
    if (running?.state === 'running') {
      const { progress: _p, at: _at, ...rest } = running;
      await this.journal(node.name, { ...rest, method: result.method, state: 'done', ...(result.ms === null ? {} : { ms: result.ms }) }).catch(() => undefined);
    }
    this.emit(node.name, published.name, published, result.method, 'done', `${node.name} came back as a standby of ${published.name}: ${result.method}${result.ms === null ? '' : ` in ${result.ms} ms`} by its entrypoint`, result.method === 'clone' ? 'rejoin-clone-after-failure' : `rejoin-${result.method}`, result.ms ?? undefined);
  }

  /**
   * A record left `running` by a leader that lost its leadership (or died) mid-rejoin, for a node
   * that streams again: ended, so status does not show it running forever.
   */
  private async closeStaleRecord(node: string): Promise<void> {
    if (this.rejoining.has(node) || this.recordChecked.has(node)) return;
    this.recordChecked.add(node);
    const text = await this.cluster.etcd.get(this.cluster.store.keys.rejoin(node)).string();
    // A value that does not parse is left alone (status names it): never a throw in the leader's work.
    const parsed = text === null ? null : decodeAs(text, rejoinRecordSchema);
    if (!parsed?.ok || parsed.value.state !== 'running') return;
    const { progress: _p, at: _at, ...rest } = parsed.value;
    await this.journal(node, { ...rest, state: 'done' });
  }

  private say(node: string, primary: string, published: Published, choice: Exclude<RejoinChoice, { kind: 'rejoin' }>): void {
    if (this.said.get(node) === choice.rule) return;
    this.said.set(node, choice.rule);
    this.cluster.log.info({ node, rule: choice.rule, why: choice.why }, `rejoin ${choice.kind === 'wait' ? 'waits' : 'refused'}`);
    this.emit(node, primary, published, undefined, choice.kind === 'wait' ? 'waiting' : 'refused', `rejoin of ${node} ${choice.kind === 'wait' ? 'waits' : 'refused'}: ${choice.why}`, choice.rule);
  }

  private emit(node: string, primary: string, published: Published, method: RejoinMethod | undefined, outcome: 'started' | 'done' | 'failed' | 'waiting' | 'refused', message: string, rule: string, elapsedMs?: number): void {
    void this.events?.emit({ kind: 'rejoin', rule, message, nodes: [node, primary], epoch: published.epoch, outcome, ...(method ? { method } : {}), ...(elapsedMs === undefined ? {} : { elapsedMs }) });
  }

  private async journal(node: string, record: Omit<RejoinRecord, 'at'>): Promise<void> {
    const full: RejoinRecord = { ...record, at: new Date().toISOString() };
    this.records.set(node, full);
    await this.leadership.guard([{ key: this.cluster.store.keys.rejoin(node), value: encode(full) }]);
  }

  /**
   * A clone running from the primary (the leader's own, or a new replica's entrypoint) shows in
   * status with its progress: pg_basebackup's, read on the primary, recorded under rejoins/<node>.
   */
  private async recordCloneProgress(primary: NodeConfig, published: Published): Promise<void> {
    const clones = await cloneProgress(this.cluster, primary).catch(() => []);
    for (const clone of clones) {
      if (!this.cluster.node(clone.name)) continue;
      const last = this.records.get(clone.name);
      const running = last?.state === 'running' ? last : null;
      const { at: _at, ...base } = running ?? { node: clone.name, method: 'clone' as const, source: primary.name, epoch: published.epoch, state: 'running' as const, failed: [], startedAt: new Date().toISOString(), at: '' };
      await this.journal(clone.name, { ...base, progress: { phase: clone.phase, doneBytes: clone.doneBytes, totalBytes: clone.totalBytes } }).catch(() => undefined);
    }
  }
}
