// Does "a replica still hears from the primary" mean anything within the failure time?
//
// The detector calls a primary that the agents cannot reach but that a replica heard
// from (pg_stat_wal_receiver.last_msg_receipt_time) less than failureTimeMs ago a
// partition, and leaves it alone. That holds only if a live primary is never silent
// towards its standbys for that long. A busy primary sends WAL all the time; an idle
// one sends only what the two timeouts make it send:
//
// - the standby's WAL receiver pings the primary after wal_receiver_timeout / 2 without
//   a message (and gives up after wal_receiver_timeout); the primary answers at once;
// - the primary's walsender pings after wal_sender_timeout / 2 without a reply, but the
//   standby's status messages (every wal_receiver_status_interval, 10 s by default)
//   reset that clock, so with the usual settings it never fires. It is not relied on.
//
// So an idle, live primary can stay silent towards a standby for wal_receiver_timeout / 2,
// plus up to one turn of the receiver's loop (100 ms). The agent sees that age through a
// probe up to probeIntervalMs + probeTimeoutMs old. The partition rule is sound when
//
//   wal_receiver_timeout / 2 + 100 ms + probeIntervalMs + probeTimeoutMs <= failureTimeMs
//
// and wal_receiver_timeout is not 0 (0 turns the ping off). PostgreSQL's default (60 s)
// breaks it: a live primary cut off from the agents, with nothing to write, would be
// failed over. The lab sets 3 s (defaults: 3000 ms failure time, 250 ms probe interval,
// 800 ms probe timeout, so the limit is 3700 ms). Each term is an upper bound already.

/** One turn of the WAL receiver's wait loop (NAPTIME_PER_CYCLE). */
const RECEIVER_LOOP_MS = 100;

export interface DetectionTimings {
  failureTimeMs: number;
  probeIntervalMs: number;
  probeTimeoutMs: number;
}

/** The largest wal_receiver_timeout (ms) with which the partition rule is sound; 0 when none is. */
export function maxReceiverTimeoutMs(timings: DetectionTimings): number {
  return Math.max(0, 2 * (timings.failureTimeMs - RECEIVER_LOOP_MS - timings.probeIntervalMs - timings.probeTimeoutMs));
}

/** Null when the node's wal_receiver_timeout fits the timings; else one line naming the setting, its value and what is expected. */
export function receiverTimeoutProblem(node: string, receiverTimeoutMs: number, timings: DetectionTimings): string | null {
  const limit = maxReceiverTimeoutMs(timings);
  if (receiverTimeoutMs > 0 && receiverTimeoutMs <= limit) return null;
  const value = receiverTimeoutMs > 0 ? `${receiverTimeoutMs} ms` : '0 (its ping is off)';
  const rule = `wal_receiver_timeout / 2 + 100 ms + probeIntervalMs ${timings.probeIntervalMs} + probeTimeoutMs ${timings.probeTimeoutMs} <= failureTimeMs ${timings.failureTimeMs}`;
  const expected = limit > 0 ? `expected 1 to ${limit} ms (${rule})` : `no value fits (${rule}): raise timings.failureTimeMs`;
  return `${node}: wal_receiver_timeout is ${value}, ${expected}; otherwise a live, idle primary that the agents cannot reach may be failed over instead of reported as a partition`;
}

/** A pg_settings value in milliseconds (`setting` and `unit` as pg_settings lists them); null when it is not a time. */
export function settingMs(setting: string, unit: string | null): number | null {
  const value = Number(setting);
  if (setting.trim() === '' || !Number.isFinite(value)) return null;
  const factor = { ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[unit ?? ''];
  return factor === undefined ? null : value * factor;
}
