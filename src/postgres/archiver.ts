import type pg from 'pg';
import type { ArchiverStats } from '../core/backup-health.js';

// pg_stat_archiver of one node (issue 16): whether WAL archiving works there. `failover
// health` reads it on the published primary; the agents read it on every node for /metrics.

export interface ArchiverRow extends ArchiverStats {
  archivedCount: number;
  /** The WAL file last archived, and the one that failed last (names only). */
  lastArchivedWal: string | null;
  lastFailedWal: string | null;
  /** archive_mode as the server runs with it ('off' means nothing is archived at all). */
  mode: string;
}

export const ARCHIVER_SQL = `
SELECT archived_count::bigint::text AS archived_count,
       failed_count::bigint::text AS failed_count,
       extract(epoch FROM last_archived_time)::float8 AS last_archived,
       extract(epoch FROM last_failed_time)::float8 AS last_failed,
       last_archived_wal, last_failed_wal,
       current_setting('archive_mode') AS mode
  FROM pg_stat_archiver`;

interface Row {
  archived_count: string;
  failed_count: string;
  last_archived: number | null;
  last_failed: number | null;
  last_archived_wal: string | null;
  last_failed_wal: string | null;
  mode: string;
}

/** Reads the archiver through an open client (or pool) whose query has its own deadline. */
export async function readArchiver(client: Pick<pg.Pool, 'query'> | Pick<pg.Client, 'query'>): Promise<ArchiverRow> {
  const { rows } = await (client as pg.Pool).query<Row>(ARCHIVER_SQL);
  const row = rows[0];
  if (!row) throw new Error('pg_stat_archiver returned no row');
  return {
    archivedCount: Number(row.archived_count),
    failedCount: Number(row.failed_count),
    lastArchivedAt: row.last_archived === null ? null : Math.round(row.last_archived * 1000),
    lastFailedAt: row.last_failed === null ? null : Math.round(row.last_failed * 1000),
    lastArchivedWal: row.last_archived_wal,
    lastFailedWal: row.last_failed_wal,
    mode: row.mode,
  };
}
