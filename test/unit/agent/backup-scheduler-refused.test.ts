import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// The runners are replaced: this test is about what the leader's schedule does with their outcome.
vi.mock('../../../src/backup/physical-runner.js', () => ({ runPhysical: vi.fn() }));
vi.mock('../../../src/backup/dump-runner.js', () => ({ runDump: vi.fn() }));

import { BackupScheduler, REFUSED_RETRY_MS } from '../../../src/agent/backup-scheduler.js';
import type { ClusterContext } from '../../../src/agent/cluster-context.js';
import { runDump } from '../../../src/backup/dump-runner.js';
import { runPhysical } from '../../../src/backup/physical-runner.js';
import { configSchema } from '../../../src/config/schema.js';
import type { EventLog } from '../../../src/dcs/events.js';
import { keysFor } from '../../../src/dcs/keys.js';

const config = configSchema.parse({
  cluster: 'main',
  nodes: [
    { name: 'pgsql', container: 'pgsql', host: 'pgsql' },
    { name: 'replica-1', container: 'pgsql-replica-1', host: 'pgsql-replica-1' },
  ],
  backup: {},
});

/** The tick's published primary, promoted long ago. */
const PUBLISHED = { since: '2020-01-01T00:00:00.000Z' };

/** An empty catalogue, no backup lock: a full backup is due. */
function clusterOf(): ClusterContext {
  const etcd = {
    getAll: () => ({ prefix: () => ({ strings: async () => ({}) }) }),
    get: () => ({ string: async () => null }),
  };
  const store = {
    etcd,
    keys: keysFor('/pg-failover', 'main'),
  };
  return { config, store, log: pino({ level: 'silent' }), nodes: config.nodes, engine: () => ({}) } as unknown as ClusterContext;
}

describe('the leader\'s backup schedule after a refusal', () => {
  beforeEach(() => {
    vi.mocked(runPhysical).mockReset();
    vi.mocked(runDump).mockReset();
  });

  it('waits before asking again, and reports the same refusal once (a primary that stays unreachable does not flood the event log)', async () => {
    vi.mocked(runPhysical).mockResolvedValue({ outcome: 'refused', rule: 'backup-source-primary-unreachable', reason: 'no fresh agent view sees the published primary pgsql reachable' });
    const emit = vi.fn(async (_event: { rule: string }) => undefined);
    const scheduler = new BackupScheduler(clusterOf(), { emit } as unknown as EventLog);
    const start = 1_000_000;
    // Ten minutes of leader ticks, one a second, each run given time to end before the next tick.
    for (let t = start; t < start + 10 * 60_000; t += 1000) {
      scheduler.consider(t, PUBLISHED);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    }
    const attempts = vi.mocked(runPhysical).mock.calls.length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(Math.ceil((10 * 60_000) / REFUSED_RETRY_MS));
    expect(emit).toHaveBeenCalledTimes(1);
  });

  it('reports a refusal again once a backup was taken in between', async () => {
    const refused = { outcome: 'refused' as const, rule: 'backup-source-primary-unreachable' as const, reason: 'unreachable' };
    const failed = { outcome: 'failed' as const, source: { rule: 'backup-source-physical-primary', why: 'x' }, record: { id: 'full-20200101T000000Z', kind: 'full' as const, ok: false, startedAt: '2020-01-01T00:00:00.000Z', finishedAt: '2020-01-01T00:00:01.000Z', durationMs: 1000, node: 'pgsql', role: 'primary' as const, sizeBytes: 0, by: 'schedule', error: 'boom' } };
    vi.mocked(runPhysical).mockResolvedValueOnce(refused).mockResolvedValueOnce(failed).mockResolvedValueOnce(refused);
    const emit = vi.fn(async (_event: { rule: string }) => undefined);
    const scheduler = new BackupScheduler(clusterOf(), { emit } as unknown as EventLog);
    for (const t of [0, REFUSED_RETRY_MS, 2 * REFUSED_RETRY_MS]) {
      scheduler.consider(1_000_000 + t, PUBLISHED);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(vi.mocked(runPhysical)).toHaveBeenCalledTimes(3);
    expect(emit.mock.calls.map(([event]) => event.rule)).toEqual(['backup-source-primary-unreachable', 'backup-full-due', 'backup-source-primary-unreachable']);
  });
});
