import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EMPTY_SYNC_MEMORY, SYNC_RULES, planSync } from '../../../src/core/sync-plan.js';
import { NOW, PRIMARY, syncRecord } from './fixtures.js';
import { GRACE_MS, LATER, LSN, PREFERRED, R1, R2, R3, REQUIRED, anyOf, checkCase, marked, pending, planInput, primaryState, sender, three, type SyncCase } from './sync-plan-fixtures.js';

// The planner's rows, case by case (durability, mode, failovers, k and settings set by hand
// are in sync-plan-modes.test.ts; whole sequences in sync-plan-scenarios.test.ts).
describe('planSync: the set follows the standbys', () => {
  it.each<SyncCase>([
    // A fresh cluster: record (pending), set, see it reloaded, see it confirmed, promise.
    {
      rule: 'fresh cluster: the standbys are recorded as pending before the setting names them',
      by: 'sync-record-pending',
      input: planInput(),
      step: 'record',
      record: { mode: 'quorum', number: 1, standbys: [R1, R2], pending: true, degraded: false, durability: 'required', epoch: 1, at: NOW },
    },
    {
      rule: 'fresh cluster, k=2 and one standby streaming: required durability waits for every eligible node',
      by: 'sync-record-pending',
      input: planInput({ settings: { ...REQUIRED, number: 2 }, ...three, state: primaryState(null, [sender(R1)]) }),
      step: 'record',
      record: { number: 2, standbys: [R1, R2, R3], pending: true },
    },
    {
      rule: 'a pending record that lacks a new standby grows, still pending',
      by: 'sync-record-pending',
      input: planInput({ record: pending([R1]) }),
      step: 'record',
      record: { standbys: [R1, R2], pending: true },
    },
    {
      rule: 'fresh cluster, recorded as pending: the setting follows',
      by: 'sync-apply-setting',
      input: planInput({ record: pending([R1, R2]) }),
      step: 'apply',
      set: anyOf(1, R1, R2),
    },
    {
      rule: 'set, but a walsender still counts itself out: no mark yet',
      by: 'sync-await-reload',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2, { priority: 0 })]) }),
      step: 'wait',
      mark: null,
      why: /reload/,
    },
    {
      rule: 'set and reloaded by every walsender: the primary\'s position of now is noted',
      by: 'sync-await-reload',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1, { flush: 0n }), sender(R2, { flush: 0n })]) }),
      step: 'wait',
      mark: LSN,
    },
    {
      rule: 'a mark noted for another setting does not count: mark again',
      by: 'sync-await-reload',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)], { lsn: LATER }), memory: marked(anyOf(1, R1)) }),
      step: 'wait',
      mark: LATER,
    },
    {
      rule: 'a mark noted on another primary does not count: mark again',
      by: 'sync-await-reload',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)], { lsn: LATER }), memory: marked(anyOf(1, R1, R2), LSN, 'replica-9') }),
      step: 'wait',
      mark: LATER,
    },
    {
      rule: 'marked, but no member has flushed the mark: wait',
      by: 'sync-await-flush',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1, { flush: LSN - 1n }), sender(R2, { flush: null })], { lsn: LATER }), memory: marked(anyOf(1, R1, R2)) }),
      step: 'wait',
      mark: LSN,
    },
    {
      rule: 'marked, and k members flushed the mark: the record promises exactly the setting',
      by: 'sync-confirm-members',
      input: planInput({ record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1, { flush: LSN - 1n }), sender(R2, { flush: LSN })], { lsn: LATER }), memory: marked(anyOf(1, R1, R2)) }),
      step: 'record',
      record: { standbys: [R1, R2], number: 1, pending: false, degraded: false, mode: 'quorum' },
      why: /^replica-2 hold everything acknowledged/,
    },
    {
      rule: 'the record and the setting agree: nothing to do',
      by: 'sync-steady',
      input: planInput({ record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]) }),
      step: 'none',
    },
    // A standby starts streaming: the record names it before the setting does.
    {
      rule: 'a standby that starts streaming is recorded before the setting names it',
      by: 'sync-record-before-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2), sender(R3)]) }),
      step: 'record',
      record: { standbys: [R1, R2, R3], number: 1, pending: false },
      why: /record replica-3 before the setting names it/,
    },
    {
      rule: 'recorded: the setting names the new standby',
      by: 'sync-apply-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2), sender(R3)]) }),
      step: 'apply',
      set: anyOf(1, R1, R2, R3),
    },
    {
      rule: 'a grown set needs no confirmation: the record already covers it',
      by: 'sync-steady',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2), sender(R3, { flush: 0n })]) }),
      step: 'none',
    },
    {
      rule: 'a standby still catching up is not added',
      by: 'sync-steady',
      input: planInput({ ...three, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2), sender(R3, { streaming: false })]) }),
      step: 'none',
    },
    // A member stops streaming: it stays for graceMs, then leaves the setting, then (confirmed) the record.
    {
      rule: 'a member that stopped streaming is noted and kept',
      by: 'sync-steady',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2)]) }),
      step: 'none',
    },
    {
      rule: 'a member within its grace stays in the setting',
      by: 'sync-steady',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, missingSince: { [R3]: NOW - GRACE_MS + 1 } } }),
      step: 'none',
    },
    {
      rule: 'a new setting forgets the mark noted under the one before (see the scenario that found it)',
      by: 'sync-apply-setting',
      input: planInput({ ...three, record: pending([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2)]), memory: marked(anyOf(1, R1, R2), LSN, PRIMARY, { missingSince: { [R3]: NOW - GRACE_MS } }) }),
      step: 'apply',
      set: anyOf(1, R1, R2),
      mark: null,
    },
    {
      rule: 'a member gone for graceMs leaves the setting first; the record keeps it',
      by: 'sync-apply-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, missingSince: { [R3]: NOW - GRACE_MS } } }),
      step: 'apply',
      set: anyOf(1, R1, R2),
    },
    {
      rule: 'the departed member\'s walsender still counts itself in: wait for the reload',
      by: 'sync-await-reload',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2), sender(R3, { streaming: false, priority: 1 })]) }),
      step: 'wait',
      mark: null,
    },
    {
      rule: 'every walsender follows the smaller setting: mark',
      by: 'sync-await-reload',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2), sender(R3, { streaming: false })]) }),
      step: 'wait',
      mark: LSN,
    },
    {
      rule: 'the departed member stays in the record until a remaining one has flushed the mark',
      by: 'sync-await-flush',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2), [sender(R1, { flush: LSN - 1n }), sender(R2, { flush: LSN - 1n })]), memory: marked(anyOf(1, R1, R2)) }),
      step: 'wait',
    },
    {
      rule: 'confirmed: the record drops the departed member',
      by: 'sync-confirm-members',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2), [sender(R1, { flush: LATER }), sender(R2, { flush: LSN - 1n })], { lsn: LATER }), memory: marked(anyOf(1, R1, R2)) }),
      step: 'record',
      record: { standbys: [R1, R2], number: 1, pending: false },
    },
    // Required durability short of standbys: never asynchronous, keeps waiting for its members.
    {
      rule: 'required, k=1, every member gone for long: the setting keeps them (writes wait)',
      by: 'sync-steady',
      input: planInput({ record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), []), memory: { ...EMPTY_SYNC_MEMORY, missingSince: { [R1]: NOW - 60_000, [R2]: NOW - 60_000 } } }),
      step: 'none',
    },
    {
      rule: 'required, k=2, one member left streaming: the others stay in the setting',
      by: 'sync-steady',
      input: planInput({ ...three, settings: { ...REQUIRED, number: 2 }, record: syncRecord([R1, R2, R3], 2), state: primaryState(anyOf(2, R1, R2, R3), [sender(R1)]), memory: { ...EMPTY_SYNC_MEMORY, missingSince: { [R2]: NOW - 60_000, [R3]: NOW - 60_000 } } }),
      step: 'none',
    },
  ])('$rule ($by)', checkCase);

  it('counts from the first tick that sees a member missing, and forgets members that are back', () => {
    const first = planSync(planInput({ ...three, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, missingSince: { [R2]: NOW - 1 } } }));
    expect(first.memory.missingSince).toEqual({ [R3]: NOW });
    const preferred = planSync(planInput({ settings: PREFERRED, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), []) }));
    expect(preferred.memory.shortSince).toBe(NOW);
  });
});

describe('the synchronous set\'s rule table', () => {
  const ids = SYNC_RULES.map((rule) => rule.id);

  it('gives every row a unique kebab-case id and says when and then', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of SYNC_RULES) {
      expect(rule.id).toMatch(/^sync(-[a-z]+)+$/);
      expect(rule.when.length, rule.id).toBeGreaterThan(10);
      expect(rule.then.length, rule.id).toBeGreaterThan(0);
    }
  });

  it('has a case for every row in the sync-plan*.test.ts files (a new row without its test fails here)', () => {
    const here = new URL('.', import.meta.url);
    const files = readdirSync(here).filter((file) => /^sync-plan.*\.test\.ts$/.test(file));
    expect(files).toContain('sync-plan-modes.test.ts');
    const cases = files.map((file) => readFileSync(new URL(file, here), 'utf8')).join('\n');
    const covered = new Set([...cases.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
  });

  it('ends with a row that always matches, so every tick has a step', () => {
    expect(SYNC_RULES.at(-1)!.matches({} as never)).toBe(true);
  });
});
