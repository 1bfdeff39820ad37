// Builders for the backup decisions' inputs: catalogue records dated relative to NOW, and the
// config's defaults (dumps every 6 h keep 30, full weekly, diff daily, 2 fulls kept).
import { backupSchema, type BackupConfig } from '../../../src/config/backup-schema.js';
import { backupIdAt, type BackupKind, type BackupRecord } from '../../../src/dcs/backups.js';

export const NOW = Date.parse('2026-11-30T12:00:00Z');
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function backupConfig(overrides: { schedule?: boolean; dumps?: Partial<BackupConfig['dumps']>; pgbackrest?: Partial<BackupConfig['pgbackrest']> } = {}): BackupConfig {
  return backupSchema.parse({ schedule: overrides.schedule ?? true, dumps: overrides.dumps ?? {}, pgbackrest: overrides.pgbackrest ?? {} });
}

export const CONFIG = backupConfig();

export interface RecordOptions {
  ok?: boolean;
  durationMs?: number;
  error?: string;
  node?: string;
  startedAt?: string;
  finishedAt?: string;
}

/** A catalogue record of `kind` that started `agoMs` before NOW (a BackupRecord, as etcd holds it). */
export function record(kind: BackupKind, agoMs: number, options: RecordOptions = {}): BackupRecord {
  const start = new Date(NOW - agoMs);
  const durationMs = options.durationMs ?? MINUTE;
  const ok = options.ok ?? true;
  const id = backupIdAt(kind, start);
  return {
    id,
    kind,
    ok,
    startedAt: options.startedAt ?? start.toISOString(),
    finishedAt: options.finishedAt ?? new Date(start.getTime() + durationMs).toISOString(),
    durationMs,
    node: options.node ?? 'replica-1',
    role: kind === 'dump' ? 'replica' : 'primary',
    sizeBytes: ok ? 1_000_000 : 0,
    by: 'schedule',
    ...(kind === 'dump' && ok ? { database: 'app', file: `dumps/${id}.dump`, sha256: 'a'.repeat(64) } : {}),
    ...(ok ? {} : { error: options.error ?? 'pg_dump: error: connection to server failed' }),
  };
}

export const failed = (kind: BackupKind, agoMs: number, options: RecordOptions = {}): BackupRecord => record(kind, agoMs, { ...options, ok: false });

/** A catalogue in which every kind is fresh: nothing is due. */
export const FRESH: BackupRecord[] = [record('full', 2 * DAY), record('diff', 2 * HOUR), record('dump', HOUR)];
