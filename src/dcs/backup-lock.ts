import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import type { Keys } from './keys.js';

// One backup at a time, cluster-wide: whoever takes one (the leader on schedule, or
// `failover backup …` by hand) first puts `backup-lock` if it is absent, under a lease
// kept alive while the backup runs. A holder that dies (a killed CLI, a crashed agent)
// stops renewing, and the key disappears with its lease TTL seconds later: a lock can
// never block backups for longer than that. Losing the lease while a backup runs does
// not stop the backup (a second one at the same time costs load, not data); the
// callback can ask whether it still holds the lock.

export type BackupLockResult<T> = { ok: true; value: T } | { ok: false; heldBy: string };

export interface HeldLock {
  /** False once a keepalive failed past the lease's TTL or etcd said the lease is gone. */
  held(): boolean;
}

/** What the lock's value says about its holder, as printable text (etcd's content is input). */
export function holderText(value: string | null): string {
  if (value === null) return 'someone (the lock was released while it was read)';
  const printable = value.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  return printable.length > 0 ? printable : 'someone (an empty lock value)';
}

/**
 * Runs `fn` while holding the backup lock; `{ ok: false, heldBy }` (and `fn` not run) when
 * someone else holds it. The lock is released when `fn` ends, whether it returned or threw.
 * `holder` says who holds it, for the refusal another caller prints: e.g. `cli:ann@box dump`.
 */
export async function withBackupLock<T>(etcd: Etcd3, keys: Keys, holder: string, ttlSec: number, fn: (lock: HeldLock) => Promise<T>): Promise<BackupLockResult<T>> {
  const lease: Lease = etcd.lease(ttlSec, { autoKeepAlive: false });
  // Loss is judged by our own keepalives below; the library's late 'lost' event must not crash anything.
  lease.on('lost', () => undefined);
  const leaseId = await lease.grant();
  try {
    const result = await etcd
      .if(keys.backupLock, 'Create', '==', 0)
      .then(etcd.put(keys.backupLock).value(holder).lease(leaseId))
      .else(etcd.get(keys.backupLock))
      .commit();
    if (!result.succeeded) {
      const current = result.responses[0]?.response_range?.kvs?.[0];
      return { ok: false, heldBy: holderText(current ? current.value.toString() : null) };
    }
    const keeper = new LeaseKeeper(lease, ttlSec);
    keeper.start();
    try {
      return { ok: true, value: await fn(keeper) };
    } finally {
      keeper.stop();
    }
  } finally {
    // Revoking deletes the key; if etcd cannot be reached now, the lease runs out by itself.
    await lease.revoke().catch(() => undefined);
  }
}

/** Renews the lease every third of its TTL, each keepalive with a deadline (it opens a stream, which has none). */
class LeaseKeeper implements HeldLock {
  private timer: NodeJS.Timeout | null = null;
  private lastOkAt = Date.now();
  private gone = false;
  private stopped = false;

  constructor(
    private readonly lease: Lease,
    private readonly ttlSec: number,
  ) {}

  held(): boolean {
    return !this.gone && Date.now() - this.lastOkAt < this.ttlSec * 1000;
  }

  start(): void {
    const everyMs = Math.max(200, Math.floor((this.ttlSec * 1000) / 3));
    const beat = async () => {
      if (this.stopped) return;
      const sentAt = Date.now();
      try {
        const response = await this.lease.keepaliveOnce({ deadline: Date.now() + everyMs });
        if (response.TTL === undefined || Number(response.TTL) <= 0) this.gone = true;
        else this.lastOkAt = sentAt;
      } catch (error) {
        if (error instanceof EtcdLeaseInvalidError) this.gone = true;
        // Anything else (etcd unreachable for a moment): the next beat tries again; held() judges the age.
      }
      if (!this.stopped && !this.gone) this.timer = setTimeout(() => void beat(), everyMs);
    };
    this.timer = setTimeout(() => void beat(), everyMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
