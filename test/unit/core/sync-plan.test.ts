import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EMPTY_SYNC_MEMORY, SYNC_RULES, planSync, type SyncMemory, type SyncPlanInput, type SyncStep } from '../../../src/core/sync-plan.js';
import { formatStandbyNames, type StandbySet, type SyncRecord } from '../../../src/core/sync-set.js';
import type { Lsn } from '../../../src/core/types.js';
import { NOW, PRIMARY, syncRecord } from './fixtures.js';
import { DEGRADE_MS, GRACE_MS, LSN, OFF, PREFERRED, R1, R2, R3, REQUIRED, anyOf, planInput, primaryState, sender } from './sync-plan-fixtures.js';

/** The leader's memory after it saw every walsender follow `set` with the primary at `lsn`. */
function marked(set: StandbySet, lsn: Lsn = LSN, primary = PRIMARY, rest: Partial<SyncMemory> = {}): SyncMemory {
  return { ...EMPTY_SYNC_MEMORY, ...rest, mark: { primary, setting: formatStandbyNames(set), lsn } };
}

const pending = (standbys: string[], number = 1): SyncRecord => syncRecord(standbys, number, { pending: true });
const degraded = (standbys: string[]): SyncRecord => syncRecord(standbys, 1, { degraded: true, durability: 'preferred' });
const three = { eligible: [R1, R2, R3] };
const LATER = LSN + 0x1000n;

interface Case {
  rule: string;
  by: string;
  input: SyncPlanInput;
  step: SyncStep['kind'];
  /** record steps: the fields the new record must have. */
  record?: Partial<SyncRecord>;
  /** apply steps: the setting. */
  set?: StandbySet | null;
  /** The position noted in the returned memory: undefined is not checked, null is none. */
  mark?: Lsn | null;
  why?: RegExp;
}

