import { describe, expect, it } from 'vitest';
import { encode } from '../../../src/dcs/codec.js';
import { keysFor } from '../../../src/dcs/keys.js';
import { parseSnapshot } from '../../../src/dcs/snapshot.js';

const keys = keysFor('/pg-failover', 'main');
const published = { name: 'pgsql', host: 'pgsql', port: 5432, epoch: 3, timeline: 3, since: '2026-11-29T08:00:00.000Z' };
const view = (agentId: string) => ({ agentId, at: 1000, nodes: { pgsql: { name: 'pgsql', container: 'running', sql: { ok: true, inRecovery: false, timeline: 3, lsn: 5n, receiveLsn: null, replayLsn: null, streaming: false, upstreamHost: null, receiptAgeMs: null }, at: 999, lastSqlOkAt: 999 } } });
const journal = { id: 'op', kind: 'failover', from: 'pgsql', to: 'replica-1', epoch: 4, reason: 'r', requestedBy: 'agent-1', startedAt: 1, updatedAt: 2, step: 'promote', completed: [{ step: 'fence-old', at: 1, ms: 1 }, { step: 'catch-up', at: 2, ms: 1 }], targetLsn: '0/3002440' };
const history = (epoch: number) => ({ epoch, from: null, to: 'pgsql', kind: 'bootstrap', reason: 'r', at: 'x', timeline: 1, timings: {}, leader: 'agent-1' });

