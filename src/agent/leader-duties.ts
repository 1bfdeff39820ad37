import { randomUUID } from 'node:crypto';
import { decide, type Action, type Decision } from '../core/decide.js';
import type { RequestDecision } from '../core/rules.js';
import { startOperation, type Journal } from '../core/journal.js';
import { EMPTY_STREAMING_WATCH, type StreamingWatch } from '../core/streaming-watch.js';
import type { AgentView, Published } from '../core/types.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import { readSnapshot } from '../dcs/snapshot.js';
import { checkAgainstConfig } from '../dcs/config-check.js';
import { ReportedOnce, type KeyProblem } from '../dcs/reported-once.js';
import { encode, type PromoteRequest, type RequestResult, type VerdictRecord } from '../dcs/store.js';
import { describeError } from '../postgres/connection.js';
import { publishFirstPrimary } from './bootstrap.js';
import type { ClusterContext } from './cluster-context.js';
import type { BackupScheduler } from './backup-scheduler.js';
import type { EndpointSwitcher } from './endpoints.js';
import { ensureSlot, fence, prepareForReturn, refreshReturnMarker } from './node-ops.js';
import { methodForKilledNode } from './rejoin-marker.js';
import { sqlOf } from '../core/liveness.js';
import type { Observer } from './observer.js';
import type { OperationRunner } from './operation.js';
import type { Rejoiner } from './rejoiner.js';
import type { SyncManager } from './sync-manager.js';
import type { RoleChangeHooks } from './role-change-hooks.js';

/** What the leader works with: the agent's parts that carry decisions out. */
export interface LeaderParts {
  id: string;
  cluster: ClusterContext;
  leadership: Leadership;
  observer: Observer;
  runner: OperationRunner;
  rejoiner: Rejoiner;
  hooks: RoleChangeHooks;
  events: EventLog;
  endpoints: EndpointSwitcher | null;
  sync: SyncManager;
  /** The backup schedule (issue 16): the leader starts due backups; they run in the background. */
  backups?: BackupScheduler;
}

/**
 * The leader's half of a tick: read the cluster once, decide with the pure core, and
 * carry the decision out (operations, fences, rejoins, bootstrap, promote requests),
 * recording a verdict and events on the way. Only the leader runs it.
 */
/** Sessions kept open per node for the leader's operations (the pool holds at most 3). */
const WARM_SESSIONS = 2;

export class LeaderDuties {
  private streamingWatch: StreamingWatch = EMPTY_STREAMING_WATCH;
  private lastVerdict = '';
  private lastVerdictAt = 0;
  private lastVerdictShape = '';
  private warmedAt = 0;
  /** Stopped nodes whose rebuild marker was checked, and for which epoch. */
  private readonly markersChecked = new Map<string, number>();
  private prunedAt = 0;
  private readonly unreadable = new ReportedOnce();
  private readonly id: string;
  private readonly cluster: ClusterContext;
  private readonly leadership: Leadership;
  private readonly observer: Observer;
  private readonly runner: OperationRunner;
  private readonly rejoiner: Rejoiner;
  private readonly hooks: RoleChangeHooks;
  private readonly events: EventLog;
  private readonly endpoints: EndpointSwitcher | null;
  private readonly sync: SyncManager;
  private readonly backups: BackupScheduler | undefined;

  constructor(parts: LeaderParts) {
    this.backups = parts.backups;
    ({ id: this.id, cluster: this.cluster, leadership: this.leadership, observer: this.observer, runner: this.runner, rejoiner: this.rejoiner, hooks: this.hooks, events: this.events, endpoints: this.endpoints, sync: this.sync } = parts);
  }

