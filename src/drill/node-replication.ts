import { replicationHostOf, type NodeConfig } from '../config/schema.js';
import { withClient } from '../postgres/connection.js';
import type { LabAccess } from './lab-access.js';

/** What a node says of its own replication, asked over SQL (null fields: it does not say). */
export interface ReplicationFacts {
  inRecovery: boolean;
  /** The WAL receiver's state ('streaming', 'catchup', ...) or null without one. */
  receiverStatus: string | null;
  senderHost: string | null;
  /** The timeline the receiver streams on. */
  receivedTli: number | null;
  /** The timeline of the node's last checkpoint: on a standby that has not streamed yet, the timeline it stands on. */
  checkpointTli: number | null;
}

/**
 * Whether `facts` show a standby streaming from `primary` (any of its names) on
 * `timeline`: it follows that primary's fork, and holds what it streamed. A node on an
 * older timeline, or not streaming, does not.
 */
export function streamsOnTimeline(facts: ReplicationFacts | null, primary: NodeConfig, timeline: number): boolean {
  if (!facts || !facts.inRecovery || facts.receiverStatus !== 'streaming') return false;
  const hosts = new Set([primary.container, primary.host, replicationHostOf(primary)]);
  return facts.senderHost !== null && hosts.has(facts.senderHost) && facts.receivedTli === timeline;
}

/** How a node stood, in a few words, for the report: "primary (accepts writes)", "standby streaming from pgsql on timeline 3". */
export function describeStanding(facts: ReplicationFacts): string {
  if (!facts.inRecovery) return 'primary (accepts writes)';
  if (facts.receiverStatus === 'streaming') return `standby streaming from ${facts.senderHost ?? '?'} on timeline ${facts.receivedTli ?? '?'}`;
  return `standby not streaming (receiver ${facts.receiverStatus ?? 'absent'}), checkpoint timeline ${facts.checkpointTli ?? '?'}`;
}

/** Asks `node` over its published port; null when it does not answer within `timeoutMs`. */
export async function replicationFacts(access: LabAccess, node: NodeConfig, timeoutMs = 500): Promise<ReplicationFacts | null> {
  try {
    return await withClient(access.endpoint(node), { timeoutMs }, async (client) => {
      const { rows } = await client.query<{ r: boolean; status: string | null; sender: string | null; tli: number | null; ctli: number | null }>(
        `SELECT pg_is_in_recovery() AS r,
                (SELECT status FROM pg_stat_wal_receiver) AS status,
                (SELECT sender_host FROM pg_stat_wal_receiver) AS sender,
                (SELECT received_tli FROM pg_stat_wal_receiver) AS tli,
                (pg_control_checkpoint()).timeline_id AS ctli`,
      );
      const row = rows[0]!;
      return { inRecovery: row.r, receiverStatus: row.status, senderHost: row.sender, receivedTli: row.tli, checkpointTli: row.ctli };
    });
  } catch {
    return null;
  }
}

/** The primary's current WAL position (text, as PostgreSQL prints it). */
export async function currentLsn(access: LabAccess, node: NodeConfig): Promise<string> {
  return withClient(access.endpoint(node), { timeoutMs: 1000 }, async (client) => {
    const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    return rows[0]!.lsn;
  });
}

/** Whether the standby `node` has received (and flushed) WAL up to `lsn`. */
export async function receivedUpTo(access: LabAccess, node: NodeConfig, lsn: string): Promise<boolean> {
  return withClient(access.endpoint(node), { timeoutMs: 500 }, async (client) => {
    const { rows } = await client.query<{ ok: boolean | null }>('SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), $1::pg_lsn) >= 0 AS ok', [lsn]);
    return rows[0]?.ok === true;
  });
}