describe('parseSnapshot', () => {
  it('reads every key of the cluster into its typed field, history newest first, LSNs as bigints', () => {
    const snapshot = parseSnapshot(keys, '42', [
      { key: keys.primary, value: encode(published) },
      { key: keys.leader, value: 'agent-2' },
      { key: keys.paused, value: encode({ since: 's', by: 'cli' }) },
      { key: keys.journal, value: encode(journal) },
      { key: keys.agent('agent-1'), value: encode(view('agent-1')) },
      { key: keys.agent('agent-2'), value: encode(view('agent-2')) },
      { key: keys.history(1), value: encode(history(1)) },
      { key: keys.history(3), value: encode(history(3)) },
    ]);
    expect(snapshot).toMatchObject({ revision: '42', published, leader: 'agent-2', paused: { by: 'cli' }, journal: { step: 'promote' }, unreadable: [] });
    expect(snapshot.views.map((v) => v.agentId)).toEqual(['agent-1', 'agent-2']);
    expect((snapshot.views[0]!.nodes['pgsql']!.sql as { lsn: bigint }).lsn).toBe(5n);
    expect(snapshot.history.map((h) => h.epoch)).toEqual([3, 1]);
  });

  it.each([
    ['a non-JSON agent view is skipped, and named', keys.agent('agent-9'), 'garbage{', /not JSON/],
    ['a primary whose port is text', keys.primary, encode({ ...published, port: '5432' }), /^port: /],
    ['a primary whose host carries a newline and a config line', keys.primary, encode({ ...published, host: 'pgsql\n[databases]' }), /^host: /],
    ['a primary whose epoch holds an injected line', keys.primary, encode({ ...published, epoch: '3\nx = host=evil' }), /^epoch: /],
    ['a journal at an unknown step', keys.journal, encode({ ...journal, step: 'wipe-everything' }), /^step: /],
    ['a journal without its target', keys.journal, encode({ ...journal, to: undefined }), /^to: /],
    ['a journal whose target LSN is not an LSN', keys.journal, encode({ ...journal, targetLsn: '12345' }), /^targetLsn: /],
  ])('%s: reported as unreadable, never used', (_what, key, value, problem) => {
    const snapshot = parseSnapshot(keys, '7', [{ key, value }, { key: keys.agent('agent-1'), value: encode(view('agent-1')) }]);
    expect(snapshot.unreadable).toEqual([{ key, problem: expect.stringMatching(problem) }]);
    expect(snapshot.published).toBeNull();
    expect(snapshot.journal).toBeNull();
    expect(snapshot.views.map((v) => v.agentId)).toEqual(['agent-1']);
  });

  it('reads views as agents write them: a probe that failed, a replica probe with nulls, an older agent without replayLagMs', () => {
    const probes = {
      pgsql: { name: 'pgsql', containerName: 'pgsql', container: 'running', sql: { ok: true, inRecovery: false, timeline: 2, lsn: 50n, receiveLsn: null, replayLsn: null, streaming: false, upstreamHost: null, receiptAgeMs: null, replayLagMs: null }, at: 999, lastSqlOkAt: 999 },
      'replica-1': { name: 'replica-1', container: 'running', sql: { ok: true, inRecovery: true, timeline: 2, lsn: 40n, receiveLsn: 41n, replayLsn: 40n, streaming: true, upstreamHost: 'pgsql', receiptAgeMs: 12 }, at: 999, lastSqlOkAt: 999 },
      'replica-2': { name: 'replica-2', container: 'exited', sql: { ok: false, error: 'connect ECONNREFUSED' }, at: 999, lastSqlOkAt: null },
    };
    const snapshot = parseSnapshot(keys, '5', [{ key: keys.agent('agent-1'), value: encode({ agentId: 'agent-1', at: 1000, nodes: probes }) }]);
    expect(snapshot.unreadable).toEqual([]);
    expect(snapshot.views[0]!.nodes['replica-1']!.sql).toMatchObject({ receiveLsn: 41n, replayLsn: 40n });
  });

  it.each([
    ['an LSN that is not a number', { lsn: 'zero' }, /lsn/],
    ['a timeline that is text', { timeline: 'two' }, /timeline/],
    ['a receive position that is not a number', { receiveLsn: 'x' }, /receiveLsn/],
    ['an upstream host that is not text', { upstreamHost: 5 }, /upstreamHost/],
  ])('a view whose probe has %s is unreadable: the core computes with these', (_what, change, problem) => {
    const sql = { ok: true, inRecovery: true, timeline: 2, lsn: 40n, receiveLsn: 41n, replayLsn: 40n, streaming: true, upstreamHost: 'pgsql', receiptAgeMs: 12, ...change };
    const bad = { agentId: 'agent-9', at: 1000, nodes: { 'replica-1': { name: 'replica-1', container: 'running', sql, at: 999, lastSqlOkAt: 999 } } };
    const snapshot = parseSnapshot(keys, '5', [{ key: keys.agent('agent-9'), value: encode(bad) }, { key: keys.agent('agent-1'), value: encode(view('agent-1')) }]);
    expect(snapshot.unreadable).toEqual([{ key: keys.agent('agent-9'), problem: expect.stringMatching(problem) }]);
    expect(snapshot.views.map((v) => v.agentId)).toEqual(['agent-1']);
  });

  it('names a key with control characters in it escaped, so a log line or status stays one line', () => {
    const snapshot = parseSnapshot(keys, '5', [{ key: `${keys.agentsPrefix}x\n[databases]`, value: 'garbage' }]);
    expect(snapshot.unreadable).toEqual([{ key: `${keys.agentsPrefix}x\\n[databases]`, problem: 'not JSON' }]);
  });

  it.each(['pg-failover_pgsql_1', '10.77.0.11', '[fd00::11]'])('a published host a config may name (%s) is read', (host) => {
    const snapshot = parseSnapshot(keys, '3', [{ key: keys.primary, value: encode({ ...published, host }) }]);
    expect(snapshot.unreadable).toEqual([]);
    expect(snapshot.published?.host).toBe(host);
  });

  it('ignores keys it does not know (events, results, other clusters never reach it)', () => {
    const snapshot = parseSnapshot(keys, '1', [{ key: `${keys.root}/results/x`, value: '{}' }]);
    expect(snapshot.unreadable).toEqual([]);
    expect(snapshot.published).toBeNull();
  });
});
