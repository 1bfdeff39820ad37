import { describe, expect, it } from 'vitest';
import { decide, type Action, type DecideInput } from '../../../src/core/decide.js';
import { completeStep, startOperation, stepsOf, type Journal } from '../../../src/core/journal.js';
import type { AgentView, NodeObservation } from '../../../src/core/types.js';
import { LAB_HOSTS, LAB_SPECS, MiB, NOW, PRIMARY, TIMINGS, downObs, primaryObs, published, replicaObs, view, advance, syncRecord } from './fixtures.js';

const BASE = 0x10000000n;
const healthyReplicas = [replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE - 10n })];
const orphans = [
  replicaObs('replica-1', { lsn: BASE, streaming: false }),
  replicaObs('replica-2', { lsn: BASE - 10n, streaming: false }),
];
const killed = downObs(PRIMARY, { container: 'exited', silentForMs: 100 });
/** Published before every probe of these cases (the fixtures' clock starts at 1970). */
const publishedLongAgo = published({ since: new Date(0).toISOString() });
const rogue = primaryObs('replica-2', { lsn: BASE + 5n });

function ownView(...nodes: NodeObservation[]): AgentView[] {
  return [view('agent-1', nodes)];
}

function input(overrides: Partial<DecideInput>): DecideInput {
  return {
    now: NOW,
    selfId: 'agent-1',
    isLeader: true,
    paused: false,
    published: published(),
    specs: LAB_SPECS,
    hostsOf: LAB_HOSTS,
    views: ownView(primaryObs(PRIMARY, { lsn: BASE }), ...healthyReplicas),
    journal: null,
    timings: TIMINGS,
    maxLagBytes: 16n * MiB,
    ...overrides,
  };
}

const failoverJournal = startOperation({
  id: 'op-7', kind: 'failover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'primary failed', requestedBy: 'agent-1', now: NOW - 1_000,
});
/** A failover that has promoted replica-1 but not yet published it. */
const promotedNotPublished: Journal = ['fence-old', 'catch-up', 'promote'].reduce<Journal>((journal, step) => {
  const result = completeStep(journal, step as Journal['step'], NOW - 500);
  if (!result.ok) throw new Error(result.reason);
  return result.journal;
}, failoverJournal);
const finishedJournal: Journal = stepsOf('failover').slice(0, -1).reduce<Journal>((journal, step) => {
  const result = completeStep(journal, step, NOW - 500);
  if (!result.ok) throw new Error(result.reason);
  return result.journal;
}, failoverJournal);

/** A failover past its fence, waiting for replica-1 to catch up. */
const fencedFailover = advance(failoverJournal, ['fence-old'], NOW - 900);
const switchoverJournal = startOperation({
  id: 'op-8', kind: 'switchover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'planned switchover to replica-1', requestedBy: 'cli:ops', now: NOW - 1_000,
});
const stoppedSwitchover = advance(switchoverJournal, ['stop-old'], NOW - 900);
const deadTarget = downObs('replica-1', { container: 'exited' });

const fence = (node: string): Action => ({ type: 'fence', node, reason: expect.stringContaining(`${node} accepts writes`) as unknown as string });
const rejoin = (node: string, why: RegExp): Action => ({ type: 'rejoin', node, reason: expect.stringMatching(why) as unknown as string });

