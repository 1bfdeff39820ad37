import type { Journal, StepName } from '../core/journal.js';
import type { Leadership } from '../dcs/leadership.js';
import { EventLog } from '../dcs/events.js';
import { describeError } from '../postgres/connection.js';
import type { AgentState } from '../status/agent-state.js';
import type { ClusterContext } from './cluster-context.js';
import { followClusterContainers } from './container-events.js';
import { EdgeHealth } from './edge-health.js';
import { BackupScheduler } from './backup-scheduler.js';
import { EndpointSwitcher } from './endpoints.js';
import { SyncManager } from './sync-manager.js';
import { LeaderDuties } from './leader-duties.js';
import { Observer } from './observer.js';
import { OperationRunner, type StepHooks } from './operation.js';
import { Rejoiner } from './rejoiner.js';
import { RoleChangeHooks } from './role-change-hooks.js';
import { ViewPublisher } from './view-publisher.js';

export interface AgentOptions {
  agentId: string;
  /** Labels put on helper containers (rebuilds), so tests can find and remove them. */
  helperLabels?: Record<string, string>;
  afterStep?: (step: StepName, journal: Journal) => Promise<void>;
  beforeStep?: (step: StepName, journal: Journal) => void;
}

/**
 * The agent loop and its scheduling: observe (observer.ts, container-events.ts) ->
 * publish the view (view-publisher.ts) -> as leader, decide and act (leader-duties.ts).
 * Docker's event stream wakes the loop at once when a container dies.
 */
export class Agent {
  private readonly observer: Observer;
  private readonly views: ViewPublisher;
  private readonly leader: LeaderDuties;
  private readonly backups: BackupScheduler;
  private readonly edges = new EdgeHealth();
  private stopped = false;
  private crashed = false;
  private wake: (() => void) | null = null;
  /** A Docker event came during the tick: the next tick starts at once. */
  private eventPending = false;
  private unfollow: Array<() => void> = [];
  private loopDone: Promise<void> = Promise.resolve();
  /** An operation step began in this tick and has not been recorded (it failed, or it still runs). */
  private stepOpen = false;

  constructor(
    private readonly cluster: ClusterContext,
    private readonly leadership: Leadership,
    private readonly options: AgentOptions,
  ) {
    this.observer = new Observer(cluster, options.agentId, Date.now(), () => this.edges.dockerFailed());
    this.views = new ViewPublisher(cluster, this.edges);
    const endpoints = EndpointSwitcher.of(cluster, () => leadership.isLeader());
    const events = new EventLog(cluster.etcd, cluster.store.keys, options.agentId, (error) => cluster.log.debug({ error: describeError(error) }, 'event not recorded'));
    this.backups = new BackupScheduler(cluster, events);
    this.leader = new LeaderDuties({
      backups: this.backups,
      id: options.agentId,
      cluster,
      leadership,
      observer: this.observer,
      endpoints,
      events,
      runner: new OperationRunner(cluster, leadership, this.stepProgress(), endpoints, () => this.observer.snapshot(Date.now()), events, (node) => this.observer.lastLsnOf(node)),
      rejoiner: new Rejoiner(cluster, leadership, events),
      hooks: new RoleChangeHooks(cluster.config, cluster.log, process.env, events),
      sync: new SyncManager(cluster, leadership, events),
    });
  }

  get id(): string {
    return this.options.agentId;
  }

  async start(): Promise<void> {
    this.leadership.watchProgress(this.cluster.config.timings.leaderProgressMs, (what) =>
      this.cluster.log.error(
        { silentMs: Math.round(what.silentMs), boundMs: what.boundMs, wasLeader: what.wasLeader },
        'the agent loop made no progress (a hung call or a step that keeps failing): lease given up, another agent takes over',
      ),
    );
    this.leadership.start();
    this.unfollow = await followClusterContainers(this.cluster, {
      onState: (node, state, at) => {
        this.observer.noteContainerEvent(node, state, at);
        this.eventPending = true;
        this.wake?.();
      },
      onUnavailable: () => this.edges.dockerFailed(),
      stopped: () => this.stopped,
    });
    await this.observer.start();
    this.loopDone = this.loop();
  }

  /** What this agent knows now, for its HTTP routes; reads memory only. */
  state(): AgentState {
    return {
      agentId: this.id,
      view: this.observer.snapshot(Date.now()),
      isLeader: this.leadership.isLeader(),
      leaseHeld: this.leadership.leaseFresh(),
      edges: this.edges.snapshot(),
      backups: this.backups.snapshot(),
    };
  }

  async stop(): Promise<void> {
    if (this.crashed) return;
    this.stopped = true;
    this.wake?.();
    for (const stop of this.unfollow) stop();
    // A tick stuck on an unresponsive node must not hold up the resignation.
    await Promise.race([this.loopDone.catch(() => undefined), new Promise((r) => setTimeout(r, 3000).unref())]);
    await this.leadership.resign();
    this.observer.close();
    await this.cluster.close();
  }

  /** Dies on the spot, as a killed process would: no resignation, the lease expires by itself. */
  crash(): void {
    this.crashed = true;
    this.stopped = true;
    this.leadership.halt();
    this.wake?.();
    for (const stop of this.unfollow) stop();
    this.observer.close();
    void this.cluster.close();
  }

  private async loop(): Promise<void> {
    const interval = this.cluster.config.timings.probeIntervalMs;
    while (!this.stopped) {
      const began = Date.now();
      this.stepOpen = false;
      try {
        await this.tick();
      } catch (error) {
        this.cluster.log.error({ error: describeError(error) }, 'agent tick failed');
      }
      // The lease is renewed only while the loop moves (safety rule 6): a tick counts
      // unless an operation step failed in it; a leader that cannot advance its journal
      // for timings.leaderProgressMs hands it to another agent.
      if (!this.stepOpen) this.leadership.reportProgress();
      if (this.stopped) break;
      // An event that came during the tick must not wait for the next interval.
      const wait = this.eventPending ? 0 : Math.max(0, interval - (Date.now() - began));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** The step hooks the runner calls: each recorded step is progress; the caller's own hooks run after. */
  private stepProgress(): StepHooks {
    const { beforeStep, afterStep } = this.options;
    return {
      beforeStep: (step, journal) => {
        this.stepOpen = true;
        beforeStep?.(step, journal);
      },
      afterStep: async (step, journal) => {
        this.stepOpen = false;
        this.leadership.reportProgress();
        await afterStep?.(step, journal);
      },
    };
  }

  private async tick(): Promise<void> {
    this.eventPending = false;
    const view = this.observer.snapshot(Date.now());
    const leaseId = this.leadership.leaseId;
    if (leaseId === null) return;
    if (!(await this.views.publish(view, leaseId))) return;
    this.backups.refresh(Date.now());
    if (!this.leadership.isLeader()) return;
    await this.leader.lead(view);
  }
}
