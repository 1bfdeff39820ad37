// Every operation can end (issue 12, item 3). A journaled failover or switchover is
// rolled forward step by step, but a step can fail for good: its target died after
// the fence, its container was removed, or the target cannot reach the old primary's
// last position. Retrying for ever would keep writes held and outrank every other
// decision. This judges, from one tick's knowledge, whether the operation must change
// course: a failover takes another target, a switchover is undone. Pure: time is passed in.
import { chooseCandidate, positionOf, type Chosen } from './candidate.js';
import { abandonedTargets, isPublished, type Journal } from './journal.js';
import { isContainerNotRunning, sqlOf } from './liveness.js';
import { maxLsn } from './lsn.js';
import type { SyncRecord } from './sync-set.js';
import type { Lsn, NodeObservation, NodeSpec } from './types.js';

export interface RescueInput {
  now: number;
  journal: Journal;
  specs: NodeSpec[];
  /** The leader's own observations of this tick. */
  observations: Record<string, NodeObservation>;
  /** The timeline of the published primary (the one being replaced). */
  publishedTimeline: number;
  lastKnownPrimaryLsn: Lsn | null;
  maxLagBytes: bigint;
  /** The recorded synchronous set: another target must be a member, and the quorum must hold. */
  sync?: SyncRecord | null;
  /** A step that keeps failing for longer than this since the operation's last progress gives up its target. */
  stepDeadlineMs: number;
}

export type Rescue =
  | { kind: 'replan'; to: string; why: string }
  /** A switchover (or its rollback) continues as a failover, to `to`. */
  | { kind: 'become-failover'; to: string; why: string }
  | { kind: 'roll-back'; why: string }
  /** The operation cannot go on as planned and nothing else is safe: it keeps trying, and says why. */
  | { kind: 'stuck'; why: string };

/** null: the operation may go on as planned (it has published, or nothing is wrong with its target). */
export function rescueOf(input: RescueInput): Rescue | null {
  const { journal, observations } = input;
  // Once published, clients may have written to the new primary: the operation only rolls forward.
  if (isPublished(journal)) return null;
  const oldPrimary = observations[journal.from]?.container;
  if (journal.rollback !== undefined) return rollbackRescue(input);
  // The primary died as the switchover began (killed, crashed, removed): nothing to stop cleanly
  // any more, and restarting it would undo what the operator asked for. Fence and fail over.
  if (journal.kind === 'switchover' && journal.step === 'stop-old' && (journal.oldPrimaryUnclean === true || (journal.error !== undefined && oldPrimary === 'missing'))) {
    const how = journal.oldPrimaryUnclean === true ? 'went down before it stopped cleanly (pg_control: not shut down)' : 'was removed before it stopped cleanly';
    return { kind: 'become-failover', to: journal.to, why: `the old primary ${journal.from} ${how}` };
  }
  const found = targetLost(input);
  if (found === null) return null;
  const lost = found.why;
  if (journal.kind === 'switchover') return { kind: 'roll-back', why: lost };
  // A fence that keeps failing (the old primary's engine does not answer) fails for any target.
  if (journal.step === 'fence-old' && found.cause === 'deadline') {
    return { kind: 'stuck', why: `${lost}; another target would not help: the old primary must be fenced first` };
  }
  const chosen = chooseOther(input, [journal.to, ...abandonedTargets(journal)]);
  if (!chosen.ok) return { kind: 'stuck', why: `${lost}; no other target: ${chosen.reason}` };
  return { kind: 'replan', to: chosen.name, why: lost };
}

/**
 * A rollback that cannot end either (the old primary was removed, or does not come back as a
 * primary within the step deadline): the way out left is a failover, to the target when it was
 * never promoted, else to the best other replica.
 */