  async lead(own: AgentView): Promise<void> {
    this.keepConnectionsWarm();
    // One read at one revision: the journal, the published primary and the views agree. What
    // names a node the config lacks, or one at another host, is held as unreadable (issue 15).
    const snapshot = checkAgainstConfig(await readSnapshot(this.cluster.etcd, this.cluster.store.keys), this.cluster.store.keys, this.cluster.nodes);
    this.reportUnreadable(snapshot.unreadable);
    const { published, journal, paused, views, request } = snapshot;
    const others = views.filter((v) => v.agentId !== own.agentId);
    const now = Date.now();
    const lastLsn = published ? this.observer.lastLsnOf(published.name) : null;
    const keys = this.cluster.store.keys;
    const decision = decide({
      now,
      selfId: this.id,
      isLeader: this.leadership.isLeader(),
      paused: paused !== null,
      published: published && lastLsn !== null ? { ...published, lastLsn: lastLsn.toString() } : published,
      specs: this.cluster.specs(),
      hostsOf: this.cluster.hostsOf(),
      views: [own, ...others],
      journal,
      sync: snapshot.sync,
      timings: { failureTimeMs: this.cluster.config.timings.failureTimeMs, viewStaleMs: this.cluster.config.timings.failureTimeMs, stepDeadlineMs: this.cluster.config.timings.stepDeadlineMs },
      maxLagBytes: BigInt(this.cluster.config.maxLagOnFailover),
      streamingWatch: this.streamingWatch,
      unreadable: snapshot.unreadable.filter((u) => u.key === keys.primary || u.key === keys.journal || u.key === keys.sync).map((u) => `${u.key}: ${u.problem}`),
      request: request ? { target: request.target, force: request.force } : null,
    });
    this.streamingWatch = decision.streamingWatch;
    this.endpoints?.reconcile(published, own, decision.writeEndpoint.hold);
    // No backup starts while an operation is under way: its source could be the node being fenced.
    if (journal === null && published !== null) this.backups?.consider(now, published);
    await this.publishVerdict(decision, now, published?.epoch);
    this.pruneEvents(now);
    for (const action of decision.actions) {
      if (!this.leadership.isLeader()) return;
      await this.act(action, published, decision.rule, own);
    }
    if (request && decision.request && decision.request.rule !== 'promote-request-deferred' && this.leadership.isLeader()) {
      await this.handleRequest(request, published, decision.request);
    }
    if (published && journal === null) this.refreshStoppedMarkers(own, published);
    // Rejoins: failures forgotten once a node streams, entrypoint rejoins reported, exit-75 nodes retried.
    if (published && journal === null && this.leadership.isLeader()) this.rejoiner.tick(own, published, paused !== null);
    // The synchronous set follows the healthy standbys while no operation runs (an operation sets it on its target itself).
    if (published && journal === null && decision.verdict?.kind === 'healthy' && this.leadership.isLeader()) this.sync.step(published, snapshot.sync);
  }

  /**
   * Housekeeping, not a decision: a node that stops after the operation's repoint step (an old
   * primary whose clone from a successor failed when that successor died) keeps a rebuild
   * marker naming a primary that is gone, and would fail the same clone at every start. Once
   * per epoch and stop, such a marker is pointed at the published primary (refreshReturnMarker
   * does nothing when there is no marker). In the background: it never holds the tick.
   */
  private refreshStoppedMarkers(own: AgentView, published: Published): void {
    const primary = this.cluster.node(published.name);
    if (!primary) return;
    for (const node of this.cluster.nodes) {
      const state = own.nodes[node.name]?.container;
      if (state === undefined || node.name === published.name) continue;
      if (!['exited', 'dead'].includes(state)) {
        this.markersChecked.delete(node.name);
        continue;
      }
      if (this.markersChecked.get(node.name) === published.epoch) continue;
      this.markersChecked.set(node.name, published.epoch);
      refreshReturnMarker(this.cluster, node, primary, published.epoch, published.timeline)
        .then((refreshed) => {
          if (refreshed) void this.events.emit({ kind: 'repoint', rule: 'refresh-return-marker', message: `${node.name} is stopped: its rebuild marker now names ${primary.name}`, epoch: published.epoch, nodes: [node.name, primary.name] });
        })
        .catch((error) => {
          this.markersChecked.delete(node.name);
          this.cluster.log.debug({ node: node.name, error: describeError(error) }, 'rebuild marker not refreshed');
        });
    }
  }

  /**
   * A value that does not parse, or names what the config does not have, is ignored (a key
   * the decision needs holds it: rule hold-unreadable-state) and logged once, not every tick.
   */
  private reportUnreadable(unreadable: readonly KeyProblem[]): void {
    for (const { key, problem } of this.unreadable.fresh(unreadable)) {
      this.cluster.log.warn({ key, problem }, 'etcd value ignored: it does not parse, or names a node or host the config does not have');
    }
  }

  /** The event log stays bounded: the leader prunes it once a minute, in the background. */
  private pruneEvents(now: number): void {
    if (now - this.prunedAt < 60_000) return;
    this.prunedAt = now;
    const { maxCount, maxAgeDays } = this.cluster.config.events;
    this.events.prune({ maxCount, maxAgeMs: maxAgeDays * 86_400_000 }, now).catch((error) => this.cluster.log.debug({ error: describeError(error) }, 'event log not pruned'));
  }

  /** A failover should not pay for new connections: the leader keeps one open to every node. */
  private keepConnectionsWarm(): void {
    if (Date.now() - this.warmedAt < 5000) return;
    this.warmedAt = Date.now();
    for (const node of this.cluster.nodes) {
      // Two at once keep two sessions open per node: a failover's steps query a node from two
      // places at a time (fresh positions beside the synchronous checks), and a new session
      // costs a TLS handshake and a SCRAM exchange on the write-unavailable path (issue 15).
      for (let i = 0; i < WARM_SESSIONS; i++) this.cluster.pool(node).query('SELECT 1').catch(() => undefined);
      // Learns (once) each node's data directory and volume while its container exists.
      this.cluster.pgdataOf(node).catch(() => undefined);
    }
  }

