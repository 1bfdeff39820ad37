import { describe, expect, it } from 'vitest';
import { docker, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, verdictWithNote, clusterPerTest } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Automatic failover with real containers, real etcd and three in-process t.agents.

const t = clusterPerTest();

async function acceptsWrites(c: TestCluster, node: string): Promise<boolean> {
  try {
    await c.query(node, 'CREATE TABLE IF NOT EXISTS failover_probe (id serial PRIMARY KEY, at timestamptz DEFAULT now())');
    await c.query(node, 'INSERT INTO failover_probe DEFAULT VALUES');
    return true;
  } catch {
    return false;
  }
}

describe('automatic failover', () => {
  it('kill-primary: a new primary is published and takes writes, the other replica follows it, the old node returns as a replica', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    expect((await t.agents.store.published())?.name).toBe('pgsql');
    await t.cluster.query('pgsql', 'CREATE TABLE kept (id int)');
    await t.cluster.query('pgsql', 'INSERT INTO kept SELECT generate_series(1, 100)');
    await eventually(async () => (await t.cluster!.query('replica-1', `SELECT 1 FROM kept`)).length === 100, 'rows replicated', 10_000);

    await docker.getContainer(t.cluster.node('pgsql').container).kill();
    const published = await publishedOtherThan(t.agents, 'pgsql');
    expect(published.epoch).toBe(2);
    expect(published.timeline).toBe(2);
    const c = t.cluster;
    expect(await acceptsWrites(c, published.name)).toBe(true);
    expect((await c.query<{ n: string }>(published.name, 'SELECT count(*) AS n FROM kept'))[0]?.n).toBe('100');

    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    await eventually(() => streamsFrom(c, other, published.name), `${other} streaming from ${published.name}`, 15_000);

    const history = await t.agents.store.history();
    expect(history[0]).toMatchObject({ epoch: 2, from: 'pgsql', to: published.name, kind: 'failover' });

    // The fenced old primary, started again by hand, must come back as a replica of the new one.
    await docker.getContainer(c.node('pgsql').container).start();
    await eventually(() => streamsFrom(c, 'pgsql', published.name), 'old primary streaming from the new one', 60_000, 200);
    await expect(c.query('pgsql', 'INSERT INTO kept VALUES (101)')).rejects.toMatchObject({ code: '25006' });
  });

  it('pause-primary: a frozen primary is failed over after the failure time, fenced, and never takes writes again', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    const container = docker.getContainer(t.cluster.node('pgsql').container);
    const frozenAt = Date.now();
    await container.pause();
    const published = await publishedOtherThan(t.agents, 'pgsql');
    const elapsed = Date.now() - frozenAt;
    // Not on a hunch: the failure time must have passed first.
    expect(elapsed).toBeGreaterThanOrEqual(t.agents.config.timings.failureTimeMs);
    const state = (await container.inspect()).State;
    expect(state.Running).toBe(false);
    expect(await acceptsWrites(t.cluster, published.name)).toBe(true);
    // Unfreezing is moot (it was killed); started again, it comes up read-only.
    await container.start();
    const c = t.cluster;
    await eventually(async () => (await c.query<{ r: boolean }>('pgsql', 'SELECT pg_is_in_recovery() AS r'))[0]?.r === true, 'old primary up as a standby', 30_000, 200);
    expect(await acceptsWrites(c, 'pgsql')).toBe(false);
  });

  it('partition-primary: a primary cut off from the network is failed over and fenced, and returns as a replica', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    const c = t.cluster;
    const container = docker.getContainer(c.node('pgsql').container);
    await docker.getNetwork(c.network).disconnect({ Container: c.node('pgsql').container, Force: true });
    const published = await publishedOtherThan(t.agents, 'pgsql');
    expect((await container.inspect()).State.Running).toBe(false);
    expect(await acceptsWrites(c, published.name)).toBe(true);
    // The partition heals and the fenced node is started again: it must come back as a replica of the new primary.
    await docker.getNetwork(c.network).connect({ Container: c.node('pgsql').container });
    await container.start();
    await eventually(() => streamsFrom(c, 'pgsql', published.name), 'old primary streaming from the new one', 60_000, 200);
    await expect(c.query('pgsql', 'INSERT INTO failover_probe DEFAULT VALUES')).rejects.toMatchObject({ code: '25006' });
  });

  it('kill-leader: the leader dies half way through a failover and another agent finishes it', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    let crashed: string | null = null;
    t.agents = await startAgents(t.cluster, {
      afterStep: async (agentId, step) => {
        if (step === 'promote' && crashed === null) {
          crashed = agentId;
          t.agents!.agent(agentId).crash();
          await new Promise(() => undefined); // a dead process never comes back
        }
      },
    });
    await docker.getContainer(t.cluster.node('pgsql').container).kill();
    const published = await publishedOtherThan(t.agents, 'pgsql', 45_000);
    expect(crashed).not.toBeNull();
    const leader = await t.agents.leaderId();
    expect(leader).not.toBe(crashed);
    const [latest] = await t.agents.store.history();
    expect(latest).toMatchObject({ epoch: 2, to: published.name, leader });
    const store = t.agents.store;
    await eventually(async () => (await store.journal()) === null, 'the journal closed', 15_000);
    expect(await acceptsWrites(t.cluster, published.name)).toBe(true);
  });

  it('every replica too far behind: no automatic failover, and status says why', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    // A long failure time keeps the rejoin rule from repairing the replicas this test cuts off.
    const running = (t.agents = await startAgents(t.cluster, { config: { maxLagOnFailover: 1024 * 1024, timings: { failureTimeMs: 60_000, probeTimeoutMs: 800, probeIntervalMs: 250, leaseTtlSec: 3, rejoinGraceMs: 3000 } } }));
    for (const replica of ['replica-1', 'replica-2']) {
      await t.cluster.query(replica, `ALTER SYSTEM SET primary_conninfo = ''`);
      await t.cluster.query(replica, 'SELECT pg_reload_conf()');
    }
    const c = t.cluster;
    await eventually(async () => (await c.query('replica-1', `SELECT 1 FROM pg_stat_wal_receiver`)).length === 0, 'receivers stopped', 10_000);
    await t.cluster.query('pgsql', 'CREATE TABLE bulk AS SELECT g, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 40000) AS g');
    const [position] = await t.cluster.query<{ lsn: string }>('pgsql', `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn`);
    // The leader judges lag against the last position it saw on the primary: let it see this one.
    await eventually(async () => {
      const leader = await running.leaderId();
      const seen = running.agents.find((a) => a.id === leader)?.state().view.nodes['pgsql']?.sql;
      return seen?.ok === true && seen.lsn >= BigInt(position!.lsn);
    }, 'the leader seeing the primary past the bulk load', 15_000, 50);
    await docker.getContainer(t.cluster.node('pgsql').container).kill();
    const verdict = await verdictWithNote(running, (n) => n.includes('failover refused'), 'a refusal in the verdict');
    expect(verdict.notes.join(' ')).toMatch(/behind/);
    expect(await running.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });
  });
});