function rollbackRescue(input: RescueInput): Rescue | null {
  const { journal, observations, now } = input;
  const removed = observations[journal.from]?.container === 'missing';
  const stalledMs = now - Math.max(lastProgressAt(journal), journal.rollback!.at);
  if (!removed && (journal.error === undefined || stalledMs <= input.stepDeadlineMs)) return null;
  const why = removed ? `the old primary ${journal.from} was removed during the rollback` : `the rollback's step ${journal.step} has failed for ${stalledMs} ms: ${journal.error}`;
  const target = observations[journal.to];
  if (!journal.rollback!.targetPromoted && target !== undefined && !isContainerNotRunning(target.container)) return { kind: 'become-failover', to: journal.to, why };
  const chosen = chooseOther(input, [journal.to, ...abandonedTargets(journal)]);
  if (!chosen.ok) return { kind: 'stuck', why: `${why}; no target for a failover: ${chosen.reason}` };
  return { kind: 'become-failover', to: chosen.name, why };
}

/**
 * The best candidate other than `given` (the target given up, and any abandoned before). Their
 * last known positions still count as "most advanced known", so that giving up the most
 * advanced replica never lets one far behind it through the lag limit.
 */
function chooseOther(input: Omit<RescueInput, 'now' | 'stepDeadlineMs'>, given: string[]) {
  const { journal } = input;
  const reference = maxLsn(input.lastKnownPrimaryLsn, ...given.map((name) => knownPosition(input.observations[name], input.publishedTimeline)));
  return chooseCandidate({
    specs: input.specs.filter((spec) => !given.includes(spec.name)),
    observations: input.observations,
    failedPrimary: journal.from,
    lastKnownPrimaryLsn: reference,
    maxLagBytes: input.maxLagBytes,
    publishedTimeline: input.publishedTimeline,
    sync: input.sync ?? null,
  });
}

function knownPosition(observation: NodeObservation | undefined, publishedTimeline: number): Lsn | null {
  const sql = sqlOf(observation);
  return sql !== null && sql.inRecovery && sql.timeline >= publishedTimeline && observation !== undefined ? positionOf(observation) : null;
}

/** Why the operation's target can no longer be counted on (it is down, or its step keeps failing), or null. */
function targetLost(input: RescueInput): { cause: 'down' | 'deadline'; why: string } | null {
  const { journal, observations, now } = input;
  const target = observations[journal.to];
  if (target !== undefined && isContainerNotRunning(target.container)) return { cause: 'down', why: `the target ${journal.to} is down (container ${target.container})` };
  if (journal.error === undefined) return null;
  const stalledMs = now - lastProgressAt(journal);
  if (stalledMs <= input.stepDeadlineMs) return null;
  return { cause: 'deadline', why: `step ${journal.step} has failed for ${stalledMs} ms (deadline ${input.stepDeadlineMs} ms): ${journal.error}` };
}

/** When the operation last moved: its start, its last completed step, or its last re-plan. */
export function lastProgressAt(journal: Journal): number {
  return Math.max(journal.startedAt, journal.completed.at(-1)?.at ?? 0, journal.replans?.at(-1)?.at ?? 0);
}

/**
 * After the fence no more WAL reaches the replicas: their positions are final. When a
 * fresher look than the one the candidate was chosen on finds a replica strictly more
 * advanced than the target, or finds the target no longer eligible, the failover is
 * re-planned onto the best one (issue 12, item 5). Only before the promotion.
 */
export function rerankAfterFence(input: Omit<RescueInput, 'stepDeadlineMs' | 'now'>): { to: string; why: string } | null {
  const { journal } = input;
  if (journal.kind !== 'failover' || journal.step !== 'catch-up' || journal.rollback !== undefined) return null;
  // A target given up before is not taken back (its step kept failing), but its position still counts.
  const abandoned = abandonedTargets(journal);
  const chosen = chooseOther(input, abandoned);
  if (!chosen.ok || chosen.name === journal.to) return null;
  const target = chosen.ranking.find((candidate) => candidate.name === journal.to);
  if (target === undefined) return { to: chosen.name, why: `after the fence, ${journal.to} is no longer a safe candidate (${exclusionOf(chosen, journal.to)}); ${chosen.name} is` };
  if (chosen.position <= target.position) return null;
  return { to: chosen.name, why: `after the fence, ${chosen.name} holds more WAL than ${journal.to} (${chosen.position - target.position} bytes more)` };
}

function exclusionOf(chosen: Chosen, name: string): string {
  return chosen.excluded.find((e) => e.name === name)?.why ?? 'not ranked';
}
