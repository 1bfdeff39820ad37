import type { HistoryRecord } from './store.js';

/** The record of one promotion under `history/<epoch>` (a public contract: DESIGN.md), built in one place. */
export function historyRecord(fields: {
  epoch: number;
  from: string | null;
  to: string;
  kind: HistoryRecord['kind'];
  reason: string;
  at: string;
  timeline: number;
  leader: string;
  timings?: Record<string, number>;
  startedAt?: number;
  /** Whether the promotion ran under a promising synchronous set (zero-loss mode). */
  synchronous?: boolean;
}): HistoryRecord {
  const { timings = {}, startedAt, ...rest } = fields;
  return { ...rest, timings, ...(startedAt === undefined ? {} : { startedAt }) };
}
