import { completeStep, isFinished, replanTo, withError, withTargetLsn, type Journal, type StepName } from '../core/journal.js';
import { stepSentence } from '../core/step-sentence.js';
import { rerankAfterFence } from '../core/operation-rescue.js';
import { formatLsn, maxLsn, parseLsn } from '../core/lsn.js';
import { freshObservations } from './fresh-positions.js';
import { encode } from '../dcs/store.js';
import { publishedAfterResume, publishWrites, republishWrites, resultWrites } from './operation-records.js';
import type { AgentView, Published } from '../core/types.js';
import type { EndpointSwitcher } from './endpoints.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import type { ClusterContext } from './cluster-context.js';
import type { NodeConfig } from '../config/schema.js';
import { methodForKilledNode } from './rejoin-marker.js';
import { awaitReplay, dropSlot, ensureSlot, fence, prepareForReturn, promote, refreshReturnMarker, repoint, restartAsStandby, shutdownCheckpointOf, startAsPrimary, stopCleanly, UncleanShutdownError, verifyWrite } from './node-ops.js';
import { containerState } from '../docker/engine.js';
import { isContainerNotRunning } from '../core/liveness.js';
import { describeError } from '../postgres/connection.js';
import { claims } from '../core/sync-set.js';
import { confirmBeforePublish, pointOthersAtTarget, prepareSyncForPromotion, type PreparedSync } from './sync-promotion.js';
import type { SyncRecord } from '../core/sync-set.js';

export interface StepHooks {
  /** Called right before a step is carried out (after the leadership check). */
  beforeStep?: (step: StepName, journal: Journal) => void;
  /** Called after a step was recorded in etcd. */
  afterStep?: (step: StepName, journal: Journal) => Promise<void>;
}

export type OperationOutcome =
  | { ok: true; journal: Journal; published: Published; rolledBack: boolean; /** Replicas the repoint step pointed at the new primary. */ repointed?: string[] }
  | { ok: false; journal: Journal; error: string; lostLeadership: boolean };

/**
 * Carries a journaled operation forward from whatever step it is at. Each step is
 * recorded in etcd (guarded by leadership) only after it took effect, so a leader
 * that dies half way leaves a journal the next leader resumes from.
 */
export class OperationRunner {
  private timeline: number | null = null;
  private repointed: string[] = [];
  private marking: Promise<void> | null = null;
  private replayed: Promise<string | null> | null = null;
  /** The old primary's shutdown checkpoint, being read since stop-old (a switchover). */
  private shutdownCheckpoint: Promise<bigint> | null = null;
  private synchronous: boolean | null = null; // the promotion ran under a promising synchronous set (history)
  private syncPrepared: Promise<PreparedSync> | null = null;
  constructor(
    private readonly cluster: ClusterContext,
    private readonly leadership: Leadership,
    /** Called around each step; tests use them to stop a leader half way and to see who acts. */
    private readonly stepHooks: StepHooks = {},
    private readonly endpoints: EndpointSwitcher | null = null,
    private readonly currentView: () => AgentView | null = () => null,
    private readonly events: EventLog | null = null,
    /** The last WAL position this agent's probes saw on a node: after its loss, the yardstick for lag. */
    private readonly lastLsnOf: (node: string) => bigint | null = () => null,
  ) {}

