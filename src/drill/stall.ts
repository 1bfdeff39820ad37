import type { SyncRecord } from '../core/sync-set.js';

/**
 * What the writer lived through when the standbys went away (standby-loss), judged on
 * plain values: acknowledgement times in ms, the moments of the fault. Pure, so that
 * the figures and the checks are unit-tested without a lab.
 */

export interface Stall {
  /** The longest stretch after the fault without an acknowledged write (null: the window is empty). */
  stallMs: number | null;
  /** The acknowledgement that ended that stretch; null when it ran to the end of the watch (writes never resumed). */
  resumeAt: number | null;
}

/**
 * The longest stretch without an acknowledged write between `faultAt` and `endAt`: from
 * the fault to the first acknowledgement after it, between two acknowledgements, or from
 * the last one to the end of the watch (a stall that never ended). Acknowledgements before
 * the fault only end stretches that began before it, which do not count.
 */
export function stallAfter(acks: readonly number[], faultAt: number, endAt: number): Stall {
  if (endAt < faultAt) return { stallMs: null, resumeAt: null };
  let previous = faultAt;
  let longest = -1;
  let resumeAt: number | null = null;
  for (const at of [...acks].sort((a, b) => a - b)) {
    if (at < faultAt || at > endAt) continue;
    if (at - previous > longest) {
      longest = at - previous;
      resumeAt = at;
    }
    previous = at;
  }
  if (endAt - previous > longest) return { stallMs: endAt - previous, resumeAt: null };
  return { stallMs: longest, resumeAt };
}

/** The moments of one outage, in ms since the epoch. */
export interface OutageMoments {
  /** Every standby's container was down (the last kill returned). */
  allDownAt: number;
  /** The first standby's container was started again. */
  startedAt: number;
}

/**
 * How long after every standby went down a commit may reach the client at all. An
 * acknowledgement the standby sent just before its SIGKILL reaches the primary's walsender,
 * the waiting backend and the writer a few ms later, more on two busy cores: so much is
 * not a broken promise.
 */
export const ACK_IN_FLIGHT_MS = 250;

/**
 * The stretch of the outage in which the recorded synchronous set forbids any
 * acknowledgement: with every standby down, `required` durability acknowledges nothing
 * until one runs again; `preferred` nothing for `degradeAfterMs` at least (the leader
 * starts counting only once it sees them gone). Null when nothing is forbidden: mode off,
 * a record that does not promise (degraded or pending already), or preferred durability
 * whose degradeAfterMs the drill does not know (its config says otherwise than the record).
 */
export function forbiddenWindow(record: SyncRecord | null, moments: OutageMoments, degradeAfterMs: number | null): { from: number; to: number } | null {
  if (record === null || record.mode !== 'quorum' || record.degraded || record.pending) return null;
  const from = moments.allDownAt + ACK_IN_FLIGHT_MS;
  let to = moments.startedAt;
  if (record.durability === 'preferred') {
    if (degradeAfterMs === null) return null;
    to = Math.min(to, moments.allDownAt + degradeAfterMs);
  }
  return to > from ? { from, to } : null;
}

/** Acknowledgements strictly inside `window`. */
export function acksWithin(acks: readonly number[], window: { from: number; to: number }): number {
  return acks.filter((at) => at > window.from && at < window.to).length;
}

/** The record in a few words for the report: `quorum ANY 1 required`, `quorum ANY 1 preferred (degraded)`, `off`, `none`. */
export function describeSync(record: SyncRecord | null): string {
  if (record === null) return 'none';
  if (record.mode !== 'quorum') return record.mode;
  const flags = [record.degraded ? 'degraded' : null, record.pending ? 'pending' : null].filter((f) => f !== null);
  return `quorum ANY ${record.number} ${record.durability}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

/** The drill's own config in the same words (`quorum ANY 1 preferred`, `off`): what the operator meant the agents to run. */
export function describeSettings(settings: { mode: string; number: number; durability: string }): string {
  return settings.mode === 'quorum' ? `quorum ANY ${settings.number} ${settings.durability}` : settings.mode;
}

/**
 * The round's verdict on its writes, or null when they held: no acknowledged row lost
 * (no failover happened, so none may be), writes resumed before the watch ended, and
 * none acknowledged in the forbidden window.
 */
export function judgeStandbyLoss(facts: { lost: number; stall: Stall; forbidden: { from: number; to: number } | null; ackedInForbidden: number; sync: string; configured?: string }): string | null {
  if (facts.lost > 0) return `standby-loss: ${facts.lost} acknowledged write(s) missing from the primary, which never changed`;
  if (facts.stall.stallMs !== null && facts.stall.resumeAt === null) return `standby-loss: no write was acknowledged during the last ${facts.stall.stallMs} ms of the watch: writes never resumed`;
  if (facts.forbidden && facts.ackedInForbidden > 0) {
    // The record is the promise the cluster shows (status, the sync key); the drill's config only hints at a stale one.
    const hint = facts.configured !== undefined && !facts.sync.startsWith(facts.configured) ? `; the drill's config says ${facts.configured}: did the record not follow a change of the agents' config?` : '';
    return `standby-loss: ${facts.ackedInForbidden} write(s) acknowledged while every standby was down (${facts.forbidden.to - facts.forbidden.from} ms window), which the synchronous set (${facts.sync}) forbids${hint}`;
  }
  return null;
}
