import { describe, expect, it } from 'vitest';
import { encode } from '../../../src/dcs/codec.js';
import { checkAgainstConfig, journalProblem, publishedProblem } from '../../../src/dcs/config-check.js';
import { keysFor } from '../../../src/dcs/keys.js';
import { parseSnapshot } from '../../../src/dcs/snapshot.js';
import type { Journal } from '../../../src/core/journal.js';
import type { Published } from '../../../src/core/types.js';

// What etcd says is checked against the config before the leader acts on it: a record
// naming a node the config does not have, or a node at another host or port, is held
// as unreadable (the leader then holds, and status names the key and the problem).

const nodes = [
  { name: 'pgsql', host: 'pgsql', port: 5432 },
  { name: 'replica-1', host: 'pgsql-replica-1', port: 5432 },
  { name: 'replica-2', host: 'pgsql-replica-2', port: 5433 },
];
const keys = keysFor('/pg-failover', 'main');
const published: Published = { name: 'pgsql', host: 'pgsql', port: 5432, epoch: 3, timeline: 3, since: '2026-11-29T08:00:00.000Z' };
const journal = {
  id: 'op',
  kind: 'failover',
  from: 'pgsql',
  to: 'replica-1',
  epoch: 4,
  reason: 'r',
  requestedBy: 'agent-1',
  startedAt: 1,
  updatedAt: 2,
  step: 'promote',
  completed: [{ step: 'fence-old', at: 1, ms: 1 }],
} as Journal;

describe('publishedProblem', () => {
  it('is null for a node of the config at its host and port', () => {
    expect(publishedProblem(published, nodes)).toBeNull();
    expect(publishedProblem({ ...published, name: 'replica-2', host: 'pgsql-replica-2', port: 5433 }, nodes)).toBeNull();
  });
  it.each([
    ['a node the config does not have', { name: 'intruder', host: 'intruder' }, /names intruder, which is not a node of the config/],
    ['a node of the config at another host', { host: '203.0.113.66' }, /pgsql at 203\.0\.113\.66:5432, where the config has pgsql:5432/],
    ['a node of the config at another port', { port: 6543 }, /pgsql at pgsql:6543, where the config has pgsql:5432/],
    ['a replica at the primary host', { name: 'replica-1' }, /replica-1 at pgsql:5432, where the config has pgsql-replica-1:5432/],
  ])('names %s', (_what, change, problem) => {
    expect(publishedProblem({ ...published, ...change }, nodes)).toMatch(problem);
  });
});

describe('journalProblem', () => {
  it('is null when every node it names is in the config', () => {
    expect(journalProblem(journal, nodes)).toBeNull();
    expect(journalProblem({ ...journal, replans: [{ at: 1, abandoned: 'replica-1', to: 'replica-2', why: 'w' }] }, nodes)).toBeNull();
  });
  it.each([
    ['its source', { from: 'intruder' }, /^from: names intruder, which is not a node of the config/],
    ['its target', { to: 'intruder' }, /^to: names intruder/],
    ['a replan', { replans: [{ at: 1, abandoned: 'replica-1', to: 'intruder', why: 'w' }] }, /^replans\.0\.to: names intruder/],
    ['an abandoned target', { replans: [{ at: 1, abandoned: 'ghost', to: 'replica-2', why: 'w' }] }, /^replans\.0\.abandoned: names ghost/],
  ])('names an unknown node as %s', (_what, change, problem) => {
    expect(journalProblem({ ...journal, ...change } as Journal, nodes)).toMatch(problem);
  });
});

describe('checkAgainstConfig', () => {
  const snapshotOf = (primary: unknown, operation: unknown = null) =>
    parseSnapshot(keys, '9', [
      { key: keys.primary, value: encode(primary) },
      ...(operation ? [{ key: keys.journal, value: encode(operation) }] : []),
    ]);

  it('keeps a snapshot whose records name the config nodes as they are', () => {
    const snapshot = snapshotOf(published, journal);
    expect(checkAgainstConfig(snapshot, keys, nodes)).toEqual(snapshot);
  });

  it('moves a primary naming an unknown node to unreadable: never acted on as if absent', () => {
    const checked = checkAgainstConfig(snapshotOf({ ...published, name: 'intruder', host: 'intruder' }), keys, nodes);
    expect(checked.published).toBeNull();
    expect(checked.unreadable).toEqual([{ key: keys.primary, problem: expect.stringMatching(/names intruder/) }]);
  });

  it('moves a journal naming an unknown node to unreadable, and keeps the valid primary', () => {
    const checked = checkAgainstConfig(snapshotOf(published, { ...journal, to: 'intruder', host: '203.0.113.66' }), keys, nodes);
    expect(checked.published).toEqual(published);
    expect(checked.journal).toBeNull();
    expect(checked.unreadable).toEqual([{ key: keys.journal, problem: expect.stringMatching(/^to: names intruder/) }]);
  });

  it('keeps what did not parse in the first place', () => {
    const snapshot = parseSnapshot(keys, '9', [{ key: keys.agent('x'), value: 'garbage{' }]);
    expect(checkAgainstConfig(snapshot, keys, nodes).unreadable).toEqual([{ key: keys.agent('x'), problem: 'not JSON' }]);
  });
});
