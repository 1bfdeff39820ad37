import type pg from 'pg';
import type { SqlFailure, SqlProbe } from '../core/types.js';
import { tryParseLsn } from '../core/lsn.js';
import { connect, describeError, discard, type Endpoint } from './connection.js';
import { CURRENT_TIMELINE_SQL } from './timeline.js';

// One round trip tells everything the core needs about a node, primary or standby.
const PROBE_SQL = `
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE ${CURRENT_TIMELINE_SQL} END AS wal_tli,
       pg_last_wal_receive_lsn()::text AS receive_lsn,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_tli,
       -- Without a WAL receiver (its upstream died) received_tli is gone and the checkpoint's
       -- timeline lags until the next restartpoint: the newest timeline among the WAL segments
       -- the standby holds says which fork it followed (segment names start with the timeline).
       CASE WHEN pg_is_in_recovery() AND r.received_tli IS NULL
            THEN (SELECT max(('x' || substr(name, 1, 8))::bit(32)::int) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$')
       END AS segment_tli,
       r.status AS receiver_status,
       r.received_tli,
       r.sender_host,
       (extract(epoch FROM now() - r.last_msg_receipt_time) * 1000)::bigint AS receipt_age_ms,
       -- Replay lag in time, as monitoring tools measure it: 0 when everything received is
       -- replayed, else the age of the last replayed commit (after an idle spell this
       -- overstates for a moment; an idle primary alone never makes it grow).
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint END AS replay_lag_ms
  FROM (SELECT 1) AS one
  LEFT JOIN pg_stat_wal_receiver AS r ON true`;

export interface ProbeRow {
  in_recovery: boolean;
  current_lsn: string | null;
  wal_tli: number | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  checkpoint_tli: number;
  segment_tli: number | null;
  receiver_status: string | null;
  received_tli: number | null;
  sender_host: string | null;
  receipt_age_ms: string | null;
  replay_lag_ms: string | null;
}

export function toProbe(row: ProbeRow): SqlProbe {
  const receiveLsn = row.receive_lsn ? tryParseLsn(row.receive_lsn) : null;
  const replayLsn = row.replay_lsn ? tryParseLsn(row.replay_lsn) : null;
  const current = row.current_lsn ? tryParseLsn(row.current_lsn) : null;
  const lsn = row.in_recovery ? (replayLsn ?? receiveLsn ?? 0n) : (current ?? 0n);
  const timeline = row.in_recovery ? Math.max(row.received_tli ?? 0, row.segment_tli ?? 0, row.checkpoint_tli) : (row.wal_tli ?? row.checkpoint_tli);
  return {
    ok: true,
    inRecovery: row.in_recovery,
    timeline,
    lsn,
    receiveLsn: row.in_recovery ? receiveLsn : null,
    replayLsn: row.in_recovery ? replayLsn : null,
    streaming: row.receiver_status === 'streaming',
    upstreamHost: row.sender_host,
    receiptAgeMs: row.receipt_age_ms === null ? null : Number(row.receipt_age_ms),
    replayLagMs: row.replay_lag_ms === null ? null : Number(row.replay_lag_ms),
  };
}

/** One probe over a pool's or client's connection, bounded by `timeoutMs`; never throws. */
export async function probeOnce(queryable: Pick<pg.Pool, 'query'>, timeoutMs: number): Promise<SqlProbe | SqlFailure> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await Promise.race([
      queryable.query<ProbeRow>(PROBE_SQL),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`probe took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const row = result.rows[0];
    return row ? toProbe(row) : { ok: false, error: 'probe returned no row' };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Keeps one connection per node and probes over it. Any failure discards the
 * connection: after a timeout it may be stuck on a frozen server.
 */
export class NodeProber {
  private client: pg.Client | null = null;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly timeoutMs: number,
  ) {}

  async probe(): Promise<SqlProbe | SqlFailure> {
    try {
      this.client ??= await connect(this.endpoint, { timeoutMs: this.timeoutMs, applicationName: 'pg-failover-probe' });
      const result = await this.client.query<ProbeRow>(PROBE_SQL);
      const row = result.rows[0];
      if (!row) return { ok: false, error: 'probe returned no row' };
      return toProbe(row);
    } catch (error) {
      this.close();
      return { ok: false, error: describeError(error) };
    }
  }

  close(): void {
    if (this.client) discard(this.client);
    this.client = null;
  }
}
