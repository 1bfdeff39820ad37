import { backupHealth, type BackupHealth } from '../core/backup-health.js';
import type { Config, NodeConfig } from '../config/schema.js';
import { readBackups, type BackupRecord } from '../dcs/backups.js';
import type { LabAccess } from '../drill/lab-access.js';
import { describeError, withClient } from '../postgres/connection.js';
import { readArchiver, type ArchiverRow } from '../postgres/archiver.js';
import { openStore } from './context.js';
import { backupStatuses, type BackupKindStatus } from '../status/backup-status.js';

// `failover health` on backups (issue 16): the catalogue from etcd (the reader's login) and
// pg_stat_archiver on the published primary, judged by the pure core (core/backup-health.ts).

export interface BackupHealthReport extends BackupHealth {
  /** The newest good backup of each kind, and a failure after it, as `status` shows them. */
  last: BackupKindStatus[];
  archiver: ArchiverRow | null;
}

export async function checkBackups(access: LabAccess, primary: NodeConfig, timeoutMs: number): Promise<BackupHealthReport | null> {
  const config: Config = access.config;
  if (!config.backup) return null;
  const problems: string[] = [];
  let records: BackupRecord[] = [];
  const { etcd, store } = await openStore(config, 'reader');
  try {
    const catalog = await readBackups(etcd, store.keys);
    records = catalog.records;
    if (catalog.unreadable.length > 0) problems.push(`backup catalogue: ${catalog.unreadable.length} record(s) in etcd do not parse and were left out`);
  } catch (error) {
    problems.push(`backup catalogue: cannot read it from etcd: ${describeError(error)}`);
  } finally {
    etcd.close();
  }
  let archiver: ArchiverRow | null = null;
  try {
    archiver = await withClient(access.endpoint(primary), { timeoutMs }, (client) => readArchiver(client));
    if (archiver.mode === 'off') problems.push(`WAL archiving is off on the primary ${primary.name} (archive_mode = off): no point-in-time restore is possible past the last backup`);
  } catch (error) {
    problems.push(`WAL archiving: cannot read pg_stat_archiver on the primary ${primary.name}: ${describeError(error)}`);
  }
  const judged = backupHealth({ now: Date.now(), config: config.backup, records, archiver });
  return { problems: [...judged.problems, ...problems], warnings: judged.warnings, last: backupStatuses(records), archiver };
}
