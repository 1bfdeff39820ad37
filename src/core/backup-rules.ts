// When the leader takes a scheduled backup, as rows read in order (first match wins), like
// the decision table in rules.ts. Pure: the catalogue, the config and the time come in, at
// most one kind of backup comes out; the leader takes it under the etcd backup lock and asks
// again once it is done (a dump and a pgBackRest backup are independent, so one due right
// after the other is taken on the next call, not lost).
//
// Order between kinds: full, then diff, then dump. A full is what the archived WAL restores
// from: without a good one none of the archive can be used, and a point-in-time restore
// covers everything a dump would. A diff only shortens the replay after a full. Dumps are a
// separate copy that waits at most one backup's duration for its turn, which a 6 h interval
// (judged unhealthy only at twice that) absorbs.
import {
  ageAt,
  endOf,
  errorLine,
  failureSince,
  formatAge,
  KIND_NAME,
  newestGood,
  startOf,
  type BackupFact,
  type BackupKind,
  type BackupPolicy,
} from './backup-catalog.js';

export { formatAge, newestGood, type BackupFact, type BackupKind, type BackupPolicy } from './backup-catalog.js';
export { backupsToPrune } from './backup-prune.js';

export interface BackupDecisionInput {
  now: number;
  config: BackupPolicy;
  records: readonly BackupFact[];
  /** A backup is in progress somewhere: the etcd backup lock is held. */
  running: boolean;
  /** When the published primary was promoted (ms; its `since`); absent or null: unknown. */
  promotedAt?: number | null;
}

export type BackupRuleId =
  | 'backup-schedule-off'
  | 'backup-running'
  | 'backup-full-due'
  | 'backup-diff-after-promotion'
  | 'backup-diff-due'
  | 'backup-dump-due'
  | 'backup-retry-wait'
  | 'backup-nothing-due';

export interface BackupDecision {
  due: BackupKind | null;
  rule: BackupRuleId;
  /** One line for a person: the ages and intervals behind the decision. */
  why: string;
}

export interface BackupRule {
  id: BackupRuleId;
  /** The condition, in words, for `failover rules`. */
  when: string;
  /** What happens, in words. */
  action: string;
  /** Why this is right. */
  why: string;
  choose(s: BackupSituation): Omit<BackupDecision, 'rule'> | null;
}

/** What the rows read, computed once per call. */
export interface BackupSituation {
  input: BackupDecisionInput;
  /** The pgBackRest backup due (full or diff), and whether its backoff holds it. */
  physical: { due: Due; wait: Wait | null } | null;
  /** The dump due, and whether its backoff holds it. */
  dump: { due: Due; wait: Wait | null } | null;
}

const MINUTE = 60_000;

/**
 * How long a kind waits after a failed attempt before it is tried again: a quarter of its
 * interval, at most 15 min, at least 1 min. A failure usually has a cause that outlasts one
 * tick (a full disk, an unwritable repository, a source that is restarting), so retrying at
 * once would load the node and fill the catalogue with failed records; 15 min bounds how long
 * a passing cause (a failover in the middle of a dump) delays the next backup; a quarter of
 * the interval keeps short intervals (tests, the lab) from retrying more often than they back up.
 */
export function retryBackoffMs(intervalMs: number): number {
  return Math.max(MINUTE, Math.min(intervalMs / 4, 15 * MINUTE));
}

export interface Due {
  kind: BackupKind;
  why: string;
  /** A diff due because the newest backup predates the current primary's promotion. */
  afterPromotion?: boolean;
}

export interface Wait {
  kind: BackupKind;
  /** ms until it may be tried again. */
  left: number;
  why: string;
}

const intervalOf = (config: BackupPolicy, kind: BackupKind): number =>
  kind === 'dump' ? config.dumps.intervalMs : kind === 'full' ? config.pgbackrest.fullIntervalMs : config.pgbackrest.diffIntervalMs;

