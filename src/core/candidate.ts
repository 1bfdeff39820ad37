// Which replica takes over (safety rule 3): reachable, in recovery, not tagged
// noFailover, and close enough to the most advanced WAL position we know of
// that promoting it does not throw away more than the operator allowed.
import { formatBytes } from './bytes.js';
import { isReachable, sqlOf } from './liveness.js';
import { lsnLag, maxLsn } from './lsn.js';
import { claims, type SyncRecord } from './sync-set.js';
import { forcedLoss, syncQuorum, type SyncQuorum } from './sync-quorum.js';
import type { Lsn, NodeObservation, NodeSpec } from './types.js';

export interface CandidateInput {
  specs: NodeSpec[];
  observations: Record<string, NodeObservation>;
  failedPrimary: string;
  lastKnownPrimaryLsn: Lsn | null;
  maxLagBytes: bigint;
  /**
   * The published primary's timeline. A standby on an older one has not provably followed
   * the fork that made the published primary: its WAL past the fork point is a history the
   * published primary never had, so its LSN says nothing about who holds the acknowledged
   * writes (Patroni checks the timeline history for the same reason).
   */
  publishedTimeline?: number;
  /**
   * The recorded synchronous set (the `sync` key). While it promises, only its members are
   * candidates, and only once n-k+1 of them can be seen (core/sync-quorum.ts).
   */
  sync?: SyncRecord | null;
  /** Manual promote: only this node may be chosen. */
  target?: string;
  /** Manual: ignore the lag limit, never the other exclusions. */
  force?: boolean;
}

export interface Exclusion {
  name: string;
  why: string;
}

export interface RankedCandidate {
  name: string;
  position: Lsn;
  priority: number;
  sync: boolean;
}

export interface Chosen {
  ok: true;
  name: string;
  position: Lsn;
  lagBytes: bigint;
  ranking: RankedCandidate[];
  excluded: Exclusion[];
  /** A forced promotion that overrides the synchronous set: what it may lose. */
  mayLose?: string;
}

export interface Refused {
  ok: false;
  /** One human line, shown by `failover status`. */
  reason: string;
  excluded: Exclusion[];
  /** Set when the refusal is the synchronous set's: too few of its members can be seen. */
  cause?: 'sync-quorum';
}

/**
 * Where a replica will stand once it replays what it already holds. Never rank
 * on receiveLsn alone: a standby that just restarted reports it rounded down
 * to a segment start, below what it has in fact replayed.
 */
export function positionOf(observation: NodeObservation): Lsn | null {
  const sql = sqlOf(observation);
  if (sql === null) return null;
  return maxLsn(sql.lsn, sql.receiveLsn, sql.replayLsn);
}

type Assessed =
  | { name: string; status: 'eligible'; candidate: RankedCandidate; lagBytes: bigint }
  | { name: string; status: 'lagging'; lagBytes: bigint; why: string }
  | { name: string; status: 'excluded'; why: string };

export function chooseCandidate(input: CandidateInput): Chosen | Refused {
  const replicas = [...input.specs]
    .filter((spec) => spec.name !== input.failedPrimary)
    .sort((a, b) => compareNames(a.name, b.name));
  const reference = maxLsn(
    input.lastKnownPrimaryLsn,
    ...replicas.map((spec) => replicaPosition(input.observations[spec.name], input.publishedTimeline)),
  );
  const assessed = replicas.map((spec) => assess(spec, input, reference));
  const excluded = assessed.flatMap((entry) => (entry.status === 'eligible' ? [] : [{ name: entry.name, why: entry.why }]));
  const eligible = assessed.flatMap((entry) => (entry.status === 'eligible' ? [entry] : []));
  const ranking = eligible.map((entry) => entry.candidate).sort(byPreference);

  if (input.target !== undefined) return chooseTarget(input, input.target, replicas, assessed, ranking, excluded);

  const quorum = syncQuorum(input.sync, seenMembers(replicas, input));
  if (quorum.kind === 'short') return { ok: false, reason: quorum.reason, excluded, cause: 'sync-quorum' };
  const best = ranking[0];
  if (best === undefined) return { ok: false, reason: refusalReason(assessed, input.maxLagBytes), excluded };
  const ahead = membersAhead(quorum, best.position, input);
  if (ahead.length > 0) {
    const whys = ahead.map((name) => `${name}: ${excluded.find((entry) => entry.name === name)?.why ?? 'not a candidate'}`).join('; ');
    const holds = ahead.length === 1 ? 'holds' : 'hold';
    return { ok: false, reason: `no safe candidate: ${ahead.join(', ')} ${holds} more WAL than ${best.name} in the recorded synchronous set but cannot be promoted (${whys}), and may alone hold acknowledged commits`, excluded };
  }
  const lagBytes = eligible.find((entry) => entry.name === best.name)?.lagBytes ?? 0n;
  return { ok: true, name: best.name, position: best.position, lagBytes, ranking, excluded };
}

function chooseTarget(
  input: CandidateInput,
  target: string,
  replicas: NodeSpec[],
  assessed: Assessed[],
  ranking: RankedCandidate[],
  excluded: Exclusion[],
): Chosen | Refused {
  if (target === input.failedPrimary) {
    return { ok: false, reason: `${target} is the primary being replaced; choose a replica`, excluded };
  }
  const entry = assessed.find((candidate) => candidate.name === target);
  if (entry === undefined) {
    const valid = replicas.map((spec) => spec.name).join(', ') || 'none';
    return { ok: false, reason: `unknown node ${target}; valid: ${valid}`, excluded };
  }
  if (entry.status === 'lagging') {
    return { ok: false, reason: `cannot promote ${target}: ${entry.why}; force overrides the lag limit`, excluded };
  }
  if (entry.status === 'excluded') return { ok: false, reason: `cannot promote ${target}: ${entry.why}`, excluded };
  const { candidate, lagBytes } = entry;
  const quorum = syncQuorum(input.sync, seenMembers(replicas, input));
  const mayLose = forcedLoss(quorum, target, membersAhead(quorum, candidate.position, input));
  if (mayLose !== null && input.force !== true) return { ok: false, reason: `cannot promote ${target}: ${quorum.kind === 'short' ? quorum.reason : mayLose}; force overrides it`, excluded };
  return { ok: true, name: target, position: candidate.position, lagBytes, ranking, excluded, ...(mayLose === null ? {} : { mayLose }) };
}

