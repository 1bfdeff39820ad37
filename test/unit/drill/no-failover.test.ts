import { describe, expect, it } from 'vitest';
import { failoverSeen, writesBackAt } from '../../../src/drill/no-failover.js';

describe('oom-backend: writes back on the same primary', () => {
  it('is the write that ends the longest stretch without one after the fault', () => {
    // Writes every 10 ms, then crash recovery: nothing from 1005 to 1400.
    expect(writesBackAt([980, 990, 1000, 1400, 1410], 995)).toBe(1400);
  });

  it('counts the stretch from the fault, not from the last write before it', () => {
    expect(writesBackAt([100, 1010, 1020, 1300], 1000)).toBe(1300);
  });

  it('is null with no write after the fault', () => {
    expect(writesBackAt([100, 200], 1000)).toBeNull();
    expect(writesBackAt([], 1000)).toBeNull();
  });
});

describe('oom-backend: no failover may follow', () => {
  const primary = { name: 'pgsql', epoch: 4 };
  it.each<[string, Parameters<typeof failoverSeen>[1], RegExp | null]>([
    ['the same primary, the same epoch, no operation', { published: { name: 'pgsql', epoch: 4 }, journal: null }, null],
    ['a failover under way', { published: { name: 'pgsql', epoch: 4 }, journal: { kind: 'failover', from: 'pgsql', to: 'replica-1' } }, /a failover started \(pgsql -> replica-1\)/],
    ['another primary', { published: { name: 'replica-1', epoch: 5 }, journal: null }, /published primary changed: pgsql \(epoch 4\) -> replica-1 \(epoch 5\)/],
    ['the same node, a new epoch', { published: { name: 'pgsql', epoch: 5 }, journal: null }, /epoch 4\) -> pgsql \(epoch 5\)/],
    ['nothing published', { published: null, journal: null }, /no primary is published/],
  ])('%s', (_, now, expected) => {
    const seen = failoverSeen(primary, now);
    if (expected === null) expect(seen).toBeNull();
    else expect(seen).toMatch(expected);
  });
});