/**
 * The pgBackRest backup due, if any: a full when there is no good one or it is older than its
 * interval, else a diff when the newest good full or diff is older than the diff interval. While a
 * full is due no diff is taken: the full supersedes it, and a diff would only delay the full.
 */
function physicalDue(s: BackupDecisionInput): Due | null {
  const { now, config, records } = s;
  const { fullIntervalMs, diffIntervalMs } = config.pgbackrest;
  const full = newestGood(records, 'full');
  if (full === null) return { kind: 'full', why: 'no good full backup yet: pgBackRest needs one before any archived WAL can be restored' };
  const fullAge = ageAt(now, startOf(full)!);
  if (fullAge >= fullIntervalMs) return { kind: 'full', why: `the last good full backup is ${formatAge(fullAge)} old, past its ${formatAge(fullIntervalMs)} interval` };
  const base = newestGood(records, ['full', 'diff'])!;
  const baseAge = ageAt(now, startOf(base)!);
  const promotedAt = s.promotedAt ?? null;
  if (promotedAt !== null && startOf(base)! < promotedAt && promotedAt <= now)
    return { kind: 'diff', afterPromotion: true, why: `the newest full or differential backup (${formatAge(baseAge)} old) predates the promotion of the current primary ${formatAge(ageAt(now, promotedAt))} ago` };
  if (baseAge >= diffIntervalMs)
    return { kind: 'diff', why: `the last good full or differential backup is ${formatAge(baseAge)} old, past the ${formatAge(diffIntervalMs)} differential interval` };
  return null;
}

function dumpDue({ now, config, records }: BackupDecisionInput): Due | null {
  const dump = newestGood(records, 'dump');
  if (dump === null) return { kind: 'dump', why: 'no good dump yet' };
  const age = ageAt(now, startOf(dump)!);
  if (age >= config.dumps.intervalMs) return { kind: 'dump', why: `the last good dump is ${formatAge(age)} old, past its ${formatAge(config.dumps.intervalMs)} interval` };
  return null;
}

/** A due kind whose last attempt (after its newest good one) failed less than its backoff ago. */
function waitOf(s: BackupDecisionInput, due: Due): Wait | null {
  const failure = failureSince(s.records, due.kind, newestGood(s.records, due.kind));
  const failedAt = failure === null ? null : endOf(failure);
  if (failure === null || failedAt === null) return null;
  const backoff = retryBackoffMs(intervalOf(s.config, due.kind));
  const left = failedAt + backoff - s.now;
  if (left <= 0) return null;
  const ago = ageAt(s.now, failedAt);
  return { kind: due.kind, left, why: `the last ${KIND_NAME[due.kind]} failed ${formatAge(ago)} ago (${errorLine(failure)}); next try in ${formatAge(left)}` };
}

/** A kind that is due and not waiting on its backoff, as the row's outcome. */
function takeIfReady(candidate: BackupSituation['physical'], kind: BackupKind, afterPromotion = false): Omit<BackupDecision, 'rule'> | null {
  if (candidate === null || candidate.due.kind !== kind || candidate.wait !== null || (candidate.due.afterPromotion ?? false) !== afterPromotion) return null;
  return { due: kind, why: candidate.due.why };
}

/** When each kind next falls due, for the "nothing due" line. */
function nextDue({ now, config, records }: BackupDecisionInput): string {
  const inOf = (kind: BackupKind | BackupKind[], intervalMs: number): string => {
    const newest = newestGood(records, kind);
    return formatAge(Math.max(0, startOf(newest!)! + intervalMs - now));
  };
  return `next full backup in ${inOf('full', config.pgbackrest.fullIntervalMs)}, differential in ${inOf(['full', 'diff'], config.pgbackrest.diffIntervalMs)}, dump in ${inOf('dump', config.dumps.intervalMs)}`;
}

