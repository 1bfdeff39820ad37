import { describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../../src/config/schema.js';
import { startOperation, completeStep, type Journal } from '../../../src/core/journal.js';
import { requiredOfSecond } from '../../../src/drill/fault-double-failure.js';
import { pastFence } from '../../../src/drill/fault-target-dies.js';
import { describeStanding, streamsOnTimeline, type ReplicationFacts } from '../../../src/drill/node-replication.js';

// The moments the new scenarios wait for, judged on plain values.

function failover(from = 'pgsql', to = 'replica-1'): Journal {
  return startOperation({ id: 'op-1', kind: 'failover', from, to, epoch: 2, reason: 'failed', requestedBy: 'agent-1', now: 1000 });
}

describe('target-dies: the moment after the fence', () => {
  it('is not reached while the fence is the current step', () => {
    expect(pastFence(failover(), 'pgsql')).toBeNull();
  });

  it('is reached once fence-old is recorded, and names the chosen candidate', () => {
    const fenced = completeStep(failover(), 'fence-old', 1100);
    if (!fenced.ok) throw new Error(fenced.reason);
    expect(pastFence(fenced.journal, 'pgsql')).toMatchObject({ to: 'replica-1', step: 'catch-up' });
  });

  it.each<[string, Journal | null]>([
    ['no journal', null],
    ['a failover of another node', (() => { const j = completeStep(failover('replica-2'), 'fence-old', 1100); return j.ok ? j.journal : null; })()],
    ['a switchover', startOperation({ id: 'op-2', kind: 'switchover', from: 'pgsql', to: 'replica-1', epoch: 2, reason: 'asked', requestedBy: 'cli:x', now: 1 })],
  ])('is never reached by %s', (_, journal) => {
    expect(pastFence(journal, 'pgsql')).toBeNull();
  });
});

const b = { name: 'replica-1', container: 'pgsql-replica-1', host: 'pgsql-replica-1' } as NodeConfig;
const streaming: ReplicationFacts = { inRecovery: true, receiverStatus: 'streaming', senderHost: 'pgsql-replica-1', receivedTli: 3, checkpointTli: 2 };

describe('double-failure: C follows B before B dies', () => {
  it.each<[string, ReplicationFacts | null, boolean]>([
    ['streaming from B on B\'s timeline', streaming, true],
    ['streaming from B, still on the old timeline', { ...streaming, receivedTli: 2 }, false],
    ['streaming from another node', { ...streaming, senderHost: 'pgsql' }, false],
    ['receiver not streaming yet', { ...streaming, receiverStatus: 'catchup' }, false],
    ['no receiver', { ...streaming, receiverStatus: null, senderHost: null, receivedTli: null }, false],
    ['a primary', { ...streaming, inRecovery: false }, false],
    ['not answering', null, false],
  ])('%s: %s', (_, facts, expected) => {
    expect(streamsOnTimeline(facts, b, 3)).toBe(expected);
  });

  it('reports how the old primary stood when B died', () => {
    expect(describeStanding(streaming)).toBe('standby streaming from pgsql-replica-1 on timeline 3');
    expect(describeStanding({ ...streaming, receiverStatus: null, senderHost: null, receivedTli: null, checkpointTli: 2 })).toBe('standby not streaming (receiver absent), checkpoint timeline 2');
    expect(describeStanding({ ...streaming, inRecovery: false })).toBe('primary (accepts writes)');
  });

  it('requires every write B acknowledged up to the sync mark, and only those', () => {
    const acks = [
      { seq: 1, node: 'pgsql', at: 10 },
      { seq: 2, node: 'replica-1', at: 20 },
      { seq: 3, node: 'replica-1', at: 30 },
      { seq: 4, node: 'replica-1', at: 31 },
      { seq: 5, node: 'replica-2', at: 40 },
    ];
    expect(requiredOfSecond(acks, 'replica-1', 30).map((a) => a.seq)).toEqual([2, 3]);
  });
});