  async run(start: Journal): Promise<OperationOutcome> {
    let journal = start;
    this.timeline = null;
    this.repointed = [];
    this.marking = null;
    this.replayed = null;
    this.shutdownCheckpoint = null;
    this.synchronous = null;
    this.syncPrepared = null;
    const log = this.cluster.log.child({ op: journal.id, kind: journal.kind, from: journal.from, to: journal.to, epoch: journal.epoch });
    let published: Published | null = null;
    let syncRecord: SyncRecord | null = null;
    while (!isFinished(journal)) {
      if (!this.leadership.isLeader()) return { ok: false, journal, error: 'lost leadership', lostLeadership: true };
      if (journal.step === 'catch-up' && (journal.replans ?? []).some((r) => r.promoteAttempted && !r.fenced)) {
        const fenced = await this.fenceAbandoned(journal);
        if (fenced === 'lost leadership') return { ok: false, journal, error: 'lost leadership', lostLeadership: true };
        journal = fenced;
      }
      if (journal.step === 'catch-up' && journal.kind === 'failover' && !journal.rollback) {
        const reranked = await this.rerank(journal);
        if (reranked === 'lost leadership') return { ok: false, journal, error: 'lost leadership', lostLeadership: true };
        journal = reranked;
      }
      const step = journal.step;
      const began = Date.now();
      this.stepHooks.beforeStep?.(step, journal);
      try {
        const extra = await this.perform(step, journal);
        if (extra.targetLsn) journal = withTargetLsn(journal, extra.targetLsn, Date.now());
        if (extra.published) published = extra.published;
        if (extra.syncRecord) syncRecord = extra.syncRecord;
      } catch (error) {
        const message = describeError(error);
        log.warn({ step, error: message, ms: Date.now() - began }, 'operation step failed; it will be retried');
        void this.events?.emit({ kind: 'step-failed', rule: step, message: `${journal.kind} ${journal.from} -> ${journal.to}: ${step} failed: ${message}`, epoch: journal.epoch, nodes: [journal.from, journal.to], elapsedMs: Date.now() - began });
        // Recorded for the core: a switchover whose old primary is found crashed becomes a failover.
        if (step === 'stop-old' && error instanceof UncleanShutdownError) journal = { ...journal, oldPrimaryUnclean: true };
        journal = withError(journal, `${step}: ${message}`, Date.now());
        await this.leadership.guard([{ key: this.cluster.store.keys.journal, value: encode(journal) }]).catch(() => false);
        return { ok: false, journal, error: message, lostLeadership: false };
      }
      const next = completeStep(journal, step, Date.now());
      if (!next.ok) return { ok: false, journal, error: next.reason, lostLeadership: false };
      journal = next.journal;
      const writes = step === 'publish' && published ? publishWrites(this.cluster, this.leadership.agentId, journal, published, this.synchronous ?? false, syncRecord) : [];
      // A requested operation's result is written with its end, in one transaction: a leader that
      // dies right after cannot leave `failover promote` waiting for a result nobody writes.
      const recorded = isFinished(journal)
        ? await this.leadership.guard([{ key: this.cluster.store.keys.journal, delete: true }, ...(await resultWrites(this.cluster, journal, published)), ...(await republishWrites(this.cluster, journal))])
        : await this.leadership.guard([...writes, { key: this.cluster.store.keys.journal, value: encode(journal) }]);
      if (!recorded) return { ok: false, journal, error: 'lost leadership', lostLeadership: true };
      log.info({ step, ms: Date.now() - began, targetLsn: journal.targetLsn }, `step ${step} done`);
      void this.events?.emit({
        kind: isFinished(journal) ? 'operation-end' : 'step',
        rule: step,
        message: isFinished(journal) ? `${journal.kind} ${journal.from} -> ${journal.to} ${journal.rollback ? `rolled back (${journal.rollback.why})` : 'finished'}` : `${journal.kind} ${journal.from} -> ${journal.to}: ${stepSentence(step, journal)}`,
        epoch: journal.epoch,
        nodes: [journal.from, journal.to],
        ...(journal.targetLsn ? { lsn: journal.targetLsn } : {}),
        elapsedMs: isFinished(journal) ? Date.now() - journal.startedAt : Date.now() - began,
      });
      if (step === 'publish' && published && this.endpoints) {
        const switched = Date.now();
        await this.endpoints.followPrimary(published, this.currentView());
        log.info({ ms: Date.now() - switched }, 'endpoints follow the new primary');
      }
      await this.stepHooks.afterStep?.(step, journal);
    }
    if (published === null) {
      const read = await publishedAfterResume(this.cluster);
      if (typeof read === 'string') return { ok: false, journal, error: `finished, but the published primary cannot be used: ${read}`, lostLeadership: false };
      published = read;
    }
    return { ok: true, journal, published, rolledBack: journal.rollback !== undefined, repointed: this.repointed };
  }

