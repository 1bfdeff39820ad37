import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allStreamFrom, docker, startCluster, type TestCluster } from '../support/cluster.js';
import { failoverCli, writeCliConfig } from '../support/cli.js';
import { publishedOtherThan, startAgents, verdictWithNote, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Maintenance mode and the health command, through the real CLI against real agents.

describe('pause, resume and health', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let configFile: string;

  const failover = (...args: string[]) => failoverCli([...args, '--config', configFile], {}, 60_000);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster);
    // The CLI's view of the same cluster: the test's etcd, and each node's port on 127.0.0.1.
    ({ file: configFile } = writeCliConfig(cluster));
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  it('health is silent and exits 0 on a healthy cluster', async () => {
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming', 30_000);
    const result = await failover('health');
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const json = JSON.parse((await failover('health', '--json')).stdout);
    expect(json).toMatchObject({ healthy: true, primary: 'pgsql' });
    expect(json.replicas.map((r: { name: string }) => r.name).sort()).toEqual(['replica-1', 'replica-2']);
  });

  it('health reports a stopped replica as unhealthy with exit 1', async () => {
    await docker.getContainer(cluster.node('replica-2').container).stop({ t: 5 });
    const result = await eventually(async () => {
      const r = await failover('health');
      return r.code === 1 ? r : undefined;
    }, 'health to notice the stopped replica', 20_000, 500);
    expect(result.stderr).toMatch(/replica-2/);
    await docker.getContainer(cluster.node('replica-2').container).start();
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'replica-2 streaming again', 60_000, 200);
  });

  it('pause blocks an automatic failover, survives agent restarts, and resume lets it happen', async () => {
    expect((await failover('pause')).code).toBe(0);
    // The flag lives in etcd: new agents find the cluster paused.
    await agents.stop();
    agents = await startAgents(cluster);
    const status = JSON.parse((await failover('status', '--json')).stdout);
    expect(status.paused).toBe(true);

    await docker.getContainer(cluster.node('pgsql').container).kill();
    const killedAt = Date.now();
    const running = agents;
    const verdict = await verdictWithNote(running, (n) => n.startsWith('paused'), 'a paused note in the verdict');
    expect(verdict.notes.join(' ')).toMatch(/automatic failover suspended/);
    // Long enough that an unpaused leader would have failed over (the failure time, twice), and the
    // leader kept deciding all along: it republished its paused verdict after that.
    const failureTimeMs = running.config.timings.failureTimeMs;
    await eventually(async () => {
      const latest = await running.store.verdict();
      return latest !== null && latest.at - killedAt > failureTimeMs * 2 && latest.notes.some((n) => n.startsWith('paused'));
    }, 'the paused verdict after twice the failure time', 30_000, 200);
    expect(await agents.store.published()).toMatchObject({ name: 'pgsql', epoch: 1 });

    expect((await failover('resume')).code).toBe(0);
    const published = await publishedOtherThan(running, 'pgsql', 20_000);
    expect(published.epoch).toBe(2);
  });
});
