// Every operation can end (issue 12, item 3). A journaled failover or switchover is
// rolled forward step by step, but a step can fail for good: its target died after
// the fence, its container was removed, or the target cannot reach the old primary's
// last position. Retrying for ever would keep writes held and outrank every other
// decision. This judges, from one tick's knowledge, whether the operation must change
// course: a failover takes another target, a switchover is undone. Pure: time is passed in.
import { chooseCandidate, type Chosen } from './candidate.js';
import { isPublished, type Journal } from './journal.js';
import { isContainerNotRunning } from './liveness.js';
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
  /** A step that keeps failing for longer than this since the operation's last progress gives up its target. */
  stepDeadlineMs: number;
}

export type Rescue =
  | { kind: 'replan'; to: string; why: string }
  | { kind: 'become-failover'; why: string }
  | { kind: 'roll-back'; why: string }
  /** The operation cannot go on as planned and nothing else is safe: it keeps trying, and says why. */
  | { kind: 'stuck'; why: string };

/** null: the operation may go on as planned (it has published, or nothing is wrong with its target). */
export function rescueOf(input: RescueInput): Rescue | null {
  const { journal } = input;
  // Once published, clients may have written to the new primary: the operation only rolls forward.
  // A rollback under way is the way out already.
  if (isPublished(journal) || journal.rollback !== undefined) return null;
  // The primary died as the switchover began (killed, crashed): nothing to stop cleanly any
  // more, and restarting it would undo what the operator asked for. Fence and fail over.
  if (journal.kind === 'switchover' && journal.step === 'stop-old' && journal.oldPrimaryUnclean === true) {
    return { kind: 'become-failover', why: `the old primary ${journal.from} went down before it stopped cleanly (pg_control: not shut down)` };
  }
  const found = targetLost(input);
  if (found === null) return null;
  const lost = found.why;
  if (journal.kind === 'switchover') return { kind: 'roll-back', why: lost };
  // A fence that keeps failing (the old primary's engine does not answer) fails for any target.
  if (journal.step === 'fence-old' && found.cause === 'deadline') {
    return { kind: 'stuck', why: `${lost}; another target would not help: the old primary must be fenced first` };
  }
  const chosen = chooseCandidate({
    specs: input.specs.filter((spec) => spec.name !== journal.to),
    observations: input.observations,
    failedPrimary: journal.from,
    lastKnownPrimaryLsn: input.lastKnownPrimaryLsn,
    maxLagBytes: input.maxLagBytes,
    publishedTimeline: input.publishedTimeline,
  });
  if (!chosen.ok) return { kind: 'stuck', why: `${lost}; no other target: ${chosen.reason}` };
  return { kind: 'replan', to: chosen.name, why: lost };
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
  const chosen = chooseCandidate({
    specs: input.specs,
    observations: input.observations,
    failedPrimary: journal.from,
    lastKnownPrimaryLsn: input.lastKnownPrimaryLsn,
    maxLagBytes: input.maxLagBytes,
    publishedTimeline: input.publishedTimeline,
  });
  if (!chosen.ok || chosen.name === journal.to) return null;
  const target = chosen.ranking.find((candidate) => candidate.name === journal.to);
  if (target === undefined) return { to: chosen.name, why: `after the fence, ${journal.to} is no longer a safe candidate (${exclusionOf(chosen, journal.to)}); ${chosen.name} is` };
  if (chosen.position <= target.position) return null;
  return { to: chosen.name, why: `after the fence, ${chosen.name} holds more WAL than ${journal.to} (${chosen.position - target.position} bytes more)` };
}

function exclusionOf(chosen: Chosen, name: string): string {
  return chosen.excluded.find((e) => e.name === name)?.why ?? 'not ranked';
}
