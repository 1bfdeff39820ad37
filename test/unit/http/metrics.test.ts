import { describe, expect, it } from 'vitest';
import { completeStep, startOperation, withError, type Journal } from '../../../src/core/journal.js';
import type { NodeObservation } from '../../../src/core/types.js';
import type { HistoryRecord } from '../../../src/dcs/store.js';
import type { AgentState } from '../../../src/http/agent-state.js';
import { renderMetrics } from '../../../src/http/metrics.js';
import { nodeStatuses } from '../../../src/status/cluster-status.js';
import { synchronousStatus } from '../../../src/status/synchronous-status.js';
import { parsePrometheusText, valueOf, type Family } from '../../support/prometheus.js';
import { downObs, primaryObs, published, replicaObs, syncRecord, view, MiB } from '../core/fixtures.js';

function history(epoch: number, kind: HistoryRecord['kind'], totalMs?: number, at = '2024-01-02T00:00:00.000Z'): HistoryRecord {
  return { epoch, from: 'pgsql', to: 'replica-1', kind, reason: 'test', at, timeline: epoch, timings: totalMs === undefined ? {} : { total: totalMs }, leader: 'agent-1' };
}

const replica1 = replicaObs('replica-1', { lsn: 7n * MiB, receiveLsn: 8n * MiB });
replica1.sql = { ...replica1.sql, replayLagMs: 250 } as NodeObservation['sql'];
const nodes = [primaryObs('pgsql', { lsn: 8n * MiB, timeline: 3 }), replica1, downObs('replica-2', { container: 'exited' }), downObs('replica-3')];

const state: AgentState = {
  agentId: 'agent-2',
  view: view('agent-2', nodes),
  isLeader: true,
  leaseHeld: true,
  edges: { etcdOk: true, lastEtcdOkAt: 1, lastEtcdError: null, etcdErrors: 4, dockerErrors: 2 },
};

async function scrape(input: Parameters<typeof renderMetrics>[0]): Promise<Map<string, Family>> {
  return parsePrometheusText(await renderMetrics(input));
}

