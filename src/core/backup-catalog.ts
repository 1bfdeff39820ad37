// What the backup decisions (backup-rules, backup-source, backup-health) read of the backup
// catalogue and the backup config, and the small judgements they share. The core imports
// nothing outside itself, so these are structural: src/dcs/backups.ts's BackupRecord and
// src/config/backup-schema.ts's BackupConfig are each one of them (test/unit checks it).

export type BackupKind = 'dump' | 'full' | 'diff';

/** One backup attempt, good or failed, as the catalogue holds it. */
export interface BackupFact {
  id: string;
  kind: BackupKind;
  ok: boolean;
  /** ISO times. A backup's age counts from its start: a dump's snapshot is taken then, and a
   *  schedule that counted from the end would drift later by each backup's duration. */
  startedAt: string;
  finishedAt: string;
  /** Why it failed (one line). */
  error?: string;
}

/** The settings the decisions read. */
export interface BackupPolicy {
  schedule: boolean;
  dumps: { intervalMs: number; keep: number };
  pgbackrest: { fullIntervalMs: number; diffIntervalMs: number; retentionFull: number };
}

/** ms since the epoch, or null when the text is not a time (etcd's values are input: validated, not trusted). */
export function timeOf(iso: string): number | null {
  let at = parsed.get(iso);
  if (at === undefined) {
    // Date.parse costs a microsecond or two, and every decision reads each record's times
    // several times on every tick: the same text always gives the same time, so remember it.
    const ms = Date.parse(iso);
    at = Number.isFinite(ms) ? ms : null;
    if (parsed.size >= 10_000) parsed.clear();
    parsed.set(iso, at);
  }
  return at;
}

const parsed = new Map<string, number | null>();

export const startOf = (record: BackupFact): number | null => timeOf(record.startedAt);

/** A record's end, or its start when the end does not parse (a failure is still a failure). */
export const endOf = (record: BackupFact): number | null => timeOf(record.finishedAt) ?? startOf(record);

/** Newest first by start, then by id (ids carry the time too); undated records last. */
export function newestFirst<R extends BackupFact>(records: readonly R[]): R[] {
  // Each time parsed once, not once per comparison: the leader asks on every tick.
  return records
    .map((record) => ({ record, at: startOf(record) }))
    .sort((a, b) => {
      if (a.at !== b.at) return a.at === null ? 1 : b.at === null ? -1 : b.at - a.at;
      return a.record.id < b.record.id ? 1 : a.record.id > b.record.id ? -1 : 0;
    })
    .map(({ record }) => record);
}

/** The newest good backup of one kind (or of several: a diff's base is the newest full or diff), dated. */
export function newestGood<R extends BackupFact>(records: readonly R[], kind: BackupKind | readonly BackupKind[]): R | null {
  const kinds: readonly BackupKind[] = typeof kind === 'string' ? [kind] : kind;
  return newestOf(records, (r) => r.ok && kinds.includes(r.kind), -Infinity);
}

/** The newest failed attempt of `kind` that started after `after` (the newest good one), if any. */
export function failureSince<R extends BackupFact>(records: readonly R[], kind: BackupKind, after: R | null): R | null {
  return newestOf(records, (r) => !r.ok && r.kind === kind, after === null ? -Infinity : startOf(after)!);
}

/** The newest dated record that passes `test` and started after `since`; ties go to the greater id, as in newestFirst. */
function newestOf<R extends BackupFact>(records: readonly R[], test: (r: R) => boolean, since: number): R | null {
  let best: R | null = null;
  let bestAt = since;
  for (const r of records) {
    if (!test(r)) continue;
    const at = startOf(r);
    if (at === null || at < bestAt || (at === bestAt && (best === null || r.id <= best.id))) continue;
    best = r;
    bestAt = at;
  }
  return best;
}

/** How old something that happened `at` is at `now`; never negative (a clock ahead reads as fresh). */
export const ageAt = (now: number, at: number): number => Math.max(0, now - at);

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * A duration a person reads at a glance: 45 s, 13 min, 13 h, 7 d; one decimal when it is not
 * whole (12.4 h). A unit is used from twice its size, so a day reads 24 h and 25 h is not "1 d".
 */
export function formatAge(ms: number): string {
  const abs = Math.abs(ms);
  const [size, unit] = abs >= 2 * DAY ? [DAY, 'd'] : abs >= 2 * HOUR ? [HOUR, 'h'] : abs >= 2 * MINUTE ? [MINUTE, 'min'] : [SECOND, 's'];
  const value = Math.round((ms / size) * 10) / 10;
  return `${value} ${unit}`;
}

/** A record's error as one short line: the first line, at most 200 characters. */
export function errorLine(record: BackupFact): string {
  const first = (record.error ?? '').split('\n')[0]!.trim();
  if (first === '') return 'no reason recorded';
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
}

/** The words a sentence uses for each kind. */
export const KIND_NAME: Record<BackupKind, string> = { dump: 'dump', full: 'full backup', diff: 'differential backup' };
