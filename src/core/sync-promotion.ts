// The synchronous set across a promotion (issue 13, items 2 and 4). The new primary must
// wait for its standbys from its very first commit, so its synchronous_standby_names is
// set while it is still a standby (PostgreSQL keeps it in postgresql.auto.conf and applies
// it when it is promoted); and whatever the setting will name is recorded first, along with
// the target itself: until the others have confirmed the new primary's position, the record
// names the new primary, so that losing it right away waits for it rather than promoting a
// standby that may lack what it acknowledged (sync-plan.ts takes it out once confirmed).
import { claims, sortedNames, unique, type StandbySet, type SyncRecord, type SyncSettings } from './sync-set.js';

export interface PromotionSyncInput {
  settings: SyncSettings;
  record: SyncRecord | null;
  /** The node being promoted. */
  to: string;
  /** Nodes that may be synchronous standbys (in the config, not tagged noFailover). */
  eligible: string[];
  /**
   * Nodes fenced by the operation (a failover's old primary, given-up targets): they come back
   * only as rebuilt standbys, and enter the set once they stream (sync-plan.ts). Named anyway
   * when too few others remain, since an empty setting would acknowledge alone.
   */
  fenced: string[];
  /** The epoch the operation creates. */
  epoch: number;
  now: number;
}

export interface PromotionSync {
  /** Written to the `sync` key before the target's setting changes; null: the record stays as it is. */
  record: SyncRecord | null;
  /** The target's synchronous_standby_names: null is asynchronous. */
  set: StandbySet | null;
}

export function syncForPromotion(input: PromotionSyncInput): PromotionSync {
  const { settings, record, to, now, epoch } = input;
  const base = { durability: settings.durability, epoch, at: now };
  if (settings.mode === 'off') {
    // The record stops promising before a primary that acknowledges alone exists.
    return { record: claims(record) ? { ...record!, ...base, mode: 'off', degraded: false, pending: false } : null, set: null };
  }
  if (record !== null && record.mode === 'quorum' && record.degraded && settings.durability === 'preferred') return { record: null, set: null };
  const others = input.eligible.filter((name) => name !== to);
  const running = others.filter((name) => !input.fenced.includes(name));
  const members = sortedNames(running.length >= settings.number ? running : others);
  const set = { number: settings.number, standbys: members };
  const wanted = unique([to, ...members]);
  if (claims(record)) {
    const standbys = sortedNames(unique([...record!.standbys, ...wanted]));
    const number = Math.min(record!.number, settings.number);
    const unchanged = standbys.length === record!.standbys.length && number === record!.number;
    return { record: unchanged ? null : { ...record!, ...base, standbys, number }, set };
  }
  const covered = record !== null && record.mode === 'quorum' && record.pending && !record.degraded && wanted.every((name) => record.standbys.includes(name));
  const pending: SyncRecord = { mode: 'quorum', number: settings.number, standbys: sortedNames(unique([...(record?.pending ? record.standbys : []), ...wanted])), degraded: false, pending: true, ...base };
  return { record: covered ? null : pending, set };
}

/** One walsender as the new primary sees it (postgres/sync-state.ts reads them). */
interface SenderView {
  name: string;
  flushLsn: bigint | null;
  priority: number;
}

/**
 * Before the new primary is published (no client has written to it yet): have `set.number` of
 * its standbys flushed its position of `mark`, with every walsender following its setting?
 * Then they hold every commit acknowledged in the epoch before (none lies past the promoted
 * node's position) and, the setting being settled, every commit it will acknowledge: the
 * record can name exactly the setting's members, and losing the new primary right after its
 * publication need not wait for it.
 */
export function confirmedBeforePublish(set: StandbySet, senders: readonly SenderView[], mark: bigint): boolean {
  const reloaded = senders.every((sender) => (sender.priority > 0) === set.standbys.includes(sender.name));
  const holding = senders.filter((sender) => set.standbys.includes(sender.name) && sender.flushLsn !== null && sender.flushLsn >= mark);
  return reloaded && holding.length >= set.number;
}