describe('GET /metrics', () => {
  const cluster = {
    published: published({ epoch: 5 }),
    history: [history(1, 'bootstrap'), history(2, 'failover', 900), history(3, 'switchover', 400), history(4, 'failover', 1250, '2024-01-03T00:00:00.000Z')],
  };

  it('is valid Prometheus text with HELP and TYPE for every family, all prefixed pgf_', async () => {
    const families = await scrape({ state, cluster });
    for (const family of families.values()) {
      expect(family.name).toMatch(/^pgf_/);
      expect(family.help).toBeTruthy();
      expect(['gauge', 'counter']).toContain(family.type);
    }
    expect(families.get('pgf_promotions_total')?.type).toBe('counter');
    expect(families.get('pgf_node_role')?.type).toBe('gauge');
  });

  it('role gauges: exactly one role is 1 per node, the one status shows', async () => {
    const families = await scrape({ state, cluster });
    const expected = nodeStatuses(state.view, cluster.published);
    expect(expected.map((n) => [n.name, n.role])).toEqual([
      ['pgsql', 'primary'],
      ['replica-1', 'replica'],
      ['replica-2', 'down'],
      ['replica-3', 'unknown'],
    ]);
    for (const node of expected) {
      for (const role of ['primary', 'replica', 'down', 'unknown']) {
        expect(valueOf(families, 'pgf_node_role', { node: node.name, role }), `${node.name} ${role}`).toBe(node.role === role ? 1 : 0);
      }
    }
    expect(families.get('pgf_node_role')!.samples).toHaveLength(16);
  });

  it('per node: reachable, WAL positions, lag in bytes and seconds, streaming', async () => {
    const families = await scrape({ state, cluster });
    const v = (name: string, node: string) => valueOf(families, name, { node });
    expect(['pgsql', 'replica-1', 'replica-2', 'replica-3'].map((n) => v('pgf_node_reachable', n))).toEqual([1, 1, 0, 0]);
    expect(v('pgf_node_wal_lsn_bytes', 'pgsql')).toBe(Number(8n * MiB));
    expect(v('pgf_node_wal_lsn_bytes', 'replica-1')).toBe(Number(7n * MiB));
    expect(v('pgf_node_wal_receive_lsn_bytes', 'replica-1')).toBe(Number(8n * MiB));
    expect(v('pgf_node_wal_receive_lsn_bytes', 'pgsql')).toBeUndefined();
    expect(v('pgf_node_lag_bytes', 'pgsql')).toBe(0);
    expect(v('pgf_node_lag_bytes', 'replica-1')).toBe(Number(MiB));
    expect(v('pgf_node_lag_bytes', 'replica-2')).toBeUndefined();
    expect(v('pgf_node_replay_lag_seconds', 'replica-1')).toBe(0.25);
    expect(v('pgf_node_streaming', 'replica-1')).toBe(1);
    expect(v('pgf_node_timeline', 'pgsql')).toBe(3);
    expect(v('pgf_node_wal_lsn_bytes', 'replica-2')).toBeUndefined();
  });

  it('cluster: epoch, published primary, leader, etcd, promotions by kind, the last one, error counters', async () => {
    const families = await scrape({ state, cluster });
    expect(valueOf(families, 'pgf_epoch')).toBe(5);
    expect(valueOf(families, 'pgf_published_primary', { node: 'pgsql' })).toBe(1);
    expect(valueOf(families, 'pgf_is_leader')).toBe(1);
    expect(valueOf(families, 'pgf_etcd_up')).toBe(1);
    expect(valueOf(families, 'pgf_agent_info', { agent: 'agent-2' })).toBe(1);
    expect(valueOf(families, 'pgf_promotions_total', { kind: 'failover' })).toBe(2);
    expect(valueOf(families, 'pgf_promotions_total', { kind: 'switchover' })).toBe(1);
    expect(valueOf(families, 'pgf_last_promotion_duration_seconds', { kind: 'failover' })).toBe(1.25);
    expect(valueOf(families, 'pgf_last_promotion_timestamp_seconds', { kind: 'failover' })).toBe(Date.parse('2024-01-03T00:00:00.000Z') / 1000);
    expect(valueOf(families, 'pgf_etcd_errors_total')).toBe(4);
    expect(valueOf(families, 'pgf_docker_errors_total')).toBe(2);
  });

  it('a fresh cluster: promotions counted 0, no last promotion, epoch 0 when nothing is published', async () => {
    const families = await scrape({ state: { ...state, isLeader: false, leaseHeld: false }, cluster: { published: null, history: [] } });
    expect(valueOf(families, 'pgf_promotions_total', { kind: 'failover' })).toBe(0);
    expect(valueOf(families, 'pgf_promotions_total', { kind: 'switchover' })).toBe(0);
    expect(families.get('pgf_last_promotion_duration_seconds')?.samples ?? []).toEqual([]);
    expect(valueOf(families, 'pgf_epoch')).toBe(0);
    expect(valueOf(families, 'pgf_is_leader')).toBe(0);
    expect(valueOf(families, 'pgf_etcd_up')).toBe(0);
    // Without a published primary lag is unknown, but roles are still shown.
    expect(valueOf(families, 'pgf_node_lag_bytes', { node: 'replica-1' })).toBeUndefined();
    expect(valueOf(families, 'pgf_node_role', { node: 'pgsql', role: 'primary' })).toBe(1);
  });

  it('etcd unreadable for this scrape: local metrics still served, etcd-derived ones left out', async () => {
    const families = await scrape({ state, cluster: null });
    expect(families.has('pgf_epoch')).toBe(false);
    expect(families.has('pgf_promotions_total')).toBe(false);
    expect(valueOf(families, 'pgf_node_reachable', { node: 'pgsql' })).toBe(1);
    expect(valueOf(families, 'pgf_etcd_errors_total')).toBe(4);
  });

  it('node names with quotes or backslashes are escaped, not broken', async () => {
    const odd = primaryObs('we"ird\\name');
    const families = await scrape({ state: { ...state, view: view('agent-2', [odd]) }, cluster: null });
    expect(valueOf(families, 'pgf_node_reachable', { node: 'we"ird\\name' })).toBe(1);
  });

  describe('the running operation (from the journal), for "an operation is stuck"', () => {
    const begun = startOperation({ id: 'op-1', kind: 'failover', from: 'pgsql', to: 'replica-1', epoch: 6, reason: 'test', requestedBy: 'agent-2', now: 1_700_000_000_000 });
    const fenced = (completeStep(begun, 'fence-old', 1_700_000_002_500) as { ok: true; journal: Journal }).journal;

    it('no journal: in progress 0, no timestamps', async () => {
      const families = await scrape({ state, cluster: { ...cluster, journal: null } });
      expect(valueOf(families, 'pgf_operation_in_progress')).toBe(0);
      expect(families.get('pgf_operation_started_timestamp_seconds')?.samples).toEqual([]);
      expect(families.get('pgf_operation_step_started_timestamp_seconds')?.samples).toEqual([]);
    });

    it('at its first step: the step started when the operation did', async () => {
      const families = await scrape({ state, cluster: { ...cluster, journal: begun } });
      expect(valueOf(families, 'pgf_operation_in_progress')).toBe(1);
      expect(valueOf(families, 'pgf_operation_started_timestamp_seconds', { kind: 'failover' })).toBe(1_700_000_000);
      expect(valueOf(families, 'pgf_operation_step_started_timestamp_seconds', { kind: 'failover', step: 'fence-old' })).toBe(1_700_000_000);
    });

    it('later steps: when the previous step completed, not when the journal was last written (an error or a target LSN does not make a stuck step look fresh)', async () => {
      const failing = withError(fenced, 'catch-up: candidate unreachable', 1_700_000_090_000);
      const families = await scrape({ state, cluster: { ...cluster, journal: failing } });
      expect(families.get('pgf_operation_step_started_timestamp_seconds')?.samples).toEqual([
        { name: 'pgf_operation_step_started_timestamp_seconds', labels: { kind: 'failover', step: 'catch-up' }, value: 1_700_000_002.5 },
      ]);
      expect(valueOf(families, 'pgf_operation_started_timestamp_seconds', { kind: 'failover' })).toBe(1_700_000_000);
    });

    it('journal not read (or etcd unreadable): the operation metrics are left out, not reported as "none"', async () => {
      expect((await scrape({ state, cluster })).has('pgf_operation_in_progress')).toBe(false);
      expect((await scrape({ state, cluster: null })).has('pgf_operation_in_progress')).toBe(false);
    });
  });

  describe('zero-loss mode (the object status shows as synchronous)', () => {
    const QUORUM = { mode: 'quorum' as const, number: 1, durability: 'required' as const };
    const SYNC_FAMILIES = ['pgf_synchronous_mode', 'pgf_synchronous_number', 'pgf_synchronous_standbys', 'pgf_synchronous_standby', 'pgf_synchronous_degraded', 'pgf_synchronous_pending', 'pgf_synchronous_promising'];

    it('a promising record: mode 1, k, its members counted and named, promising', async () => {
      const families = await scrape({ state, cluster: { ...cluster, synchronous: synchronousStatus(syncRecord(['replica-1', 'replica-2'], 1), QUORUM) } });
      expect(valueOf(families, 'pgf_synchronous_mode')).toBe(1);
      expect(valueOf(families, 'pgf_synchronous_number')).toBe(1);
      expect(valueOf(families, 'pgf_synchronous_standbys')).toBe(2);
      expect(families.get('pgf_synchronous_standby')?.samples.map((s) => [s.labels.node, s.value])).toEqual([
        ['replica-1', 1],
        ['replica-2', 1],
      ]);
      expect(valueOf(families, 'pgf_synchronous_degraded')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_pending')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_promising')).toBe(1);
    });

    it('degraded (preferred durability): degraded 1, promising 0', async () => {
      const degraded = syncRecord(['replica-1', 'replica-2'], 2, { durability: 'preferred', degraded: true });
      const families = await scrape({ state, cluster: { ...cluster, synchronous: synchronousStatus(degraded, QUORUM) } });
      expect(valueOf(families, 'pgf_synchronous_number')).toBe(2);
      expect(valueOf(families, 'pgf_synchronous_degraded')).toBe(1);
      expect(valueOf(families, 'pgf_synchronous_promising')).toBe(0);
    });

    it('off, no record: mode 0, no standbys, nothing promised', async () => {
      const families = await scrape({ state, cluster: { ...cluster, synchronous: synchronousStatus(null, { ...QUORUM, mode: 'off' }) } });
      expect(valueOf(families, 'pgf_synchronous_mode')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_standbys')).toBe(0);
      expect(families.get('pgf_synchronous_standby')?.samples ?? []).toEqual([]);
      expect(valueOf(families, 'pgf_synchronous_pending')).toBe(0);
      expect(valueOf(families, 'pgf_synchronous_promising')).toBe(0);
    });

    it('not read (etcd or the sync key unreadable): left out, not reported as off', async () => {
      for (const input of [{ state, cluster }, { state, cluster: null }]) {
        const families = await scrape(input);
        for (const name of SYNC_FAMILIES) expect(families.has(name), name).toBe(false);
      }
    });
  });
});
