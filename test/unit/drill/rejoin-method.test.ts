import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../../src/core/event.js';
import { eventId } from '../../../src/core/event.js';
import { rejoinMethodOf } from '../../../src/drill/rejoin-method.js';

const event = (at: number, overrides: Record<string, unknown>): ClusterEvent =>
  ({ id: eventId(at, 'a1b2c3'), at: new Date(at).toISOString(), kind: 'rejoin', rule: 'healthy', by: 'agent-1', message: 'x', nodes: ['pgsql', 'replica-1'], ...overrides }) as ClusterEvent;
const UNDO = 10_000;

describe('the old primary\'s rejoin method', () => {
  it.each<[string, ClusterEvent[], string | null]>([
    ['none: null', [], null],
    ['a finished rewind of it', [event(UNDO + 500, { method: 'rewind', outcome: 'done' })], 'rewind'],
    ['one at the very moment of the undo counts', [event(UNDO, { method: 'follow', outcome: 'done' })], 'follow'],
    ['one before the undo (an earlier round) does not', [event(UNDO - 1, { method: 'clone', outcome: 'done' })], null],
    ['a started one is not finished', [event(UNDO + 1, { method: 'rewind', outcome: 'started' })], null],
    ['a failed rewind, then a finished clone: the clone', [event(UNDO + 1, { method: 'rewind', outcome: 'failed' }), event(UNDO + 2, { method: 'clone', outcome: 'done' })], 'clone'],
    ['the newest of two finished ones', [event(UNDO + 1, { method: 'clone', outcome: 'done' }), event(UNDO + 2, { method: 'follow', outcome: 'done' })], 'follow'],
    ['a rejoin of another node does not count', [event(UNDO + 1, { nodes: ['replica-2', 'replica-1'], method: 'clone', outcome: 'done' })], null],
    ['a node named second (the source) does not count', [event(UNDO + 1, { nodes: ['replica-1', 'pgsql'], method: 'clone', outcome: 'done' })], null],
    ['another kind does not count', [event(UNDO + 1, { kind: 'repoint', method: 'follow', outcome: 'done' })], null],
    ['an unknown method is ignored', [event(UNDO + 1, { method: 'magic', outcome: 'done' })], null],
    ['an older agent\'s rebuild, by its message', [event(UNDO + 1, { message: 'pgsql rebuilt from replica-1' })], 'clone'],
    ['an older agent\'s re-point, by its message', [event(UNDO + 1, { message: 'pgsql re-pointed at replica-1: timeline' })], 'follow'],
    ['an older agent\'s rebuild that only began is not finished', [event(UNDO + 1, { message: 'rebuilding pgsql from replica-1 with pg_basebackup: x' })], null],
  ])('%s', (_, events, expected) => {
    expect(rejoinMethodOf(events, 'pgsql', UNDO)).toBe(expected);
  });
});