  /** A `failover promote` request the core judged: refused with its reason, or carried out as a journaled operation. */
  private async handleRequest(request: PromoteRequest, published: Published | null, judged: Exclude<RequestDecision, { rule: 'promote-request-deferred' }>): Promise<void> {
    const keys = this.cluster.store.keys;
    if (judged.rule === 'promote-request-refused' || published === null) {
      const reason = judged.rule === 'promote-request-refused' ? judged.reason : 'no primary is published yet';
      this.cluster.log.warn({ request: request.id, target: request.target, reason }, 'promote refused');
      void this.events.emit({ kind: 'refusal', rule: judged.rule, message: `promote ${request.target} (by ${request.by}) refused: ${reason}`, nodes: [request.target], ...(published ? { epoch: published.epoch } : {}) });
      const result: RequestResult = { id: request.id, ok: false, from: published?.name ?? null, to: request.target, epoch: published?.epoch ?? null, kind: 'switchover', ms: null, error: reason };
      await this.leadership.guard([{ key: keys.request, delete: true }, { key: keys.requestResult(request.id), value: encode(result) }]);
      return;
    }
    const { plan } = judged;
    const journal = startOperation({
      id: request.id,
      kind: plan.kind,
      from: plan.from,
      to: plan.to,
      epoch: published.epoch + 1,
      reason: plan.reason,
      requestedBy: `cli:${request.by}`,
      now: Date.now(),
    });
    this.cluster.log.warn({ request: request.id, kind: plan.kind, from: plan.from, to: plan.to, epoch: journal.epoch }, `${plan.kind} requested`);
    void this.events.emit({ kind: 'operation-start', rule: judged.rule, message: `${plan.kind} ${plan.from} -> ${plan.to} accepted (requested by ${request.by}): ${plan.reason}`, epoch: journal.epoch, nodes: [plan.from, plan.to] });
    if (!(await this.leadership.guard([{ key: keys.request, delete: true }, { key: keys.journal, value: encode(journal) }]))) return;
    await this.runOperation(journal);
  }

  private async publishVerdict(decision: Decision, now: number, epoch: number | undefined): Promise<void> {
    const verdict = decision.verdict?.kind ?? 'none';
    const summary = `${verdict}|${decision.rule}|${decision.notes.join(';')}`;
    const changed = summary !== this.lastVerdict;
    if (changed) {
      this.cluster.log.info({ verdict: decision.verdict, rule: decision.rule, notes: decision.notes }, `verdict ${verdict} (rule ${decision.rule})`);
    } else if (now - this.lastVerdictAt < 5000) {
      return;
    }
    const why = decision.verdict === null ? 'no primary published' : 'reason' in decision.verdict ? decision.verdict.reason : 'the primary answers and the agents agree';
    const record: VerdictRecord = { at: now, leader: this.id, verdict, rule: decision.rule, why, notes: decision.notes };
    if (await this.leadership.guard([{ key: this.cluster.store.keys.verdict, value: encode(record) }]).catch(() => false)) {
      this.lastVerdict = summary;
      this.lastVerdictAt = now;
      // A note that only counts up ("not answered for 1250 ms") is the same verdict: one event, not one per tick.
      const shape = summary.replace(/\d+/g, '#');
      if (changed && shape !== this.lastVerdictShape) void this.events.emit({ kind: 'verdict', rule: decision.rule, message: verdictSentence(decision), ...(epoch === undefined ? {} : { epoch }) });
      this.lastVerdictShape = shape;
    }
  }

