// Replication health of the published primary, as `failover health` reports it:
// the rows of pg_stat_replication and pg_replication_slots in, a verdict with one
// sentence per problem out. Pure: no I/O, no clock.
import { formatBytes } from './bytes.js';
import { formatLsn } from './lsn.js';
import type { SyncSettings } from './sync-set.js';
import type { Lsn } from './types.js';

/** One row of pg_stat_replication on the primary (one walsender). */
export interface ReplicationRow {
  /** application_name: the node name of a replica of this project. */
  applicationName: string;
  clientAddr: string | null;
  /** startup, catchup, streaming, backup, stopping */
  state: string | null;
  /** async, potential, sync, quorum */
  syncState: string | null;
  sentLsn: Lsn | null;
  writeLsn: Lsn | null;
  flushLsn: Lsn | null;
  replayLsn: Lsn | null;
  /** pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn); null while nothing is replayed yet. */
  lagBytes: Lsn | null;
  writeLagSeconds: number | null;
  flushLagSeconds: number | null;
  /** replay_lag in seconds: NULL when the standby is idle and caught up. */
  replayLagSeconds: number | null;
  /** The slot this walsender streams from (pg_replication_slots.active_pid = pid), if any. */
  slotName?: string | null;
}

/** One row of pg_replication_slots on the primary. */
export interface SlotRow {
  slotName: string;
  active: boolean;
  /** pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn); null when the slot reserves no WAL. */
  retainedBytes: bigint | null;
}

/** A replica the config expects to stream from the primary, and the slot it should use. */
export interface ExpectedReplica {
  name: string;
  slot: string;
}

export interface HealthThresholds {
  /** Replay lag (s) above which a replica is listed as a warning. */
  warnSeconds: number;
  /** Replay lag (s) above which a replica makes the cluster unhealthy. */
  alertSeconds: number;
}

export const DEFAULT_THRESHOLDS: HealthThresholds = { warnSeconds: 30, alertSeconds: 60 };

export interface HealthInput {
  /** The published primary's node name. */
  primary: string;
  /** True when the node published as primary is in recovery (a standby): then it has no replicas of its own to judge. */
  inRecovery?: boolean;
  /** pg_current_wal_lsn() on the primary, for the report. */
  currentLsn?: Lsn | null;
  replication: ReplicationRow[];
  slots: SlotRow[];
  expected: ExpectedReplica[];
  thresholds?: Partial<HealthThresholds>;
  /** The config's `replication.synchronous`: in quorum mode, fewer than `number` synchronous standbys is a warning. */
  synchronous?: SyncSettings;
}

export type Level = 'ok' | 'warn' | 'alert';

export interface ReplicaHealth {
  name: string;
  /** pg_stat_replication.state, or 'disconnected' for an expected replica without a walsender. */
  state: string;
  syncState: string | null;
  clientAddr: string | null;
  sentLsn: string | null;
  writeLsn: string | null;
  flushLsn: string | null;
  replayLsn: string | null;
  /** Bytes of WAL the replica has yet to replay. */
  lagBytes: number | null;
  /** Replay lag in seconds; 0 when caught up and idle; null when unknown. */
  lagSeconds: number | null;
  slot: string | null;
  level: Level;
}

export interface SlotHealth {
  name: string;
  active: boolean;
  retainedBytes: number | null;
  /** The replica whose slot this is (by the naming rule or by the walsender using it), if known. */
  replica: string | null;
}

export interface Health {
  healthy: boolean;
  primary: string;
  currentLsn: string | null;
  thresholds: HealthThresholds;
  replicas: ReplicaHealth[];
  slots: SlotHealth[];
  /** One sentence each; any problem makes the cluster unhealthy. */
  problems: string[];
  /** One sentence each; listed, but the cluster stays healthy. */
  warnings: string[];
  /** Zero-loss mode as configured, and the standbys pg_stat_replication counts as synchronous (sync_state sync or quorum). */
  synchronous: { mode: SyncSettings['mode']; number: number; durability: SyncSettings['durability']; standbys: string[] } | null;
}

/** sync_state of a walsender a commit waits for: `sync` (FIRST k, or a plain list) or `quorum` (ANY k). */
const SYNCHRONOUS_STATES = new Set(['sync', 'quorum']);

/** The states of a walsender that serves a standby (a `backup` walsender serves pg_basebackup). */
const STREAMING = 'streaming';
const BACKUP = 'backup';

