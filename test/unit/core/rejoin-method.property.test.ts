import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  chooseRejoin,
  DEFAULT_REJOIN_TIMINGS,
  followExpired,
  forkPointOf,
  REJOIN_METHODS,
  REJOIN_RULES,
  type RejoinAttempts,
  type RejoinFacts,
  type TimelineSwitch,
} from '../../../src/core/rejoin-method.js';

// Safety rule 4 against random facts: the rejoin table never copies over a node that may hold
// WAL the primary lacks, never copies while the primary is out of the node's reach, follows
// only a node whose WAL is all in the primary's history, keeps the clone for last, and never
// waits forever once the primary answers.

const RUNS = Number(process.env.PGF_REJOIN_RUNS ?? 5_000);
const NOW = 1_700_000_000_000;
/** A small LSN range, so that ends land on forks and on the primary's position often. */
const lsn = fc.bigInt({ min: 0n, max: 64n });

/** A primary's history as PostgreSQL keeps it (timelines 1..p-1 ending at rising points), or a damaged one. */
const arbHistory = (primaryTimeline: number): fc.Arbitrary<TimelineSwitch[] | null> =>
  fc.oneof(
    {
      arbitrary: fc.array(lsn, { minLength: primaryTimeline - 1, maxLength: primaryTimeline - 1 }).map((points) =>
        [...points].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((switchpoint, i) => ({ timeline: i + 1, switchpoint })),
      ),
      weight: 6,
    },
    { arbitrary: fc.array(fc.record({ timeline: fc.integer({ min: 1, max: 6 }), switchpoint: lsn }), { maxLength: 4 }), weight: 2 },
    { arbitrary: fc.constant(null), weight: 1 },
  );

const arbAttempts: fc.Arbitrary<RejoinAttempts> = fc
  .record({
    failed: fc.array(fc.constantFrom(...REJOIN_METHODS), { maxLength: 4 }),
    lastFailedAgo: fc.option(fc.integer({ min: 0, max: 90_000 }), { freq: 2 }),
    followedAgo: fc.option(fc.integer({ min: 0, max: 12_000 }), { freq: 3 }),
  })
  .map(({ failed, lastFailedAgo, followedAgo }) => ({
    failed,
    // A failure is always stamped (attemptFailed, followExpired do so).
    lastFailedAt: failed.length === 0 ? null : NOW - (lastFailedAgo ?? 0),
    followedAt: followedAgo === null ? null : NOW - followedAgo,
  }));

const arbFacts: fc.Arbitrary<RejoinFacts> = fc.integer({ min: 1, max: 5 }).chain((primaryTimeline) =>
  fc.record({
    now: fc.constant(NOW),
    node: fc.constant('pgsql'),
    wal: fc.option(fc.record({ timeline: fc.integer({ min: 1, max: 6 }), end: fc.option(lsn, { freq: 4 }) }), { freq: 8 }),
    primary: fc.record({ name: fc.constant('replica-1'), timeline: fc.constant(primaryTimeline), lsn: fc.option(lsn, { freq: 4 }) }),
    history: arbHistory(primaryTimeline),
    sourceReachable: fc.constantFrom(true, true, false, null),
    attempts: arbAttempts,
    timings: fc.constantFrom(DEFAULT_REJOIN_TIMINGS, { followGraceMs: 0, backoffBaseMs: 0, backoffMaxMs: 0 }, { followGraceMs: 3000, backoffBaseMs: 500, backoffMaxMs: 4000 }),
  }),
);

const holds = (predicate: (f: RejoinFacts) => void) => fc.assert(fc.property(arbFacts, predicate), { numRuns: RUNS });
/** The node may hold WAL the primary lacks: a later timeline, or past its position on the same one. */
const mayBeAhead = (f: RejoinFacts) =>
  f.wal !== null && (f.wal.timeline > f.primary.timeline || (f.wal.timeline === f.primary.timeline && f.wal.end !== null && f.primary.lsn !== null && f.wal.end > f.primary.lsn));

