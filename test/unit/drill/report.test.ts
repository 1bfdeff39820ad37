import { describe, expect, it } from 'vitest';
import { median, summarise } from '../../../src/drill/report.js';
import { longestGap, type RoundResult } from '../../../src/drill/round.js';

function round(overrides: Partial<RoundResult>): RoundResult {
  return { round: 1, scenario: 'kill-primary', from: 'pgsql', to: 'replica-1', epoch: 2, detectMs: 10, rtoMs: 100, gapMs: 90, convergeMs: 200, rejoinMs: 300, acked: 50, lost: 0, splitBrain: false, observable: true, unobservedMs: {}, ...overrides };
}

describe('drill report', () => {
  it.each([
    [[], null],
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 3], // the mean of the middle two, rounded
  ])('median of %j is %j', (values, expected) => {
    expect(median(values)).toBe(expected);
  });

  it('summarises the median and the worst of each figure; fewer acked writes are worse', () => {
    const summary = summarise([round({ rtoMs: 100, acked: 50 }), round({ rtoMs: 300, acked: 20 }), round({ rtoMs: 200, acked: 40 })]);
    expect(summary.median.rtoMs).toBe(200);
    expect(summary.worst.rtoMs).toBe(300);
    expect(summary.worst.acked).toBe(20);
  });

  it('skips figures a failed round could not measure, and counts the failed rounds', () => {
    const summary = summarise([round({ rtoMs: null, error: 'timed out' }), round({ rtoMs: 120 })]);
    expect(summary.median.rtoMs).toBe(120);
    expect(summary.failedRounds).toBe(1);
  });

  it('one split brain in any round marks the summary', () => {
    expect(summarise([round({}), round({ splitBrain: true })]).splitBrain).toBe(true);
  });

  it('one round that lost sight of a node makes the whole drill unobservable', () => {
    expect(summarise([round({}), round({})]).observable).toBe(true);
    expect(summarise([round({}), round({ observable: false, unobservedMs: { pgsql: 4000 } })]).observable).toBe(false);
  });

  it.each([
    ['no writes', [], 1000, null],
    ['the gap that spans the fault', [900, 950, 1000, 1600, 1610], 980, 600],
    ['gaps before the fault do not count', [0, 500, 990, 1000, 1010], 995, 10],
  ])('longestGap: %s', (_name, acks, faultAt, expected) => {
    expect(longestGap(acks, faultAt)).toBe(expected);
  });
});
