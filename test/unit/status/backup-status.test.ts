import { describe, expect, it } from 'vitest';
import type { BackupRecord } from '../../../src/dcs/backups.js';
import { backupStatuses, renderBackups } from '../../../src/status/backup-status.js';

const rec = (kind: BackupRecord['kind'], id: string, ok: boolean, extra: Partial<BackupRecord> = {}): BackupRecord => ({
  id: `${kind}-${id}`,
  kind,
  ok,
  startedAt: '2026-11-29T06:00:00.000Z',
  finishedAt: '2026-11-29T06:00:12.000Z',
  durationMs: 12_000,
  node: 'replica-1',
  role: 'replica',
  sizeBytes: ok ? 5 * 1024 * 1024 : 0,
  by: 'schedule',
  ...(ok ? {} : { error: 'pg_dump: error: connection lost' }),
  ...extra,
});

describe('status, backups', () => {
  it('shows the newest good backup of each kind, and a failure newer than it', () => {
    // Newest first, as readBackups returns them.
    const statuses = backupStatuses([rec('dump', '20261129T120000Z', false, { finishedAt: '2026-11-29T12:00:01.000Z' }), rec('dump', '20261129T060000Z', true), rec('full', '20261128T000000Z', true, { node: 'pgsql', role: 'primary' })]);
    expect(statuses.map((s) => [s.kind, s.last?.id ?? null, s.failed?.id ?? null])).toEqual([
      ['dump', 'dump-20261129T060000Z', 'dump-20261129T120000Z'],
      ['full', 'full-20261128T000000Z', null],
      ['diff', null, null],
    ]);
    expect(renderBackups(statuses)).toEqual([
      'backup dump last 2026-11-29T06:00:12.000Z from replica-1 (replica), 5 MiB in 12.0 s; last attempt FAILED 2026-11-29T12:00:01.000Z: pg_dump: error: connection lost',
      'backup full last 2026-11-29T06:00:12.000Z from pgsql (primary), 5 MiB in 12.0 s',
      'backup diff last none yet',
    ]);
  });

  it('says nothing when the catalogue is empty', () => {
    expect(renderBackups(backupStatuses([]))).toEqual([]);
  });
});
