import { describe, expect, it } from 'vitest';
import { assessPrimary, type PrimaryVerdict } from '../../../src/core/detector.js';
import type { AgentView } from '../../../src/core/types.js';
import { NOW, PRIMARY, PRIMARY_HOSTS, TIMINGS, downObs, primaryObs, replicaObs, view } from './fixtures.js';

// Replicas that lost their primary: no receiver, nothing heard.
const orphan1 = replicaObs('replica-1', { streaming: false });
const orphan2 = replicaObs('replica-2', { streaming: false });
const down = downObs(PRIMARY, { silentForMs: 60_000 });
const up = primaryObs();

const allSeeDown = (...extra: AgentView[]) => [
  view('agent-1', [down, orphan1, orphan2]),
  view('agent-2', [down, orphan1, orphan2]),
  view('agent-3', [down, orphan1, orphan2]),
  ...extra,
];

function assess(views: AgentView[], publishedAt?: number): PrimaryVerdict {
  return assessPrimary({ now: NOW, selfId: 'agent-1', primary: PRIMARY, primaryHosts: PRIMARY_HOSTS, views, timings: TIMINGS, ...(publishedAt === undefined ? {} : { publishedAt }) });
}

describe('assessPrimary right after a promotion', () => {
  it('a probe taken before the publication, which saw the new primary still in recovery, is not read as read-only', () => {
    const probedBefore = replicaObs(PRIMARY, { streaming: false, at: NOW - 200 });
    expect(assess([view('agent-1', [probedBefore])], NOW - 100)).toEqual({ kind: 'healthy' });
    expect(assess([view('agent-1', [replicaObs(PRIMARY, { streaming: false, at: NOW - 50 })])], NOW - 100)).toMatchObject({ kind: 'read-only' });
  });

  // A switchover rolled back re-publishes the old primary, which was stopped a moment ago: what the
  // agents saw of it before that (container exited, SQL silent for seconds) is not news.
  it('a container seen not running before the publication does not fail the primary', () => {
    expect(assess([view('agent-1', [downObs(PRIMARY, { container: 'exited', at: NOW - 200 })])], NOW - 100)).toMatchObject({ kind: 'suspect' });
    expect(assess([view('agent-1', [downObs(PRIMARY, { container: 'exited', at: NOW - 50 })])], NOW - 100)).toMatchObject({ kind: 'failed', cause: 'container-not-running' });
  });

  it('SQL silence counts from the publication at the earliest', () => {
    const silent = (agent: string) => view(agent, [downObs(PRIMARY, { silentForMs: 60_000 })]);
    expect(assess([silent('agent-1'), silent('agent-2'), silent('agent-3')], NOW - 1_000)).toMatchObject({ kind: 'suspect', failingForMs: 1_000 });
    expect(assess([silent('agent-1'), silent('agent-2'), silent('agent-3')], NOW - 20_000)).toMatchObject({ kind: 'failed', cause: 'unreachable', failingForMs: 20_000 });
  });
});

