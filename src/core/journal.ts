// A failover or switchover as a journaled step machine (safety rule 5). The
// journal is what a new leader reads to roll a half-done operation forward,
// so each step is recorded only once it has fully taken effect.

export type OperationKind = 'failover' | 'switchover';

export type StepName =
  | 'fence-old'
  | 'stop-old'
  | 'catch-up'
  | 'promote'
  | 'verify-write'
  | 'publish'
  | 'rejoin-old'
  | 'repoint-replicas'
  | 'fence-target'
  | 'restart-old'
  | 'done';

export interface CompletedStep {
  step: StepName;
  at: number;
  /** How long the step took, from the previous step's completion (or the start). */
  ms: number;
}

export interface Journal {
  id: string;
  kind: OperationKind;
  from: string;
  to: string;
  /** The epoch this operation creates. */
  epoch: number;
  reason: string;
  requestedBy: string;
  startedAt: number;
  updatedAt: number;
  /** The step to perform next; 'done' once finished. */
  step: StepName;
  completed: CompletedStep[];
  targetLsn?: string;
  error?: string;
  /** Every time the leader chose another target for this operation, oldest first. */
  replans?: Replan[];
  /** Set when a switchover that cannot complete without loss is being undone. */
  rollback?: Rollback;
  /** A switchover's stop found the old primary down without a clean shutdown (pg_control): it crashed or was killed. */
  oldPrimaryUnclean?: boolean;
}

/** The operation's target was replaced: it died, or a fresher ranking found a more advanced replica. */
export interface Replan {
  at: number;
  abandoned: string;
  to: string;
  why: string;
  /** The abandoned target's promotion was attempted: it may run as a fork, and is fenced before the new target is promoted. */
  promoteAttempted?: boolean;
  /** Set once that fence took effect. */
  fenced?: boolean;
}

/** A switchover being undone: the old primary, stopped cleanly, comes back as the primary. */
export interface Rollback {
  at: number;
  why: string;
  /** Whether the target may have been promoted (its promote was attempted): then it is fenced first. */
  targetPromoted: boolean;
}

// A failover fences the old primary (it may be alive behind a partition); a
// switchover stops it cleanly so it ships all WAL, then rejoins it as a replica.
const FAILOVER_STEPS: readonly StepName[] = [
  'fence-old',
  'catch-up',
  'promote',
  'verify-write',
  'publish',
  'repoint-replicas',
  'done',
];
const SWITCHOVER_STEPS: readonly StepName[] = [
  'stop-old',
  'catch-up',
  'promote',
  'verify-write',
  'publish',
  'rejoin-old',
  'repoint-replicas',
  'done',
];

// A switchover that cannot complete without loss is undone: nothing was published, so
// the old primary (stopped cleanly, holding every acknowledged write) is the primary again.
const ROLLBACK_STEPS: readonly StepName[] = ['fence-target', 'restart-old', 'done'];

/** Each step with the plans it belongs to and what it does, for `failover rules` and the docs. */
export const STEP_TABLE: ReadonlyArray<{ step: StepName; kinds: Array<OperationKind | 'rollback'>; comment: string }> = [
  { step: 'fence-old', kinds: ['failover'], comment: 'kill the old primary and verify it is not running (it may be alive behind a partition); hold the write endpoint' },
  { step: 'stop-old', kinds: ['switchover'], comment: 'pause the write endpoint and stop the old primary cleanly, so it ships all its WAL; record its final position' },
  { step: 'catch-up', kinds: ['failover', 'switchover'], comment: 'let the candidate replay what it received (a switchover: at least the old primary\'s final position)' },
  { step: 'promote', kinds: ['failover', 'switchover'], comment: 'pg_ctl promote inside the candidate\'s container, then wait until it leaves recovery' },
  { step: 'verify-write', kinds: ['failover', 'switchover'], comment: 'a write on the new primary succeeds; read its new timeline' },
  { step: 'publish', kinds: ['failover', 'switchover'], comment: 'publish the new primary with the next epoch and record the history, in one leader-guarded transaction' },
  { step: 'rejoin-old', kinds: ['switchover'], comment: 'restart the old primary as a standby of the new one (no re-clone: it stopped at a position the new primary has)' },
  { step: 'repoint-replicas', kinds: ['failover', 'switchover'], comment: 'point the other replicas at the new primary in place; one that cannot be is left to the rejoin rule' },
  { step: 'fence-target', kinds: ['rollback'], comment: 'a switchover being undone: fence the target if its promotion was attempted (it is not published, so no client wrote to it)' },
  { step: 'restart-old', kinds: ['rollback'], comment: 'remove standby.signal from the cleanly stopped old primary, start it and wait until it takes a write: it is the published primary again' },
  { step: 'done', kinds: ['failover', 'switchover', 'rollback'], comment: 'the journal is removed and a requested operation\'s result written, in one transaction' },
];

export function stepsOf(kind: OperationKind): StepName[] {
  return [...(kind === 'failover' ? FAILOVER_STEPS : SWITCHOVER_STEPS)];
}

/** The steps this journal runs: its kind's, or the rollback's once it is being undone. */
export function planOf(journal: Pick<Journal, 'kind' | 'rollback'>): StepName[] {
  return journal.rollback ? [...ROLLBACK_STEPS] : stepsOf(journal.kind);
}

/** Whether the new primary has been published (after that, the operation only rolls forward). */
export function isPublished(journal: Journal): boolean {
  return journal.completed.some((c) => c.step === 'publish');
}

