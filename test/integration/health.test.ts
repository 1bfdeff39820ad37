import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyHealth, type Health } from '../../src/core/health.js';
import { readReplicationSnapshot } from '../../src/postgres/replication-health.js';
import { docker, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

// `failover health` without etcd or agents: the SQL reader and the classification,
// against a real primary with two streaming replicas.
describe('replication health of a primary with two streaming replicas', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, etcd: false });
    await cluster.query('pgsql', 'CREATE TABLE health_probe (id serial PRIMARY KEY, at timestamptz DEFAULT now())');
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  async function health(node = 'pgsql'): Promise<Health> {
    const client = await cluster.client(node);
    try {
      const snapshot = await readReplicationSnapshot(client);
      return classifyHealth({
        primary: node,
        ...snapshot,
        expected: cluster.nodes.filter((n) => n.name !== node).map((n) => ({ name: n.name, slot: n.slot })),
      });
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('is healthy when both replicas stream on their slots', async () => {
    const report = await eventually(async () => {
      const h = await health();
      return h.healthy && h.replicas.every((r) => r.lagBytes === 0) ? h : undefined;
    }, 'both replicas caught up', 15_000);
    expect(report.problems).toEqual([]);
    expect(report.currentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(report.replicas.map((r) => [r.name, r.state, r.slot, r.level, r.lagSeconds])).toEqual([
      ['replica-1', 'streaming', 'replica_1', 'ok', expect.any(Number)],
      ['replica-2', 'streaming', 'replica_2', 'ok', expect.any(Number)],
    ]);
    for (const r of report.replicas) {
      expect(r.syncState).toBe('async');
      expect(r.sentLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(r.flushLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(r.replayLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      expect(r.clientAddr).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }
    expect(report.slots).toEqual([
      { name: 'replica_1', active: true, retainedBytes: 0, replica: 'replica-1' },
      { name: 'replica_2', active: true, retainedBytes: 0, replica: 'replica-2' },
    ]);
    expect(() => JSON.stringify(report)).not.toThrow();
  });

  it('a replica is not a primary: asked of replica-1, the report says it is in recovery', async () => {
    const report = await health('replica-1');
    expect(report.healthy).toBe(false);
    expect(report.problems).toEqual(['replica-1 is published as the primary but is in recovery (a standby)']);
  });

  it('a stopped replica makes it unhealthy: the replica and its slot, retaining WAL, are named', async () => {
    await docker.getContainer(cluster.node('replica-2').container).stop({ t: 5 });
    const report = await eventually(
      async () => {
        // WAL written after the stop is what the abandoned slot holds back.
        await cluster.query('pgsql', 'INSERT INTO health_probe DEFAULT VALUES');
        const h = await health();
        return h.problems.some((p) => p.startsWith('slot replica_2')) ? h : undefined;
      },
      'replica-2 gone and its slot retaining WAL',
      20_000,
      250,
    );
    expect(report.healthy).toBe(false);
    expect(report.problems).toContain('replica-2 is not connected to the primary pgsql');
    expect(report.problems.find((p) => p.startsWith('slot replica_2'))).toMatch(/^slot replica_2 \(of replica-2\) has no consumer and retains [\d.]+ (B|KiB|MiB) of WAL$/);
    expect(report.problems.filter((p) => p.includes('replica-1') || p.includes('replica_1'))).toEqual([]);
    expect(report.replicas.find((r) => r.name === 'replica-1')).toMatchObject({ state: 'streaming', level: 'ok' });
    expect(report.replicas.find((r) => r.name === 'replica-2')).toMatchObject({ state: 'disconnected', slot: 'replica_2', level: 'alert' });
    const slot = report.slots.find((s) => s.name === 'replica_2');
    expect(slot).toMatchObject({ active: false, replica: 'replica-2' });
    expect(slot!.retainedBytes).toBeGreaterThan(0);
  });
});
