// Zero-loss mode's vocabulary (safety rule 9). The leader keeps two things in step:
// the primary's `synchronous_standby_names` (what PostgreSQL waits for before it
// acknowledges a commit) and the recorded synchronous set in etcd (what a leader reads
// after the primary is lost, to know who may hold the last acknowledged commit).
import type { Lsn } from './types.js';

export type SyncMode = 'off' | 'quorum';
export type Durability = 'required' | 'preferred';

/** `replication.synchronous` in the config. */
export interface SyncSettings {
  mode: SyncMode;
  /** k of `ANY k (...)`: a commit is acknowledged once k standbys have flushed it. */
  number: number;
  durability: Durability;
  /** preferred: how long fewer than k standbys may be healthy before writes go on without them. */
  degradeAfterMs: number;
}

/** A `synchronous_standby_names` of the form `ANY k (a, b)`; null is the empty setting (asynchronous). */
export interface StandbySet {
  number: number;
  standbys: string[];
}

/**
 * The `sync` key. While it claims (quorum, not degraded, not pending), every commit the
 * primary of `epoch` acknowledged is flushed on at least `number` of `standbys`; the list may
 * name the primary itself (right after a promotion, until the others have caught up with it).
 */
export interface SyncRecord {
  mode: SyncMode;
  number: number;
  standbys: string[];
  /** The published epoch this record was written under. */
  epoch: number;
  durability: Durability;
  /** preferred only: fewer than k standbys were healthy for degradeAfterMs; commits are acknowledged without them. */
  degraded: boolean;
  /** The setting names these standbys, but they have not yet confirmed everything the primary acknowledged before it. */
  pending: boolean;
  /** When it was written (the leader's clock, ms). */
  at: number;
}

/** Whether the record promises that every acknowledged commit is on `number` of `standbys`. */
export function claims(record: SyncRecord | null): boolean {
  return record !== null && record.mode === 'quorum' && !record.degraded && !record.pending;
}

/** `ANY 1 ("replica-1", "replica-2")`: names quoted, since a dash is not allowed in a bare one. */
export function formatStandbyNames(set: StandbySet | null): string {
  if (set === null || set.standbys.length === 0) return '';
  return `ANY ${set.number} (${sortedNames(set.standbys).map((name) => `"${name.replace(/"/g, '""')}"`).join(', ')})`;
}

const ONE_NAME = /^\s*("(?:[^"]|"")*"|[^\s,()"]+)\s*/;

/**
 * The setting as PostgreSQL reads it: `ANY k (...)`, `FIRST k (...)`, `k (...)` or a bare list
 * (FIRST 1). `*` stands for every standby: it becomes `allStandbys`. Null for the empty setting;
 * 'unparsable' for anything else (a person wrote something we cannot reason about).
 */
export function parseStandbyNames(text: string, allStandbys: readonly string[]): StandbySet | null | 'unparsable' {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const method = /^(?:(ANY|FIRST)\s+)?(\d+)\s*\((.*)\)$/is.exec(trimmed);
  const number = method ? Number(method[2]) : 1;
  let rest = method ? method[3]! : trimmed;
  const names: string[] = [];
  while (rest.trim() !== '') {
    const match = ONE_NAME.exec(rest);
    if (!match) return 'unparsable';
    const token = match[1]!;
    names.push(token.startsWith('"') ? token.slice(1, -1).replace(/""/g, '"') : token.toLowerCase());
    rest = rest.slice(match[0].length);
    if (rest.startsWith(',')) rest = rest.slice(1);
    else if (rest.trim() !== '') return 'unparsable';
  }
  if (names.length === 0 || !Number.isInteger(number) || number < 1) return 'unparsable';
  const standbys = names.includes('*') ? [...allStandbys] : names;
  return { number, standbys: sortedNames(unique(standbys)) };
}

export function sameSet(a: StandbySet | null, b: StandbySet | null): boolean {
  return formatStandbyNames(a) === formatStandbyNames(b);
}

/** Code-unit order, so every agent writes the same text. */
export function sortedNames(names: readonly string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}

/** One walsender on the primary, as pg_stat_replication shows it. */
export interface WalSender {
  /** application_name: the node's name for this project's standbys. */
  name: string;
  /** state = 'streaming': caught up and following (a rejoining node is 'catchup' first). */
  streaming: boolean;
  flushLsn: Lsn | null;
  /** sync_priority: 0 when the walsender's own reading of the setting leaves it out. */
  priority: number;
}

/** What the leader reads on the primary, in one statement. */
export interface PrimarySyncState {
  primary: string;
  /** pg_current_wal_lsn() at the read. */
  lsn: Lsn;
  /** The primary's setting, parsed (see parseStandbyNames). */
  applied: StandbySet | null | 'unparsable';
  senders: WalSender[];
}
