// Whether the cluster's backups can be trusted, as `failover health` reports it (issue 16):
// the catalogue, the config, pg_stat_archiver of the primary and the time in; one sentence
// per problem (unhealthy) or warning (listed, still healthy) out. Pure: no I/O, no clock.
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

export { newestGood } from './backup-catalog.js';

/** pg_stat_archiver of the published primary; times in ms since the epoch. */
export interface ArchiverStats {
  failedCount: number;
  lastFailedAt: number | null;
  lastArchivedAt: number | null;
}

export interface BackupHealthInput {
  now: number;
  config: BackupPolicy;
  records: readonly BackupFact[];
  /** null: not read (no primary answered); nothing is judged of archiving then. */
  archiver: ArchiverStats | null;
}

export interface BackupHealth {
  /** One sentence each; any makes `failover health` unhealthy. */
  problems: string[];
  /** One sentence each; listed, health stays good. */
  warnings: string[];
}

/** A good backup older than this many intervals makes the cluster unhealthy (the "twice its interval"). */
export const STALE_INTERVALS = 2;

export function backupHealth(input: BackupHealthInput): BackupHealth {
  const problems: string[] = [];
  const warnings: string[] = [];
  const { pgbackrest, dumps } = input.config;
  // Dumps and fulls are what a restore starts from: their age is a problem. A differential only
  // shortens a restore (the archived WAL covers the same points), so its age is a warning.
  judgeKind(input, 'dump', dumps.intervalMs, problems, warnings);
  judgeKind(input, 'full', pgbackrest.fullIntervalMs, problems, warnings);
  if (newestGood(input.records, 'full') !== null) judgeKind(input, 'diff', pgbackrest.diffIntervalMs, warnings, warnings, ['full', 'diff']);
  const archiving = archiverProblem(input.now, input.archiver);
  if (archiving !== null) problems.push(archiving);
  return { problems, warnings };
}

/**
 * One kind: its newest good backup against STALE_INTERVALS × its interval, and a failed attempt
 * since. `base` is what counts as a good one (a diff's age runs from the newest full or diff).
 */
function judgeKind(
  { now, config, records }: BackupHealthInput,
  kind: BackupKind,
  intervalMs: number,
  problems: string[],
  warnings: string[],
  base: readonly BackupKind[] = [kind],
): void {
  const name = KIND_NAME[kind];
  const good = newestGood(records, base);
  const failure = failureSince(records, kind, good);
  const failed = failure === null ? '' : `; the last attempt failed ${agoOf(now, failure)} ago: ${errorLine(failure)}`;
  if (good === null) {
    if (failure !== null) problems.push(`no good ${name} yet: the last attempt failed ${agoOf(now, failure)} ago: ${errorLine(failure)}`);
    else warnings.push(config.schedule ? `no ${name} yet: the leader takes the first within minutes of starting` : `no ${name} yet, and backup.schedule is off: take one with \`failover backup ${kind}\``);
    return;
  }
  const age = ageAt(now, startOf(good)!);
  const limit = STALE_INTERVALS * intervalMs;
  const what = base.length > 1 ? `good full or ${name}` : `good ${name}`;
  if (age > limit) problems.push(`the last ${what} is ${formatAge(age)} old, older than twice its ${formatAge(intervalMs)} interval${failed}`);
  else if (failure !== null) warnings.push(`the last ${name} attempt failed ${agoOf(now, failure)} ago: ${errorLine(failure)}; the last ${what} is ${formatAge(age)} old`);
}

const agoOf = (now: number, record: BackupFact): string => formatAge(ageAt(now, endOf(record) ?? now));

/**
 * Archiving fails when its last failure is newer than its last success, or it failed and never
 * succeeded. pg_stat_archiver keeps failing a segment until it is archived, so an older failure
 * followed by a success is history, not a problem.
 */
function archiverProblem(now: number, archiver: ArchiverStats | null): string | null {
  if (archiver === null) return null;
  const { failedCount, lastFailedAt, lastArchivedAt } = archiver;
  const failedAfterSuccess = lastFailedAt !== null && (lastArchivedAt === null || lastFailedAt > lastArchivedAt);
  const failedNeverArchived = failedCount > 0 && lastArchivedAt === null;
  if (!failedAfterSuccess && !failedNeverArchived) return null;
  const last = lastFailedAt === null ? '' : `, the last ${formatAge(ageAt(now, lastFailedAt))} ago`;
  const cost =
    lastArchivedAt === null
      ? 'no WAL segment has ever been archived: no point in time can be restored'
      : `the last segment was archived ${formatAge(ageAt(now, lastArchivedAt))} ago: no restore can reach a later point`;
  return `WAL archiving is failing (${failedCount} ${failedCount === 1 ? 'failure' : 'failures'}${last}): ${cost}`;
}
