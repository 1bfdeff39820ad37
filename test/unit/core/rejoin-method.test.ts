import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../../src/core/lsn.js';
import {
  attemptFailed,
  backoffMs,
  chooseRejoin,
  DEFAULT_REJOIN_TIMINGS,
  followed,
  followExpired,
  forkPointOf,
  NO_ATTEMPTS,
  parseTimelineHistory,
  REJOIN_RULES,
  type RejoinFacts,
  type RejoinMethod,
} from '../../../src/core/rejoin-method.js';

// The rejoin table, one row per case: pgsql (the old primary, timeline 1) comes back while
// replica-1 is published on timeline 2, which forked from timeline 1 at FORK.
const NOW = 1_700_000_000_000;
const FORK = parseLsn('0/5000000');
const PRIMARY_LSN = parseLsn('0/6000000');
const GRACE = DEFAULT_REJOIN_TIMINGS.followGraceMs;

/** The facts of a clean old primary whose WAL ends before the fork; each case changes what it tests. */
function facts(overrides: Partial<RejoinFacts> = {}): RejoinFacts {
  return {
    now: NOW,
    node: 'pgsql',
    wal: { timeline: 1, end: FORK - 0x100n },
    primary: { name: 'replica-1', timeline: 2, lsn: PRIMARY_LSN },
    history: [{ timeline: 1, switchpoint: FORK }],
    sourceReachable: true,
    attempts: NO_ATTEMPTS,
    timings: DEFAULT_REJOIN_TIMINGS,
    ...overrides,
  };
}

const failedAt = (at: number, ...methods: RejoinMethod[]) => methods.reduce((a, m) => attemptFailed(a, m, at), NO_ATTEMPTS);

interface RejoinCase {
  name: string;
  facts: RejoinFacts;
  by: string;
  expect: { kind: 'rejoin' | 'wait' | 'refuse'; method?: RejoinMethod };
}

