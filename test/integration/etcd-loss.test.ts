import { describe, expect, it } from 'vitest';
import { docker, startCluster, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, type RunningAgents, clusterPerTest } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Safety rule 6: without etcd nobody acts. An agent that loses its lease stops acting at
// once; the running primary keeps serving; when etcd returns, the agents carry on.

const t = clusterPerTest();

async function acceptsWrites(c: TestCluster, node: string): Promise<boolean> {
  await c.query(node, 'CREATE TABLE IF NOT EXISTS etcd_loss_probe (id serial PRIMARY KEY)');
  await c.query(node, 'INSERT INTO etcd_loss_probe DEFAULT VALUES');
  return true;
}

/** Every agent has seen etcd fail and no longer counts itself leader, by its own clock. */
async function allAgentsCutOff(running: RunningAgents): Promise<void> {
  await eventually(async () => running.agents.every((a) => !a.state().edges.etcdOk && !a.state().isLeader), 'every agent cut off from etcd and not leading', 30_000, 50);
}

async function stoppedEtcd(c: TestCluster) {
  const etcd = docker.getContainer(`pgf-${c.runId}-etcd`);
  await etcd.stop({ t: 1 });
  return etcd;
}

describe('rule 6: without etcd nobody acts', () => {
  it('etcd down: no failover while the primary is healthy, and the agents carry on when etcd returns', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    const running = t.agents;
    const etcd = await stoppedEtcd(t.cluster);
    await allAgentsCutOff(running);
    expect(await acceptsWrites(t.cluster, 'pgsql')).toBe(true);
    await etcd.start();
    const returnedAt = Date.now();
    await eventually(() => running.store.leader(), 'a leader again', 30_000);
    await eventually(async () => (await running.store.views()).length === 3, 'three agent views again', 30_000);
    // A leader has decided on the cluster since etcd returned: the verdict it published says healthy.
    const verdict = await eventually(async () => {
      const v = await running.store.verdict();
      return v && v.at > returnedAt ? v : null;
    }, 'a verdict made after etcd returned', 30_000);
    expect(verdict.verdict).toBe('healthy');
    expect(await running.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });
    expect((await running.store.history()).map((h) => h.epoch)).toEqual([1]);
    expect(await acceptsWrites(t.cluster, 'pgsql')).toBe(true);
  });

  it('the primary dies while etcd is down: nothing happens until etcd returns, then the failover runs', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster);
    const c = t.cluster;
    const running = t.agents;
    const etcd = await stoppedEtcd(c);
    await allAgentsCutOff(running);
    await docker.getContainer(c.node('pgsql').container).kill();
    const killedAt = Date.now();
    // Every agent sees the primary dead, and for longer than the failure time: with etcd it would have failed over by now.
    const failureTimeMs = running.config.timings.failureTimeMs;
    await eventually(
      async () => Date.now() - killedAt > failureTimeMs * 2 && running.agents.every((a) => a.state().view.nodes['pgsql']?.container !== 'running'),
      'every agent seeing the primary dead for twice the failure time',
      60_000,
      100,
    );
    for (const replica of ['replica-1', 'replica-2']) {
      const [row] = await c.query<{ rec: boolean }>(replica, 'SELECT pg_is_in_recovery() AS rec');
      expect(row?.rec, `${replica} was promoted without etcd`).toBe(true);
    }
    await etcd.start();
    const published = await publishedOtherThan(running, 'pgsql', 60_000);
    expect(published.epoch).toBe(2);
    expect(await acceptsWrites(c, published.name)).toBe(true);
  });

  it('a leader cut off from etcd during a failover stops acting; another agent finishes it', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    const steps: Array<{ agent: string; step: string; at: number }> = [];
    let cut: { agent: string; lostAt: number } | null = null;
    t.agents = await startAgents(t.cluster, {
      etcdProxies: true,
      beforeStep: (agent, step) => steps.push({ agent, step, at: Date.now() }),
      afterStep: async (agent, step) => {
        if (step !== 'fence-old' || cut !== null) return;
        t.agents!.proxy(agent).cut();
        // Carry on only once the agent's own clock says its lease is gone.
        const self = t.agents!.agent(agent);
        await eventually(async () => !self.state().isLeader, `${agent} giving up leadership`, 10_000, 10);
        cut = { agent, lostAt: Date.now() };
      },
    });
    const running = t.agents;
    await docker.getContainer(t.cluster.node('pgsql').container).kill();
    const published = await publishedOtherThan(running, 'pgsql', 60_000);
    expect(cut).not.toBeNull();
    const { agent: cutAgent, lostAt } = cut!;
    await eventually(async () => (await running.store.journal()) === null, 'the journal closed', 30_000);
    const [latest] = await running.store.history();
    expect(latest).toMatchObject({ epoch: 2, to: published.name, kind: 'failover' });
    expect(latest!.leader).not.toBe(cutAgent);
    // The cut-off leader did the fence and then nothing more; the rest was done by another agent.
    expect(steps.filter((s) => s.agent === cutAgent).map((s) => s.step)).toEqual(['fence-old']);
    expect(steps.filter((s) => s.agent === cutAgent && s.at >= lostAt)).toEqual([]);
    expect(steps.some((s) => s.agent !== cutAgent && s.step === 'promote')).toBe(true);
    // Healed, it rejoins as a follower.
    running.proxy(cutAgent).heal();
    await eventually(async () => (await running.store.views()).some((v) => v.agentId === cutAgent && v.at > lostAt), `${cutAgent} publishing its view again`, 30_000);
    expect(await running.store.leader()).not.toBe(cutAgent);
  });
});
