import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { keysFor } from '../../../src/dcs/keys.js';
import { Leadership, LoopProgress } from '../../../src/dcs/leadership.js';

// Safety rule 6 (issue 12, item 2): the lease is renewed only while the agent's loop
// makes progress, so a leader stuck in a hung call gives way. Judged on an injected
// clock; etcd is a small in-memory stand-in for the calls Leadership makes.

const keys = keysFor('/pg-failover', 'unit');
const TTL_SEC = 3;
const BOUND_MS = 10_000;

describe('LoopProgress', () => {
  it('counts the loop stuck only once it has not reported for longer than the bound', () => {
    let now = 1000;
    const progress = new LoopProgress(BOUND_MS, () => now);
    now += BOUND_MS;
    expect(progress.stuck()).toBe(false);
    now += 1;
    expect(progress.stuck()).toBe(true);
    expect(progress.silentMs()).toBe(BOUND_MS + 1);
    progress.report();
    expect(progress.stuck()).toBe(false);
    now += BOUND_MS;
    expect(progress.stuck()).toBe(false);
  });
});

/** The etcd calls Leadership makes, on one leader key held in memory. */
class FakeEtcd {
  leader: { value: string; lease: string } | null = null;
  keepalives = 0;
  revoked: string[] = [];
  private nextLease = 1;

  lease() {
    const id = String(this.nextLease++);
    return {
      on: () => undefined,
      grant: async () => id,
      keepaliveOnce: async () => {
        this.keepalives++;
        return { TTL: String(TTL_SEC) };
      },
      revoke: async () => {
        this.revoked.push(id);
      },
    };
  }

  put(key: string) {
    return { value: (value: string) => ({ lease: (lease: string) => ({ op: 'put', key, value, lease }) }) };
  }

  get(key: string) {
    return { op: 'get', key };
  }

  delete() {
    return { key: (key: string) => ({ op: 'delete', key }) };
  }

  if(_key: string, field: string, _cmp: string, expected: unknown) {
    const conditions: Array<{ field: string; expected: unknown }> = [{ field, expected }];
    const txn = {
      and: (_k: string, f: string, _c: string, e: unknown) => {
        conditions.push({ field: f, expected: e });
        return txn;
      },
      then: (...ops: Array<{ op: string; value?: string; lease?: string }>) => {
        thenOps = ops;
        return txn;
      },
      else: () => txn,
      commit: async () => this.commit(conditions, thenOps),
    };
    let thenOps: Array<{ op: string; value?: string; lease?: string }> = [];
    return txn;
  }

  private commit(conditions: Array<{ field: string; expected: unknown }>, ops: Array<{ op: string; value?: string; lease?: string }>) {
    const holds = conditions.every(({ field, expected }) => {
      if (field === 'Create') return this.leader === null;
      if (field === 'Lease') return this.leader?.lease === expected;
      if (field === 'Value') return this.leader?.value === expected;
      return true;
    });
    if (holds) {
      for (const op of ops) {
        if (op.op === 'put') this.leader = { value: op.value!, lease: op.lease! };
        if (op.op === 'delete') this.leader = null;
      }
    }
    const kvs = this.leader ? [{ value: Buffer.from(this.leader.value), lease: this.leader.lease }] : [];
    return { succeeded: holds, responses: [{ response_range: { kvs } }] };
  }
}

function leadershipOn(clock: () => number) {
  const etcd = new FakeEtcd();
  const leadership = new Leadership(etcd as unknown as Etcd3, keys, 'agent-1', TTL_SEC, clock);
  const gaveWay: Array<{ wasLeader: boolean; silentMs: number }> = [];
  leadership.watchProgress(BOUND_MS, (what) => gaveWay.push(what));
  return { etcd, leadership, gaveWay };
}

describe('Leadership renews its lease only while the loop makes progress', () => {
  it('a leader that reports progress keeps renewing and leading', async () => {
    let now = 0;
    const { etcd, leadership } = leadershipOn(() => now);
    await leadership.heartbeat();
    expect(leadership.isLeader()).toBe(true);
    for (let i = 0; i < 20; i++) {
      now += 750;
      leadership.reportProgress();
      await leadership.heartbeat();
    }
    expect(etcd.keepalives).toBe(20);
    expect(leadership.isLeader()).toBe(true);
  });

  it('a leader whose loop is silent past the bound stops leading at once, gives the key and lease up, and renews nothing', async () => {
    let now = 0;
    const { etcd, leadership, gaveWay } = leadershipOn(() => now);
    await leadership.heartbeat();
    const lease = leadership.leaseId;
    // Keepalives alone (the timer) do not count as progress.
    for (let t = 750; t <= BOUND_MS; t += 750) {
      now = t;
      await leadership.heartbeat();
    }
    expect(leadership.isLeader()).toBe(true);
    const renewed = etcd.keepalives;
    now = BOUND_MS + 1;
    // Before any heartbeat: no more acting, and guarded writes write nothing.
    expect(leadership.isLeader()).toBe(false);
    expect(await leadership.guard([{ key: keys.journal, value: 'x' }])).toBe(false);
    await leadership.heartbeat();
    expect(etcd.keepalives).toBe(renewed);
    expect(etcd.leader).toBeNull();
    expect(etcd.revoked).toEqual([lease]);
    expect(leadership.leaseId).toBeNull();
    expect(gaveWay).toEqual([{ wasLeader: true, silentMs: BOUND_MS + 1, boundMs: BOUND_MS }]);
    // Still stuck: no new lease either.
    now += 5000;
    await leadership.heartbeat();
    expect(leadership.leaseId).toBeNull();
    expect(gaveWay).toHaveLength(1);
  });

  it('once the loop moves again it takes a new lease, but claims a vacant key only after standing down for one TTL', async () => {
    let now = 0;
    const { etcd, leadership } = leadershipOn(() => now);
    await leadership.heartbeat();
    now = BOUND_MS + 1;
    await leadership.heartbeat();
    expect(etcd.leader).toBeNull();
    now += 500;
    leadership.reportProgress();
    await leadership.heartbeat();
    expect(leadership.leaseId).not.toBeNull();
    expect(etcd.leader).toBeNull();
    expect(leadership.isLeader()).toBe(false);
    now += TTL_SEC * 1000;
    leadership.reportProgress();
    await leadership.heartbeat();
    expect(etcd.leader).toEqual({ value: 'agent-1', lease: leadership.leaseId });
    expect(leadership.isLeader()).toBe(true);
  });

  it('without watchProgress the lease is kept by the timer alone, as before', async () => {
    let now = 0;
    const etcd = new FakeEtcd();
    const leadership = new Leadership(etcd as unknown as Etcd3, keys, 'agent-1', TTL_SEC, () => now);
    await leadership.heartbeat();
    for (let t = 750; t <= 3 * BOUND_MS; t += 750) {
      now = t;
      await leadership.heartbeat();
    }
    expect(leadership.isLeader()).toBe(true);
    expect(etcd.revoked).toEqual([]);
  });
});
