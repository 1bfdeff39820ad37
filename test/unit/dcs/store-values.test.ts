import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { encode } from '../../../src/dcs/codec.js';
import { keysFor } from '../../../src/dcs/keys.js';
import { ClusterStore, UnreadableValueError } from '../../../src/dcs/store.js';

// ClusterStore's reads outside the snapshot (the CLI, the HTTP routes, an operation's own
// reads) validate as the snapshot does: a value that does not parse is never handed out.

const keys = keysFor('/pg-failover', 'main');
const published = { name: 'pgsql', host: 'pgsql', port: 5432, epoch: 3, timeline: 3, since: '2026-11-29T08:00:00.000Z' };
const probe = { ok: true, inRecovery: false, timeline: 3, lsn: 5n, receiveLsn: null, replayLsn: null, streaming: false, upstreamHost: null, receiptAgeMs: null };
const view = (agentId: string) => ({ agentId, at: 1000, nodes: { pgsql: { name: 'pgsql', container: 'running', sql: probe, at: 999, lastSqlOkAt: 999 } } });
const history = (epoch: number) => ({ epoch, from: null, to: 'pgsql', kind: 'bootstrap', reason: 'r', at: 'x', timeline: 1, timings: {}, leader: 'agent-1' });

/** Just enough of etcd3's client for ClusterStore's reads. */
function storeOver(values: Record<string, string>): ClusterStore {
  const etcd = {
    get: (key: string) => ({ string: async () => values[key] ?? null }),
    getAll: () => ({
      prefix: (prefix: string) => ({ strings: async () => Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith(prefix))) }),
    }),
  };
  return new ClusterStore(etcd as unknown as Etcd3, keys);
}

describe('ClusterStore reads', () => {
  it('hands out valid values, and null for absent keys', async () => {
    const store = storeOver({ [keys.primary]: encode(published) });
    expect(await store.published()).toEqual(published);
    expect(await store.journal()).toBeNull();
  });

  it.each([
    ['a primary whose epoch holds an injected line', keys.primary, encode({ ...published, epoch: '3\n[databases]\nx = host=evil' }), (s: ClusterStore) => s.published(), /primary does not parse: epoch: /],
    ['a primary that is not JSON', keys.primary, 'garbage{', (s: ClusterStore) => s.published(), /primary does not parse: not JSON/],
    ['a journal at an unknown step', keys.journal, encode({ id: 'x', step: 'wipe' }), (s: ClusterStore) => s.journal(), /journal does not parse/],
    ['a pause that is not JSON', keys.paused, '{', (s: ClusterStore) => s.paused(), /paused does not parse/],
    ['a request without its target', keys.request, encode({ id: 'r', force: false, at: 'a', by: 'b' }), (s: ClusterStore) => s.request(), /request does not parse: target/],
    ['a verdict whose notes are text', keys.verdict, encode({ at: 1, leader: 'a', verdict: 'healthy', notes: 'x' }), (s: ClusterStore) => s.verdict(), /verdict does not parse: notes/],
    ['a result that is not JSON', keys.requestResult('r1'), 'nope', (s: ClusterStore) => s.result('r1'), /results\/r1 does not parse/],
  ])('%s: refused with the key and the problem', async (_what, key, value, read, message) => {
    const error = await read(storeOver({ [key]: value })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreadableValueError);
    expect((error as Error).message).toMatch(message);
    // The value itself is never repeated: it may be anything.
    expect((error as Error).message).not.toContain('evil');
  });

  it('leaves out views and history records that do not parse, keeps the rest', async () => {
    const store = storeOver({
      [keys.agent('agent-1')]: encode(view('agent-1')),
      [keys.agent('intruder')]: 'garbage{',
      [keys.agent('malformed')]: encode({ ...view('malformed'), nodes: { pgsql: { ...view('x').nodes.pgsql, sql: { ...probe, lsn: 'zero' } } } }),
      [keys.history(1)]: encode(history(1)),
      [keys.history(2)]: '{"epoch": 2',
    });
    expect((await store.views()).map((v) => v.agentId)).toEqual(['agent-1']);
    expect((await store.history()).map((h) => h.epoch)).toEqual([1]);
  });
});
