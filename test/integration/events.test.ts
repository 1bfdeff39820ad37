import { REJOIN_RULES } from '../../src/core/rejoin-method.js';
import { SYNC_RULES } from '../../src/core/sync-plan.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src/core/event.js';
import { stepsOf } from '../../src/core/journal.js';
import { RULES, STANDING_RULES } from '../../src/core/rules.js';
import { docker, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { BACKUP_RULES } from '../../src/core/backup-rules.js';
import { BACKUP_SOURCE_RULES } from '../../src/core/backup-source.js';

// The event log after a real failover: the verdict, the fence, every promotion step and
// the re-point, each with the rule or step behind it, readable through `failover events`.

describe('the event log', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  const cli = (...args: string[]) => failoverCli([...args, '--etcd', cluster.etcdUrl!, '--cluster', agents.config.cluster], { FAILOVER_CONFIG: '' }, 60_000);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster);
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  it('records a failover as the verdict, the fence, each step and the re-point, every one with its rule', async () => {
    const killedAt = Date.now();
    await docker.getContainer(cluster.node('pgsql').container).kill();
    const published = await publishedOtherThan(agents, 'pgsql');
    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    const known = new Set<string>([...RULES.map((r) => r.id), ...STANDING_RULES.map((r) => r.id), ...stepsOf('failover'), ...stepsOf('switchover'), ...SYNC_RULES.map((r) => r.id), ...REJOIN_RULES.map((r) => r.id), ...BACKUP_RULES.map((r) => r.id), ...BACKUP_SOURCE_RULES.map((r) => r.id), 'promote-request', 'operator', 'on-role-change']);
    const events = await eventually(async () => {
      const result = await cli('events', '--json');
      if (result.code !== 0) throw new Error(result.stderr);
      const all = JSON.parse(result.stdout) as ClusterEvent[];
      return all.some((e) => e.kind === 'operation-end') && all.some((e) => e.kind === 'repoint') ? all : null;
    }, 'the failover in the event log', 20_000, 200);
    // Newest last, and every event names a rule or step that exists.
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort());
    expect(events.filter((e) => !known.has(e.rule)).map((e) => `${e.kind}/${e.rule}`)).toEqual([]);
    const since = events.filter((e) => Date.parse(e.at) >= killedAt - 1000);
    const verdict = since.find((e) => e.kind === 'verdict' && e.rule === 'failed-failover');
    expect(verdict?.message).toMatch(/failed: primary pgsql's container is exited/);
    expect(since.find((e) => e.kind === 'operation-start')).toMatchObject({ rule: 'failed-failover', epoch: 2, nodes: ['pgsql', published.name] });
    expect(since.find((e) => e.kind === 'fence')).toMatchObject({ rule: 'fence-old', nodes: ['pgsql'], message: expect.stringMatching(/verified (exited|dead|missing)/) });
    const steps = since.filter((e) => e.kind === 'step' || e.kind === 'operation-end').map((e) => e.rule);
    expect(steps).toEqual(stepsOf('failover').slice(0, -1));
    for (const e of since.filter((x) => x.kind === 'step')) expect(e.elapsedMs).toBeGreaterThanOrEqual(0);
    expect(since.find((e) => e.kind === 'repoint')).toMatchObject({ rule: 'repoint-replicas', nodes: [other, published.name] });
    // After the failover, the verdict goes back to healthy: one more event.
    await eventually(async () => {
      const all = JSON.parse((await cli('events', '--json', '--since', '1m')).stdout) as ClusterEvent[];
      return all.some((e) => e.kind === 'verdict' && e.rule === 'healthy' && e.epoch === 2);
    }, 'a healthy verdict at epoch 2', 20_000, 200);
    await eventually(() => streamsFrom(cluster, other, published.name), `${other} streaming from ${published.name}`, 30_000, 200);
  });

  it('records operator commands, and prints one readable line per event', async () => {
    expect((await cli('pause')).code).toBe(0);
    expect((await cli('resume')).code).toBe(0);
    const text = await cli('events', '--since', '1m');
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines.filter((l) => / command +operator +pause: automatic failover off +\[cli:/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => / command +operator +resume: automatic failover on +\[cli:/.test(l))).toHaveLength(1);
    expect(lines.every((l) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  \S/.test(l))).toBe(true);
  });

  it('refuses a --since that is not a duration, with a usage error', async () => {
    const result = await cli('events', '--since', 'yesterday');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/expected a duration such as 30s, 15m, 2h or 7d/);
  });
});