describe('decide', () => {
  it.each<{ rule: string; by: string; input: DecideInput; actions: Action[]; notes?: Array<string | RegExp>; verdict?: string | null }>([
    // Who may act.
    {
      rule: 'a follower computes the verdict but takes no action',
      by: 'follower-observes',
      input: input({ isLeader: false, views: ownView(killed, ...orphans, rogue) }),
      actions: [],
      verdict: 'failed',
    },
    {
      rule: 'a leader with a stale view of its own holds',
      by: 'hold-without-own-view',
      input: input({ views: [view('agent-1', [killed, ...orphans], NOW - 60_000)] }),
      actions: [],
      notes: [/holding: our own view is 60000 ms old/],
      verdict: 'unknown',
    },
    {
      rule: 'a leader without a view of its own only resumes its journal',
      by: 'hold-without-own-view',
      input: input({ views: [], journal: failoverJournal }),
      actions: [{ type: 'resume', journal: failoverJournal }],
      notes: [/no view of our own/],
    },
    // Values read from etcd are input: one the decision needs that does not parse holds it.
    {
      rule: 'an unreadable published primary or journal holds everything, failover included',
      by: 'hold-unreadable-state',
      input: input({ views: ownView(killed, ...orphans), unreadable: ['/pg-failover/main/primary: port: expected number'] }),
      actions: [],
      notes: [/^holding: unreadable \/pg-failover\/main\/primary: port/],
    },
    {
      rule: 'a read-only published primary: no failover and no rebuild, and status says why and what a person can do',
      by: 'published-primary-read-only',
      input: input({ published: publishedLongAgo, views: ownView(replicaObs(PRIMARY, { streaming: false }), replicaObs('replica-1', { streaming: false }), replicaObs('replica-2', { streaming: false })) }),
      actions: [],
      notes: [/^primary pgsql answers but is in recovery .*; failover promote <node> --force fails over to a replica/],
      verdict: 'read-only',
    },
    // Journal: finish what was started before deciding anything new.
    {
      rule: 'an unfinished journal is resumed and nothing new is decided',
      by: 'resume-operation',
      input: input({ views: ownView(killed, ...orphans), journal: failoverJournal }),
      actions: [{ type: 'resume', journal: failoverJournal }],
    },
    {
      rule: 'a rogue primary that appears during an operation is fenced first, not after the operation ends',
      by: 'resume-operation',
      input: input({ views: ownView(killed, replicaObs('replica-1'), rogue), journal: failoverJournal }),
      actions: [fence('replica-2'), { type: 'resume', journal: failoverJournal }],
    },
    {
      rule: 'the journal\'s promoted-but-unpublished target is not fenced',
      by: 'resume-operation',
      input: input({ views: ownView(killed, primaryObs('replica-1'), replicaObs('replica-2', { streaming: false })), journal: promotedNotPublished }),
      actions: [{ type: 'resume', journal: promotedNotPublished }],
    },
    // Every operation can end (issue 12, item 3).
    {
      rule: 'a failover whose target died after the fence continues with the other replica',
      by: 'replan-failover',
      input: input({ views: ownView(killed, deadTarget, replicaObs('replica-2', { lsn: BASE - 10n, streaming: false })), journal: fencedFailover }),
      actions: [{ type: 'replan', journal: expect.objectContaining({ to: 'replica-2', step: 'catch-up', completed: fencedFailover.completed, replans: [expect.objectContaining({ abandoned: 'replica-1', to: 'replica-2' })] }) as unknown as Journal, why: expect.stringMatching(/^the target replica-1 is down \(container exited\); replica-2 takes over the failover$/) as unknown as string }],
    },
    {
      rule: 'a failover whose step has failed for longer than the step deadline gives up its target, even a running one',
      by: 'replan-failover',
      input: input({ now: NOW + 30_000, views: [view('agent-1', [killed, ...orphans], NOW + 30_000)], journal: { ...fencedFailover, error: 'promote: still in recovery' } }),
      actions: [{ type: 'replan', journal: expect.objectContaining({ to: 'replica-2', step: 'catch-up' }) as unknown as Journal, why: expect.stringMatching(/^step catch-up has failed for 30900 ms \(deadline 20000 ms\): promote: still in recovery/) as unknown as string }],
    },
    {
      rule: 'a failing step within the deadline is retried',
      by: 'resume-operation',
      input: input({ views: ownView(killed, ...orphans), journal: { ...fencedFailover, error: 'catch-up: connection refused' } }),
      actions: [{ type: 'resume', journal: { ...fencedFailover, error: 'catch-up: connection refused' } }],
    },
    {
      rule: 'a failover whose target died with no other safe candidate keeps trying and says why',
      by: 'resume-operation',
      input: input({ views: ownView(killed, deadTarget, downObs('replica-2', { container: 'exited' })), journal: fencedFailover }),
      actions: [{ type: 'resume', journal: fencedFailover }],
      notes: [/^operation stuck at catch-up: the target replica-1 is down \(container exited\); no other target: .*replica-2 unreachable/],
    },
    {
      rule: 'a published failover only rolls forward, whatever happens to its new primary',
      by: 'resume-operation',
      input: input({ views: ownView(killed, deadTarget, replicaObs('replica-2', { streaming: false })), journal: advance(fencedFailover, ['catch-up', 'promote', 'verify-write', 'publish'], NOW - 100) }),
      actions: [{ type: 'resume', journal: advance(fencedFailover, ['catch-up', 'promote', 'verify-write', 'publish'], NOW - 100) }],
    },
    {
      rule: 'a switchover whose target died is undone: the old primary comes back',
      by: 'roll-back-switchover',
      input: input({ views: ownView(downObs(PRIMARY, { container: 'exited' }), deadTarget, replicaObs('replica-2', { streaming: false })), journal: stoppedSwitchover }),
      actions: [{ type: 'replan', journal: expect.objectContaining({ step: 'fence-target', to: 'replica-1', rollback: { at: NOW, why: 'the target replica-1 is down (container exited)', targetPromoted: false } }) as unknown as Journal, why: 'switchover rolled back: the target replica-1 is down (container exited)' }],
    },
    {
      rule: 'a switchover stuck at catch-up past the deadline (the target lacks the old primary\'s last WAL) is undone',
      by: 'roll-back-switchover',
      input: input({ now: NOW + 30_000, views: [view('agent-1', [downObs(PRIMARY, { container: 'exited' }), ...orphans], NOW + 30_000)], journal: { ...stoppedSwitchover, error: 'catch-up: replica-1 received only up to 0/3000000' } }),
      actions: [{ type: 'replan', journal: expect.objectContaining({ step: 'fence-target', rollback: expect.objectContaining({ targetPromoted: false }) }) as unknown as Journal, why: expect.stringMatching(/^switchover rolled back: step catch-up has failed for 30900 ms/) as unknown as string }],
    },
    {
      rule: 'a switchover whose old primary was found down, not cleanly stopped, becomes a failover to the same target',
      by: 'switchover-becomes-failover',
      input: input({ views: ownView(downObs(PRIMARY, { container: 'exited' }), ...orphans), journal: { ...switchoverJournal, error: 'stop-old: pgsql did not shut down cleanly', oldPrimaryUnclean: true } }),
      actions: [{ type: 'replan', journal: expect.objectContaining({ kind: 'failover', to: 'replica-1', step: 'fence-old' }) as unknown as Journal, why: 'the old primary pgsql went down before it stopped cleanly (pg_control: not shut down): the switchover continues as a failover to replica-1' }],
    },
    {
      rule: 'a publication time in the future (a clock ahead, a bad value in etcd) does not hold off the failover',
      by: 'failed-failover',
      input: input({ published: published({ since: new Date(NOW + 3_600_000).toISOString() }), views: ownView(killed, ...orphans) }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-1', reason: expect.stringContaining('exited') as unknown as string, position: BASE }],
    },
    {
      rule: 'a finished journal no longer holds decisions back',
      by: 'failed-failover',
      input: input({ views: ownView(killed, ...orphans), journal: finishedJournal }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-1', reason: expect.stringContaining('exited') as unknown as string, position: BASE }],
    },
    // Bootstrap.
    {
      rule: 'nothing published and exactly one primary: bootstrap it',
      by: 'bootstrap-single-primary',
      input: input({ published: null }),
      actions: [{ type: 'bootstrap', node: PRIMARY }],
      verdict: null,
    },
    {
      rule: 'nothing published and no primary: a note, no action',
      by: 'bootstrap-no-primary',
      input: input({ published: null, views: ownView(downObs(PRIMARY), ...healthyReplicas) }),
      actions: [],
      notes: [/no reachable node runs as a primary/],
    },
    {
      rule: 'nothing published and two primaries: never guess',
      by: 'bootstrap-refuse-several',
      input: input({ published: null, views: ownView(primaryObs(PRIMARY), replicaObs('replica-1'), rogue) }),
      actions: [],
      notes: [/2 nodes run as primaries \(pgsql, replica-2\): refusing to choose/],
    },
    {
      rule: 'nothing published: a primary whose container is not running is not bootstrapped',
      by: 'bootstrap-no-primary',
      input: input({ published: null, views: ownView(primaryObs(PRIMARY, { container: 'paused' }), ...healthyReplicas) }),
      actions: [],
      notes: [/no reachable node/],
    },
    // Rule 1: one writable primary.
    {
      rule: 'a rogue second primary is fenced',
      by: 'healthy',
      input: input({ views: ownView(primaryObs(PRIMARY), replicaObs('replica-1'), rogue) }),
      actions: [fence('replica-2')],
      verdict: 'healthy',
    },
    {
      rule: 'a rogue second primary is fenced even while paused',
      by: 'healthy',
      input: input({ paused: true, views: ownView(primaryObs(PRIMARY), replicaObs('replica-1'), rogue) }),
      actions: [fence('replica-2')],
    },
    {
      rule: 'a rogue is fenced alongside the failover, and is not the candidate',
      by: 'failed-failover',
      input: input({ views: ownView(killed, orphans[0]!, rogue) }),
      actions: [fence('replica-2'), { type: 'failover', from: PRIMARY, to: 'replica-1', reason: expect.any(String) as unknown as string, position: BASE }],
    },
    // Failover.
    {
      rule: 'a killed primary fails over to the most advanced replica',
      by: 'failed-failover',
      input: input({ views: ownView(killed, ...orphans) }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-1', reason: "primary pgsql's container is exited", position: BASE }],
      verdict: 'failed',
    },
    {
      rule: 'in synchronous mode the member of the recorded set is chosen, not the first name on equal position',
      by: 'failed-failover',
      input: input({ sync: syncRecord(['replica-2']), views: ownView(killed, replicaObs('replica-1', { lsn: BASE, streaming: false }), replicaObs('replica-2', { lsn: BASE, streaming: false })) }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-2', reason: expect.any(String) as unknown as string, position: BASE }],
    },
    {
      rule: 'synchronous mode, ANY 1 of two members, one of them down: no failover, the note names the missing member',
      by: 'failed-awaiting-sync-quorum',
      input: input({ sync: syncRecord(['replica-1', 'replica-2']), views: ownView(killed, replicaObs('replica-1', { lsn: BASE + MiB, streaming: false }), downObs('replica-2', { container: 'exited' })) }),
      actions: [],
      notes: [/failover waits: waiting for the synchronous standbys: 1 of the 2 recorded .*replica-2 may hold the last acknowledged commit/],
    },
    {
      rule: 'synchronous mode, ANY 1 of two members, both seen: the most advanced of them',
      by: 'failed-failover',
      input: input({ sync: syncRecord(['replica-1', 'replica-2']), views: ownView(killed, replicaObs('replica-1', { lsn: BASE, streaming: false }), replicaObs('replica-2', { lsn: BASE + MiB, streaming: false })) }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-2', reason: expect.any(String) as unknown as string, position: BASE + MiB }],
    },
    {
      rule: 'every replica too far behind the published lastLsn: refusal noted, no failover',
      by: 'failed-no-safe-candidate',
      input: input({ published: published({ lastLsn: String(BASE + 48n * MiB) }), views: ownView(killed, ...orphans) }),
      actions: [],
      notes: [/failover refused: no safe candidate: every replica is further than 16 MiB behind .*replica-1 48 MiB/],
    },
    {
      rule: 'an unreadable published lastLsn is treated as unknown',
      by: 'failed-failover',
      input: input({ published: published({ lastLsn: '0/3000000' }), views: ownView(killed, ...orphans) }),
      actions: [{ type: 'failover', from: PRIMARY, to: 'replica-1', reason: expect.any(String) as unknown as string, position: BASE }],
    },
    {
      rule: 'paused: a failed primary is noted, not failed over',
      by: 'failed-while-paused',
      input: input({ paused: true, views: ownView(killed, ...orphans) }),
      actions: [],
      notes: [/^paused: automatic failover suspended/],
      verdict: 'failed',
    },
    {
      rule: 'a replica still hearing the primary is a partition: noted, no failover',
      by: 'primary-in-doubt',
      input: input({ views: ownView(downObs(PRIMARY), replicaObs('replica-1', { receiptAgeMs: 400 }), orphans[1]!) }),
      actions: [],
      notes: [/replica-1 heard from primary pgsql 400 ms ago/],
      verdict: 'partition',
    },
    {
      rule: 'a minority of agents seeing the primary down: noted, no failover',
      by: 'primary-in-doubt',
      input: input({ views: [view('agent-1', [downObs(PRIMARY), ...orphans]), view('agent-2', [primaryObs(), ...healthyReplicas]), view('agent-3', [primaryObs(), ...healthyReplicas])] }),
      actions: [],
      notes: [/only 1 of 3 live agents/],
      verdict: 'suspect',
    },
    // Rejoin.
    {
      rule: 'a healthy cluster needs nothing',
      by: 'healthy',
      input: input({}),
      actions: [],
      notes: [],
      verdict: 'healthy',
    },
    {
      rule: 'a returning old primary on an older timeline, not streaming, is rejoined',
      by: 'healthy',
      input: input({
        published: published({ name: 'replica-1', host: 'pgsql-replica-1', epoch: 2, timeline: 2 }),
        views: ownView(replicaObs(PRIMARY, { timeline: 1, streaming: false }), primaryObs('replica-1', { timeline: 2 }), replicaObs('replica-2', { timeline: 2, upstreamHost: 'pgsql-replica-1' })),
      }),
      actions: [rejoin(PRIMARY, /timeline 1, behind the published timeline 2/)],
    },
    {
      rule: 'a replica on an older timeline that streams from the new primary is left to follow the switch',
      by: 'healthy',
      input: input({
        published: published({ name: 'replica-1', host: 'pgsql-replica-1', epoch: 2, timeline: 2 }),
        views: ownView(downObs(PRIMARY, { container: 'exited' }), primaryObs('replica-1', { timeline: 2 }), replicaObs('replica-2', { timeline: 1, upstreamHost: 'pgsql-replica-1' })),
      }),
      actions: [],
    },
    {
      rule: 'an older timeline alone is not enough while the replica still streams (from another host)',
      by: 'healthy',
      input: input({
        published: published({ name: 'replica-1', host: 'pgsql-replica-1', epoch: 2, timeline: 2 }),
        views: ownView(downObs(PRIMARY, { container: 'exited' }), primaryObs('replica-1', { timeline: 2 }), replicaObs('replica-2', { timeline: 1, upstreamHost: 'pgsql-replica-3' })),
      }),
      actions: [],
    },
    {
      rule: 'a replica cut off for longer than the failure time is rejoined',
      by: 'healthy',
      input: input({ views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: 15_000 })) }),
      actions: [rejoin('replica-2', /replica-2 is not streaming, not from primary pgsql, for 15000 ms/)],
    },
    {
      rule: 'a replica cut off only briefly is left to reconnect',
      by: 'healthy',
      input: input({ views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: 3_000 })) }),
      actions: [],
    },
    {
      rule: 'a replica not streaming for an unknown time is left alone',
      by: 'healthy',
      input: input({ views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: null })) }),
      actions: [],
    },
    {
      rule: 'the streaming watch measures how long a replica has been cut off',
      by: 'healthy',
      input: input({
        views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: null })),
        streamingWatch: { primary: PRIMARY, notStreamingSince: { 'replica-2': NOW - 20_000 } },
      }),
      actions: [rejoin('replica-2', /for 20000 ms/)],
    },
    {
      rule: 'the streaming watch also catches a replica streaming from the wrong host',
      by: 'healthy',
      input: input({
        views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { upstreamHost: 'pgsql-replica-1' })),
        streamingWatch: { primary: PRIMARY, notStreamingSince: { 'replica-2': NOW - 20_000 } },
      }),
      actions: [rejoin('replica-2', /streams from pgsql-replica-1, not from primary pgsql/)],
    },
    {
      rule: 'a watch kept for a previous primary says nothing about the new one',
      by: 'healthy',
      input: input({
        views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: null })),
        streamingWatch: { primary: 'replica-1', notStreamingSince: { 'replica-2': NOW - 20_000 } },
      }),
      actions: [],
    },
    {
      rule: 'the published primary is never rejoined (in recovery, it is read-only: a rule of its own)',
      by: 'published-primary-read-only',
      input: input({ published: publishedLongAgo, views: ownView(replicaObs(PRIMARY, { streaming: false, timeline: 0, receiptAgeMs: 60_000 }), ...healthyReplicas) }),
      actions: [],
    },
    {
      rule: 'a replica whose container is not running is not rejoined',
      by: 'healthy',
      input: input({ views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { container: 'restarting', streaming: false, receiptAgeMs: 60_000 })) }),
      actions: [],
    },
    {
      rule: 'replicas are not rebuilt while the primary is in doubt',
      by: 'primary-in-doubt',
      input: input({ views: ownView(downObs(PRIMARY, { silentForMs: 2_000 }), ...orphans.map((o) => ({ ...o, sql: { ...o.sql, receiptAgeMs: 60_000 } } as NodeObservation))) }),
      actions: [],
      verdict: 'suspect',
    },
    {
      rule: 'paused: a replica that needs a rejoin is noted, not rebuilt',
      by: 'healthy-rejoin-paused',
      input: input({ paused: true, views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: 15_000 })) }),
      actions: [],
      notes: [/^paused: would rejoin replica-2/],
    },
  ])('$rule ($by)', ({ by, input: decideInput, actions, notes, verdict }) => {
    const decision = decide(decideInput);
    expect(decision.actions).toEqual(actions);
    if (notes !== undefined) {
      expect(decision.notes).toHaveLength(notes.length);
      notes.forEach((note, i) => expect(decision.notes[i]).toMatch(note));
    }
    if (verdict !== undefined) expect(decision.verdict?.kind ?? null).toBe(verdict);
    expect(decision.rule).toBe(by);
  });

  it('hands back a streaming watch that remembers when a replica stopped streaming', () => {
    const first = decide(input({ views: ownView(primaryObs(), healthyReplicas[0]!, replicaObs('replica-2', { streaming: false, receiptAgeMs: null })) }));
    expect(first.streamingWatch).toEqual({ primary: PRIMARY, notStreamingSince: { 'replica-2': NOW } });
    const later = NOW + TIMINGS.failureTimeMs + 1;
    const second = decide(input({
      now: later,
      views: [view('agent-1', [primaryObs(PRIMARY, { at: later }), replicaObs('replica-1', { at: later }), replicaObs('replica-2', { at: later, streaming: false, receiptAgeMs: null })], later)],
      streamingWatch: first.streamingWatch,
    }));
    expect(second.actions).toEqual([rejoin('replica-2', /for 10001 ms/)]);
  });
});

