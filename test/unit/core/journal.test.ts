import { describe, expect, it } from 'vitest';
import {
  completeStep,
  elapsedMs,
  isFinished,
  startOperation,
  stepsOf,
  withError,
  withTargetLsn,
  type Journal,
  type OperationKind,
  type StepName,
} from '../../../src/core/journal.js';

const T0 = 1_000_000;

function start(kind: OperationKind): Journal {
  return startOperation({ id: 'op-1', kind, from: 'pgsql', to: 'replica-1', epoch: 2, reason: 'primary failed', requestedBy: 'agent-1', now: T0 });
}

/** Completes every step in order, 100 ms apart. */
function runAll(kind: OperationKind): Journal {
  let journal = start(kind);
  let now = T0;
  for (const step of stepsOf(kind).slice(0, -1)) {
    now += 100;
    const result = completeStep(journal, step, now);
    if (!result.ok) throw new Error(result.reason);
    journal = result.journal;
  }
  return journal;
}

describe('stepsOf', () => {
  it.each<{ kind: OperationKind; steps: StepName[] }>([
    { kind: 'failover', steps: ['fence-old', 'catch-up', 'promote', 'verify-write', 'publish', 'repoint-replicas', 'done'] },
    { kind: 'switchover', steps: ['stop-old', 'catch-up', 'promote', 'verify-write', 'publish', 'rejoin-old', 'repoint-replicas', 'done'] },
  ])('$kind runs its steps in order', ({ kind, steps }) => {
    expect(stepsOf(kind)).toEqual(steps);
  });

  it('returns a copy the caller cannot use to corrupt the plan', () => {
    stepsOf('failover').pop();
    expect(stepsOf('failover').at(-1)).toBe('done');
  });
});

describe('startOperation', () => {
  it.each<{ kind: OperationKind; first: StepName }>([
    { kind: 'failover', first: 'fence-old' },
    { kind: 'switchover', first: 'stop-old' },
  ])('a $kind starts at $first with nothing completed', ({ kind, first }) => {
    expect(start(kind)).toEqual({
      id: 'op-1', kind, from: 'pgsql', to: 'replica-1', epoch: 2, reason: 'primary failed', requestedBy: 'agent-1',
      startedAt: T0, updatedAt: T0, step: first, completed: [],
    });
  });
});

describe('completeStep', () => {
  it.each<{ rule: string; journal: Journal; step: StepName; now: number; next: StepName; ms: number }>([
    { rule: 'the current step advances to the next', journal: start('failover'), step: 'fence-old', now: T0 + 250, next: 'catch-up', ms: 250 },
    { rule: 'a switchover advances along its own plan', journal: start('switchover'), step: 'stop-old', now: T0 + 40, next: 'catch-up', ms: 40 },
    { rule: 'a clock that went backwards records zero, not a negative duration', journal: start('failover'), step: 'fence-old', now: T0 - 5, next: 'catch-up', ms: 0 },
  ])('$rule', ({ journal, step, now, next, ms }) => {
    const result = completeStep(journal, step, now);
    expect(result).toMatchObject({ ok: true, journal: { step: next, updatedAt: now, completed: [{ step, at: now, ms }] } });
  });

  it('measures each step from the previous completion', () => {
    const journal = runAll('switchover');
    expect(journal.completed.map((c) => c.ms)).toEqual(Array(7).fill(100));
    expect(journal.completed.map((c) => c.step)).toEqual(stepsOf('switchover').slice(0, -1));
  });

  it.each<{ rule: string; journal: Journal; step: StepName; reason: RegExp }>([
    { rule: 'a step other than the current one is refused', journal: start('failover'), step: 'promote', reason: /at step fence-old, not promote/ },
    { rule: 'a step other than the current one, from the other plan, is refused', journal: start('failover'), step: 'stop-old', reason: /at step fence-old, not stop-old/ },
    // A journal read from etcd may name a step its plan does not have: refused, never advanced to the plan's first step.
    { rule: 'a current step that is not in the plan is refused', journal: { ...start('failover'), step: 'stop-old' }, step: 'stop-old', reason: /step stop-old does not belong to a failover/ },
    { rule: "a switchover's current step that only a failover has is refused", journal: { ...start('switchover'), step: 'fence-old' }, step: 'fence-old', reason: /step fence-old does not belong to a switchover/ },
    { rule: 'a finished operation takes no more steps', journal: runAll('failover'), step: 'done', reason: /already finished/ },
  ])('$rule', ({ journal, step, reason }) => {
    const before = structuredClone(journal);
    const result = completeStep(journal, step, T0 + 1);
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(reason) });
    expect(journal).toEqual(before);
  });

  it('does not mutate the journal it was given', () => {
    const journal = start('failover');
    const before = structuredClone(journal);
    completeStep(journal, 'fence-old', T0 + 1);
    expect(journal).toEqual(before);
  });

  it('clears the error of a failed attempt once the step succeeds', () => {
    const failed = withError(start('failover'), 'docker kill: timeout', T0 + 10);
    const result = completeStep(failed, 'fence-old', T0 + 20);
    expect(result.ok && 'error' in result.journal).toBe(false);
  });
});

describe('isFinished and elapsedMs', () => {
  it.each<{ rule: string; journal: Journal; now: number; finished: boolean; elapsed: number }>([
    { rule: 'a fresh operation is running, elapsed from its start', journal: start('failover'), now: T0 + 1_500, finished: false, elapsed: 1_500 },
    { rule: 'a finished failover reports its total, whatever the time now', journal: runAll('failover'), now: T0 + 99_999, finished: true, elapsed: 600 },
    { rule: 'a finished switchover reports its total', journal: runAll('switchover'), now: T0 + 99_999, finished: true, elapsed: 700 },
    { rule: 'an error recorded after finishing does not stretch the total', journal: withError(runAll('failover'), 'late', T0 + 5_000), now: T0 + 9_000, finished: true, elapsed: 600 },
  ])('$rule', ({ journal, now, finished, elapsed }) => {
    expect(isFinished(journal)).toBe(finished);
    expect(elapsedMs(journal, now)).toBe(elapsed);
  });
});

describe('annotations', () => {
  it('withTargetLsn and withError return new journals and leave the step alone', () => {
    const journal = start('failover');
    const annotated = withError(withTargetLsn(journal, '50331648', T0 + 5), 'pg_ctl promote exited 1', T0 + 6);
    expect(annotated).toMatchObject({ step: 'fence-old', targetLsn: '50331648', error: 'pg_ctl promote exited 1', updatedAt: T0 + 6 });
    expect(journal).not.toHaveProperty('targetLsn');
    expect(journal).not.toHaveProperty('error');
  });

  it('a journal survives a JSON round trip through etcd unchanged', () => {
    const journal = withTargetLsn(runAll('failover'), '123', T0 + 700);
    expect(JSON.parse(JSON.stringify(journal))).toEqual(journal);
  });
});