function assess(spec: NodeSpec, input: CandidateInput, reference: Lsn | null): Assessed {
  const { name } = spec;
  const observation = input.observations[name];
  if (observation === undefined) return { name, status: 'excluded', why: 'not observed' };
  if (spec.noFailover) return { name, status: 'excluded', why: 'tagged noFailover' };
  if (observation.container !== 'running') {
    return { name, status: 'excluded', why: `unreachable: container is ${observation.container}` };
  }
  if (!observation.sql.ok) return { name, status: 'excluded', why: `unreachable: ${observation.sql.error}` };
  if (!observation.sql.inRecovery) {
    return { name, status: 'excluded', why: 'not in recovery: it runs as a primary' };
  }
  if (isBehindTimeline(observation, input.publishedTimeline)) {
    const why = `on timeline ${observation.sql.timeline}, older than the published primary's timeline ${input.publishedTimeline}: it has not followed the fork`;
    return { name, status: 'excluded', why };
  }
  const position = positionOf(observation) ?? 0n;
  const lagBytes = reference === null ? 0n : lsnLag(reference, position);
  if (lagBytes > input.maxLagBytes && input.force !== true) {
    const why = `${formatBytes(lagBytes)} behind the most advanced known position (limit ${formatBytes(input.maxLagBytes)})`;
    return { name, status: 'lagging', lagBytes, why };
  }
  const sync = claims(input.sync ?? null) && input.sync!.standbys.includes(name);
  if (claims(input.sync ?? null) && !sync && input.force !== true) {
    return { name, status: 'excluded', why: `not in the recorded synchronous set (${input.sync!.standbys.join(', ')}): it may lack acknowledged commits` };
  }
  return { name, status: 'eligible', candidate: { name, position, priority: spec.priority, sync }, lagBytes };
}

/**
 * What promoting `target` by force may lose under the recorded synchronous set (null: nothing
 * acknowledged), for `promote --force` to say before it files the request.
 */
export function forcedPromotionRisk(input: Omit<CandidateInput, 'target' | 'force'>, target: string): string | null {
  const replicas = input.specs.filter((spec) => spec.name !== input.failedPrimary);
  const quorum = syncQuorum(input.sync, seenMembers(replicas, input));
  const position = replicaPosition(input.observations[target], input.publishedTimeline);
  return forcedLoss(quorum, target, position === null ? [] : membersAhead(quorum, position, input));
}

/**
 * Seen members of a promising record with more WAL than `position`. With n-k+1 members seen,
 * the most advanced of them holds every acknowledged commit; a choice behind it (because it
 * may not be promoted, tagged noFailover, or a person picked another) may lose some.
 */
function membersAhead(quorum: SyncQuorum, position: Lsn, input: CandidateInput): string[] {
  if (quorum.kind === 'not-promising') return [];
  return quorum.seen.filter((name) => (replicaPosition(input.observations[name], input.publishedTimeline) ?? 0n) > position);
}

/** Members of the recorded set whose position this tick knows: reachable standbys on the published timeline. */
function seenMembers(replicas: NodeSpec[], input: CandidateInput): string[] {
  return replicas.map((spec) => spec.name).filter((name) => replicaPosition(input.observations[name], input.publishedTimeline) !== null);
}

/** Position of a reachable replica on the published timeline, which is what counts towards "most advanced known". */
function replicaPosition(observation: NodeObservation | undefined, publishedTimeline: number | undefined): Lsn | null {
  if (observation === undefined || !isReachable(observation) || isBehindTimeline(observation, publishedTimeline)) return null;
  const sql = sqlOf(observation);
  return sql !== null && sql.inRecovery ? positionOf(observation) : null;
}

function isBehindTimeline(observation: NodeObservation, publishedTimeline: number | undefined): boolean {
  const sql = sqlOf(observation);
  return publishedTimeline !== undefined && sql !== null && sql.timeline < publishedTimeline;
}

/** Most WAL first (least data lost), then sync standbys, then operator priority, then name for determinism. */
function byPreference(a: RankedCandidate, b: RankedCandidate): number {
  if (a.position !== b.position) return a.position > b.position ? -1 : 1;
  if (a.sync !== b.sync) return a.sync ? -1 : 1;
  if (a.priority !== b.priority) return b.priority - a.priority;
  return compareNames(a.name, b.name);
}

/** Code-unit order, not locale order, so every agent ranks the same way. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function refusalReason(assessed: Assessed[], maxLagBytes: bigint): string {
  if (assessed.length === 0) return 'no safe candidate: there are no replicas to promote';
  const lagging = assessed.flatMap((entry) => (entry.status === 'lagging' ? [entry] : []));
  if (lagging.length === assessed.length) {
    const lags = lagging.map((entry) => `${entry.name} ${formatBytes(entry.lagBytes)}`).join(', ');
    return `no safe candidate: every replica is further than ${formatBytes(maxLagBytes)} behind the most advanced known position (${lags})`;
  }
  const whys = assessed.map((entry) => `${entry.name} ${entry.status === 'eligible' ? 'eligible' : entry.why}`);
  return `no safe candidate: ${whys.join('; ')}`;
}