export const BACKUP_RULES: readonly BackupRule[] = [
  {
    id: 'backup-schedule-off',
    when: 'the config\'s backup.schedule is false',
    action: 'take nothing on schedule; `failover backup …` still works by hand',
    why: 'the operator chose to take backups by hand (or elsewhere); `failover health` still judges their age',
    choose: (s) => (s.input.config.schedule ? null : { due: null, why: 'backup.schedule is false: backups are taken by hand only' }),
  },
  {
    id: 'backup-running',
    when: 'a backup is in progress anywhere (the etcd backup lock is held)',
    action: 'take nothing; ask again once it is done',
    why: 'one backup at a time: two would compete for the same disks and the same source, and pgBackRest refuses a second backup of a stanza anyway',
    choose: (s) => (s.input.running ? { due: null, why: 'a backup is in progress (the backup lock is held)' } : null),
  },
  {
    id: 'backup-full-due',
    when: 'there is no good full backup, or the newest is older than pgbackrest.fullIntervalMs, and the last full did not fail within its backoff',
    action: 'take a full pgBackRest backup',
    why: 'a full is what the archived WAL restores from; first among the kinds, since without it no point in time can be restored',
    choose: (s) => takeIfReady(s.physical, 'full'),
  },
  {
    id: 'backup-diff-after-promotion',
    when: 'a good full backup exists and is within its interval, but the newest good full or diff started before the current primary was promoted (a failover or a switchover), and the last diff did not fail within its backoff',
    action: 'take a differential pgBackRest backup now, on the new primary',
    why: 'WAL the old primary completed but had not archived when it died is missing from the archive; a backup on the new timeline makes every point after it restorable without that WAL, and it starts the new primary\'s chain',
    choose: (s) => takeIfReady(s.physical, 'diff', true),
  },
  {
    id: 'backup-diff-due',
    when: 'a good full backup exists and is within its interval, the newest good full or diff is older than pgbackrest.diffIntervalMs, and the last diff did not fail within its backoff',
    action: 'take a differential pgBackRest backup',
    why: 'a differential copies only what changed since the full, so a restore replays a day of WAL at most instead of a week',
    choose: (s) => takeIfReady(s.physical, 'diff'),
  },
  {
    id: 'backup-dump-due',
    when: 'there is no good dump, or the newest is older than dumps.intervalMs, and the last dump did not fail within its backoff',
    action: 'take a dump (pg_dump -Fc of the application database)',
    why: 'the plan\'s logical backup: restorable into any PostgreSQL, table by table, independent of the physical backups',
    choose: (s) => takeIfReady(s.dump, 'dump'),
  },
  {
    id: 'backup-retry-wait',
    when: 'a kind is due but its last attempt failed less than its backoff ago (a quarter of its interval, at most 15 min, at least 1 min)',
    action: 'take nothing; try again once the backoff has passed',
    why: 'a failure usually has a cause that outlasts one tick (a full disk, an unwritable repository); retrying at once would load the node and fill the catalogue with failures',
    choose: (s) => {
      const waits = [s.physical?.wait, s.dump?.wait].filter((w): w is Wait => w !== null && w !== undefined);
      return waits.length === 0 ? null : { due: null, why: waits.map((w) => w.why).join('; ') };
    },
  },
  {
    id: 'backup-nothing-due',
    when: 'otherwise: every kind has a good backup younger than its interval',
    action: 'take nothing',
    why: 'the schedule is met',
    choose: (s) => ({ due: null, why: `every kind is within its interval: ${nextDue(s.input)}` }),
  },
];

/** The first row whose outcome is not null; the last row always decides. */
export function decideBackup(input: BackupDecisionInput): BackupDecision {
  const situation = situationOf(input);
  for (const rule of BACKUP_RULES) {
    const outcome = rule.choose(situation);
    if (outcome !== null) return { ...outcome, rule: rule.id };
  }
  throw new Error('unreachable: the last backup rule always decides');
}

export function situationOf(input: BackupDecisionInput): BackupSituation {
  const judged = (due: Due | null) => (due === null ? null : { due, wait: waitOf(input, due) });
  return { input, physical: judged(physicalDue(input)), dump: judged(dumpDue(input)) };
}
