import { describe, expect, it } from 'vitest';
import { ReportedOnce } from '../../../src/dcs/reported-once.js';

// A bad etcd value is logged once, not on every tick the leader reads it.

describe('ReportedOnce', () => {
  const a = { key: '/p/main/agents/x', problem: 'not JSON' };
  const b = { key: '/p/main/primary', problem: 'names intruder, which is not a node of the config' };

  it('hands out each key and problem the first time only', () => {
    const reported = new ReportedOnce();
    expect(reported.fresh([a])).toEqual([a]);
    expect(reported.fresh([a])).toEqual([]);
    expect(reported.fresh([a, b])).toEqual([b]);
    expect(reported.fresh([b, a])).toEqual([]);
  });

  it('reports a key again with a new problem', () => {
    const reported = new ReportedOnce();
    reported.fresh([b]);
    expect(reported.fresh([{ ...b, problem: 'epoch: expected number' }])).toEqual([{ ...b, problem: 'epoch: expected number' }]);
  });

  it('reports a value again once it was repaired and then broken anew', () => {
    const reported = new ReportedOnce();
    reported.fresh([a]);
    expect(reported.fresh([])).toEqual([]);
    expect(reported.fresh([a])).toEqual([a]);
  });
});
