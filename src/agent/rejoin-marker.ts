import { replicationHostOf, type NodeConfig } from '../config/schema.js';
import { chooseRejoin, DEFAULT_REJOIN_TIMINGS, NO_ATTEMPTS, REJOIN_METHODS, type RejoinMethod } from '../core/rejoin-method.js';
import type { ClusterContext } from './cluster-context.js';

// The rejoin marker (pg-failover.rebuild in the node's data directory): what the node image's
// entrypoint carries out at the node's next start, before PostgreSQL starts
// (docker/postgres/docker-entrypoint.sh reads it, each key against a pattern).

export interface RejoinMarker {
  /** The epoch the marker was written for: a person reading the file sees how old it is. */
  epoch: number;
  /** The source: the primary the node rejoins. */
  source: NodeConfig;
  /** The source must answer as a primary on this timeline or a later one, or the marker is stale. */
  timeline: number;
  method: RejoinMethod;
  /** Methods that failed at earlier starts: the entrypoint moves on to the next one. */
  failed?: RejoinMethod[];
}

export const MARKER_FILE = 'pg-failover.rebuild';
export const REJOINED_FILE = 'pg-failover.rejoined';

export function formatRejoinMarker(cluster: ClusterContext, node: NodeConfig, marker: RejoinMarker): string {
  return [
    `EPOCH=${marker.epoch}`,
    `SOURCE=${marker.source.name}`,
    `PRIMARY_HOST=${replicationHostOf(marker.source)}`,
    `PRIMARY_PORT=${marker.source.replicationPort}`,
    `REPLICATION_SLOT=${cluster.slotOf(node)}`,
    `TIMELINE=${marker.timeline}`,
    `METHOD=${marker.method}`,
    `FAILED=${(marker.failed ?? []).join(',')}`,
    '',
  ].join('\n');
}

/** The methods a marker says failed (the entrypoint appends to FAILED); unknown words are dropped. */
export function failedMethodsOf(markerText: string): RejoinMethod[] {
  const line = markerText.split('\n').find((l) => l.startsWith('FAILED='));
  if (!line) return [];
  return line
    .slice('FAILED='.length)
    .split(',')
    .filter((m): m is RejoinMethod => (REJOIN_METHODS as readonly string[]).includes(m));
}

/** What the entrypoint wrote after a rejoin: METHOD, MS, EPOCH, SOURCE, AT. Null when it does not parse. */
export function parseRejoined(text: string): { method: RejoinMethod; ms: number; epoch: number | null; source: string; at: number } | null {
  const fields = Object.fromEntries(text.split('\n').map((line) => line.split('=', 2) as [string, string]).filter((kv) => kv.length === 2));
  const method = fields.METHOD;
  if (!method || !(REJOIN_METHODS as readonly string[]).includes(method)) return null;
  const ms = Number(fields.MS);
  const at = Number(fields.AT);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(at)) return null;
  const epoch = fields.EPOCH && /^\d+$/.test(fields.EPOCH) ? Number(fields.EPOCH) : null;
  return { method: method as RejoinMethod, ms, epoch, source: fields.SOURCE ?? '', at };
}

/**
 * The method for a node fenced by a kill (a failover's old primary, a stray): where its WAL
 * ends is unknown until crash recovery, so the rule table says rewind (pg_rewind finds
 * "no rewind required" when nothing diverged, and the node just follows). Null: the table
 * refuses (the node is on a later timeline than the source); it then comes back as a
 * standby only, for a person to decide.
 */
export function methodForKilledNode(node: string, nodeTimeline: number, source: { name: string; timeline: number }): RejoinMethod | null {
  const choice = chooseRejoin({
    now: 0,
    node,
    wal: { timeline: nodeTimeline, end: null },
    primary: { name: source.name, timeline: source.timeline, lsn: null },
    history: null,
    sourceReachable: null,
    attempts: NO_ATTEMPTS,
    timings: DEFAULT_REJOIN_TIMINGS,
  });
  return choice.kind === 'rejoin' ? choice.method : null;
}
