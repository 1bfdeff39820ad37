import { Gauge, type Registry } from 'prom-client';
import { BACKUP_KINDS } from '../dcs/backups.js';
import type { BackupWatch } from '../status/agent-state.js';

// Backups and WAL archiving on /metrics (issue 16), from what the agent last read: the etcd
// catalogue and each node's pg_stat_archiver. Ages are given as timestamps (an alert computes
// `time() - …`) and, for a dashboard at a glance, as ages at the scrape.

export function backupMetrics(registry: Registry, watch: BackupWatch, now: number): void {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const lastGood = gauge('pgf_backup_last_success_timestamp_seconds', 'The newest good backup of each kind (dump, full, diff): when it finished (Unix time).', ['kind']);
  const age = gauge('pgf_backup_age_seconds', 'Age of the newest good backup of each kind at this scrape, from its start.', ['kind']);
  const size = gauge('pgf_backup_size_bytes', 'Size of the newest good backup of each kind (a dump: its file; pgBackRest: the backup in the repository).', ['kind']);
  const duration = gauge('pgf_backup_duration_seconds', 'How long the newest good backup of each kind took.', ['kind']);
  const failures = gauge('pgf_backup_failed_attempts', 'Failed attempts of each kind still in the catalogue (it keeps the newest few).', ['kind']);
  const lastFailed = gauge('pgf_backup_last_failure_timestamp_seconds', 'The newest failed attempt of each kind: when it ended (Unix time).', ['kind']);
  const count = gauge('pgf_backup_count', 'Good backups of each kind in the catalogue.', ['kind']);
  if (watch.readAt !== null) gauge('pgf_backup_catalog_read_timestamp_seconds', 'When this agent last read the backup catalogue from etcd (Unix time).').set(watch.readAt / 1000);
  for (const kind of BACKUP_KINDS) {
    const records = watch.records.filter((r) => r.kind === kind);
    // The catalogue is newest first (readBackups).
    const good = records.find((r) => r.ok);
    const failed = records.find((r) => !r.ok);
    count.set({ kind }, records.filter((r) => r.ok).length);
    failures.set({ kind }, records.length - records.filter((r) => r.ok).length);
    if (good) {
      const started = Date.parse(good.startedAt);
      const finished = Date.parse(good.finishedAt);
      if (Number.isFinite(finished)) lastGood.set({ kind }, finished / 1000);
      if (Number.isFinite(started)) age.set({ kind }, Math.max(0, now - started) / 1000);
      size.set({ kind }, good.sizeBytes);
      duration.set({ kind }, good.durationMs / 1000);
    }
    const failedAt = failed ? Date.parse(failed.finishedAt) : NaN;
    if (Number.isFinite(failedAt)) lastFailed.set({ kind }, failedAt / 1000);
  }

  const archived = gauge('pgf_archive_archived_total', 'pg_stat_archiver.archived_count of the node: WAL files archived since its statistics were reset.', ['node']);
  const archiveFailed = gauge('pgf_archive_failed_total', 'pg_stat_archiver.failed_count of the node: failed attempts to archive a WAL file.', ['node']);
  const archivedAt = gauge('pgf_archive_last_archived_timestamp_seconds', 'When the node last archived a WAL file (Unix time).', ['node']);
  const failedAtGauge = gauge('pgf_archive_last_failed_timestamp_seconds', 'When the node last failed to archive a WAL file (Unix time).', ['node']);
  const failing = gauge('pgf_archive_failing', '1 when the node\'s last archive attempt failed (its last failure is newer than its last success).', ['node']);
  for (const [node, row] of Object.entries(watch.archivers)) {
    archived.set({ node }, row.archivedCount);
    archiveFailed.set({ node }, row.failedCount);
    if (row.lastArchivedAt !== null) archivedAt.set({ node }, row.lastArchivedAt / 1000);
    if (row.lastFailedAt !== null) failedAtGauge.set({ node }, row.lastFailedAt / 1000);
    failing.set({ node }, row.lastFailedAt !== null && (row.lastArchivedAt === null || row.lastFailedAt > row.lastArchivedAt) ? 1 : 0);
  }
}

