import { describe, expect, it } from 'vitest';
import { renderSynchronous, synchronousStatus, type SynchronousConfig } from '../../../src/status/synchronous-status.js';
import { syncRecord } from '../core/fixtures.js';

const QUORUM: SynchronousConfig = { mode: 'quorum', number: 1, durability: 'required' };
const OFF: SynchronousConfig = { mode: 'off', number: 1, durability: 'required' };

describe('synchronousStatus: the record when there is one, else the config', () => {
  it.each([
    {
      rule: 'a promising record: its members in name order, promising',
      record: syncRecord(['replica-2', 'replica-1'], 1, { epoch: 4 }),
      config: QUORUM,
      expected: { mode: 'quorum', number: 1, durability: 'required', standbys: ['replica-1', 'replica-2'], degraded: false, pending: false, epoch: 4, promising: true, recorded: true },
    },
    {
      rule: 'a pending record does not promise',
      record: syncRecord(['replica-1'], 1, { pending: true }),
      config: QUORUM,
      expected: { standbys: ['replica-1'], pending: true, degraded: false, promising: false, recorded: true },
    },
    {
      rule: 'a degraded record (preferred durability) does not promise',
      record: syncRecord(['replica-1', 'replica-2'], 2, { durability: 'preferred', degraded: true }),
      config: QUORUM,
      expected: { number: 2, durability: 'preferred', degraded: true, pending: false, promising: false },
    },
    {
      rule: 'the record wins over the reader\'s config (the leader writes it from its own)',
      record: syncRecord(['replica-1'], 1, { mode: 'off' }),
      config: QUORUM,
      expected: { mode: 'off', standbys: ['replica-1'], promising: false, recorded: true },
    },
    {
      rule: 'no record, quorum in the config: no standbys, pending, not promising',
      record: null,
      config: { mode: 'quorum', number: 2, durability: 'preferred' } as SynchronousConfig,
      expected: { mode: 'quorum', number: 2, durability: 'preferred', standbys: [], degraded: false, pending: true, epoch: null, promising: false, recorded: false },
    },
    {
      rule: 'no record, off in the config: not pending',
      record: null,
      config: OFF,
      expected: { mode: 'off', number: 1, durability: 'required', standbys: [], degraded: false, pending: false, epoch: null, promising: false, recorded: false },
    },
  ])('$rule', ({ record, config, expected }) => {
    expect(synchronousStatus(record, config)).toMatchObject(expected);
  });

  it('has the contract keys (DESIGN.md: mode, number, durability, standbys, degraded) and is plain JSON', () => {
    const shown = synchronousStatus(syncRecord(['replica-1']), QUORUM);
    for (const key of ['mode', 'number', 'durability', 'standbys', 'degraded']) expect(shown).toHaveProperty(key);
    expect(JSON.parse(JSON.stringify(shown))).toEqual(shown);
  });
});

describe('renderSynchronous: one line', () => {
  it.each([
    [syncRecord(['replica-1', 'replica-2']), QUORUM, 'synchronous: quorum ANY 1 of replica-1, replica-2 (required)'],
    [syncRecord(['replica-1', 'replica-2'], 2, { durability: 'preferred', degraded: true }), QUORUM, 'synchronous: quorum ANY 2 of replica-1, replica-2 (preferred)  DEGRADED (commits acknowledged without standbys)'],
    [syncRecord(['replica-1'], 1, { pending: true }), QUORUM, 'synchronous: quorum ANY 1 of replica-1 (required)  pending (not yet promising)'],
    [null, QUORUM, 'synchronous: quorum ANY 1 of no standby recorded (required)  pending (not yet promising)'],
    [syncRecord([], 1, { mode: 'off' }), QUORUM, 'synchronous: off'],
    [null, OFF, 'synchronous: off (config)'],
  ])('%#: %s', (record, config, line) => {
    expect(renderSynchronous(synchronousStatus(record, config))).toBe(line);
  });
});
