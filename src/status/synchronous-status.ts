import { claims, sortedNames, type Durability, type SyncMode, type SyncRecord, type SyncSettings } from '../core/sync-set.js';

// Zero-loss mode as `status`, GET /cluster and /metrics show it: one object built in one
// place from the recorded synchronous set (the etcd `sync` key), so the three never differ.

/** What a reader's config says, shown until a leader records a set. */
export type SynchronousConfig = Pick<SyncSettings, 'mode' | 'number' | 'durability'>;

export interface SynchronousStatus {
  mode: SyncMode;
  number: number;
  durability: Durability;
  /** The recorded members, in name order; [] without a record. */
  standbys: string[];
  /** preferred durability went asynchronous: commits are acknowledged without k standbys. */
  degraded: boolean;
  /** The members are named, but have not yet confirmed everything acknowledged before. */
  pending: boolean;
  /** The epoch the record was written under; null without a record. */
  epoch: number | null;
  /** The record promises that every acknowledged commit is on `number` of `standbys` (a failover then loses none). */
  promising: boolean;
  /** Whether this comes from the etcd record (false: from the config, before any leader recorded a set). */
  recorded: boolean;
}

/**
 * From the record when there is one; otherwise from the config the reader runs with: no
 * standbys, and in quorum mode pending, since nothing confirms that any standby holds the
 * acknowledged commits until a leader records it.
 */
export function synchronousStatus(record: SyncRecord | null, settings: SynchronousConfig): SynchronousStatus {
  if (record === null) {
    return { mode: settings.mode, number: settings.number, durability: settings.durability, standbys: [], degraded: false, pending: settings.mode === 'quorum', epoch: null, promising: false, recorded: false };
  }
  return {
    mode: record.mode,
    number: record.number,
    durability: record.durability,
    standbys: sortedNames(record.standbys),
    degraded: record.degraded,
    pending: record.pending,
    epoch: record.epoch,
    promising: claims(record),
    recorded: true,
  };
}

/** `synchronous: quorum ANY 1 of replica-1, replica-2 (required)`, plus degraded or pending when so. */
export function renderSynchronous(sync: SynchronousStatus): string {
  if (sync.mode === 'off') return `synchronous: off${sync.recorded ? '' : ' (config)'}`;
  const members = sync.standbys.length > 0 ? sync.standbys.join(', ') : 'no standby recorded';
  const flags = [sync.degraded ? 'DEGRADED (commits acknowledged without standbys)' : null, sync.pending ? 'pending (not yet promising)' : null].filter((f) => f !== null);
  return `synchronous: quorum ANY ${sync.number} of ${members} (${sync.durability})${flags.length > 0 ? `  ${flags.join(', ')}` : ''}`;
}
