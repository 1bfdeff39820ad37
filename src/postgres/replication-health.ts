import type pg from 'pg';
import type { ReplicationRow, SlotRow } from '../core/health.js';
import { tryParseLsn } from '../core/lsn.js';
import type { Lsn } from '../core/types.js';
import { withClient, type Endpoint } from './connection.js';

// What `failover health` reads on the primary: its WAL position, its walsenders
// (pg_stat_replication) and its slots (pg_replication_slots). Works on PostgreSQL 10
// and later (the *_lsn columns, the *_lag intervals, pg_wal_lsn_diff).

export interface ReplicationSnapshot {
  inRecovery: boolean;
  /** pg_current_wal_lsn(); null on a standby, where it cannot be asked. */
  currentLsn: Lsn | null;
  replication: ReplicationRow[];
  slots: SlotRow[];
}

const ROLE_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn`;

// One reference position for every row of the statement (a CTE is evaluated once).
const REPLICATION_SQL = `
WITH cur AS (SELECT pg_current_wal_lsn() AS lsn)
SELECT r.application_name,
       host(r.client_addr) AS client_addr,
       r.state,
       r.sync_state,
       r.sent_lsn::text AS sent_lsn,
       r.write_lsn::text AS write_lsn,
       r.flush_lsn::text AS flush_lsn,
       r.replay_lsn::text AS replay_lsn,
       CASE WHEN r.replay_lsn IS NULL THEN NULL
            ELSE greatest(pg_wal_lsn_diff(cur.lsn, r.replay_lsn), 0)::bigint::text END AS lag_bytes,
       extract(epoch FROM r.write_lag)::float8 AS write_lag,
       extract(epoch FROM r.flush_lag)::float8 AS flush_lag,
       extract(epoch FROM r.replay_lag)::float8 AS replay_lag,
       s.slot_name::text AS slot_name
  FROM pg_stat_replication AS r
 CROSS JOIN cur
  LEFT JOIN pg_replication_slots AS s ON s.active_pid = r.pid
 ORDER BY r.application_name, r.pid`;

const SLOTS_SQL = `
WITH cur AS (SELECT pg_current_wal_lsn() AS lsn)
SELECT s.slot_name::text AS slot_name,
       s.active,
       CASE WHEN s.restart_lsn IS NULL THEN NULL
            ELSE greatest(pg_wal_lsn_diff(cur.lsn, s.restart_lsn), 0)::bigint::text END AS retained_bytes
  FROM pg_replication_slots AS s
 CROSS JOIN cur
 ORDER BY s.slot_name`;

interface RoleRow {
  in_recovery: boolean;
  current_lsn: string | null;
}

interface ReplicationSqlRow {
  application_name: string;
  client_addr: string | null;
  state: string | null;
  sync_state: string | null;
  sent_lsn: string | null;
  write_lsn: string | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
  lag_bytes: string | null;
  write_lag: number | null;
  flush_lag: number | null;
  replay_lag: number | null;
  slot_name: string | null;
}

interface SlotSqlRow {
  slot_name: string;
  active: boolean;
  retained_bytes: string | null;
}

/** Reads the primary's replication state over an open connection (a superuser, or a member of pg_monitor, sees every column). */
export async function readReplicationSnapshot(client: pg.Client): Promise<ReplicationSnapshot> {
  const role = (await client.query<RoleRow>(ROLE_SQL)).rows[0];
  if (!role) throw new Error('replication health: the server returned no row');
  if (role.in_recovery) return { inRecovery: true, currentLsn: null, replication: [], slots: [] };
  const replication = (await client.query<ReplicationSqlRow>(REPLICATION_SQL)).rows.map(toReplicationRow);
  const slots = (await client.query<SlotSqlRow>(SLOTS_SQL)).rows.map(toSlotRow);
  return { inRecovery: false, currentLsn: lsnOrNull(role.current_lsn), replication, slots };
}

/** Connects, reads, disconnects; connect and query times bounded by `timeoutMs`. */
export function readReplicationSnapshotAt(endpoint: Endpoint, timeoutMs: number): Promise<ReplicationSnapshot> {
  return withClient(endpoint, { timeoutMs, applicationName: 'pg-failover-health' }, readReplicationSnapshot);
}

function toReplicationRow(row: ReplicationSqlRow): ReplicationRow {
  return {
    applicationName: row.application_name,
    clientAddr: row.client_addr,
    state: row.state,
    syncState: row.sync_state,
    sentLsn: lsnOrNull(row.sent_lsn),
    writeLsn: lsnOrNull(row.write_lsn),
    flushLsn: lsnOrNull(row.flush_lsn),
    replayLsn: lsnOrNull(row.replay_lsn),
    lagBytes: row.lag_bytes === null ? null : BigInt(row.lag_bytes),
    writeLagSeconds: row.write_lag,
    flushLagSeconds: row.flush_lag,
    replayLagSeconds: row.replay_lag,
    slotName: row.slot_name,
  };
}

function toSlotRow(row: SlotSqlRow): SlotRow {
  return { slotName: row.slot_name, active: row.active, retainedBytes: row.retained_bytes === null ? null : BigInt(row.retained_bytes) };
}

function lsnOrNull(text: string | null): Lsn | null {
  return text === null ? null : tryParseLsn(text);
}
