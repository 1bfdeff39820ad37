import { describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/dcs/backups.js';
import type { AgentState } from '../../../src/http/agent-state.js';
import { renderMetrics } from '../../../src/http/metrics.js';
import type { ArchiverRow } from '../../../src/postgres/archiver.js';
import { parsePrometheusText, valueOf } from '../../support/prometheus.js';
import { primaryObs, view } from '../core/fixtures.js';

// /metrics on backups and archiving (issue 16): from what the agent last read of the catalogue
// and of each node's pg_stat_archiver.

function record(kind: BackupRecord['kind'], startedAt: string, ok: boolean, extra: Partial<BackupRecord> = {}): BackupRecord {
  const stamp = startedAt.replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return { id: `${kind}-${stamp}`, kind, ok, startedAt, finishedAt: startedAt.replace(/:00\.000Z$/, ':30.000Z'), durationMs: 30_000, node: 'replica-1', role: 'replica', sizeBytes: ok ? 4096 : 0, by: 'schedule', ...(ok ? {} : { error: 'boom' }), ...extra };
}

const archiver = (row: Partial<ArchiverRow>): ArchiverRow => ({ archivedCount: 10, failedCount: 0, lastArchivedAt: null, lastFailedAt: null, lastArchivedWal: null, lastFailedWal: null, mode: 'on', ...row });

function stateWith(backups: AgentState['backups']): AgentState {
  return { agentId: 'agent-1', view: view('agent-1', [primaryObs('pgsql')]), isLeader: true, leaseHeld: true, edges: { etcdOk: true, lastEtcdOkAt: 1, lastEtcdError: null, etcdErrors: 0, dockerErrors: 0 }, backups };
}

describe('GET /metrics, backups', () => {
  it('the newest good backup of each kind: finish time, age, size, duration; failed attempts counted apart', async () => {
    const records = [
      record('dump', '2026-11-29T12:00:00.000Z', false),
      record('dump', '2026-11-29T06:00:00.000Z', true, { sizeBytes: 8192, durationMs: 12_000 }),
      record('dump', '2026-11-29T00:00:00.000Z', true),
      record('full', '2026-11-28T00:00:00.000Z', true, { sizeBytes: 1 << 20, role: 'primary', node: 'pgsql' }),
    ];
    const archivers = { pgsql: archiver({ archivedCount: 42, failedCount: 3, lastArchivedAt: 2_000_000, lastFailedAt: 1_000_000 }), 'replica-1': archiver({ failedCount: 1, lastFailedAt: 5_000_000, lastArchivedAt: 4_000_000 }) };
    const families = parsePrometheusText(await renderMetrics({ state: stateWith({ readAt: 1_000, records, archivers }), cluster: null }));
    const v = (name: string, labels: Record<string, string>) => valueOf(families, name, labels);
    expect(v('pgf_backup_size_bytes', { kind: 'dump' })).toBe(8192);
    expect(v('pgf_backup_duration_seconds', { kind: 'dump' })).toBe(12);
    expect(v('pgf_backup_last_success_timestamp_seconds', { kind: 'dump' })).toBe(Date.parse('2026-11-29T06:00:30.000Z') / 1000);
    expect(v('pgf_backup_count', { kind: 'dump' })).toBe(2);
    expect(v('pgf_backup_failed_attempts', { kind: 'dump' })).toBe(1);
    expect(v('pgf_backup_last_failure_timestamp_seconds', { kind: 'dump' })).toBe(Date.parse('2026-11-29T12:00:30.000Z') / 1000);
    expect(v('pgf_backup_size_bytes', { kind: 'full' })).toBe(1 << 20);
    expect(v('pgf_backup_age_seconds', { kind: 'full' })).toBeGreaterThan(0);
    expect(v('pgf_backup_count', { kind: 'diff' })).toBe(0);
    expect(families.get('pgf_backup_size_bytes')!.samples.some((s) => s.labels.kind === 'diff')).toBe(false);
    expect(v('pgf_archive_archived_total', { node: 'pgsql' })).toBe(42);
    expect(v('pgf_archive_failed_total', { node: 'pgsql' })).toBe(3);
    expect(v('pgf_archive_failing', { node: 'pgsql' })).toBe(0);
    expect(v('pgf_archive_failing', { node: 'replica-1' })).toBe(1);
  });

  it('leaves backup metrics out without a backup config', async () => {
    const families = parsePrometheusText(await renderMetrics({ state: stateWith(null), cluster: null }));
    expect([...families.keys()].filter((name) => /backup|archive/.test(name))).toEqual([]);
  });
});