  private async act(action: Action, published: Published | null, rule: string, own: AgentView): Promise<void> {
    const log = this.cluster.log;
    switch (action.type) {
      case 'resume':
        log.info({ op: action.journal.id, step: action.journal.step }, 'resuming a half-done operation');
        await this.runOperation(action.journal);
        return;
      case 'replan': {
        // The new course is recorded before anything is done on it: a leader that dies now leaves it to the next.
        const { journal } = action;
        log.warn({ op: journal.id, to: journal.to, step: journal.step, rollback: journal.rollback !== undefined, why: action.why }, 'operation re-planned');
        void this.events.emit({ kind: 'replan', rule, message: `${journal.kind} ${journal.from} -> ${journal.to}: ${action.why}`, epoch: journal.epoch, nodes: [journal.from, journal.to] });
        if (!(await this.leadership.guard([{ key: this.cluster.store.keys.journal, value: encode(journal) }]))) return;
        await this.runOperation(journal);
        return;
      }
      case 'failover': {
        if (!published) return;
        const journal = startOperation({
          id: randomUUID(),
          kind: 'failover',
          from: action.from,
          to: action.to,
          epoch: published.epoch + 1,
          reason: action.reason,
          requestedBy: this.id,
          now: Date.now(),
        });
        log.warn({ from: action.from, to: action.to, epoch: journal.epoch, position: action.position.toString(), reason: action.reason }, 'failover started');
        void this.events.emit({ kind: 'operation-start', rule, message: `failover ${action.from} -> ${action.to}: ${action.reason}`, epoch: journal.epoch, nodes: [action.from, action.to], lsn: action.position.toString() });
        if (!(await this.leadership.guard([{ key: this.cluster.store.keys.journal, value: encode(journal) }]))) return;
        await this.runOperation(journal);
        return;
      }
      case 'bootstrap':
        await publishFirstPrimary(this.cluster, this.leadership, action.node);
        return;
      case 'fence': {
        const node = this.cluster.node(action.node);
        if (!node) return;
        log.warn({ node: action.node, reason: action.reason }, 'fencing a stray primary');
        await fence(this.cluster, node)
          .then(async (fenced) => {
            void this.events.emit({ kind: 'fence', rule: 'fence-stray-primary', message: `${action.node} fenced (verified ${fenced.verifiedAs}): ${action.reason}`, nodes: [action.node], ...(published ? { epoch: published.epoch } : {}) });
            // A writable stray holds a fork: it comes back by the rule table's method (a rewind, or
            // nothing but standby.signal when it is on a later timeline than the published primary).
            const primary = published ? this.cluster.node(published.name) : undefined;
            if (primary) await ensureSlot(this.cluster, primary, this.cluster.slotOf(node)).catch(() => undefined);
            const strayTimeline = sqlOf(own.nodes[node.name])?.timeline ?? published?.timeline ?? 1;
            const method = published ? methodForKilledNode(node.name, strayTimeline, { name: published.name, timeline: published.timeline }) : null;
            await prepareForReturn(this.cluster, node, primary && published && method ? { epoch: published.epoch, source: primary, timeline: published.timeline, method } : null);
          })
          .catch((error) => {
            log.error({ node: action.node, error: describeError(error) }, 'fencing failed');
            void this.events.emit({ kind: 'fence', rule: 'fence-stray-primary', message: `fencing ${action.node} failed: ${describeError(error)}`, nodes: [action.node] });
          });
        return;
      }
      case 'rejoin':
        this.rejoiner.rejoin(action.node, action.reason, published, own);
        return;
    }
  }

  private async runOperation(journal: Journal): Promise<void> {
    const outcome = await this.runner.run(journal);
    // A failed step is retried by the next tick (or leader); the runner writes a request's result with the operation's end.
    if (outcome.ok && outcome.rolledBack) {
      this.cluster.log.warn({ op: journal.id, primary: outcome.published.name, why: outcome.journal.rollback?.why }, `${journal.kind} rolled back`);
    } else if (outcome.ok) {
      // The operation re-pointed the other replicas: give them time to follow before the rejoin rule judges them.
      this.rejoiner.operationRepointed(outcome.repointed ?? []);
      // pg_rewind reads a source's timeline from its last checkpoint: one on the new timeline lets the
      // old primary rewind at once (Patroni does the same after a promotion). Not awaited: no client waits on it.
      const promoted = this.cluster.node(outcome.published.name);
      if (promoted && !outcome.rolledBack) void this.cluster.pool(promoted).query('CHECKPOINT').catch((error: unknown) => this.cluster.log.debug({ error: describeError(error) }, 'checkpoint after the promotion failed'));
      // Notifications, not steps: never awaited, so a slow or failing hook cannot hold the leader.
      void this.hooks.run({ operationId: journal.id, kind: journal.kind, reason: journal.reason, oldPrimary: journal.from, published: outcome.published });
      this.cluster.log.warn({ op: journal.id, epoch: outcome.published.epoch, primary: outcome.published.name, ms: Date.now() - journal.startedAt }, `${journal.kind} finished`);
    } else {
      this.cluster.log.error({ op: journal.id, step: outcome.journal.step, error: outcome.error }, `${journal.kind} interrupted`);
    }
  }
}

/** The verdict and what the leader made of it, in one sentence for the event log. */
function verdictSentence(decision: Decision): string {
  const verdict = decision.verdict;
  const head = verdict === null ? 'no primary published yet' : 'reason' in verdict ? `${verdict.kind}: ${verdict.reason}` : verdict.kind;
  return decision.notes.length === 0 ? head : `${head}; ${decision.notes.join('; ')}`;
}