  /**
   * A target given up after its promotion was attempted may run (or come back) as a fork of
   * its own: it is fenced, with a rebuild marker so that it can only return as a clone, before
   * another node is promoted. Recorded per target, so a new leader does not fence it twice.
   */
  private async fenceAbandoned(journal: Journal): Promise<Journal | 'lost leadership'> {
    const pending = (journal.replans ?? []).filter((r) => r.promoteAttempted && !r.fenced);
    for (const replan of pending) {
      const node = this.node(replan.abandoned);
      const fenced = await fence(this.cluster, node);
      // Its promotion may have made a branch with the same timeline number as the final target's:
      // neither a follow nor pg_rewind can tell the two apart, so it may only come back as a clone.
      await prepareForReturn(this.cluster, node, { epoch: journal.epoch, source: this.node(journal.to), timeline: await this.returnTimeline(journal), method: 'clone' });
      void this.events?.emit({ kind: 'fence', rule: 'replan-failover', message: `${node.name} fenced (verified ${fenced.verifiedAs}): given up as the target after its promotion was attempted`, epoch: journal.epoch, nodes: [node.name] });
    }
    const next: Journal = { ...journal, replans: (journal.replans ?? []).map((r) => (pending.includes(r) ? { ...r, fenced: true } : r)) };
    if (!(await this.leadership.guard([{ key: this.cluster.store.keys.journal, value: encode(next) }]))) return 'lost leadership';
    return next;
  }

  /**
   * Item 5 of issue 12: the candidate was chosen on probes up to a second old, taken before
   * the fence. Once the old primary is fenced, the positions are final: look again, and
   * switch to a replica that holds more (recorded in the journal before anything else).
   */
  private async rerank(journal: Journal): Promise<Journal | 'lost leadership'> {
    const published = await this.cluster.store.published().catch(() => null);
    if (published === null) return journal;
    const observations = await freshObservations(this.cluster, journal.from, this.currentView());
    const better = rerankAfterFence({
      journal,
      specs: this.cluster.specs(),
      observations,
      publishedTimeline: published.timeline,
      // The old primary's and the target's last positions still count: a target that does not
      // answer the fresh probe is left only for a replica within the lag limit of where it stood.
      lastKnownPrimaryLsn: maxLsn(this.lastLsnOf(journal.from), this.lastLsnOf(journal.to)),
      maxLagBytes: BigInt(this.cluster.config.maxLagOnFailover),
    });
    if (better === null) return journal;
    const replanned = replanTo(journal, better.to, better.why, Date.now());
    if (!(await this.leadership.guard([{ key: this.cluster.store.keys.journal, value: encode(replanned) }]))) return 'lost leadership';
    this.replayed = null;
    this.marking = null;
    this.cluster.log.warn({ op: journal.id, from: journal.to, to: better.to, why: better.why }, 'failover re-planned after the fence');
    void this.events?.emit({ kind: 'replan', rule: 'catch-up', message: `failover ${journal.from} -> ${better.to} instead of ${journal.to}: ${better.why}`, epoch: journal.epoch, nodes: [journal.to, better.to] });
    return replanned;
  }

  /** Started alongside the fence (or the stop), awaited before the promotion; again for another target. */
  private prepareSync(journal: Journal): Promise<PreparedSync> {
    const earlier = this.syncPrepared;
    const fresh = () => prepareSyncForPromotion(this.cluster, this.leadership, journal, this.events);
    this.syncPrepared = (earlier ?? fresh()).then((done) => (done.to === journal.to ? done : fresh()), fresh);
    this.syncPrepared.catch(() => undefined);
    return this.syncPrepared;
  }

