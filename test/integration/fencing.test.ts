import { describe, expect, it, vi } from 'vitest';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { Leadership } from '../../src/dcs/leadership.js';
import { docker, startCluster } from '../support/cluster.js';
import { startAgents, clusterPerTest } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Safety rule 1: one writable primary per epoch. A node that runs as a primary but is
// not the published one is fenced at once, and only the current leader can publish.

const t = clusterPerTest();

describe('rule 1: one writable primary per epoch', () => {
  it('a replica made writable by hand is fenced within the failure time and never published', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    const c = t.cluster;
    const running = t.agents;
    // Watch the published primary the whole time: it must never name the stray.
    const publishedNames = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const published = await running.store.published().catch(() => null);
        if (published) publishedNames.add(`${published.name}@${published.epoch}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await c.query('replica-2', 'SELECT pg_promote(true)');
      const promotedAt = Date.now();
      const [row] = await c.query<{ rec: boolean }>('replica-2', 'SELECT pg_is_in_recovery() AS rec');
      expect(row?.rec, 'the hand-made primary is writable').toBe(false);
      const container = docker.getContainer(c.node('replica-2').container);
      await eventually(async () => !(await container.inspect()).State.Running, 'the stray primary fenced', 30_000, 20);
      const fencedAfterMs = Date.now() - promotedAt;
      expect(fencedAfterMs).toBeLessThanOrEqual(running.config.timings.failureTimeMs);
      // The real primary kept its place and its epoch.
      expect(await running.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });
      await c.query('pgsql', 'CREATE TABLE still_primary (id int)');
    } finally {
      watching = false;
      await watcher;
    }
    expect([...publishedNames]).toEqual(['pgsql@1']);
    expect((await running.store.history()).map((h) => `${h.to}@${h.epoch}`)).toEqual(['pgsql@1']);
  });

  it("a deposed leader's publish is refused by etcd, even while its own clock says it leads", async () => {
    t.cluster = await startCluster({ replicas: 0 });
    const options = { endpoints: [t.cluster.etcdUrl!], callTimeoutMs: 2000 };
    const keys = keysFor('/pg-failover', `t${t.cluster.runId}`);
    const etcdA = createEtcd(options);
    const etcdB = createEtcd(options);
    // A's clock stands still after its last keepalive: by its own reckoning its lease never ages.
    let frozenAt: number | null = null;
    const clockA = () => frozenAt ?? Date.now();
    const a = new Leadership(etcdA, keys, 'agent-a', 3, clockA);
    const b = new Leadership(etcdB, keys, 'agent-b', 3);
    try {
      await a.heartbeat();
      expect(a.isLeader()).toBe(true);
      expect(await a.guard([{ key: keys.primary, value: JSON.stringify({ name: 'pgsql', epoch: 1 }) }])).toBe(true);
      frozenAt = Date.now();
      // A is deposed: its lease is gone (as when it expires) and B takes the key.
      await etcdB.leaseClient.leaseRevoke({ ID: a.leaseId! });
      await b.heartbeat();
      expect(b.isLeader()).toBe(true);
      expect(await etcdB.get(keys.leader).string()).toBe('agent-b');
      expect(a.isLeader(), 'A still believes it leads').toBe(true);
      const published = await a.guard([{ key: keys.primary, value: JSON.stringify({ name: 'replica-1', epoch: 2 }) }]);
      expect(published).toBe(false);
      expect(JSON.parse((await etcdB.get(keys.primary).string())!)).toEqual({ name: 'pgsql', epoch: 1 });
      // Having been refused, A no longer counts itself leader.
      expect(a.isLeader()).toBe(false);
      expect(await b.guard([{ key: keys.primary, value: JSON.stringify({ name: 'replica-1', epoch: 2 }) }])).toBe(true);
    } finally {
      await a.resign();
      await b.resign();
      etcdA.close();
      etcdB.close();
    }
  });

  it("a leader's lease is judged on a monotonic clock: a wall clock stepped back does not stretch it", async () => {
    t.cluster = await startCluster({ replicas: 0 });
    const etcd = createEtcd({ endpoints: [t.cluster.etcdUrl!], callTimeoutMs: 2000 });
    // The wall clock as the process reads it (Date.now), which NTP may step back an hour.
    const realNow = Date.now.bind(Date);
    let stepAt: number | null = null;
    vi.spyOn(Date, 'now').mockImplementation(() => (stepAt === null ? realNow() : realNow() - 3_600_000));
    // Built as the agent command builds it: the default clock.
    const leader = new Leadership(etcd, keysFor('/pg-failover', `t${t.cluster.runId}`), 'agent-a', 3);
    try {
      await leader.heartbeat();
      expect(leader.isLeader()).toBe(true);
      // The step; and no keepalive is sent any more.
      stepAt = realNow();
      const started = stepAt;
      // 2/3 of the 3 s TTL after its last keepalive, by real time, it must stop counting itself leader.
      while (leader.isLeader() && realNow() - started < 6000) await new Promise((r) => setTimeout(r, 50));
      expect(leader.isLeader(), 'still leader 6 s after its last keepalive').toBe(false);
      expect(realNow() - started).toBeLessThan(2500);
    } finally {
      vi.restoreAllMocks();
      await leader.resign();
      etcd.close();
    }
  });
});
