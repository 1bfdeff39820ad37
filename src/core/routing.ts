// Where the application endpoints (PgBouncer) should send connections: the write
// endpoint to the published primary only, the read endpoint to the replicas that
// are healthy enough to read from. Pure: observations in, targets out.

import type { NodeObservation, Published } from './types.js';

/** A node as PgBouncer, inside the Docker network, reaches it. */
export interface RouteTarget {
  node: string;
  host: string;
  port: number;
}

export interface ReadRoute {
  targets: RouteTarget[];
  /** True when no replica was healthy and reads go to the primary. */
  fallback: boolean;
  /** Replicas left out, with the reason a person reads in the log. */
  excluded: Array<{ node: string; reason: string }>;
}

export interface ReadRouteInput {
  published: Published | null;
  observations: Record<string, NodeObservation>;
  /** Every node's in-network address, by node name. */
  targets: Record<string, RouteTarget>;
  /** Every host name the published primary may appear under as a replica's upstream. */
  primaryHosts: string[];
  maxLagBytes: bigint;
}

/** The write endpoint follows etcd alone: never a node the agents merely believe writable. */
export function writeRoute(published: Published | null, targets: Record<string, RouteTarget>): RouteTarget | null {
  if (!published) return null;
  return targets[published.name] ?? null;
}

/**
 * Replicas that are reachable, streaming from the published primary and within the
 * lag limit; the primary when there is none, so reads keep working on a lone primary.
 */
export function readRoute(input: ReadRouteInput): ReadRoute {
  const { published, observations, targets } = input;
  if (!published) return { targets: [], fallback: false, excluded: [] };
  const primary = observations[published.name];
  const primaryLsn = primary?.sql.ok && !primary.sql.inRecovery ? primary.sql.lsn : null;
  const chosen: RouteTarget[] = [];
  const excluded: ReadRoute['excluded'] = [];
  for (const name of Object.keys(targets).sort()) {
    if (name === published.name) continue;
    const reason = unfitForReads(observations[name], primaryLsn, input.primaryHosts, input.maxLagBytes);
    if (reason) excluded.push({ node: name, reason });
    else chosen.push(targets[name]!);
  }
  if (chosen.length > 0) return { targets: chosen, fallback: false, excluded };
  const own = targets[published.name];
  return { targets: own ? [own] : [], fallback: own !== undefined, excluded };
}

function unfitForReads(observation: NodeObservation | undefined, primaryLsn: bigint | null, primaryHosts: string[], maxLagBytes: bigint): string | null {
  if (!observation) return 'not observed';
  const sql = observation.sql;
  if (!sql.ok) return 'unreachable';
  if (!sql.inRecovery) return 'not in recovery';
  if (!sql.streaming) return 'not streaming';
  if (sql.upstreamHost === null || !primaryHosts.includes(sql.upstreamHost)) return `streaming from ${sql.upstreamHost ?? 'an unknown host'}, not the primary`;
  // Without the primary's position the lag is unknown: a streaming replica of the published primary is kept.
  if (primaryLsn !== null && primaryLsn - sql.lsn > maxLagBytes) return `${primaryLsn - sql.lsn} bytes behind`;
  return null;
}

/**
 * A host PgBouncer may be given bare: a name or an address, nothing that would end the value
 * or the line. The config's hosts only ever reach here; this is the last check before the file.
 */
const PLAIN_HOST = /^[A-Za-z0-9_.:[\]-]{1,253}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROLS = /[\u0000-\u001f\u007f]/g;

/** `host=a,b port=5432`: PgBouncer round-robins new server connections over the hosts. */
export function hostsField(targets: RouteTarget[]): { host: string; port: number } | null {
  const plain = targets.filter((t) => PLAIN_HOST.test(t.host) && Number.isInteger(t.port) && t.port >= 1 && t.port <= 65535);
  if (plain.length === 0) return null;
  // PgBouncer 1.18 takes one port for all hosts of a database: hosts on another port are left out.
  const port = plain[0]!.port;
  return { host: plain.filter((t) => t.port === port).map((t) => t.host).join(','), port };
}

/**
 * The [databases] section PgBouncer includes: every database of the cluster, at the
 * given hosts. No targets means no databases: clients are refused rather than sent
 * to a node that is not where they belong. Everything written is checked or escaped:
 * the header stays a one-line comment, and a database whose name holds a control
 * character (a newline would start a line of its own) is left out.
 */
export function databasesIni(databases: string[], targets: RouteTarget[], header: string): string {
  const field = hostsField(targets);
  const lines = [`; ${header.replace(CONTROLS, ' ')}`];
  if (field) {
    for (const db of [...new Set(databases)].sort()) {
      if (CONTROL.test(db) || db.length === 0) continue;
      lines.push(`${quoteName(db)} = host=${field.host} port=${field.port} dbname=${quoteValue(db)}`);
    }
  }
  return lines.join('\n') + '\n';
}

function quoteName(name: string): string {
  return /^[0-9A-Za-z_.-]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

function quoteValue(value: string): string {
  return /^[0-9A-Za-z_.-]+$/.test(value) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
