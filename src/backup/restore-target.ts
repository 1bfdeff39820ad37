import { formatLsn, tryParseLsn } from '../core/lsn.js';
import type { Lsn } from '../core/types.js';

// What `failover backup restore --to <time|lsn> --as <name>` accepts, checked before anything
// is created. Pure: the text comes in, a target or the one line that says what is wrong comes out.

export type RestoreTarget =
  /** `target` in pgBackRest's and PostgreSQL's spelling (YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM), precision kept; `at` in ms for comparisons. */
  | { type: 'time'; target: string; at: number }
  | { type: 'lsn'; target: string; lsn: Lsn };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

// A time with its zone: a time without one would be read in the server's time zone, which the
// person typing it may not know. Fractions up to microseconds (PostgreSQL's precision) are kept
// as typed: rounding a target to milliseconds could leave out commits made just before it.
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d{1,6})?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

export function parseRestoreTarget(text: string): Parsed<RestoreTarget> {
  const value = text.trim();
  const lsn = tryParseLsn(value);
  if (lsn !== null) return { ok: true, value: { type: 'lsn', target: formatLsn(lsn), lsn } };
  const match = ISO_TIME.exec(value);
  if (match) {
    const [, date, time, fraction = '', zone] = match;
    const offset = zone!.toUpperCase() === 'Z' ? '+00:00' : zone!.length === 3 ? `${zone}:00` : zone!.includes(':') ? zone! : `${zone!.slice(0, 3)}:${zone!.slice(3)}`;
    // Date keeps milliseconds: enough to compare with backups (whole seconds) and the clock.
    const at = Date.parse(`${date}T${time}${fraction.slice(0, 4)}${offset}`);
    if (Number.isFinite(at) && validDate(date!) && validTime(time!)) return { ok: true, value: { type: 'time', target: `${date} ${time}${fraction}${offset}`, at } };
  }
  return {
    ok: false,
    error: `--to '${text}' is neither a time nor an LSN; expected an ISO time with its zone (2026-01-31T12:00:00Z, 2026-01-31 13:00:00.250+01:00) or an LSN (0/3000060)`,
  };
}

function validTime(time: string): boolean {
  const [h, m, sec] = time.split(':').map(Number) as [number, number, number];
  return h < 24 && m < 60 && sec < 60;
}

function validDate(date: string): boolean {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const probe = new Date(Date.UTC(y, m - 1, d));
  return probe.getUTCFullYear() === y && probe.getUTCMonth() === m - 1 && probe.getUTCDate() === d;
}

/** A restored copy's name: it becomes part of a container's and a volume's name (`pgf-restore-<name>`). */
export function checkRestoreName(name: string): Parsed<string> {
  if (/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/.test(name)) return { ok: true, value: name };
  return { ok: false, error: `--as '${name}' is not a valid name; expected 1 to 40 lower-case letters, digits and dashes, not starting or ending with a dash` };
}

/** A backup as a restore sees it: consistent only from its end on. */
export interface BackupPoint {
  label: string;
  /** Its stop time, in seconds since the epoch (pgBackRest's precision). */
  stopSec: number;
  /** Its stop LSN, when pgBackRest reports it. */
  stopLsn: Lsn | null;
}

/**
 * The backup a restore to `target` starts from: the newest that ended before it (less WAL to
 * replay). None when the target is before the oldest backup ended (a backup is consistent only
 * at its end) or, for a time, still to come. pgBackRest picks a set by itself for a time but
 * takes the newest for an LSN, which may have ended past the target: the set is always named.
 * Whether the archive reaches the target is known only once recovery runs: PostgreSQL then
 * stops with "recovery ended before configured recovery target was reached", which the restore reports.
 */
export function chooseBackupSet(target: RestoreTarget, backups: readonly BackupPoint[], nowMs: number): Parsed<BackupPoint> {
  if (backups.length === 0) return { ok: false, error: 'the repository holds no backup to restore from; take one first (failover backup full)' };
  const oldest = [...backups].sort((a, b) => a.stopSec - b.stopSec)[0]!;
  if (target.type === 'time') {
    if (target.at > nowMs) return { ok: false, error: `--to ${target.target} is in the future (now is ${new Date(nowMs).toISOString()})` };
    // stopSec is truncated: the backup may have ended up to a second later.
    const before = backups.filter((b) => (b.stopSec + 1) * 1000 <= target.at).sort((a, b) => b.stopSec - a.stopSec);
    if (before[0]) return { ok: true, value: before[0] };
    return { ok: false, error: `--to ${target.target} is before the oldest backup (${oldest.label}) ended at ${new Date(oldest.stopSec * 1000).toISOString()}; the earliest point that can be restored is after that` };
  }
  const before = backups.filter((b) => b.stopLsn !== null && b.stopLsn <= target.lsn).sort((a, b) => (a.stopLsn! < b.stopLsn! ? 1 : a.stopLsn! > b.stopLsn! ? -1 : 0));
  if (before[0]) return { ok: true, value: before[0] };
  const first = [...backups].filter((b) => b.stopLsn !== null).sort((a, b) => (a.stopLsn! < b.stopLsn! ? -1 : 1))[0];
  return { ok: false, error: first ? `--to ${target.target} is before the oldest backup (${first.label}) ended at LSN ${formatLsn(first.stopLsn!)}` : `--to ${target.target}: pgBackRest reports no backup's stop LSN; restore to a time instead` };
}
