import { EtcdLeaseInvalidError, type Etcd3, type Lease } from 'etcd3';
import { monotonicMs } from '../time.js';
import type { Keys } from './keys.js';

export type Clock = () => number;

/**
 * Whether the agent's loop moves. The loop reports each tick it completed and each
 * operation step it recorded; a loop silent for longer than `boundMs` (a call that
 * hangs, a step that keeps failing) counts as stuck. Judged on the injected clock
 * (monotonic in the agent), nothing else: the pure half of "the lease is renewed only
 * while the loop makes progress".
 */
export class LoopProgress {
  private lastReportAt: number;

  constructor(
    readonly boundMs: number,
    private readonly clock: Clock = monotonicMs,
  ) {
    this.lastReportAt = clock();
  }

  report(): void {
    this.lastReportAt = this.clock();
  }

  /** How long the loop has not reported. */
  silentMs(): number {
    return this.clock() - this.lastReportAt;
  }

  stuck(): boolean {
    return this.silentMs() > this.boundMs;
  }
}

/** What a stuck loop gave up, for the log. */
export interface GiveWay {
  wasLeader: boolean;
  silentMs: number;
  boundMs: number;
}

/**
 * One agent's lease and its claim on the leader key.
 *
 * etcd3's own Election reports a lost lease only after 2×TTL, so the agent keeps its
 * own clock: it counts itself leader only while its last successful keepalive is
 * younger than 2/3 of the TTL, and every destructive step is additionally guarded by
 * a transaction that compares the leader key's value and lease (see `guard`).
 */
export class Leadership {
  private lease: Lease | null = null;
  private leaseIdValue: string | null = null;
  private lastKeepaliveOkAt = 0;
  private holdsKey = false;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private progress: LoopProgress | null = null;
  private onGiveWay: (what: GiveWay) => void = () => undefined;
  /** After giving way, this agent does not claim the leader key again before this time (its clock). */
  private standDownUntil = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    readonly agentId: string,
    private readonly ttlSec: number,
    /** Judges the lease's age: monotonic, so a wall clock set back cannot stretch a leadership past etcd's expiry. */
    private readonly clock: Clock = monotonicMs,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  get leaseId(): string | null {
    return this.leaseIdValue;
  }

  /** Whether this agent may act now, judged by its own clock: a stuck loop no longer leads. */
  isLeader(): boolean {
    return this.holdsKey && this.leaseFresh() && !this.loopStuck();
  }

  /**
   * From now on the lease is renewed only while the loop reports progress (see
   * `reportProgress`) at least every `boundMs`, as Patroni refreshes its leader key from
   * its HA loop: a leader stuck in a hung call gives the key and its lease up within
   * `boundMs` plus one heartbeat (or, cut off from etcd, the lease expires TTL later).
   * Without this call the lease is kept alive by the timer alone.
   */
  watchProgress(boundMs: number, onGiveWay: (what: GiveWay) => void = () => undefined): void {
    this.progress = new LoopProgress(boundMs, this.clock);
    this.onGiveWay = onGiveWay;
  }

  /** The loop completed a tick or recorded a step. */
  reportProgress(): void {
    this.progress?.report();
  }

  loopStuck(): boolean {
    return this.progress?.stuck() ?? false;
  }

  leaseFresh(): boolean {
    return this.leaseIdValue !== null && this.clock() - this.lastKeepaliveOkAt < (this.ttlSec * 1000 * 2) / 3;
  }

  start(): void {
    const everyMs = Math.max(200, Math.floor((this.ttlSec * 1000) / 4));
    const beat = async () => {
      if (this.stopped) return;
      try {
        await this.heartbeat();
      } catch (error) {
        this.onError(error);
      }
      if (!this.stopped) this.keepaliveTimer = setTimeout(beat, everyMs);
    };
    void beat();
  }