export function classifyHealth(input: HealthInput): Health {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...definedOnly(input.thresholds) };
  const problems: string[] = [];
  const warnings: string[] = [];
  const base = {
    primary: input.primary,
    currentLsn: lsnText(input.currentLsn ?? null),
    thresholds,
  };

  if (input.inRecovery) {
    problems.push(`${input.primary} is published as the primary but is in recovery (a standby)`);
    return { healthy: false, ...base, replicas: [], slots: [], problems, warnings, synchronous: synchronousOf(input.synchronous, []) };
  }

  const rows = input.replication.filter((r) => r.state !== BACKUP);
  const synchronous = synchronousOf(input.synchronous, rows);
  const short = synchronousShortfall(input.synchronous, synchronous?.standbys ?? []);
  if (short) warnings.push(short);
  const expected = new Map(input.expected.filter((e) => e.name !== input.primary).map((e) => [e.name, e]));
  const replicas: ReplicaHealth[] = [];

  if (rows.length === 0) problems.push(`no replica is connected to the primary ${input.primary}`);

  for (const row of [...rows].sort((a, b) => a.applicationName.localeCompare(b.applicationName))) {
    const name = row.applicationName;
    const lagBytes = row.lagBytes;
    // replay_lag is NULL once an idle standby has caught up: nothing to replay is no lag.
    const lagSeconds = row.replayLagSeconds ?? (lagBytes === 0n ? 0 : null);
    let level: Level = 'ok';
    if (lagSeconds !== null && lagSeconds > thresholds.alertSeconds) {
      level = 'alert';
      problems.push(`${name} is ${seconds(lagSeconds)} behind the primary ${input.primary} (limit ${seconds(thresholds.alertSeconds)})${bytesNote(lagBytes)}`);
    } else if (lagSeconds !== null && lagSeconds > thresholds.warnSeconds) {
      level = 'warn';
      warnings.push(`${name} is ${seconds(lagSeconds)} behind the primary ${input.primary} (warning above ${seconds(thresholds.warnSeconds)})${bytesNote(lagBytes)}`);
    }
    if (expected.has(name) && row.state !== STREAMING) {
      level = 'alert';
      problems.push(`${name} is connected to the primary ${input.primary} but not streaming (state ${row.state ?? 'unknown'})`);
    }
    replicas.push({
      name,
      state: row.state ?? 'unknown',
      syncState: row.syncState,
      clientAddr: row.clientAddr,
      sentLsn: lsnText(row.sentLsn),
      writeLsn: lsnText(row.writeLsn),
      flushLsn: lsnText(row.flushLsn),
      replayLsn: lsnText(row.replayLsn),
      lagBytes: lagBytes === null ? null : Number(lagBytes),
      lagSeconds,
      slot: slotOfRow(row, expected.get(name), input.slots),
      level,
    });
  }

  const connected = new Set(rows.map((r) => r.applicationName));
  for (const replica of [...expected.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (connected.has(replica.name)) continue;
    problems.push(`${replica.name} is not connected to the primary ${input.primary}`);
    replicas.push({
      name: replica.name,
      state: 'disconnected',
      syncState: null,
      clientAddr: null,
      sentLsn: null,
      writeLsn: null,
      flushLsn: null,
      replayLsn: null,
      lagBytes: null,
      lagSeconds: null,
      slot: input.slots.some((s) => s.slotName === replica.slot) ? replica.slot : null,
      level: 'alert',
    });
  }

  const slots: SlotHealth[] = [];
  for (const slot of [...input.slots].sort((a, b) => a.slotName.localeCompare(b.slotName))) {
    const owner =
      replicas.find((r) => r.slot === slot.slotName)?.name ?? [...expected.values()].find((e) => e.slot === slot.slotName)?.name ?? null;
    if (!slot.active && slot.retainedBytes !== null && slot.retainedBytes > 0n) {
      problems.push(`slot ${slot.slotName}${owner ? ` (of ${owner})` : ''} has no consumer and retains ${formatBytes(slot.retainedBytes)} of WAL`);
    }
    slots.push({ name: slot.slotName, active: slot.active, retainedBytes: slot.retainedBytes === null ? null : Number(slot.retainedBytes), replica: owner });
  }

  return { healthy: problems.length === 0, ...base, replicas, slots, problems, warnings, synchronous };
}

function synchronousOf(settings: SyncSettings | undefined, rows: readonly ReplicationRow[]): Health['synchronous'] {
  if (!settings) return null;
  const standbys = rows.filter((r) => r.syncState !== null && SYNCHRONOUS_STATES.has(r.syncState)).map((r) => r.applicationName);
  return { mode: settings.mode, number: settings.number, durability: settings.durability, standbys: [...new Set(standbys)].sort() };
}

/** In quorum mode, fewer synchronous standbys than `number`: what it costs, by durability. */
function synchronousShortfall(settings: SyncSettings | undefined, standbys: readonly string[]): string | null {
  if (settings?.mode !== 'quorum' || standbys.length >= settings.number) return null;
  const have = standbys.length === 0 ? 'none is' : `only ${standbys.length} ${standbys.length === 1 ? 'is' : 'are'} (${standbys.join(', ')})`;
  const cost =
    settings.durability === 'required'
      ? 'commits wait until enough are (durability required)'
      : `commits wait for them up to ${seconds(settings.degradeAfterMs / 1000)}, then are acknowledged without them (durability preferred: a failover may lose those)`;
  return `synchronous mode wants ${settings.number} synchronous ${settings.number === 1 ? 'standby' : 'standbys'} (ANY ${settings.number}), ${have} in pg_stat_replication: ${cost}`;
}

/** The slot the walsender uses when the reader knows it; otherwise the replica's own slot by name, if it is in use. */
function slotOfRow(row: ReplicationRow, expected: ExpectedReplica | undefined, slots: SlotRow[]): string | null {
  if (row.slotName !== undefined) return row.slotName;
  return expected && slots.some((s) => s.slotName === expected.slot && s.active) ? expected.slot : null;
}

function definedOnly(thresholds: Partial<HealthThresholds> | undefined): Partial<HealthThresholds> {
  const out: Partial<HealthThresholds> = {};
  if (thresholds?.warnSeconds !== undefined) out.warnSeconds = thresholds.warnSeconds;
  if (thresholds?.alertSeconds !== undefined) out.alertSeconds = thresholds.alertSeconds;
  return out;
}

function lsnText(lsn: Lsn | null): string | null {
  return lsn === null ? null : formatLsn(lsn);
}

/** 75.23 -> '75.2 s', 60 -> '60 s'. */
function seconds(value: number): string {
  return `${Number.isInteger(value) ? value : value.toFixed(1)} s`;
}

function bytesNote(lagBytes: bigint | null): string {
  return lagBytes === null ? '' : `, ${formatBytes(lagBytes)} to replay`;
}