  private node(name: string) {
    const node = this.cluster.node(name);
    if (!node) throw new Error(`node ${name} is not in the config`);
    return node;
  }

  private async perform(step: StepName, journal: Journal): Promise<{ targetLsn?: string; published?: Published; syncRecord?: SyncRecord }> {
    const from = this.node(journal.from);
    const to = this.node(journal.to);
    switch (step) {
      case 'fence-old':
        // Waiting for the candidate to replay what it holds reads nothing from the old
        // primary: it runs alongside the fence, and the catch-up step collects it.
        this.replayed = awaitReplay(this.cluster, to, 10_000);
        this.replayed.catch(() => undefined);
        this.prepareSync(journal);
        const [fenced] = await Promise.all([fence(this.cluster, from), this.endpoints?.holdWrites('failover')]);
        void this.events?.emit({ kind: 'fence', rule: 'fence-old', message: `${from.name} fenced: killed, restart policy off, verified ${fenced.verifiedAs}`, epoch: journal.epoch, nodes: [from.name] });
        // Killed and kept down, it takes no writes. What makes a manual start safe and quick
        // (standby.signal, and the rebuild marker naming the candidate) is written alongside
        // the next steps and awaited before publishing, so it is in place before anyone
        // could learn of the new primary.
        this.marking = this.prepareReturn(journal);
        this.marking.catch(() => undefined);
        return {};
      case 'stop-old': {
        // Clients wait in PgBouncer, instead of failing, until the new primary is published.
        await this.endpoints?.holdWrites('switchover');
        this.prepareSync(journal);
        const { wasRunning, lastLsn } = await stopCleanly(this.cluster, from);
        // The shutdown checkpoint is the last record the old primary wrote: the target must hold
        // it (item 4). Found already down, it is read now, to tell a crash (a failover follows)
        // from a clean stop. Stopped by us, it is read alongside catch-up and promote and checked
        // before publishing, while clients still wait: a read through the archive API is slow.
        const checkpoint = shutdownCheckpointOf(this.cluster, from, { justStopped: true }).catch((error: unknown) => {
          // Stopped by us and still not clean (a shutdown cut short), it holds every commit: the
          // switchover rolls back. A retry (journal.error set) may find down what an earlier attempt stopped.
          if (error instanceof UncleanShutdownError && (wasRunning || journal.error !== undefined)) {
            throw new Error(`${error.message}; this switchover stopped it, so it is restarted rather than failed over`);
          }
          throw error;
        });
        checkpoint.catch(() => undefined);
        // standby.signal after the read: the engine's archive API takes a container one call at a time.
        this.marking = checkpoint.then(
          () => this.prepareReturn(journal),
          () => this.prepareReturn(journal),
        );
        this.marking.catch(() => undefined);
        this.shutdownCheckpoint = checkpoint;
        if (!wasRunning || lastLsn === null) return { targetLsn: formatLsn(await checkpoint) };
        return { targetLsn: formatLsn(lastLsn) };
      }
      case 'catch-up': {
        if (journal.kind === 'switchover') {
          // A switchover loses nothing: the target must have received past the old primary's last
          // position (the one read before the stop, or its shutdown checkpoint). On every path: a
          // journal without it (resumed from an older agent's record) reads pg_control again.
          const atLeast = journal.targetLsn ? parseLsn(journal.targetLsn) : await shutdownCheckpointOf(this.cluster, from);
          const lsn = await awaitReplay(this.cluster, to, 10_000, atLeast + 1n);
          return lsn ? { targetLsn: lsn } : {};
        }
        const lsn = this.replayed ? await this.replayed : await awaitReplay(this.cluster, to, 10_000);
        return lsn ? { targetLsn: lsn } : {};
      }
      case 'fence-target':
        // Undoing a switchover: a target whose promotion was attempted may run as a primary of its own.
        if (journal.rollback?.targetPromoted) {
          await fence(this.cluster, to);
          // Its promotion made a fork on a timeline past the old primary's: only a clone of the old primary brings it back.
          await prepareForReturn(this.cluster, to, { epoch: journal.epoch, source: from, timeline: 1, method: 'clone' });
        }
        return {};
      case 'restart-old':
        await startAsPrimary(this.cluster, from);
        // The slot a fenced target's marker names, for its clone at its next start.
        if (journal.rollback?.targetPromoted) await ensureSlot(this.cluster, from, this.cluster.slotOf(to)).catch(() => undefined);
        return {};
      case 'promote':
        const prepared = await this.prepareSync(journal);
        this.synchronous = prepared.promising;
        if (prepared.waitsForStandbys) pointOthersAtTarget(this.cluster, journal, (node, error) => error && this.cluster.log.debug({ node, error: describeError(error) }, 'not pointed at the target early'));
        await promote(this.cluster, to);
        return {};
      case 'verify-write':
        this.timeline = await verifyWrite(this.cluster, to);
        return {};
      case 'publish': {
        if (journal.kind === 'switchover') await this.provesShutdownHeld(journal, from);
        // The slot the returning old primary will clone and stream on: created on the new
        // primary (now writable, a warm connection away) before anyone can learn of it.
        await Promise.all([
          this.marking ?? this.prepareReturn(journal),
          // The old primary's, and those of targets given up with a rebuild marker naming this one:
          // a node started the moment it is published clones on its slot at once.
          ...(journal.kind === 'failover' ? [from.name, ...(journal.replans ?? []).filter((r) => r.promoteAttempted).map((r) => r.abandoned)] : []).map((name) =>
            ensureSlot(this.cluster, to, this.cluster.slotOf(this.node(name))).catch(() => undefined),
          ),
        ]);
        // Resumed by a new leader, the timeline was not carried over: ask again (verify-write is idempotent).
        const timeline = this.timeline ?? (await verifyWrite(this.cluster, to));
        this.synchronous ??= claims(await this.cluster.store.sync().catch(() => null));
        const published: Published = {
          name: to.name,
          host: to.host,
          port: to.port,
          epoch: journal.epoch,
          timeline,
          since: new Date().toISOString(),
        };
        // Zero-loss mode: its standbys hold all it has before anyone learns of it? Then the record names them alone.
        const prepared = this.syncPrepared ? await this.syncPrepared.catch(() => null) : null;
        const syncRecord = await confirmBeforePublish(this.cluster, journal, prepared, this.events).catch(() => null);
        return { published, ...(syncRecord ? { syncRecord } : {}) };
      }
      case 'rejoin-old': {
        // Cleanly shut down at a position the new primary has, it follows: nothing diverged (the rule table's rejoin-follow).
        const began = Date.now();
        await restartAsStandby(this.cluster, from, to).then(
          () => void this.events?.emit({ kind: 'rejoin', rule: 'rejoin-follow', method: 'follow', outcome: 'done', message: `${from.name} follows ${to.name}: stopped cleanly at a position ${to.name} holds, nothing copied`, epoch: journal.epoch, nodes: [from.name, to.name], elapsedMs: Date.now() - began }),
          (error) => this.cluster.log.warn({ node: from.name, error: describeError(error) }, 'old primary did not rejoin cleanly; the rejoin rule takes over'),
        );
        return {};
      }
      case 'repoint-replicas': {
        const others = this.cluster.nodes.filter((n) => n.name !== from.name && n.name !== to.name);
        await dropSlot(this.cluster, to, this.cluster.slotOf(to)).catch(() => undefined);
        // A replica that cannot be re-pointed now is left to the rejoin rule; the operation is not held back by it.
        await Promise.all(
          others.map(async (replica) => {
            // A node that is not running cannot be re-pointed; if it carries a rebuild marker, the marker must name this primary.
            if (isContainerNotRunning(await containerState(this.cluster.engine(replica), replica.container))) {
              const refreshed = await refreshReturnMarker(this.cluster, replica, to, journal.epoch, await this.returnTimeline(journal)).catch(() => false);
              if (refreshed) void this.events?.emit({ kind: 'repoint', rule: 'repoint-replicas', message: `${replica.name} is stopped: its rebuild marker now names ${to.name}`, epoch: journal.epoch, nodes: [replica.name, to.name] });
              return;
            }
            await repoint(this.cluster, replica, to).then(
              () => {
                this.repointed.push(replica.name);
                void this.events?.emit({ kind: 'repoint', rule: 'repoint-replicas', message: `${replica.name} re-pointed at ${to.name}`, epoch: journal.epoch, nodes: [replica.name, to.name] });
              },
              (error) => {
                this.cluster.log.warn({ node: replica.name, error: describeError(error) }, 're-point failed; the rejoin rule takes over');
                void this.events?.emit({ kind: 'repoint', rule: 'repoint-replicas', message: `${replica.name} not re-pointed at ${to.name}: ${describeError(error)}; the rejoin rule takes over`, epoch: journal.epoch, nodes: [replica.name, to.name] });
              },
            );
          }),
        );
        return {};
      }
      case 'done':
        return {};
    }
  }

