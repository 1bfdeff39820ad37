import { EMPTY_SYNC_MEMORY, RELOAD_SETTLE_MS, planSync, type SyncMemory } from '../core/sync-plan.js';
import { formatStandbyNames, type SyncRecord, type SyncSettings } from '../core/sync-set.js';
import type { Published } from '../core/types.js';
import type { EventLog } from '../dcs/events.js';
import type { Leadership } from '../dcs/leadership.js';
import { encode } from '../dcs/store.js';
import { describeError } from '../postgres/connection.js';
import { applyStandbyNames, readStandbyNames, readSyncState } from '../postgres/sync-state.js';
import { syncForPromotion } from '../core/sync-promotion.js';
import type { ClusterContext } from './cluster-context.js';

/**
 * The leader's hands for zero-loss mode: each tick reads the primary's synchronous state,
 * asks the core (planSync) for the next step, and carries it out: a guarded write of the
 * `sync` key, or a change of synchronous_standby_names on the primary. One step at a time,
 * in the background, so a slow primary never holds the tick.
 */
export class SyncManager {
  private memory: SyncMemory = EMPTY_SYNC_MEMORY;
  /** The leadership term (lease) the memory belongs to: a mark from an earlier term may predate another leader's changes. */
  private term: string | null = null;
  private busy = false;
  private lastWhy = '';
  private presetsAt = 0;

  constructor(
    private readonly cluster: ClusterContext,
    private readonly leadership: Leadership,
    private readonly events: EventLog,
  ) {}

  get settings(): SyncSettings {
    return this.cluster.config.replication.synchronous;
  }

  /** Called by the leader when no operation is under way and a primary is published. */
  step(published: Published, record: SyncRecord | null): void {
    if (this.busy) return;
    if (this.leadership.leaseId !== this.term) {
      this.term = this.leadership.leaseId;
      this.memory = EMPTY_SYNC_MEMORY;
    }
    this.busy = true;
    this.once(published, record)
      .catch((error) => this.cluster.log.debug({ error: describeError(error) }, 'synchronous set not managed this tick'))
      .finally(() => {
        this.busy = false;
      });
  }

  private async once(published: Published, record: SyncRecord | null): Promise<void> {
    const primary = this.cluster.node(published.name);
    if (!primary) return;
    const others = this.cluster.nodes.filter((node) => node.name !== primary.name);
    const state = await readSyncState(this.cluster.pool(primary), primary.name, others.map((node) => node.name));
    const plan = planSync({
      now: Date.now(),
      settings: this.settings,
      epoch: published.epoch,
      record,
      state,
      eligible: others.filter((node) => !node.tags.noFailover).map((node) => node.name),
      graceMs: this.cluster.config.timings.failureTimeMs,
      settleMs: RELOAD_SETTLE_MS,
      memory: this.memory,
    });
    this.memory = plan.memory;
    const { step } = plan;
    if (step.kind === 'none') await this.keepPresets(published, record);
    if (step.kind === 'none' || step.kind === 'wait') {
      if (plan.why !== this.lastWhy && step.kind === 'wait') this.cluster.log.info({ rule: plan.rule }, `synchronous set: ${plan.why}`);
      this.lastWhy = plan.why;
      return;
    }
    if (!this.leadership.isLeader()) return;
    if (step.kind === 'record') {
      if (!(await this.leadership.guard([{ key: this.cluster.store.keys.sync, value: encode(step.record) }]))) return;
      this.cluster.log.warn({ rule: plan.rule, record: step.record }, `synchronous set recorded: ${plan.why}`);
      void this.events.emit({ kind: 'sync', rule: plan.rule, message: `synchronous set recorded (${describe(step.record)}): ${plan.why}`, epoch: published.epoch, nodes: step.record.standbys });
    } else {
      const setting = formatStandbyNames(step.set);
      await applyStandbyNames(this.cluster.pool(primary), setting);
      this.cluster.log.warn({ rule: plan.rule, setting }, `synchronous_standby_names set on ${primary.name}: ${plan.why}`);
      void this.events.emit({ kind: 'sync', rule: plan.rule, message: `${primary.name}: synchronous_standby_names = '${setting}' (${plan.why})`, epoch: published.epoch, nodes: [primary.name] });
    }
    this.lastWhy = plan.why;
  }

  /**
   * Every standby holds the setting it would need if promoted by a failover (its standbys but
   * the current primary, core/sync-promotion.ts), so that a promotion finds it in place and
   * settled. Standbys ignore the setting while in recovery. Every 2 s, a standby at a time.
   */
  private async keepPresets(published: Published, record: SyncRecord | null): Promise<void> {
    const now = Date.now();
    if (now - this.presetsAt < 2000) return;
    this.presetsAt = now;
    const eligible = this.cluster.nodes.filter((node) => !node.tags.noFailover).map((node) => node.name);
    for (const node of this.cluster.nodes.filter((n) => n.name !== published.name)) {
      const wanted = formatStandbyNames(syncForPromotion({ settings: this.settings, record, to: node.name, eligible, fenced: [published.name], epoch: published.epoch, now }).set);
      const pool = this.cluster.pool(node);
      const current = await readStandbyNames(pool).catch(() => null);
      if (current !== null && current.setting !== wanted) await applyStandbyNames(pool, wanted);
    }
  }
}

export function describe(record: SyncRecord): string {
  if (record.mode === 'off') return 'mode off';
  const state = record.degraded ? ', degraded' : record.pending ? ', pending' : '';
  return `ANY ${record.number} of ${record.standbys.join(', ') || 'none'}${state}`;
}