describe('chooseRejoin: the cheapest correct path, first matching row wins', () => {
  it.each<RejoinCase>([
    // The paths, cheapest first.
    { name: 'WAL ends before the fork: follow', facts: facts(), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'WAL ends exactly at the fork point: follow', facts: facts({ wal: { timeline: 1, end: FORK } }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'on the published timeline, not streaming: follow', facts: facts({ wal: { timeline: 2, end: PRIMARY_LSN - 1n } }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'on the published timeline at the primary\'s position: follow', facts: facts({ wal: { timeline: 2, end: PRIMARY_LSN } }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'on the published timeline after a crash (end unknown): follow', facts: facts({ wal: { timeline: 2, end: null } }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'on the published timeline, the primary\'s position unknown: follow', facts: facts({ wal: { timeline: 2, end: FORK }, primary: { name: 'replica-1', timeline: 2, lsn: null } }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'timeline 1 everywhere, empty history: follow', facts: facts({ wal: { timeline: 1, end: FORK }, primary: { name: 'replica-1', timeline: 1, lsn: PRIMARY_LSN }, history: [] }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'two promotions ago, ends before its timeline\'s fork: follow', facts: facts({ primary: { name: 'replica-2', timeline: 3, lsn: PRIMARY_LSN }, history: [{ timeline: 1, switchpoint: FORK }, { timeline: 2, switchpoint: PRIMARY_LSN - 1n }] }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'WAL ends one byte past the fork: rewind', facts: facts({ wal: { timeline: 1, end: FORK + 1n } }), by: 'rejoin-rewind', expect: { kind: 'rejoin', method: 'rewind' } },
    { name: 'crashed (WAL end unknown) on an older timeline: rewind', facts: facts({ wal: { timeline: 1, end: null } }), by: 'rejoin-rewind', expect: { kind: 'rejoin', method: 'rewind' } },
    { name: 'its timeline is not in the published history: rewind', facts: facts({ wal: { timeline: 2, end: FORK - 1n }, primary: { name: 'replica-2', timeline: 4, lsn: PRIMARY_LSN }, history: [{ timeline: 1, switchpoint: FORK }, { timeline: 3, switchpoint: PRIMARY_LSN - 1n }] }), by: 'rejoin-rewind', expect: { kind: 'rejoin', method: 'rewind' } },
    { name: 'history unreadable, WAL end known on an older timeline: rewind', facts: facts({ history: null }), by: 'rejoin-rewind', expect: { kind: 'rejoin', method: 'rewind' } },
    { name: 'no data directory to start from: clone', facts: facts({ wal: null }), by: 'rejoin-clone-no-data', expect: { kind: 'rejoin', method: 'clone' } },
    { name: 'no data directory, the source\'s reachability not asked: clone', facts: facts({ wal: null, sourceReachable: null }), by: 'rejoin-clone-no-data', expect: { kind: 'rejoin', method: 'clone' } },
    { name: 'a rewind failed and its backoff passed: clone', facts: facts({ wal: { timeline: 1, end: FORK + 1n }, attempts: failedAt(NOW - 2000, 'rewind') }), by: 'rejoin-clone-after-failure', expect: { kind: 'rejoin', method: 'clone' } },
    {
      name: 'a follow whose grace ran out without streaming (followExpired), backoff passed, older timeline: rewind',
      facts: facts({ attempts: followExpired(followed(NO_ATTEMPTS, NOW - GRACE - 2000), NOW, DEFAULT_REJOIN_TIMINGS) }),
      by: 'rejoin-rewind-after-failed-follow',
      expect: { kind: 'rejoin', method: 'rewind' },
    },
    {
      name: 'a follow that failed on the primary\'s own timeline: clone (there is nothing to rewind)',
      facts: facts({ wal: { timeline: 4, end: 100n }, primary: { name: 'replica-1', timeline: 4, lsn: 200n }, attempts: failedAt(NOW - 2000, 'follow') }),
      by: 'rejoin-clone-after-failure',
      expect: { kind: 'rejoin', method: 'clone' },
    },
    {
      name: 'a follow failed, then the rewind after it failed: clone',
      facts: facts({ attempts: failedAt(NOW - 4000, 'follow', 'rewind') }),
      by: 'rejoin-clone-after-failure',
      expect: { kind: 'rejoin', method: 'clone' },
    },
    { name: 'a clone failed twice, backoff (4 s) passed: clone again', facts: facts({ wal: null, attempts: failedAt(NOW - 4000, 'clone', 'clone') }), by: 'rejoin-clone-no-data', expect: { kind: 'rejoin', method: 'clone' } },
    { name: 'a clone failed with the old data kept, backoff passed: clone again', facts: facts({ attempts: failedAt(NOW - 2000, 'clone') }), by: 'rejoin-clone-after-failure', expect: { kind: 'rejoin', method: 'clone' } },
    // Waiting.
    { name: 'the primary does not answer from the node\'s network: wait', facts: facts({ sourceReachable: false }), by: 'rejoin-wait-source-unreachable', expect: { kind: 'wait' } },
    {
      name: 'unreachable wins over everything (later timeline, no data, failures, grace)',
      facts: facts({ sourceReachable: false, wal: { timeline: 3, end: null }, attempts: { failed: ['rewind'], lastFailedAt: NOW - 1, followedAt: NOW - 1 } }),
      by: 'rejoin-wait-source-unreachable',
      expect: { kind: 'wait' },
    },
    { name: 'unreachable and no data: wait, no clone', facts: facts({ sourceReachable: false, wal: null }), by: 'rejoin-wait-source-unreachable', expect: { kind: 'wait' } },
    { name: 'a rewind failed 1 ms short of its 2 s backoff: wait', facts: facts({ wal: { timeline: 1, end: FORK + 1n }, attempts: failedAt(NOW - 1999, 'rewind') }), by: 'rejoin-wait-backoff', expect: { kind: 'wait' } },
    { name: 'two failures: 4 s backoff, 3.999 s passed: wait', facts: facts({ attempts: failedAt(NOW - 3999, 'rewind', 'clone') }), by: 'rejoin-wait-backoff', expect: { kind: 'wait' } },
    { name: 'a backoff exactly elapsed: no wait', facts: facts({ attempts: failedAt(NOW - 4000, 'rewind', 'clone') }), by: 'rejoin-clone-after-failure', expect: { kind: 'rejoin', method: 'clone' } },
    { name: 'pointed at the primary 1 ms ago: wait for it to stream', facts: facts({ attempts: followed(NO_ATTEMPTS, NOW - 1) }), by: 'rejoin-wait-follow-grace', expect: { kind: 'wait' } },
    { name: 'pointed at the primary 1 ms short of the grace: wait', facts: facts({ attempts: followed(NO_ATTEMPTS, NOW - GRACE + 1) }), by: 'rejoin-wait-follow-grace', expect: { kind: 'wait' } },
    { name: 'the follow grace exactly elapsed: judged again (follow)', facts: facts({ attempts: followed(NO_ATTEMPTS, NOW - GRACE) }), by: 'rejoin-follow', expect: { kind: 'rejoin', method: 'follow' } },
    { name: 'the follow grace holds even with no data: wait', facts: facts({ wal: null, attempts: followed(NO_ATTEMPTS, NOW - 10) }), by: 'rejoin-wait-follow-grace', expect: { kind: 'wait' } },
    // Refusing: a node that may hold WAL the primary lacks is never rewound or cloned.
    { name: 'on a later timeline than the primary: refuse', facts: facts({ wal: { timeline: 3, end: FORK } }), by: 'rejoin-refuse-newer-timeline', expect: { kind: 'refuse' } },
    { name: 'on a later timeline, crashed: refuse', facts: facts({ wal: { timeline: 3, end: null } }), by: 'rejoin-refuse-newer-timeline', expect: { kind: 'refuse' } },
    { name: 'on a later timeline after failed attempts: refuse, not clone', facts: facts({ wal: { timeline: 3, end: FORK }, attempts: failedAt(NOW - 60_000, 'rewind', 'clone') }), by: 'rejoin-refuse-newer-timeline', expect: { kind: 'refuse' } },
    { name: 'on the same timeline, one byte past the primary\'s position: refuse', facts: facts({ wal: { timeline: 2, end: PRIMARY_LSN + 1n } }), by: 'rejoin-refuse-ahead', expect: { kind: 'refuse' } },
    { name: 'ahead on the same timeline after a failed follow: refuse, not clone', facts: facts({ wal: { timeline: 2, end: PRIMARY_LSN + 1n }, attempts: failedAt(NOW - 60_000, 'follow') }), by: 'rejoin-refuse-ahead', expect: { kind: 'refuse' } },
  ])('$name ($by)', ({ facts: input, by, expect: expected }) => {
    const choice = chooseRejoin(input);
    expect(choice.rule).toBe(by);
    expect(choice.kind).toBe(expected.kind);
    if (expected.method) expect(choice).toMatchObject({ method: expected.method });
    else expect(choice).not.toHaveProperty('method');
    expect(choice.why.length).toBeGreaterThan(10);
  });

  it('says in its reason what a person needs: which node, which failure, how long to wait', () => {
    expect(chooseRejoin(facts({ sourceReachable: false })).why).toBe('replica-1 does not answer from pgsql\'s network');
    expect(chooseRejoin(facts({ attempts: failedAt(NOW - 500, 'rewind') })).why).toBe('rewind failed; next attempt in 1500 ms');
    expect(chooseRejoin(facts({ attempts: followed(NO_ATTEMPTS, NOW - 1000) })).why).toMatch(/4000 ms left/);
    expect(chooseRejoin(facts({ wal: { timeline: 1, end: null } })).why).toMatch(/crashed/);
    expect(chooseRejoin(facts({ wal: { timeline: 1, end: FORK + 1n } })).why).toMatch(/past the fork/);
  });
});

describe('the attempts kept between ticks', () => {
  it('a failure appends its method, stamps the time and ends a pending follow', () => {
    const after = attemptFailed(followed(failedAt(NOW - 9000, 'rewind'), NOW - 100), 'follow', NOW);
    expect(after).toEqual({ failed: ['rewind', 'follow'], lastFailedAt: NOW, followedAt: null });
  });

  it('followed keeps the failures and notes when', () => {
    expect(followed(failedAt(NOW - 9000, 'rewind'), NOW)).toEqual({ failed: ['rewind'], lastFailedAt: NOW - 9000, followedAt: NOW });
  });

  it('followExpired: nothing before the grace ran out, nor without a follow', () => {
    const pending = followed(NO_ATTEMPTS, NOW);
    expect(followExpired(pending, NOW + GRACE - 1, DEFAULT_REJOIN_TIMINGS)).toBe(pending);
    expect(followExpired(NO_ATTEMPTS, NOW + 10 * GRACE, DEFAULT_REJOIN_TIMINGS)).toBe(NO_ATTEMPTS);
  });

  it('followExpired: once the grace ran out, the follow counts as failed at the grace\'s end', () => {
    const pending = followed(failedAt(NOW - 9000, 'rewind'), NOW);
    expect(followExpired(pending, NOW + GRACE, DEFAULT_REJOIN_TIMINGS)).toEqual({ failed: ['rewind', 'follow'], lastFailedAt: NOW + GRACE, followedAt: null });
    expect(followExpired(pending, NOW + 60_000, DEFAULT_REJOIN_TIMINGS)).toEqual({ failed: ['rewind', 'follow'], lastFailedAt: NOW + GRACE, followedAt: null });
  });

  it('an expired follow waits out its backoff from the grace\'s end, then rewinds', () => {
    const expiredAt = NOW + GRACE;
    const attempts = followExpired(followed(NO_ATTEMPTS, NOW), expiredAt, DEFAULT_REJOIN_TIMINGS);
    expect(chooseRejoin(facts({ now: expiredAt + 1999, attempts })).rule).toBe('rejoin-wait-backoff');
    expect(chooseRejoin(facts({ now: expiredAt + 2000, attempts }))).toMatchObject({ kind: 'rejoin', method: 'rewind', rule: 'rejoin-rewind-after-failed-follow' });
  });
});

describe('backoffMs', () => {
  it('is 0 before any failure, then 2 s, 4 s, 8 s ... capped at 60 s', () => {
    const t = DEFAULT_REJOIN_TIMINGS;
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffMs(n, t))).toEqual([0, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(backoffMs(-1, t)).toBe(0);
    expect(backoffMs(1000, t)).toBe(60_000);
    expect(backoffMs(3, { ...t, backoffBaseMs: 100, backoffMaxMs: 300 })).toBe(300);
  });
});

describe('forkPointOf', () => {
  const history = [{ timeline: 1, switchpoint: FORK }, { timeline: 2, switchpoint: PRIMARY_LSN }];
  it('names where the published history left a timeline, null when it is not there', () => {
    expect(forkPointOf(history, 1)).toBe(FORK);
    expect(forkPointOf(history, 2)).toBe(PRIMARY_LSN);
    expect(forkPointOf(history, 3)).toBeNull();
    expect(forkPointOf([], 1)).toBeNull();
  });
});

describe('parseTimelineHistory', () => {
  it('reads a history file as PostgreSQL 15 writes it', () => {
    expect(parseTimelineHistory('1\t0/3027AF0\tno recovery target specified\n')).toEqual([{ timeline: 1, switchpoint: 0x3027af0n }]);
  });

  it('reads several lines, a high half, blank lines, comments and CRLF', () => {
    const text = '1\t0/3027AF0\tno recovery target specified\n\n2\t0/50000A0\tno recovery target specified\r\n# a comment\n  \n3\t1/A0\tbefore 2024-01-01 00:00:00+00\n';
    expect(parseTimelineHistory(text)).toEqual([
      { timeline: 1, switchpoint: 0x3027af0n },
      { timeline: 2, switchpoint: 0x50000a0n },
      { timeline: 3, switchpoint: (1n << 32n) + 0xa0n },
    ]);
  });

  it('reads timeline 1\'s empty history as no switches', () => {
    expect(parseTimelineHistory('')).toEqual([]);
    expect(parseTimelineHistory('\n\n')).toEqual([]);
  });

  it.each([
    ['words', 'not a history file\n'],
    ['no switchpoint', '1\n'],
    ['an LSN without its slash', '1\t3027AF0\treason\n'],
    ['a half of more than 8 hex digits', '1\t0/123456789\treason\n'],
    ['junk glued to the LSN', '1\t0/3027AF0x\treason\n'],
    ['a negative timeline', '-1\t0/3027AF0\treason\n'],
    ['one good line, one bad', '1\t0/3027AF0\treason\ngarbage\n'],
  ])('is null on garbage: %s', (_what, text) => {
    expect(parseTimelineHistory(text)).toBeNull();
  });
});

describe('the rejoin rule table', () => {
  const ids = REJOIN_RULES.map((rule) => rule.id);

  it('gives every row a unique kebab-case id and says when, then and why', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of REJOIN_RULES) {
      expect(rule.id).toMatch(/^rejoin(-[a-z]+)+$/);
      expect(rule.when.length, rule.id).toBeGreaterThan(10);
      expect(rule.then.length, rule.id).toBeGreaterThan(0);
      expect(rule.why.length, rule.id).toBeGreaterThan(10);
    }
  });

  it('has a case for every row in rejoin-method*.test.ts (a new row without its test fails here)', () => {
    const here = new URL('.', import.meta.url);
    const files = readdirSync(here).filter((file) => /^rejoin-method.*\.test\.ts$/.test(file));
    expect(files).toContain('rejoin-method.test.ts');
    const cases = files.map((file) => readFileSync(new URL(file, here), 'utf8')).join('\n');
    const covered = new Set([...cases.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
  });

  it('each choice names the row that made it, and the last row always chooses', () => {
    for (const rule of REJOIN_RULES) {
      const choice = rule.choose(facts({ wal: { timeline: 1, end: FORK + 1n } }));
      if (choice !== null) expect(choice.rule).toBe(rule.id);
    }
    expect(REJOIN_RULES.at(-1)!.choose(facts())).not.toBeNull();
    expect(REJOIN_RULES.at(-1)!.choose(facts({ history: null, wal: { timeline: 1, end: null } }))).not.toBeNull();
  });
});
