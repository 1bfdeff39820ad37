// The event log's vocabulary: every verdict change, fence, promotion step, re-point,
// rebuild, refusal, hook outcome and operator command is one record naming the rule
// behind it, so a person can see afterwards why the cluster did what it did
// (pg_auto_failover's `show events`). Pure: building, choosing what to prune, formatting.

export type EventKind =
  | 'verdict'
  | 'fence'
  | 'operation-start'
  | 'step'
  | 'step-failed'
  | 'replan'
  | 'operation-end'
  | 'repoint'
  | 'rejoin'
  | 'refusal'
  | 'hook'
  | 'command'
  /** The synchronous set changed: recorded in etcd, or set on the primary (issue 13). */
  | 'sync'
  /** A backup was taken, failed, or could not start (issue 16). */
  | 'backup';

export interface ClusterEvent {
  /** Sortable: the time in ms, zero-padded, then a random suffix (two agents in the same ms). */
  id: string;
  at: string;
  kind: EventKind;
  /** The decision rule or operation step behind it (`failover rules` lists them). */
  rule: string;
  /** Who wrote it: an agent id, or `cli:<user>`. */
  by: string;
  message: string;
  epoch?: number;
  nodes?: string[];
  lsn?: string;
  elapsedMs?: number;
  /** kind `rejoin`: the path taken (issue 14). */
  method?: 'follow' | 'rewind' | 'clone';
  /** kind `rejoin`: how far it got. */
  outcome?: 'started' | 'done' | 'failed' | 'waiting' | 'refused';
}

export type EventInput = Omit<ClusterEvent, 'id' | 'at'>;

export function eventId(now: number, random: string): string {
  return `${String(now).padStart(15, '0')}-${random}`;
}

export function timeOfEventId(id: string): number | null {
  const match = /^(\d{15})-/.exec(id);
  return match ? Number(match[1]) : null;
}

export interface Retention {
  maxCount: number;
  maxAgeMs: number;
}

/** Which event ids to delete: beyond the newest `maxCount`, or older than `maxAgeMs`. Ids sort by time. */
export function eventsToPrune(ids: readonly string[], now: number, retention: Retention): string[] {
  const sorted = [...ids].sort();
  const overflow = Math.max(0, sorted.length - retention.maxCount);
  return sorted.filter((id, i) => {
    if (i < overflow) return true;
    const at = timeOfEventId(id);
    return at === null || now - at > retention.maxAgeMs;
  });
}

/** `30s`, `15m`, `2h`, `7d`: a duration for `--since`; null when it does not parse. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

/** One line a person reads at a glance: time, kind, rule, then what happened. */
export function formatEvent(event: ClusterEvent): string {
  const time = event.at.replace('T', ' ').replace(/Z$/, '');
  const epoch = event.epoch === undefined ? '' : `  epoch ${event.epoch}`;
  const elapsed = event.elapsedMs === undefined ? '' : `  (${event.elapsedMs} ms)`;
  return `${time}  ${event.kind.padEnd(15)} ${event.rule.padEnd(24)} ${event.message}${epoch}${elapsed}  [${event.by}]`;
}