describe('planSync', () => {
  it.each<Case>([
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
    // Preferred durability: degrade after degradeAfterMs (record first), restore once k stream.
    {
      rule: 'preferred, short of standbys for less than degradeAfterMs: keep waiting',
      by: 'sync-steady',
      input: planInput({ settings: PREFERRED, record: syncRecord([R1, R2], 1, { durability: 'preferred' }), state: primaryState(anyOf(1, R1, R2), []), memory: { ...EMPTY_SYNC_MEMORY, shortSince: NOW - DEGRADE_MS + 1 } }),
      step: 'none',
    },
    {
      rule: 'preferred, short for degradeAfterMs: the record stops promising before the setting stops waiting',
      by: 'sync-stop-promising',
      input: planInput({ settings: PREFERRED, record: syncRecord([R1, R2], 1, { durability: 'preferred' }), state: primaryState(anyOf(1, R1, R2), []), memory: { ...EMPTY_SYNC_MEMORY, shortSince: NOW - DEGRADE_MS } }),
      step: 'record',
      record: { mode: 'quorum', degraded: true, pending: false, standbys: [R1, R2], at: NOW },
      why: /fewer than 1 standbys healthy for 10000 ms/,
    },
    {
      rule: 'preferred, degraded recorded: the setting is emptied so writes go on',
      by: 'sync-release-writes',
      input: planInput({ settings: PREFERRED, record: degraded([R1, R2]), state: primaryState(anyOf(1, R1, R2), []) }),
      step: 'apply',
      set: null,
    },
    {
      rule: 'emptying the setting forgets the mark too',
      by: 'sync-release-writes',
      input: planInput({ settings: OFF, record: syncRecord([R1, R2], 1, { mode: 'off' }), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]), memory: marked(anyOf(1, R1, R2)) }),
      step: 'apply',
      set: null,
      mark: null,
    },
    {
      rule: 'preferred, degraded and emptied: nothing more while no standby streams',
      by: 'sync-steady',
      input: planInput({ settings: PREFERRED, record: degraded([R1, R2]), state: primaryState(null, []) }),
      step: 'none',
    },
    {
      rule: 'preferred, pending and short for degradeAfterMs: writes are released, then the record says degraded',
      by: 'sync-release-writes',
      input: planInput({ settings: PREFERRED, record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), []), memory: { ...EMPTY_SYNC_MEMORY, shortSince: NOW - DEGRADE_MS } }),
      step: 'apply',
      set: null,
    },
    {
      rule: 'preferred, pending, released: the record says degraded',
      by: 'sync-record-asynchronous',
      input: planInput({ settings: PREFERRED, record: pending([R1, R2]), state: primaryState(null, []), memory: { ...EMPTY_SYNC_MEMORY, shortSince: NOW - DEGRADE_MS } }),
      step: 'record',
      record: { mode: 'quorum', degraded: true, pending: false },
    },
    {
      rule: 'preferred, degraded, a standby streams again: restore starts with a pending record',
      by: 'sync-record-pending',
      input: planInput({ settings: PREFERRED, record: degraded([R1, R2]), state: primaryState(null, [sender(R1)]) }),
      step: 'record',
      record: { standbys: [R1], pending: true, degraded: false, durability: 'preferred' },
    },
    {
      rule: 'preferred, restoring: confirmed, the record promises again',
      by: 'sync-confirm-members',
      input: planInput({ settings: PREFERRED, record: { ...pending([R1]), durability: 'preferred' }, state: primaryState(anyOf(1, R1), [sender(R1, { flush: LSN })]), memory: marked(anyOf(1, R1)) }),
      step: 'record',
      record: { standbys: [R1], pending: false, degraded: false },
    },
    // Mode off.
    {
      rule: 'mode off while the record promises: record off first',
      by: 'sync-stop-promising',
      input: planInput({ settings: OFF, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]) }),
      step: 'record',
      record: { mode: 'off', degraded: false, pending: false },
      why: /off in the config/,
    },
    {
      rule: 'mode off, recorded: the setting is emptied',
      by: 'sync-release-writes',
      input: planInput({ settings: OFF, record: syncRecord([R1, R2], 1, { mode: 'off' }), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]) }),
      step: 'apply',
      set: null,
    },
    {
      rule: 'mode off, no record yet: record off',
      by: 'sync-record-asynchronous',
      input: planInput({ settings: OFF }),
      step: 'record',
      record: { mode: 'off', standbys: [], degraded: false, pending: false },
    },
    {
      rule: 'mode off, recorded and empty: nothing',
      by: 'sync-steady',
      input: planInput({ settings: OFF, record: syncRecord([], 1, { mode: 'off' }) }),
      step: 'none',
    },
    {
      rule: 'mode back on after off: pending first',
      by: 'sync-record-pending',
      input: planInput({ record: syncRecord([R1], 1, { mode: 'off' }) }),
      step: 'record',
      record: { mode: 'quorum', standbys: [R1, R2], pending: true },
    },
    // After a failover the record names the new primary (replica-1); it leaves only once confirmed.
    {
      rule: 'after a failover, the new primary in the record: set what the record covers, the record unchanged',
      by: 'sync-apply-setting',
      input: planInput({ epoch: 2, eligible: [PRIMARY, R2], record: syncRecord([R1, R2], 1, { epoch: 2 }), state: primaryState(null, [sender(R2)], { primary: R1 }) }),
      step: 'apply',
      set: anyOf(1, R2),
    },
    {
      rule: 'after a failover, the new primary stays in the record until a standby has flushed its mark',
      by: 'sync-await-flush',
      input: planInput({ epoch: 2, eligible: [PRIMARY, R2], record: syncRecord([R1, R2], 1, { epoch: 2 }), state: primaryState(anyOf(1, R2), [sender(R2, { flush: LSN - 1n })], { primary: R1, lsn: LATER }), memory: marked(anyOf(1, R2), LSN, R1) }),
      step: 'wait',
    },
    {
      rule: 'after a failover, confirmed: the record no longer names the new primary',
      by: 'sync-confirm-members',
      input: planInput({ epoch: 2, eligible: [PRIMARY, R2], record: syncRecord([R1, R2], 1, { epoch: 2 }), state: primaryState(anyOf(1, R2), [sender(R2, { flush: LSN })], { primary: R1, lsn: LATER }), memory: marked(anyOf(1, R2), LSN, R1) }),
      step: 'record',
      record: { standbys: [R2], number: 1, epoch: 2, pending: false },
    },
    // The number k changes.
    {
      rule: 'k raised: the setting asks more first, the record keeps the lower number',
      by: 'sync-apply-setting',
      input: planInput({ ...three, settings: { ...REQUIRED, number: 2 }, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(1, R1, R2, R3), [sender(R1), sender(R2), sender(R3)]) }),
      step: 'apply',
      set: anyOf(2, R1, R2, R3),
    },
    {
      rule: 'k raised, set: one member has flushed the mark, two are needed',
      by: 'sync-await-flush',
      input: planInput({ ...three, settings: { ...REQUIRED, number: 2 }, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(2, R1, R2, R3), [sender(R1, { flush: LSN }), sender(R2, { flush: LSN - 1n }), sender(R3, { flush: null })], { lsn: LATER }), memory: marked(anyOf(2, R1, R2, R3)) }),
      step: 'wait',
    },
    {
      rule: 'k raised, two members have flushed the mark: the record takes the higher number',
      by: 'sync-confirm-members',
      input: planInput({ ...three, settings: { ...REQUIRED, number: 2 }, record: syncRecord([R1, R2, R3]), state: primaryState(anyOf(2, R1, R2, R3), [sender(R1, { flush: LSN }), sender(R2, { flush: LSN - 1n }), sender(R3, { flush: LATER })], { lsn: LATER }), memory: marked(anyOf(2, R1, R2, R3)) }),
      step: 'record',
      record: { standbys: [R1, R2, R3], number: 2 },
      why: /^replica-1, replica-3 hold/,
    },
    {
      rule: 'k lowered: the record takes the lower number before the setting does',
      by: 'sync-record-before-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3], 2), state: primaryState(anyOf(2, R1, R2, R3), [sender(R1), sender(R2), sender(R3)]) }),
      step: 'record',
      record: { standbys: [R1, R2, R3], number: 1 },
      why: /record number 1 before/,
    },
    {
      rule: 'k lowered and recorded: the setting follows, no confirmation needed',
      by: 'sync-apply-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2, R3], 1), state: primaryState(anyOf(2, R1, R2, R3), [sender(R1), sender(R2), sender(R3)]) }),
      step: 'apply',
      set: anyOf(1, R1, R2, R3),
    },
    // A person changed the setting by hand.
    {
      rule: 'an unparsable setting: change nothing, even while the record promises',
      by: 'sync-setting-unreadable',
      input: planInput({ record: syncRecord([R1, R2]), state: primaryState('unparsable', [sender(R1), sender(R2)]) }),
      step: 'wait',
      why: /not managed until it is/,
    },
    {
      rule: 'a hand-set setting naming a standby the record lacks: record it first',
      by: 'sync-record-before-setting',
      input: planInput({ ...three, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R3), [sender(R1), sender(R2)]) }),
      step: 'record',
      record: { standbys: [R1, R2, R3], number: 1 },
    },
    {
      rule: 'a hand-set setting naming a node not in the config: record it too (it may have acknowledged)',
      by: 'sync-record-before-setting',
      input: planInput({ record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, 'stranger'), [sender(R1), sender(R2)]) }),
      step: 'record',
      record: { standbys: [R1, R2, 'stranger'], number: 1 },
    },
    {
      rule: 'a hand-set setting with a lower k: the record takes it first',
      by: 'sync-record-before-setting',
      input: planInput({ settings: { ...REQUIRED, number: 2 }, record: syncRecord([R1, R2], 2), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]) }),
      step: 'record',
      record: { standbys: [R1, R2], number: 1 },
    },
  ])('$rule ($by)', ({ input, by, step, record, set, mark, why }) => {
    const plan = planSync(input);
    expect(plan.rule).toBe(by);
    expect(plan.step.kind).toBe(step);
    if (record !== undefined) expect(plan.step).toEqual({ kind: 'record', record: expect.objectContaining(record) });
    if (set !== undefined) expect(plan.step).toEqual({ kind: 'apply', set });
    if (mark !== undefined) expect(plan.memory.mark?.lsn ?? null).toBe(mark);
    if (why !== undefined) expect(plan.why).toMatch(why);
    expect(plan.why.length).toBeGreaterThan(10);
  });

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

  it('has a case for every row in sync-plan.test.ts or sync-plan-scenarios.test.ts (a new row without its test fails here)', () => {
    const cases = ['./sync-plan.test.ts', './sync-plan-scenarios.test.ts'].map((file) => readFileSync(new URL(file, import.meta.url), 'utf8')).join('\n');
    const covered = new Set([...cases.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
  });

  it('ends with a row that always matches, so every tick has a step', () => {
    expect(SYNC_RULES.at(-1)!.matches({} as never)).toBe(true);
  });
});