describe('assessPrimary', () => {
  it.each<{ rule: string; views: AgentView[]; expected: Record<string, unknown> }>([
    {
      rule: 'an answering primary is healthy',
      views: [view('agent-1', [up, replicaObs('replica-1')])],
      expected: { kind: 'healthy' },
    },
    {
      rule: 'a published primary that answers in recovery is read-only, not healthy',
      views: [view('agent-1', [replicaObs(PRIMARY, { streaming: false }), replicaObs('replica-1', { streaming: false })])],
      expected: { kind: 'read-only', reason: expect.stringMatching(/^primary pgsql answers but is in recovery \(read-only\): no node accepts writes/) },
    },
    {
      rule: 'our own answer wins over other agents seeing it down',
      views: [view('agent-1', [up]), view('agent-2', [down]), view('agent-3', [down])],
      expected: { kind: 'healthy' },
    },
    {
      rule: 'no view of our own is unknown',
      views: [view('agent-2', [down]), view('agent-3', [down])],
      expected: { kind: 'unknown' },
    },
    {
      rule: 'a primary missing from our view is unknown',
      views: [view('agent-1', [orphan1])],
      expected: { kind: 'unknown' },
    },
    {
      rule: 'a stale view of our own is unknown',
      views: [view('agent-1', [down], NOW - 6_000), view('agent-2', [down]), view('agent-3', [down])],
      expected: { kind: 'unknown' },
    },
    {
      rule: 'a killed container is failed at once, without quorum or failure time',
      views: [
        view('agent-1', [downObs(PRIMARY, { container: 'exited', silentForMs: 100 })]),
        view('agent-2', [up]),
        view('agent-3', [up]),
      ],
      expected: { kind: 'failed', cause: 'container-not-running', failingForMs: 100 },
    },
    {
      rule: 'a killed container is failed even while a replica still reports a recent receipt',
      views: [view('agent-1', [downObs(PRIMARY, { container: 'exited', silentForMs: 100 }), replicaObs('replica-1', { receiptAgeMs: 200 })])],
      expected: { kind: 'failed', cause: 'container-not-running' },
    },
    ...(['dead', 'missing', 'restarting'] as const).map((container) => ({
      rule: `a ${container} container is failed at once`,
      views: [view('agent-1', [downObs(PRIMARY, { container, silentForMs: 100 })]), view('agent-2', [up])],
      expected: { kind: 'failed', cause: 'container-not-running', reason: `primary pgsql's container is ${container}` },
    })),
    {
      rule: 'a paused container is not failed at once: it must wait out the failure time',
      views: [
        view('agent-1', [downObs(PRIMARY, { container: 'paused', silentForMs: 2_000 })]),
        view('agent-2', [downObs(PRIMARY, { container: 'paused', silentForMs: 2_000 })]),
      ],
      expected: { kind: 'suspect', failingForMs: 2_000 },
    },
    {
      rule: 'a paused container is failed as unreachable once silent long enough with a majority',
      views: [
        view('agent-1', [downObs(PRIMARY, { container: 'paused' }), orphan1]),
        view('agent-2', [downObs(PRIMARY, { container: 'paused' }), orphan1]),
      ],
      expected: { kind: 'failed', cause: 'unreachable', failingForMs: 60_000 },
    },
    {
      rule: 'silence shorter than the failure time is only suspect',
      views: [view('agent-1', [downObs(PRIMARY, { silentForMs: 9_999 })])],
      expected: { kind: 'suspect', failingForMs: 9_999 },
    },
    {
      rule: 'silence of exactly the failure time with everyone agreeing is failed',
      views: [view('agent-1', [downObs(PRIMARY, { silentForMs: 10_000 })])],
      expected: { kind: 'failed', cause: 'unreachable', failingForMs: 10_000 },
    },
    {
      rule: 'a lone agent is its own majority (1 of 1)',
      views: [view('agent-1', [down, orphan1, orphan2])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a majority of agents seeing it down is failed (2 of 3)',
      views: [view('agent-1', [down]), view('agent-2', [down]), view('agent-3', [up])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'both of two agents is a majority (2 of 2)',
      views: [view('agent-1', [down]), view('agent-2', [down])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a minority of agents seeing the primary down is no failover (1 of 3)',
      views: [view('agent-1', [down]), view('agent-2', [up]), view('agent-3', [up])],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 3 live agents see primary pgsql down/) },
    },
    {
      rule: 'half is not a majority (1 of 2)',
      views: [view('agent-1', [down]), view('agent-2', [up])],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 2/) },
    },
    {
      rule: 'an agent that has not yet seen the failure time pass does not vote down',
      views: [view('agent-1', [down]), view('agent-2', [downObs(PRIMARY, { silentForMs: 3_000 })]), view('agent-3', [up])],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 3/) },
    },
    {
      rule: 'an agent whose view lacks the primary does not vote down',
      views: [view('agent-1', [down]), view('agent-2', [orphan1])],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 2/) },
    },
    {
      rule: 'an agent that sees the container not running votes down',
      views: [view('agent-1', [down]), view('agent-2', [downObs(PRIMARY, { container: 'exited', silentForMs: 10 })]), view('agent-3', [up])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'stale views are ignored: dissenting stale agents do not block',
      views: [view('agent-1', [down]), view('agent-2', [up], NOW - 5_001), view('agent-3', [up], NOW - 60_000)],
      expected: { kind: 'failed', cause: 'unreachable', reason: expect.stringMatching(/1 of 1 live agents agree/) },
    },
    {
      rule: 'stale views are ignored: agreeing stale agents do not make a majority',
      views: [view('agent-1', [down]), view('agent-2', [up]), view('agent-3', [down], NOW - 5_001)],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 2/) },
    },
    {
      rule: 'a view exactly viewStaleMs old is still live',
      views: [view('agent-1', [down]), view('agent-2', [up], NOW - 5_000)],
      expected: { kind: 'suspect', reason: expect.stringMatching(/only 1 of 2/) },
    },
    {
      rule: 'a replica still receiving WAL from the "dead" primary is a partition, not a failover',
      views: allSeeDown().map((v, i) => (i === 1 ? view(v.agentId, [down, replicaObs('replica-1', { receiptAgeMs: 400 })]) : v)),
      expected: { kind: 'partition', replica: 'replica-1', receiptAgeMs: 400, reason: expect.stringMatching(/replica-1 heard from primary pgsql 400 ms ago/) },
    },
    {
      rule: 'the freshest receipt is reported when several replicas hear the primary',
      views: [view('agent-1', [down, replicaObs('replica-1', { receiptAgeMs: 900 }), replicaObs('replica-2', { receiptAgeMs: 300 })])],
      expected: { kind: 'partition', replica: 'replica-2', receiptAgeMs: 300 },
    },
    {
      rule: 'a replica streaming with an unreported upstream host still proves the primary alive',
      views: [view('agent-1', [down, replicaObs('replica-1', { upstreamHost: null, receiptAgeMs: 400 })])],
      expected: { kind: 'partition', replica: 'replica-1' },
    },
    {
      rule: 'a replica known by the primary\'s other hostname proves the primary alive',
      views: [view('agent-1', [down, replicaObs('replica-1', { upstreamHost: '172.20.0.2', receiptAgeMs: 400 })])],
      expected: { kind: 'partition', replica: 'replica-1' },
    },
    {
      rule: 'a receipt as old as the failure time is no sign of life',
      views: [view('agent-1', [down, replicaObs('replica-1', { receiptAgeMs: 10_000 })])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a receipt is aged by how old its probe is',
      views: [view('agent-1', [down, replicaObs('replica-1', { receiptAgeMs: 3_000, at: NOW - 8_000 })])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a replica streaming from another host proves nothing about the primary',
      views: [view('agent-1', [down, replicaObs('replica-1', { upstreamHost: 'pgsql-replica-2', receiptAgeMs: 100 })])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a replica whose receiver is not streaming proves nothing',
      views: [view('agent-1', [down, replicaObs('replica-1', { streaming: false, receiptAgeMs: 100 })])],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'a receipt seen only in a stale view is ignored',
      views: [view('agent-1', [down]), view('agent-2', [down, replicaObs('replica-1', { receiptAgeMs: 100 })], NOW - 6_000)],
      expected: { kind: 'failed', cause: 'unreachable' },
    },
    {
      rule: 'the partition check comes after the quorum: a minority never reports a partition',
      views: [view('agent-1', [down, replicaObs('replica-1', { receiptAgeMs: 100 })]), view('agent-2', [up]), view('agent-3', [up])],
      expected: { kind: 'suspect' },
    },
    {
      rule: 'never seen answering counts from the oldest view we hold, not from zero',
      views: [view('agent-1', [downObs(PRIMARY, { lastSqlOkAt: null })]), view('agent-2', [downObs(PRIMARY, { lastSqlOkAt: null })], NOW - 2_000)],
      expected: { kind: 'suspect', failingForMs: 2_000 },
    },
  ])('$rule', ({ views, expected }) => {
    expect(assess(views)).toMatchObject(expected);
  });

  it('failed verdicts carry the SQL error so a person can see why', () => {
    const verdict = assess([view('agent-1', [downObs(PRIMARY, { error: 'connect ECONNREFUSED 172.20.0.2:5432' })])]);
    expect(verdict).toMatchObject({ kind: 'failed', reason: expect.stringContaining('ECONNREFUSED') });
  });
});