  /**
   * Item 4, on every path: before a switchover publishes, the target's position at catch-up
   * (recorded in the journal) must lie past the old primary's shutdown checkpoint, read from
   * its pg_control (in memory since stop-old, or read again by a leader that resumed). A target
   * found short took no client write (nothing is published): the step fails, and the rule
   * roll-back-switchover fences it and brings the old primary back.
   */
  private async provesShutdownHeld(journal: Journal, from: NodeConfig): Promise<void> {
    const checkpoint = await (this.shutdownCheckpoint ?? shutdownCheckpointOf(this.cluster, from));
    const reached = journal.targetLsn ? parseLsn(journal.targetLsn) : null;
    if (reached === null || reached <= checkpoint) {
      throw new Error(`${journal.to} reached ${journal.targetLsn ?? 'an unrecorded position'}, not past ${from.name}'s shutdown checkpoint ${formatLsn(checkpoint)}: it may lack the old primary's last commits`);
    }
  }

  /**
   * The timeline the operation's target is on (or will be, once promoted): the marker's source
   * must answer on it or a later one. Known after verify-write; before, the published one + 1.
   */
  private async returnTimeline(journal: Journal): Promise<number> {
    if (this.timeline !== null) return this.timeline;
    const published = await this.cluster.store.published().catch(() => null);
    if (published === null) return 1;
    return published.epoch >= journal.epoch ? published.timeline : published.timeline + 1;
  }

