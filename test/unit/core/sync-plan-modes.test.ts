import { describe, it } from 'vitest';
import { EMPTY_SYNC_MEMORY } from '../../../src/core/sync-plan.js';
import { NOW, PRIMARY, syncRecord } from './fixtures.js';
import { DEGRADE_MS, LATER, LSN, OFF, PREFERRED, R1, R2, R3, REQUIRED, anyOf, checkCase, degraded, marked, pending, planInput, primaryState, sender, three, type SyncCase } from './sync-plan-fixtures.js';

// The planner's rows, case by case, continued: preferred durability, mode off, after a
// failover, k changed, settings set by hand (the coverage check is in sync-plan.test.ts).
describe('planSync: durability, mode, failovers, k and settings set by hand', () => {
  it.each<SyncCase>([
    // The config's durability changed under a steady set (agents restarted with another config).
    {
      rule: 'the record names another durability than the config: rewritten, set and promise unchanged',
      by: 'sync-record-durability',
      input: planInput({ settings: PREFERRED, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]) }),
      step: 'record',
      record: { durability: 'preferred', standbys: [R1, R2], number: 1, pending: false, degraded: false },
    },
    {
      rule: 'degrading writes the configured durability, not the old record\'s',
      by: 'sync-stop-promising',
      input: planInput({ settings: PREFERRED, record: syncRecord([R1, R2]), state: primaryState(anyOf(1, R1, R2), []), memory: { ...EMPTY_SYNC_MEMORY, shortSince: NOW - DEGRADE_MS } }),
      step: 'record',
      record: { durability: 'preferred', degraded: true },
    },
    // The mark waits until the setting has been read unchanged for settleMs.
    {
      rule: 'every walsender reloaded, but the setting was first read less than settleMs ago: no mark yet',
      by: 'sync-await-reload',
      input: planInput({ settleMs: 1000, record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, appliedSeen: { setting: 'ANY 1 ("replica-1", "replica-2")', since: NOW - 999 } } }),
      step: 'wait',
      mark: null,
      why: /settle \(999 of 1000 ms\)/,
    },
    {
      rule: 'a setting read for the first time starts its settling now',
      by: 'sync-await-reload',
      input: planInput({ settleMs: 1000, record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, appliedSeen: { setting: 'ANY 1 ("replica-1")', since: NOW - 60_000 } } }),
      step: 'wait',
      mark: null,
      why: /settle \(0 of 1000 ms\)/,
    },
    {
      rule: 'read unchanged for settleMs and reloaded by every walsender: the mark is noted',
      by: 'sync-await-reload',
      input: planInput({ settleMs: 1000, record: pending([R1, R2]), state: primaryState(anyOf(1, R1, R2), [sender(R1), sender(R2)]), memory: { ...EMPTY_SYNC_MEMORY, appliedSeen: { setting: 'ANY 1 ("replica-1", "replica-2")', since: NOW - 1000 } } }),
      step: 'wait',
      mark: LSN,
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
  ])('$rule ($by)', checkCase);
});
