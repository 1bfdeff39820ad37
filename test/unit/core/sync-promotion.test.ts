import { describe, expect, it } from 'vitest';
import { confirmedBeforePublish, syncForPromotion, type PromotionSyncInput } from '../../../src/core/sync-promotion.js';
import type { SyncSettings } from '../../../src/core/sync-set.js';
import { syncRecord } from './fixtures.js';

const QUORUM: SyncSettings = { mode: 'quorum', number: 1, durability: 'required', degradeAfterMs: 10_000 };
const NODES = ['pgsql', 'replica-1', 'replica-2'];

function input(overrides: Partial<PromotionSyncInput> = {}): PromotionSyncInput {
  return { settings: QUORUM, record: syncRecord(['replica-1', 'replica-2']), to: 'replica-1', eligible: NODES, fenced: ['pgsql'], epoch: 2, now: 5, ...overrides };
}

describe('the synchronous set across a promotion', () => {
  it('a failover: the target waits for the standbys that were not fenced, and the record names the target and them first', () => {
    const planned = syncForPromotion(input());
    expect(planned.set).toEqual({ number: 1, standbys: ['replica-2'] });
    // The record already covers both: nothing to write.
    expect(planned.record).toBeNull();
  });

  it('a target outside the recorded set (forced) is added to the record before its setting changes', () => {
    const planned = syncForPromotion(input({ record: syncRecord(['replica-2']) }));
    expect(planned.record).toMatchObject({ mode: 'quorum', standbys: ['replica-1', 'replica-2'], number: 1, epoch: 2, pending: false, degraded: false });
  });

  it('nothing fenced (how the leader keeps a standby\'s preset too): every other eligible node is named', () => {
    const planned = syncForPromotion(input({ fenced: [] }));
    expect(planned.set).toEqual({ number: 1, standbys: ['pgsql', 'replica-2'] });
    expect(planned.record).toMatchObject({ standbys: ['pgsql', 'replica-1', 'replica-2'] });
  });

  it('too few unfenced standbys for k: the fenced ones are named rather than an empty (asynchronous) setting', () => {
    const planned = syncForPromotion(input({ eligible: ['pgsql', 'replica-1'], record: syncRecord(['replica-1']) }));
    expect(planned.set).toEqual({ number: 1, standbys: ['pgsql'] });
    expect(planned.record).toMatchObject({ standbys: ['pgsql', 'replica-1'] });
  });

  it('no record yet (or a pending one): the standbys are recorded as pending, the setting still waits', () => {
    const planned = syncForPromotion(input({ record: null }));
    expect(planned.set).toEqual({ number: 1, standbys: ['replica-2'] });
    expect(planned.record).toMatchObject({ mode: 'quorum', pending: true, standbys: ['replica-1', 'replica-2'] });
  });

  it('mode off: a promising record stops promising first, and the target acknowledges alone', () => {
    const planned = syncForPromotion(input({ settings: { ...QUORUM, mode: 'off' } }));
    expect(planned.set).toBeNull();
    expect(planned.record).toMatchObject({ mode: 'off', pending: false, degraded: false });
    expect(syncForPromotion(input({ settings: { ...QUORUM, mode: 'off' }, record: null })).record).toBeNull();
  });

  it('preferred and degraded: the new primary starts asynchronous, the record stays degraded', () => {
    const planned = syncForPromotion(input({ settings: { ...QUORUM, durability: 'preferred' }, record: syncRecord(['replica-1', 'replica-2'], 1, { degraded: true }) }));
    expect(planned).toEqual({ record: null, set: null });
  });

  it('the record never lowers its promise: number is the smaller of the record and the config', () => {
    const planned = syncForPromotion(input({ settings: { ...QUORUM, number: 2 }, record: syncRecord(['replica-2'], 1), fenced: [] }));
    expect(planned.set).toEqual({ number: 2, standbys: ['pgsql', 'replica-2'] });
    expect(planned.record).toMatchObject({ number: 1, standbys: ['pgsql', 'replica-1', 'replica-2'] });
  });
});

describe('the set confirmed before the publication', () => {
  const set = { number: 1, standbys: ['replica-2'] };
  const mark = 0x3000n;
  it('a member flushed the new primary\'s position, every walsender follows the setting: confirmed', () => {
    expect(confirmedBeforePublish(set, [{ name: 'replica-2', flushLsn: mark, priority: 1 }], mark)).toBe(true);
  });
  it('the member is behind the position: not yet', () => {
    expect(confirmedBeforePublish(set, [{ name: 'replica-2', flushLsn: mark - 1n, priority: 1 }], mark)).toBe(false);
    expect(confirmedBeforePublish(set, [{ name: 'replica-2', flushLsn: null, priority: 1 }], mark)).toBe(false);
  });
  it('a walsender that does not count itself in (or a stranger that does): not yet', () => {
    expect(confirmedBeforePublish(set, [{ name: 'replica-2', flushLsn: mark, priority: 0 }], mark)).toBe(false);
    expect(confirmedBeforePublish(set, [{ name: 'replica-2', flushLsn: mark, priority: 1 }, { name: 'pgsql', flushLsn: mark, priority: 1 }], mark)).toBe(false);
  });
  it('k=2 needs two members holding it', () => {
    const two = { number: 2, standbys: ['pgsql', 'replica-2'] };
    expect(confirmedBeforePublish(two, [{ name: 'replica-2', flushLsn: mark, priority: 1 }, { name: 'pgsql', flushLsn: mark - 8n, priority: 1 }], mark)).toBe(false);
    expect(confirmedBeforePublish(two, [{ name: 'replica-2', flushLsn: mark, priority: 1 }, { name: 'pgsql', flushLsn: mark + 8n, priority: 1 }], mark)).toBe(true);
  });
  it('no walsender at all: not confirmed', () => {
    expect(confirmedBeforePublish(set, [], mark)).toBe(false);
  });
});
