import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Chosen, Refused } from '../../../src/core/candidate.js';
import { claims, type SyncSettings } from '../../../src/core/sync-set.js';
import { act, freshModel, holders, promotedModel, type Action, type Model } from './sync-model.js';

// Safety rule 9 against random histories (the model and what it copies from PostgreSQL:
// sync-model.ts): whenever the recorded set promises, every acknowledged commit is on
// `number` of its members, the setting names only members, and a successor chosen for a
// primary that dies now holds every acknowledged commit.

/** PGF_SYNC_RUNS=100000 searches harder (a minute or so). */
const RUNS = Number(process.env.PGF_SYNC_RUNS ?? 3_000);
const LENGTH = 120;
const who = fc.integer({ min: 0, max: 3 });
const mask = fc.array(fc.boolean(), { minLength: 4, maxLength: 4 });

const arbAction: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('commit' as const), bytes: fc.integer({ min: 1, max: 100 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('flush' as const), who, part: fc.integer({ min: 0, max: 4 }) }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('disconnect' as const), who }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('connect' as const), who }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('caught-up' as const), who }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('reload' as const), who }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('plan' as const), reloadNow: mask }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('lead' as const), ticks: fc.integer({ min: 2, max: 6 }), reloadNow: mask }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('race' as const), who, bytes: fc.integer({ min: 1, max: 100 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.constantFrom(100, 500, 1_000, 3_000) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'new-leader' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('primary-dies' as const), reachable: mask, lastKnown: fc.boolean(), target: who }, { requiredKeys: ['kind', 'reachable', 'lastKnown'] }), weight: 3 },
);

/** The same histories, with a person changing the config now and then (k up to 4: more than n is allowed). */
const arbReconfiguring = fc.oneof(
  { arbitrary: arbAction, weight: 30 },
  { arbitrary: fc.record({ kind: fc.constant('tag' as const), who: fc.integer({ min: 0, max: 5 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('configure' as const), settings: fc.record({ mode: fc.constantFrom('quorum' as const, 'quorum' as const, 'off' as const), number: fc.integer({ min: 1, max: 4 }), durability: fc.constantFrom('required' as const, 'preferred' as const), degradeAfterMs: fc.constantFrom(0, 1_000, 3_000) }) }), weight: 1 },
);

const arbSettings = (n: number): fc.Arbitrary<SyncSettings> =>
  fc.record({
    mode: fc.constant('quorum' as const),
    number: fc.integer({ min: 1, max: n }),
    durability: fc.constantFrom('required' as const, 'preferred' as const),
    degradeAfterMs: fc.constantFrom(0, 1_000, 3_000),
  });

const arbModel = (reloads: Model['reloads']): fc.Arbitrary<Model> =>
  fc.integer({ min: 2, max: 4 }).chain((n) =>
    fc
      .record({
        settings: arbSettings(n),
        graceMs: fc.constantFrom(0, 500, 2_000),
        noFailover: fc.option(fc.constantFrom('replica-1', 'replica-2'), { freq: 4 }),
        promoted: fc.boolean(),
        flush: fc.array(fc.bigInt({ min: 0x800n, max: 0x1400n }), { minLength: n, maxLength: n }),
        away: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      })
      .map(({ promoted, flush, away, ...options }) => {
        const model = promoted ? promotedModel({ n, reloads, ...options, flush, lsn: 0x1200n }) : freshModel({ n, reloads, ...options });
        // Some standbys may be down when the story starts, to join later.
        model.standbys.forEach((s, i) => away[i] && (s.link = 'gone'));
        return model;
      }),
  );

/** Runs the history; on a broken promise, runs it again with a trace for the message. */
function checkHistory(initial: Model, actions: Action[]): void {
  // fast-check runs shrunk histories against the same initial value: never mutate it.
  const model = { ...structuredClone(initial), tracing: false };
  for (const [i, action] of actions.entries()) {
    const broken = brokenPromise(model, act(model, action));
    if (broken !== null) {
      const replay = structuredClone(initial);
      for (const again of actions.slice(0, i + 1)) act(replay, again);
      throw new Error(`${broken}\n${replay.trace.join('\n')}`);
    }
  }
}

function brokenPromise(model: Model, chosen: Chosen | Refused | null): string | null {
  if (!claims(model.record)) return null;
  const record = model.record!;
  const held = holders(model);
  if (held.length < record.number) return `the record promises ${record.number} of ${record.standbys.join(', ')} hold everything acknowledged (${model.acked}); only ${held.join(', ') || 'none'} do`;
  const stranger = model.applied?.standbys.find((name) => !record.standbys.includes(name));
  if (stranger !== undefined) return `the setting names ${stranger}, the promising record does not`;
  if (chosen?.ok) {
    const flushed = model.standbys.find((s) => s.name === chosen.name)!.flush;
    if (flushed < model.acked) return `${chosen.name} promoted with ${flushed}, acknowledged up to ${model.acked}`;
  }
  return null;
}

describe('zero-loss mode: the promoted node has every acknowledged commit', () => {
  it('with walsenders that reload the setting right away or by the next step', () => {
    fc.assert(fc.property(arbModel('next'), fc.array(arbAction, { maxLength: LENGTH, size: 'max' }), checkHistory), { numRuns: RUNS });
  }, 120_000);

  it('with walsenders that reload the setting whenever they do', () => {
    fc.assert(fc.property(arbModel('late'), fc.array(arbAction, { maxLength: LENGTH, size: 'max' }), checkHistory), { numRuns: RUNS });
  }, 120_000);

  it('with the config changed meanwhile (k raised and lowered, mode off and on, durability), walsenders reloading by the next step', () => {
    fc.assert(fc.property(arbModel('next'), fc.array(arbReconfiguring, { maxLength: LENGTH, size: 'max' }), checkHistory), { numRuns: RUNS });
  }, 120_000);

  it('is not vacuous: histories reach a promise, shrink a promising set, and fail over under it', () => {
    const seen = { promising: 0, shrunk: 0, chosen: 0, manual: 0 };
    fc.assert(
      fc.property(arbModel('next'), fc.array(arbAction, { maxLength: LENGTH, size: 'max' }), (initial, actions) => {
        const model = { ...structuredClone(initial), tracing: false };
        const story = { promising: false, shrunk: false };
        for (const action of actions) {
          const before = claims(model.record) ? model.record!.standbys.length : null;
          const chosen = act(model, action);
          if (!claims(model.record)) continue;
          story.promising = true;
          if (before !== null && model.record!.standbys.length < before) story.shrunk = true;
          if (chosen?.ok) seen[action.kind === 'primary-dies' && action.target !== undefined ? 'manual' : 'chosen'] += 1;
        }
        seen.promising += Number(story.promising);
        seen.shrunk += Number(story.shrunk);
      }),
      { numRuns: 500, seed: 13 },
    );
    expect(seen.promising).toBeGreaterThan(250);
    expect(seen.shrunk).toBeGreaterThan(40);
    expect(seen.chosen).toBeGreaterThan(50);
    expect(seen.manual).toBeGreaterThan(100);
  }, 60_000);
});