/** The step that took the old primary out of service: the fence of a failover, the stop of a switchover. */
const FIRST_STEP: Record<OperationKind, StepName> = { failover: 'fence-old', switchover: 'stop-old' };

/**
 * Give the operation another target. What the old primary went through (fenced or stopped)
 * stays done; everything after it starts again for the new target. A switchover keeps the
 * old primary's final position: the new target must reach it too.
 */
export function replanTo(journal: Journal, to: string, why: string, now: number): Journal {
  const kept = journal.completed.filter((c) => c.step === FIRST_STEP[journal.kind]);
  const { error: _error, targetLsn, rollback: _rollback, ...rest } = journal;
  const step: StepName = kept.length > 0 ? 'catch-up' : FIRST_STEP[journal.kind];
  return {
    ...rest,
    ...(journal.kind === 'switchover' && targetLsn !== undefined ? { targetLsn } : {}),
    to,
    step,
    completed: kept,
    updatedAt: now,
    replans: [...(journal.replans ?? []), { at: now, abandoned: journal.to, to, why, ...(promoteAttempted(journal) ? { promoteAttempted: true } : {}) }],
  };
}

/** Whether the journal's target may have been promoted: its promote step was reached (it may have taken effect before failing). */
export function promoteAttempted(journal: Journal): boolean {
  const steps = stepsOf(journal.kind);
  return journal.step === 'done' || steps.indexOf(journal.step) >= steps.indexOf('promote');
}

/** Every node this operation gave up as its target. */
export function abandonedTargets(journal: Journal): string[] {
  return [...new Set((journal.replans ?? []).map((r) => r.abandoned))].filter((name) => name !== journal.to);
}

/**
 * A switchover whose old primary went down before it could be stopped cleanly is a failover
 * to the same target: fenced, then the candidate catches up with what it received. What the
 * dead primary did not ship is lost as in any failover; waiting would not bring it back.
 */
export function asFailover(journal: Journal, why: string, now: number, to: string = journal.to): Journal {
  const { error: _error, targetLsn: _targetLsn, oldPrimaryUnclean: _unclean, rollback: _rollback, ...rest } = journal;
  const replans = to === journal.to ? journal.replans : [...(journal.replans ?? []), { at: now, abandoned: journal.to, to, why, ...(journal.rollback?.targetPromoted ? { promoteAttempted: true, fenced: true } : {}) }];
  return { ...rest, kind: 'failover', reason: `${journal.reason}; ${why}`, to, step: FIRST_STEP.failover, completed: [], updatedAt: now, ...(replans ? { replans } : {}) };
}

/** Undo a switchover that has not published: its target may have been promoted once its promote was attempted. */
export function rollBack(journal: Journal, why: string, now: number): Journal {
  const { error: _error, ...rest } = journal;
  return { ...rest, step: ROLLBACK_STEPS[0]!, updatedAt: now, rollback: { at: now, why, targetPromoted: promoteAttempted(journal) } };
}

/** What starts an operation: the journal's identity, and the time it starts. */
export type StartOperation = Pick<Journal, 'id' | 'kind' | 'from' | 'to' | 'epoch' | 'reason' | 'requestedBy'> & { now: number };

export function startOperation(start: StartOperation): Journal {
  const { id, kind, from, to, epoch, reason, requestedBy, now } = start;
  const [first] = stepsOf(kind);
  return {
    id,
    kind,
    from,
    to,
    epoch,
    reason,
    requestedBy,
    startedAt: now,
    updatedAt: now,
    step: first ?? 'done',
    completed: [],
  };
}

export type StepResult = { ok: true; journal: Journal } | { ok: false; reason: string };

/**
 * Record that `step` has taken effect and move to the next one. Completing
 * anything but the current step is refused: a leader that resumes with an
 * outdated journal must re-read it, not skip or repeat work.
 */
export function completeStep(journal: Journal, step: StepName, now: number): StepResult {
  if (isFinished(journal)) return { ok: false, reason: `operation ${journal.id} is already finished` };
  if (step !== journal.step) {
    return { ok: false, reason: `operation ${journal.id} is at step ${journal.step}, not ${step}` };
  }
  const steps = planOf(journal);
  const at = steps.indexOf(step);
  // indexOf's -1 would otherwise "advance" a foreign step to the plan's first one.
  const next = at < 0 ? undefined : steps[at + 1];
  if (next === undefined) return { ok: false, reason: `step ${step} does not belong to a ${journal.rollback ? 'rollback' : journal.kind}` };
  const previousAt = journal.completed.at(-1)?.at ?? journal.startedAt;
  const done: CompletedStep = { step, at: now, ms: Math.max(0, now - previousAt) };
  // The error described a failed attempt at this step; it succeeded now.
  const { error: _resolved, ...rest } = journal;
  return { ok: true, journal: { ...rest, step: next, updatedAt: now, completed: [...journal.completed, done] } };
}

/** Remember the position the candidate must reach before promotion (decimal string, as published). */
export function withTargetLsn(journal: Journal, targetLsn: string, now: number): Journal {
  return { ...journal, targetLsn, updatedAt: now };
}

/** Record why the current step failed; the step stays current so it is retried or rolled forward. */
export function withError(journal: Journal, error: string, now: number): Journal {
  return { ...journal, error, updatedAt: now };
}

export function isFinished(journal: Journal): boolean {
  return journal.step === 'done';
}

/** Time so far for a running operation; the total for a finished one. */
export function elapsedMs(journal: Journal, now: number): number {
  const end = isFinished(journal) ? (journal.completed.at(-1)?.at ?? journal.updatedAt) : now;
  return Math.max(0, end - journal.startedAt);
}