describe('chooseRejoin against random facts', () => {
  it('never throws, and answers with a row of the table (a method only when it rejoins)', () => {
    const ids = new Set(REJOIN_RULES.map((r) => r.id));
    holds((f) => {
      const choice = chooseRejoin(f);
      expect(ids.has(choice.rule)).toBe(true);
      if (choice.kind === 'rejoin') expect(REJOIN_METHODS).toContain(choice.method);
      else expect(choice).not.toHaveProperty('method');
    });
  });

  it('copies nothing, and does not even follow, while the primary does not answer from the node', () => {
    holds((f) => {
      if (f.sourceReachable === false) expect(chooseRejoin(f).kind).toBe('wait');
    });
  });

  it('never rejoins a node on a later timeline, or past the primary on the same one', () => {
    holds((f) => {
      if (mayBeAhead(f)) expect(chooseRejoin(f).kind).not.toBe('rejoin');
    });
  });

  it('refuses only a node that may be ahead', () => {
    holds((f) => {
      if (chooseRejoin(f).kind === 'refuse') expect(mayBeAhead(f)).toBe(true);
    });
  });

  it('follows only when the node\'s WAL ends at or before the fork, or it is on the primary\'s timeline', () => {
    holds((f) => {
      const choice = chooseRejoin(f);
      if (choice.kind !== 'rejoin' || choice.method !== 'follow') return;
      const wal = f.wal!;
      expect(wal).not.toBeNull();
      if (wal.timeline === f.primary.timeline) return;
      const fork = f.history === null ? null : forkPointOf(f.history, wal.timeline);
      expect(wal.end).not.toBeNull();
      expect(fork).not.toBeNull();
      expect(wal.end! <= fork!).toBe(true);
    });
  });

  it('keeps the clone for last: never while the node has data and no attempt failed', () => {
    holds((f) => {
      const choice = chooseRejoin(f);
      if (choice.kind === 'rejoin' && choice.method === 'clone') expect(f.wal === null || f.attempts.failed.length > 0).toBe(true);
    });
  });

  it('rewinds only a node with data on an older timeline, before any rewind or clone failed', () => {
    holds((f) => {
      const choice = chooseRejoin(f);
      if (choice.kind !== 'rejoin' || choice.method !== 'rewind') return;
      expect(f.wal).not.toBeNull();
      expect(f.wal!.timeline).toBeLessThan(f.primary.timeline);
      expect(f.attempts.failed.filter((m) => m !== 'follow')).toEqual([]);
    });
  });

  it('acts only once the backoff and the follow grace have passed', () => {
    holds((f) => {
      if (chooseRejoin(f).kind !== 'rejoin') return;
      const { failed, lastFailedAt, followedAt } = f.attempts;
      if (lastFailedAt !== null) expect(f.now).toBeGreaterThanOrEqual(lastFailedAt + backoffMs(failed.length, f.timings));
      if (followedAt !== null) expect(f.now).toBeGreaterThanOrEqual(followedAt + f.timings.followGraceMs);
    });
  });

  it('never waits forever: once the primary answers and the time passes, it rejoins or refuses', () => {
    holds((f) => {
      if (f.sourceReachable === false) return;
      expect(chooseRejoin({ ...f, now: f.now + 10 * 60_000 }).kind).not.toBe('wait');
    });
  });

  it('is not vacuous: random facts reach every row', () => {
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(arbFacts, (f) => {
        const rule = chooseRejoin(f).rule;
        seen.set(rule, (seen.get(rule) ?? 0) + 1);
      }),
      { numRuns: 4_000, seed: 14 },
    );
    for (const rule of REJOIN_RULES) expect(seen.get(rule.id) ?? 0, rule.id).toBeGreaterThan(20);
  });
});

describe('followExpired against random attempts', () => {
  it('adds one failed follow, once, and only after the grace', () => {
    fc.assert(
      fc.property(arbAttempts, fc.integer({ min: -20_000, max: 20_000 }), (attempts, after) => {
        const now = NOW + after;
        const t = DEFAULT_REJOIN_TIMINGS;
        const next = followExpired(attempts, now, t);
        const expired = attempts.followedAt !== null && now - attempts.followedAt >= t.followGraceMs;
        if (!expired) {
          expect(next).toBe(attempts);
          return;
        }
        expect(next.failed).toEqual([...attempts.failed, 'follow']);
        expect(next.followedAt).toBeNull();
        expect(next.lastFailedAt).toBe(attempts.followedAt! + t.followGraceMs);
        expect(followExpired(next, now, t)).toBe(next);
      }),
      { numRuns: RUNS },
    );
  });
});
