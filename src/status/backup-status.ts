import { formatBytes } from '../core/bytes.js';
import { BACKUP_KINDS, type BackupKind, type BackupRecord } from '../dcs/backups.js';

// What `status` says about backups (issue 16): the newest good backup of each kind, and the
// newest attempt when it failed after that. The catalogue is in etcd; nothing here reads a node.

export interface BackupKindStatus {
  kind: BackupKind;
  /** The newest good one: id, when it finished, from which node, how big, how long. */
  last: { id: string; finishedAt: string; node: string; role: 'primary' | 'replica'; sizeBytes: number; durationMs: number } | null;
  /** The newest attempt, when it failed after the last good one. */
  failed: { id: string; finishedAt: string; error: string } | null;
}

/** Records newest first (readBackups' order). */
export function backupStatuses(records: readonly BackupRecord[]): BackupKindStatus[] {
  return BACKUP_KINDS.map((kind) => {
    const ofKind = records.filter((r) => r.kind === kind);
    const good = ofKind.find((r) => r.ok) ?? null;
    const newest = ofKind[0] ?? null;
    const failed = newest && !newest.ok ? { id: newest.id, finishedAt: newest.finishedAt, error: newest.error ?? 'failed' } : null;
    return { kind, last: good ? { id: good.id, finishedAt: good.finishedAt, node: good.node, role: good.role, sizeBytes: good.sizeBytes, durationMs: good.durationMs } : null, failed };
  });
}

export function renderBackups(statuses: readonly BackupKindStatus[]): string[] {
  if (statuses.every((s) => s.last === null && s.failed === null)) return [];
  return statuses.map((s) => {
    const last = s.last ? `${s.last.finishedAt} from ${s.last.node} (${s.last.role}), ${formatBytes(BigInt(s.last.sizeBytes))} in ${(s.last.durationMs / 1000).toFixed(1)} s` : 'none yet';
    const failed = s.failed ? `; last attempt FAILED ${s.failed.finishedAt}: ${s.failed.error}` : '';
    return `backup ${s.kind.padEnd(4)} last ${last}${failed}`;
  });
}

