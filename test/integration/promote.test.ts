import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allStreamFrom, docker, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { startAgents, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import { failoverCli, type CliResult } from '../support/cli.js';
import { steadyWriter } from '../support/writer.js';

// `failover promote` through the real CLI (dist/), against real agents and containers.

function failover(c: TestCluster, running: RunningAgents, ...args: string[]): Promise<CliResult> {
  return failoverCli([...args, '--etcd', c.etcdUrl!, '--cluster', running.config.cluster], { FAILOVER_CONFIG: '' }, 60_000);
}

describe('failover promote', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster);
    await cluster.query('pgsql', 'CREATE TABLE steady (seq int PRIMARY KEY)');
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  it('refuses an unknown node, listing the valid ones, and changes nothing', async () => {
    const result = await failover(cluster, agents, 'promote', 'replica-9');
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/unknown node replica-9; valid nodes: pgsql, replica-1, replica-2/);
    expect(await agents.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });
  });

  it('refuses the node that is already primary', async () => {
    const result = await failover(cluster, agents, 'promote', 'pgsql');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/pgsql is already the primary/);
  });

  it('refuses a target that is not streaming, and changes nothing', async () => {
    // Paused, the agents leave the cut-off replica alone (no rejoin) while a planned promote is still allowed.
    await agents.store.setPaused({ since: new Date().toISOString(), by: 'test' });
    await cluster.query('replica-2', `ALTER SYSTEM SET primary_conninfo = ''`);
    await cluster.query('replica-2', 'SELECT pg_reload_conf()');
    await cluster.query('pgsql', 'CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 100000) AS g');
    // The leader refuses on what it observed: wait until it has seen replica-2 stop streaming.
    const running = agents;
    await eventually(async () => {
      const leaderId = await running.leaderId();
      const seen = running.agents.find((a) => a.id === leaderId)?.state().view.nodes['replica-2']?.sql;
      return seen?.ok === true && !seen.streaming;
    }, 'the leader seeing replica-2 not streaming', 15_000, 50);
    const result = await failover(cluster, agents, 'promote', 'replica-2', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, to: 'replica-2' });
    expect(JSON.parse(result.stdout).error).toMatch(/replica-2 is not streaming from the primary pgsql/);
    expect(await agents.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });
    // Resumed, the agents' rejoin rule re-points replica-2.
    await agents.store.setPaused(null);
    const c = cluster;
    await eventually(async () => (await c.query<{ s: string }>('replica-2', 'SELECT status AS s FROM pg_stat_wal_receiver'))[0]?.s === 'streaming', 'replica-2 streaming again', 30_000, 200);
  });

  it('a switchover under a steady writer loses no acknowledged write, and the old primary streams from the new one', async () => {
    const writer = steadyWriter(cluster, agents);
    await eventually(async () => writer.acked.length >= 20, 'the writer committing on pgsql', 10_000, 20);
    const result = await failover(cluster, agents, 'promote', 'replica-1', '--json');
    const ackedBefore = writer.acked.length;
    await eventually(async () => writer.acked.length >= ackedBefore + 20, 'the writer committing on replica-1', 10_000, 20);
    await writer.stop();
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ ok: true, from: 'pgsql', to: 'replica-1', epoch: 2, kind: 'switchover' });
    expect(out.ms).toBeGreaterThan(0);
    const stored = new Set((await cluster.query<{ seq: number }>('replica-1', 'SELECT seq FROM steady')).map((r) => r.seq));
    expect(writer.acked.length).toBeGreaterThan(10);
    expect(writer.acked.filter((n) => !stored.has(n))).toEqual([]);
    const c = cluster;
    await eventually(() => streamsFrom(c, 'pgsql', 'replica-1'), 'old primary streaming from replica-1', 30_000, 200);
  });

  it('promotes back again: two switchovers in a row', async () => {
    const result = await failover(cluster, agents, 'promote', 'pgsql', '--json');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, from: 'replica-1', to: 'pgsql', epoch: 3, kind: 'switchover' });
    expect((await agents.store.history()).map((h) => h.epoch)).toEqual([3, 2, 1]);
  });

  it('two promotes at once: exactly one runs, the other is refused', async () => {
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming from pgsql', 60_000, 200);
    const [a, b] = await Promise.all([failover(cluster, agents, 'promote', 'replica-1', '--json'), failover(cluster, agents, 'promote', 'replica-2', '--json')]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 1]);
    const loser = a.code === 1 ? a : b;
    expect(loser.stderr).toMatch(/another operation is in progress/);
  });

  it('manual failover to a named node when the primary is down', async () => {
    const published = (await agents.store.published())!;
    const c = cluster;
    await eventually(() => allStreamFrom(c, published.name), `every replica streaming from ${published.name}`, 60_000, 200);
    const target = ['pgsql', 'replica-1', 'replica-2'].find((n) => n !== published.name)!;
    await agents.store.setPaused({ since: new Date().toISOString(), by: 'test' });
    await docker.getContainer(cluster.node(published.name).container).kill();
    // A manual failover: asked once the leader has seen the primary down (asked sooner, it is a
    // switchover whose target may just have lost its stream, and is rightly refused).
    await eventually(async () => (await agents.store.verdict())?.rule === 'failed-while-paused', 'the leader seeing the primary failed (paused)', 30_000, 100);
    const result = await failover(cluster, agents, 'promote', target, '--json');
    await agents.store.setPaused(null);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, from: published.name, to: target, kind: 'failover', epoch: published.epoch + 1 });
    expect(await agents.store.published()).toMatchObject({ name: target, epoch: published.epoch + 1 });
  });
});
