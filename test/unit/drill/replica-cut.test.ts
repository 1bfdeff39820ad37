import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../../src/core/event.js';
import { eventId } from '../../../src/core/event.js';
import { judgeReplicaCut, type ReplicaCutFacts } from '../../../src/drill/fault-replica-cut.js';
import { renderTable, shownFigures, summarise } from '../../../src/drill/report.js';
import type { RoundResult } from '../../../src/drill/round.js';

const event = (overrides: Partial<ClusterEvent> & Record<string, unknown>): ClusterEvent =>
  ({ id: eventId(1_000, 'abcdef'), at: new Date(1_000).toISOString(), kind: 'rejoin', rule: 'healthy', by: 'agent-1', message: 'x', ...overrides }) as ClusterEvent;
const rows = (...seqs: number[]) => new Set(seqs);
const facts = (overrides: Partial<ReplicaCutFacts> = {}): ReplicaCutFacts => ({ replica: 'replica-1', primaryRows: rows(1, 2, 3), replicaRows: rows(1, 2, 3), events: [], ...overrides });

describe('replica-cut: the judge', () => {
  it.each<[string, Partial<ReplicaCutFacts>, RegExp | null]>([
    ['the same rows and no rebuild: it holds', {}, null],
    ['a follow of the cut replica is what is expected', { events: [event({ nodes: ['replica-1', 'pgsql'], method: 'follow', outcome: 'done' })] }, null],
    ['a rebuild of another node is not this round\'s concern', { events: [event({ nodes: ['replica-2', 'pgsql'], method: 'clone', outcome: 'started' })] }, null],
    ['events of other kinds naming the replica do not count', { events: [event({ kind: 'repoint', nodes: ['replica-1'], method: 'clone' })] }, null],
    ['a clone of the cut replica started: fails, naming it', { events: [event({ nodes: ['replica-1', 'pgsql'], method: 'clone', outcome: 'started' })] }, /a clone of replica-1 was started/],
    ['a rewind of the cut replica, even one that failed: fails', { events: [event({ nodes: ['replica-1', 'pgsql'], method: 'rewind', outcome: 'failed' })] }, /a rewind of replica-1/],
    ['an older agent\'s rebuild (no method field, pg_basebackup in the message): fails', { events: [event({ nodes: ['replica-1', 'pgsql'], message: 'rebuilding replica-1 from pgsql with pg_basebackup: not streaming' })] }, /a clone of replica-1/],
    ['an unknown method is not read as a rebuild', { events: [event({ nodes: ['replica-1'], method: 'teleport' as never })] }, null],
    ['a row of the primary missing on the replica: fails', { replicaRows: rows(1, 3) }, /1 of the primary's rows missing \(2\)/],
    ['a row the primary does not hold: fails', { replicaRows: rows(1, 2, 3, 4) }, /1 rows the primary does not hold \(4\)/],
    ['rows that could not be read: fails with the reason', { replicaRows: 'connection refused' }, /could not read the round's rows on replica-1: connection refused/],
  ])('%s', (_, overrides, expected) => {
    const verdict = judgeReplicaCut(facts(overrides));
    if (expected === null) expect(verdict).toBeNull();
    else expect(verdict).toMatch(expected);
  });

  it('a rebuild is named before any difference in rows: it explains the difference', () => {
    const verdict = judgeReplicaCut(facts({ replicaRows: rows(), events: [event({ nodes: ['replica-1'], method: 'clone', outcome: 'started' })] }));
    expect(verdict).toMatch(/clone of replica-1/);
  });
});

describe('replica-cut: its figures in the report', () => {
  const round = (overrides: Partial<RoundResult>): RoundResult => ({ round: 1, scenario: 'replica-cut', from: 'pgsql', to: 'pgsql', epoch: 2, detectMs: null, rtoMs: 5, gapMs: 40, convergeMs: 15_900, rejoinMs: 20, acked: 900, lost: 0, splitBrain: false, observable: true, unobservedMs: {}, ...overrides });

  it('shows cutMs and followMs once a round has them, and summarises them', () => {
    const rounds = [round({ cutMs: 15_000, followMs: 700 }), round({ cutMs: 15_000, followMs: 900 })];
    expect(shownFigures(rounds)).toEqual(expect.arrayContaining(['cutMs', 'followMs']));
    expect(shownFigures([round({})])).not.toContain('followMs');
    const summary = summarise(rounds);
    expect(summary.worst.followMs).toBe(900);
    expect(renderTable('replica-cut', rounds, summary)).toMatch(/followMs/);
  });

  it('shows how the old primary came back only when a round knows it', () => {
    const known = [round({ scenario: 'kill-primary', to: 'replica-1', rejoinMethod: 'rewind' })];
    expect(renderTable('kill-primary', known, summarise(known))).toMatch(/\brejoin\s[\s\S]*rewind/);
    const unknown = [round({ rejoinMethod: null })];
    expect(renderTable('replica-cut', unknown, summarise(unknown))).not.toMatch(/\brejoin\s/);
  });
});
