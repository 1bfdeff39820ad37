import { describe, expect, it } from 'vitest';
import { rejoinRecordSchema, type RejoinRecord } from '../../../src/dcs/rejoins.js';
import { renderRejoins, rejoinStatuses } from '../../../src/status/rejoin-status.js';

const NOW = Date.parse('2026-11-29T18:00:00Z');
const record = (over: Partial<RejoinRecord> = {}): RejoinRecord => ({
  node: 'replica-2', method: 'clone', source: 'pgsql', epoch: 4, state: 'running', failed: [], startedAt: '2026-11-29T17:59:00Z', at: '2026-11-29T17:59:58Z', ...over,
});

describe('rejoins in status', () => {
  it('shows a running clone with its progress', () => {
    const [line] = renderRejoins(rejoinStatuses([record({ progress: { phase: 'streaming database files', doneBytes: 300 * 1048576, totalBytes: 1000 * 1048576 } })], NOW));
    expect(line).toBe('rejoin replica-2 by clone from pgsql (epoch 4) running since 2026-11-29T17:59:00Z, streaming database files: 300 MB of 1000 MB');
  });

  it('shows a failed or finished one for ten minutes, then drops it; a running one stays', () => {
    const failed = record({ state: 'failed', error: 'exit 75', at: '2026-11-29T17:55:00Z' });
    const old = record({ node: 'replica-1', state: 'done', ms: 900, at: '2026-11-29T17:40:00Z' });
    const stuck = record({ node: 'pgsql', method: 'rewind', source: 'replica-1', at: '2026-11-29T16:00:00Z' });
    const shown = rejoinStatuses([failed, old, stuck], NOW);
    expect(shown.map((r) => r.node)).toEqual(['replica-2', 'pgsql']);
    expect(renderRejoins(shown)[0]).toBe('rejoin replica-2 by clone from pgsql (epoch 4) failed: exit 75');
  });

  it('a finished one says how long it took when that is known, and nothing made up when it is not', () => {
    const lines = renderRejoins(rejoinStatuses([record({ state: 'done', ms: 4300, method: 'rewind' }), record({ node: 'replica-1', state: 'done' })], NOW));
    expect(lines).toEqual(['rejoin replica-2 by rewind from pgsql (epoch 4) done in 4300 ms', 'rejoin replica-1 by clone from pgsql (epoch 4) done']);
  });

  it('a record from etcd is input: a node name that is not one, or an unknown method, does not parse', () => {
    expect(rejoinRecordSchema.safeParse(record()).success).toBe(true);
    expect(rejoinRecordSchema.safeParse({ ...record(), node: 'x\n[databases]' }).success).toBe(false);
    expect(rejoinRecordSchema.safeParse({ ...record(), method: 'teleport' }).success).toBe(false);
    expect(rejoinRecordSchema.safeParse({ ...record(), epoch: 1.5 }).success).toBe(false);
  });
});
