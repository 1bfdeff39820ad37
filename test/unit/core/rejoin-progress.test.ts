import { describe, expect, it } from 'vitest';
import { EMPTY_REJOIN_PROGRESS, nextRejoinStep, REJOIN_TIMINGS, rebuilt, repointed, type RejoinProgress } from '../../../src/core/rejoin-progress.js';

const NOW = 1_000_000;
const timings = REJOIN_TIMINGS(3000);
const at = (progress: Partial<RejoinProgress>): RejoinProgress => ({ ...EMPTY_REJOIN_PROGRESS, ...progress });

describe('nextRejoinStep', () => {
  it.each<{ rule: string; progress: RejoinProgress; oldPrimary: boolean; kind: string; why: RegExp }>([
    { rule: 'a replica never re-pointed is re-pointed first (the cheap path)', progress: at({}), oldPrimary: false, kind: 'repoint', why: /not streaming/ },
    { rule: 'just re-pointed: it gets the grace window to follow', progress: at({ repointedAt: { r: NOW - 1000 } }), oldPrimary: false, kind: 'wait', why: /re-pointed 1000 ms ago; giving it 3000 ms/ },
    { rule: 're-pointed, past the grace, still not streaming: rebuilt', progress: at({ repointedAt: { r: NOW - 4000 } }), oldPrimary: false, kind: 'rebuild', why: /re-pointed 4000 ms ago and still not streaming/ },
    { rule: 'a re-point long ago says nothing: re-point again', progress: at({ repointedAt: { r: NOW - 31_000 } }), oldPrimary: false, kind: 'repoint', why: /not streaming/ },
    { rule: "the last failover's old primary is rebuilt, even inside a re-point's grace", progress: at({ repointedAt: { r: NOW - 100 } }), oldPrimary: true, kind: 'rebuild', why: /past the fork/ },
    { rule: 'just rebuilt: it gets time to start streaming', progress: at({ rebuiltAt: { r: NOW - 2000 } }), oldPrimary: true, kind: 'wait', why: /rebuilt 2000 ms ago; giving it 5000 ms/ },
    { rule: 'rebuilt long ago and not streaming: the cycle starts again with a re-point', progress: at({ rebuiltAt: { r: NOW - 60_000 } }), oldPrimary: false, kind: 'repoint', why: /not streaming/ },
    { rule: "another node's progress does not count", progress: at({ repointedAt: { other: NOW - 10 } }), oldPrimary: false, kind: 'repoint', why: /not streaming/ },
  ])('$rule', ({ progress, oldPrimary, kind, why }) => {
    const step = nextRejoinStep(progress, 'r', NOW, oldPrimary, timings);
    expect(step.kind).toBe(kind);
    expect(step.why).toMatch(why);
  });

  it('walks a stubborn replica through re-point, wait, rebuild, wait, and back to a re-point', () => {
    let progress = EMPTY_REJOIN_PROGRESS;
    const steps: string[] = [];
    for (const t of [0, 1000, 4000, 6000, 20_000, 40_000]) {
      const step = nextRejoinStep(progress, 'r', NOW + t, false, timings);
      steps.push(step.kind);
      if (step.kind === 'repoint') progress = repointed(progress, ['r'], NOW + t);
      if (step.kind === 'rebuild') progress = rebuilt(progress, 'r', NOW + t);
    }
    expect(steps).toEqual(['repoint', 'wait', 'rebuild', 'wait', 'repoint', 'rebuild']);
  });

  it('an operation that re-pointed every replica gives each the grace; the reducer never mutates', () => {
    const before = EMPTY_REJOIN_PROGRESS;
    const after = repointed(before, ['a', 'b'], NOW);
    expect(before).toEqual({ repointedAt: {}, rebuiltAt: {} });
    expect(nextRejoinStep(after, 'a', NOW + 10, false, timings).kind).toBe('wait');
    expect(nextRejoinStep(after, 'b', NOW + 10, false, timings).kind).toBe('wait');
    expect(rebuilt(after, 'a', NOW).repointedAt).toEqual({ b: NOW });
  });
});