  /**
   * Makes the stopped old primary safe and quick to start again: standby.signal always;
   * after a failover also the rebuild marker naming the new primary (a switchover's old
   * primary follows without a re-clone).
   */
  private async prepareReturn(journal: Journal): Promise<void> {
    const timeline = await this.returnTimeline(journal);
    // Killed, so where its WAL ends is unknown: the rule table picks the method (a rewind).
    const method = journal.kind === 'failover' ? methodForKilledNode(journal.from, timeline - 1, { name: journal.to, timeline }) : null;
    const marker = method === null ? null : { epoch: journal.epoch, source: this.node(journal.to), timeline, method };
    const done = await prepareForReturn(this.cluster, this.node(journal.from), marker);
    if (done === 'written-to-volume') {
      void this.events?.emit({ kind: 'step', rule: journal.step, message: `${journal.from}'s container is gone (removed): standby.signal${journal.kind === 'failover' ? ' and the rebuild marker' : ''} written into its data volume, so a container created on it comes back as a standby`, epoch: journal.epoch, nodes: [journal.from] });
    }
    if (done === 'moot') {
      this.cluster.log.warn({ node: journal.from }, 'the old primary\'s container is gone: nothing to prepare for its return');
      void this.events?.emit({ kind: 'step', rule: journal.step, message: `${journal.from}'s container is gone (removed): standby.signal and the rebuild marker are moot`, epoch: journal.epoch, nodes: [journal.from] });
    }
  }
}
