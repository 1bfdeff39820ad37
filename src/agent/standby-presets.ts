import { RELOAD_SETTLE_MS } from '../core/sync-plan.js';

/**
 * What synchronous_standby_names each standby holds, and since when it has been seen
 * unchanged. The leader keeps on every standby the setting it would need if promoted (its
 * standbys but the current primary): a node promoted with a setting in place for longer than
 * RELOAD_SETTLE_MS waits for its standbys from its first commit, proven without waiting. Shared
 * by the synchronous set's manager (which writes the presets) and the operation (which reads).
 */
export class StandbyPresets {
  private readonly seen = new Map<string, { setting: string; since: number }>();

  note(node: string, setting: string, now: number): void {
    if (this.seen.get(node)?.setting !== setting) this.seen.set(node, { setting, since: now });
  }

  forget(node: string): void {
    this.seen.delete(node);
  }

  settled(node: string, setting: string, now: number): boolean {
    const entry = this.seen.get(node);
    return entry !== undefined && entry.setting === setting && now - entry.since >= RELOAD_SETTLE_MS;
  }
}