describe('decide: the write endpoint and promote requests', () => {
  it.each<{ rule: string; journal: Journal | null; hold: boolean; by: string }>([
    { rule: 'no operation: writes go to the published primary', journal: null, hold: false, by: 'route-writes-to-published' },
    { rule: 'an operation before its publication holds writes', journal: promotedNotPublished, hold: true, by: 'hold-writes-until-published' },
    { rule: 'a finished operation holds nothing', journal: finishedJournal, hold: false, by: 'route-writes-to-published' },
  ])('$rule ($by)', ({ journal, hold, by }) => {
    expect(decide(input({ journal, views: ownView(killed, primaryObs('replica-1'), replicaObs('replica-2')) })).writeEndpoint).toEqual({ hold, rule: by });
  });

  it.each<{ rule: string; input: DecideInput; expected: unknown }>([
    { rule: 'no request: nothing to judge', input: input({ request: null }), expected: null },
    { rule: 'a follower does not judge requests', input: input({ isLeader: false, request: { target: 'replica-1', force: false } }), expected: null },
    {
      rule: 'a healthy primary and a streaming target: a planned switchover is accepted',
      input: input({ request: { target: 'replica-1', force: false } }),
      expected: { rule: 'promote-request-accepted', plan: { ok: true, kind: 'switchover', from: PRIMARY, to: 'replica-1', reason: 'planned switchover to replica-1' } },
    },
    {
      rule: 'a dead primary: a manual failover to the named node is accepted (the automatic one is not chosen this tick)',
      input: input({ paused: true, views: ownView(killed, ...orphans), request: { target: 'replica-2', force: false } }),
      expected: { rule: 'promote-request-accepted', plan: { ok: true, kind: 'failover', from: PRIMARY, to: 'replica-2', reason: expect.stringMatching(/^manual failover: /) } },
    },
    { rule: 'the current primary is refused', input: input({ request: { target: PRIMARY, force: false } }), expected: { rule: 'promote-request-refused', reason: `${PRIMARY} is already the primary (epoch 1)` } },
    { rule: 'an unknown node is refused', input: input({ request: { target: 'replica-9', force: false } }), expected: { rule: 'promote-request-refused', reason: expect.stringMatching(/^unknown node replica-9/) } },
    { rule: 'nothing published: refused', input: input({ published: null, request: { target: 'replica-1', force: false } }), expected: { rule: 'promote-request-refused', reason: 'no primary is published yet' } },
    { rule: 'an operation under way: deferred', input: input({ journal: failoverJournal, request: { target: 'replica-1', force: false } }), expected: { rule: 'promote-request-deferred' } },
    { rule: 'an automatic failover this tick: deferred', input: input({ views: ownView(killed, ...orphans), request: { target: 'replica-2', force: false } }), expected: { rule: 'promote-request-deferred' } },
    { rule: 'a stale view of its own: deferred', input: input({ views: [view('agent-1', [primaryObs(), ...healthyReplicas], NOW - 60_000)], request: { target: 'replica-1', force: false } }), expected: { rule: 'promote-request-deferred' } },
    { rule: 'unreadable state: deferred', input: input({ unreadable: ['primary: bad'], request: { target: 'replica-1', force: false } }), expected: { rule: 'promote-request-deferred' } },
  ])('$rule', ({ input: decideInput, expected }) => {
    expect(decide(decideInput).request).toEqual(expected);
  });
});
