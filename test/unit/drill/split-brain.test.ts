import { describe, expect, it } from 'vitest';
import { splitBrainOverlaps, writablePeriods, type NodeAnswer, type Sample } from '../../../src/drill/split-brain.js';

/**
 * A recorded timeline, one row per sample: `at` then each node's answer in the order
 * pgsql, replica-1, replica-2 (W writable, R read-only, D down, F frozen, ? no answer).
 */
function timeline(rows: Array<[number, string]>): Sample[] {
  const letter: Record<string, NodeAnswer> = { W: 'writable', R: 'read-only', D: 'down', F: 'frozen', '?': 'unknown' };
  const nodes = ['pgsql', 'replica-1', 'replica-2'];
  return rows.map(([at, answers]) => ({ at, answers: Object.fromEntries(nodes.map((n, i) => [n, letter[answers[i]!]!])) }));
}

describe('split-brain detector on recorded timelines', () => {
  it('a clean failover: the old primary dies, then a replica is promoted', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, 'WRR'],
      [40, '?RR'], // killed
      [60, 'DRR'],
      [900, 'DWR'], // promoted
      [920, 'DWR'],
      [4000, 'RWR'], // the old primary back as a replica
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([]);
    expect(writablePeriods(samples)).toEqual([
      { node: 'pgsql', from: 0, to: 20 },
      { node: 'replica-1', from: 900, to: 4000 },
    ]);
  });

  it('two nodes writable in the same sample', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, 'WWR'],
      [40, 'DWR'],
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([{ nodes: ['pgsql', 'replica-1'], from: 20, to: 20 }]);
  });

  it('writable in alternate samples only (each probe of the other timed out): still split brain', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, 'W?R'],
      [40, '?WR'],
      [60, 'W?R'],
      [80, 'DWR'],
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([{ nodes: ['pgsql', 'replica-1'], from: 40, to: 60 }]);
  });

  it('a frozen primary that is fenced while frozen never overlaps its successor', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, '?RR'], // paused
      [3000, '?RR'],
      [5000, '?WR'], // promoted; the frozen one was killed first
      [5020, 'DWR'],
      [9000, 'RWR'],
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([]);
  });

  it('a frozen primary that answers as a primary after its successor was promoted is split brain', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, '?RR'],
      [5000, '?WR'],
      [5200, 'WWR'], // un-frozen before it was fenced
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([{ nodes: ['pgsql', 'replica-1'], from: 5000, to: 5200 }]);
  });

  it('a planned switchover and back: a node seen read-only in between starts a new period', () => {
    const samples = timeline([
      [0, 'WRR'],
      [100, 'RRR'],
      [200, 'RWR'],
      [300, 'RRR'],
      [400, 'WRR'],
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([]);
    expect(writablePeriods(samples).map((p) => p.node)).toEqual(['pgsql', 'replica-1', 'pgsql']);
  });

  it('three writable nodes give every pair', () => {
    expect(splitBrainOverlaps(timeline([[0, 'WWW']])).map((o) => o.nodes)).toEqual([
      ['pgsql', 'replica-1'],
      ['pgsql', 'replica-2'],
      ['replica-1', 'replica-2'],
    ]);
  });

  it('a primary seen frozen (its container paused) ends its period; writable again while its successor is: split brain', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, 'FRR'], // paused: seen through Docker
      [5000, 'FWR'],
      [5200, 'WWR'], // unpaused before it was fenced
    ]);
    expect(writablePeriods(samples)).toEqual([
      { node: 'pgsql', from: 0, to: 0 },
      { node: 'replica-1', from: 5000, to: 5200 },
      { node: 'pgsql', from: 5200, to: 5200 },
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([{ nodes: ['replica-1', 'pgsql'], from: 5200, to: 5200 }]);
  });

  it('a frozen primary fenced while frozen, back as a replica: no split brain', () => {
    const samples = timeline([
      [0, 'WRR'],
      [20, 'FRR'],
      [4000, 'DRR'], // killed by the fence
      [4300, 'DWR'],
      [9000, 'RWR'], // started again, rebuilt as a replica
    ]);
    expect(splitBrainOverlaps(samples)).toEqual([]);
  });

  it('samples that name one node each (one monitor loop per node) are judged like whole ones', () => {
    const samples: Sample[] = [
      { at: 0, answers: { pgsql: 'writable' } },
      { at: 5, answers: { 'replica-1': 'read-only' } },
      { at: 100, answers: { 'replica-1': 'writable' } },
      { at: 120, answers: { pgsql: 'writable' } }, // still a primary after the promotion
      { at: 140, answers: { pgsql: 'down' } },
    ];
    expect(splitBrainOverlaps(samples)).toEqual([{ nodes: ['pgsql', 'replica-1'], from: 100, to: 100 }]);
  });
});