  /** Keeps the lease alive (granting a new one if it expired) and tries to take a vacant leader key. */
  async heartbeat(): Promise<void> {
    if (this.loopStuck()) {
      // Neither renewed nor granted until the loop moves again: a stuck loop must not lead.
      await this.giveWay();
      return;
    }
    if (this.lease === null || this.leaseIdValue === null) {
      const lease = this.etcd.lease(this.ttlSec, { autoKeepAlive: false });
      lease.on('lost', () => undefined);
      const id = await lease.grant();
      this.lease = lease;
      this.leaseIdValue = id;
      this.lastKeepaliveOkAt = this.clock();
    } else {
      const sentAt = this.clock();
      try {
        // keepaliveOnce opens a stream, which has no deadline: one on a member that died
        // without closing its connection would never answer, and the heartbeat would stop.
        const response = await this.lease.keepaliveOnce({ deadline: Date.now() + (this.ttlSec * 1000) / 3 });
        if (response.TTL === undefined || Number(response.TTL) <= 0) {
          this.dropLease();
          return;
        }
        this.lastKeepaliveOkAt = sentAt;
      } catch (error) {
        // etcd3 reports an expired lease as an error, not as TTL 0: an agent cut off for longer
        // than the TTL must grant a new lease, or it would never publish a view or lead again.
        if (error instanceof EtcdLeaseInvalidError) {
          this.dropLease();
          return;
        }
        if (!this.leaseFresh()) this.holdsKey = false;
        throw error;
      }
    }
    await this.claim();
  }

  private async claim(): Promise<void> {
    const id = this.leaseIdValue;
    if (id === null) return;
    // Just after giving way, the other agents' heartbeats get the vacant key first.
    if (this.clock() < this.standDownUntil) return;
    const result = await this.etcd
      .if(this.keys.leader, 'Create', '==', 0)
      .then(this.etcd.put(this.keys.leader).value(this.agentId).lease(id))
      .else(this.etcd.get(this.keys.leader))
      .commit();
    if (result.succeeded) {
      this.holdsKey = true;
      return;
    }
    const current = result.responses[0]?.response_range?.kvs?.[0];
    this.holdsKey = current !== undefined && current.value.toString() === this.agentId && current.lease.toString() === id;
  }

  private dropLease(): void {
    this.lease = null;
    this.leaseIdValue = null;
    this.holdsKey = false;
  }

  /**
   * A stuck loop gives its lease up: from this moment it does not act (isLeader() is
   * false and `guard` writes nothing), the leader key it held is deleted (only if still
   * under its lease) and the lease revoked, so another agent takes over at once instead
   * of a TTL later. If etcd cannot be reached, the lease simply expires.
   */
  private async giveWay(): Promise<void> {
    const lease = this.lease;
    const id = this.leaseIdValue;
    if (lease === null || id === null) return;
    const wasLeader = this.holdsKey;
    this.dropLease();
    this.standDownUntil = this.clock() + this.ttlSec * 1000;
    this.onGiveWay({ wasLeader, silentMs: this.progress?.silentMs() ?? 0, boundMs: this.progress?.boundMs ?? 0 });
    await this.etcd
      .if(this.keys.leader, 'Lease', '==', id)
      .then(this.etcd.delete().key(this.keys.leader))
      .commit()
      .catch(() => undefined);
    await lease.revoke().catch(() => undefined);
  }

  /**
   * Writes `puts` only if this agent still holds the leader key under its current
   * lease, judged by etcd itself, and every key in `absent` does not exist. Returns
   * false (and writes nothing) otherwise.
   */
  async guard(puts: Array<{ key: string; value: string } | { key: string; delete: true }>, options: { absent?: string[] } = {}): Promise<boolean> {
    const id = this.leaseIdValue;
    if (id === null || !this.isLeader()) return false;
    const ops = puts.map((p) => ('delete' in p ? this.etcd.delete().key(p.key) : this.etcd.put(p.key).value(p.value)));
    let txn = this.etcd.if(this.keys.leader, 'Value', '==', this.agentId).and(this.keys.leader, 'Lease', '==', id);
    for (const key of options.absent ?? []) txn = txn.and(key, 'Create', '==', 0);
    const result = await txn.then(...ops).commit();
    // Refused because a key exists is not a lost leadership: check the leader key again.
    if (!result.succeeded && (options.absent ?? []).length === 0) this.holdsKey = false;
    return result.succeeded;
  }

  /** Stops heartbeats without releasing anything, as a process that died would: the lease runs out on its own. */
  halt(): void {
    this.stopped = true;
    this.holdsKey = false;
    this.leaseIdValue = null;
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
  }

  /** Leaves cleanly: releases the leader key and the lease so another agent takes over at once. */
  async resign(): Promise<void> {
    this.stopped = true;
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    const id = this.leaseIdValue;
    this.holdsKey = false;
    if (id !== null) {
      await this.etcd
        .if(this.keys.leader, 'Lease', '==', id)
        .then(this.etcd.delete().key(this.keys.leader))
        .commit()
        .catch(() => undefined);
    }
    await this.lease?.revoke().catch(() => undefined);
    this.dropLease();
  }
}
