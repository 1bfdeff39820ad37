import type pg from 'pg';
import { parseStandbyNames, type PrimarySyncState } from '../core/sync-set.js';
import { parseLsn, tryParseLsn } from '../core/lsn.js';

// The primary's side of zero-loss mode: its synchronous_standby_names, its position and
// its walsenders, read in one statement (so the position and the walsenders' view of the
// setting belong to the same moment), and the change of the setting.

const SYNC_STATE_SQL = `
SELECT pg_current_wal_lsn()::text AS lsn,
       current_setting('synchronous_standby_names') AS setting,
       COALESCE((SELECT json_agg(json_build_object(
                   'name', application_name, 'state', state, 'flush', flush_lsn::text, 'priority', sync_priority))
                  FROM pg_stat_replication), '[]'::json) AS senders`;

interface SenderRow {
  name: string;
  state: string | null;
  flush: string | null;
  priority: number | null;
}

/** `allStandbys` stands in for `*` in the setting. Fails on a standby (pg_current_wal_lsn is refused there). */
export async function readSyncState(pool: pg.Pool, primary: string, allStandbys: readonly string[]): Promise<PrimarySyncState> {
  const { rows } = await pool.query<{ lsn: string; setting: string; senders: SenderRow[] }>(SYNC_STATE_SQL);
  const row = rows[0];
  if (!row) throw new Error('synchronous state: the server returned no row');
  return {
    primary,
    lsn: parseLsn(row.lsn),
    applied: parseStandbyNames(row.setting, allStandbys),
    senders: row.senders.map((sender) => ({
      name: sender.name,
      streaming: sender.state === 'streaming',
      flushLsn: sender.flush === null ? null : tryParseLsn(sender.flush),
      priority: sender.priority ?? 0,
    })),
  };
}

/**
 * The node's synchronous_standby_names as its session reads it, and how long ago that session
 * (re)loaded the configuration, by the server's own clock (pg_conf_load_time). A session alive
 * at a reload reports its own re-read, which an idle pooled session does only at its next
 * query: ask a fresh session when the age matters.
 */
export async function readStandbyNames(session: pg.Pool | pg.Client): Promise<{ setting: string; loadedMsAgo: number }> {
  const { rows } = await session.query<{ s: string; ms: number }>(
    `SELECT current_setting('synchronous_standby_names') AS s, (extract(epoch FROM clock_timestamp() - pg_conf_load_time()) * 1000)::float8 AS ms`,
  );
  return { setting: rows[0]?.s ?? '', loadedMsAgo: rows[0]?.ms ?? 0 };
}

/**
 * ALTER SYSTEM (so a restart keeps it) and a reload. Works on a standby too, where the value
 * waits in postgresql.auto.conf and takes effect the moment it is promoted.
 */
export async function applyStandbyNames(pool: pg.Pool, setting: string): Promise<void> {
  const client = await pool.connect();
  client.on('error', () => undefined);
  try {
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${literal(setting)}`);
    await client.query('SELECT pg_reload_conf()');
    client.release();
  } catch (error) {
    client.release(true);
    throw error;
  }
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
