import { describe, expect, it } from 'vitest';
import { asFailover, completeStep, planOf, replanTo, rollBack, startOperation, type Journal } from '../../../src/core/journal.js';
import { lastProgressAt, rerankAfterFence, rescueOf, type RescueInput } from '../../../src/core/operation-rescue.js';
import { LAB_SPECS, MiB, NOW, PRIMARY, downObs, observations, replicaObs, advance } from './fixtures.js';

const BASE = 0x10000000n;
const failover = advance(startOperation({ id: 'op', kind: 'failover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'a', now: NOW - 1000 }), ['fence-old'], NOW - 900);
const switchover = advance(startOperation({ id: 'op', kind: 'switchover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'cli:x', now: NOW - 1000 }), ['stop-old'], NOW - 900);

function rescueInput(journal: Journal, extra: Partial<RescueInput> = {}): RescueInput {
  return {
    now: NOW,
    journal,
    specs: LAB_SPECS,
    observations: observations(downObs(PRIMARY, { container: 'exited' }), replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE - 8n })),
    publishedTimeline: 1,
    lastKnownPrimaryLsn: null,
    maxLagBytes: 16n * MiB,
    stepDeadlineMs: 20_000,
    ...extra,
  };
}

describe('replanTo', () => {
  it('keeps the fence, restarts the rest for the new target and records why', () => {
    const promoted = advance(failover, ['catch-up', 'promote'], NOW - 500);
    const replanned = replanTo({ ...promoted, targetLsn: '0/3000000', error: 'verify-write: refused' }, 'replica-2', 'the target died', NOW);
    expect(replanned).toMatchObject({ to: 'replica-2', step: 'catch-up', completed: failover.completed, replans: [{ at: NOW, abandoned: 'replica-1', to: 'replica-2', why: 'the target died' }] });
    // A failover's target position belonged to the abandoned target; the error to its step.
    expect(replanned.targetLsn).toBeUndefined();
    expect(replanned.error).toBeUndefined();
  });

  it('a switchover keeps the old primary\'s final position: the new target must reach it too', () => {
    expect(replanTo({ ...switchover, targetLsn: '0/3000000' }, 'replica-2', 'why', NOW).targetLsn).toBe('0/3000000');
  });

  it('before the fence, the new plan still starts with the fence', () => {
    const fresh = startOperation({ id: 'op', kind: 'failover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'a', now: NOW });
    expect(replanTo(fresh, 'replica-2', 'why', NOW)).toMatchObject({ step: 'fence-old', completed: [] });
  });
});

describe('rollBack', () => {
  it('runs the rollback plan, and fences the target only once its promotion was attempted', () => {
    const undone = rollBack(switchover, 'target died', NOW);
    expect(undone).toMatchObject({ step: 'fence-target', rollback: { at: NOW, why: 'target died', targetPromoted: false } });
    expect(planOf(undone)).toEqual(['fence-target', 'restart-old', 'done']);
    expect(rollBack(advance(switchover, ['catch-up'], NOW), 'x', NOW).rollback?.targetPromoted).toBe(true);
  });

  it('completes its own steps and refuses the switchover\'s', () => {
    const undone = rollBack(switchover, 'x', NOW);
    expect(completeStep(undone, 'catch-up', NOW)).toMatchObject({ ok: false });
    const done = advance(undone, ['fence-target', 'restart-old'], NOW);
    expect(done.step).toBe('done');
  });
});

describe('asFailover', () => {
  it('starts the failover plan for the same target, from the fence, saying why', () => {
    const started = startOperation({ id: 'op', kind: 'switchover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'planned switchover to replica-1', requestedBy: 'cli:x', now: NOW - 1000 });
    const failover = asFailover({ ...started, error: 'stop-old: not clean', oldPrimaryUnclean: true }, 'pgsql went down', NOW);
    expect(failover).toMatchObject({ id: 'op', kind: 'failover', to: 'replica-1', epoch: 2, step: 'fence-old', completed: [], reason: 'planned switchover to replica-1; pgsql went down', requestedBy: 'cli:x' });
    expect(failover.error).toBeUndefined();
    expect(failover.oldPrimaryUnclean).toBeUndefined();
  });
});

describe('rescueOf', () => {
  it('a switchover whose old primary went down before it stopped cleanly becomes a failover to the same target, at once', () => {
    const crashed = { ...startOperation({ id: 'op', kind: 'switchover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'cli:x', now: NOW - 100 }), error: 'stop-old: pgsql did not shut down cleanly', oldPrimaryUnclean: true };
    expect(rescueOf(rescueInput(crashed))).toEqual({ kind: 'become-failover', to: 'replica-1', why: 'the old primary pgsql went down before it stopped cleanly (pg_control: not shut down)' });
    // Without that finding (another stop-old failure), the usual deadline applies.
    expect(rescueOf(rescueInput({ ...crashed, oldPrimaryUnclean: undefined }))).toBeNull();
  });

  it('nothing to rescue while the target runs and no step fails', () => {
    expect(rescueOf(rescueInput(failover))).toBeNull();
  });

  it('a published operation only rolls forward', () => {
    const published = advance(failover, ['catch-up', 'promote', 'verify-write', 'publish'], NOW);
    expect(rescueOf(rescueInput(published, { observations: observations(downObs('replica-1', { container: 'missing' }), replicaObs('replica-2')) }))).toBeNull();
  });

  it('a removed target counts as down', () => {
    expect(rescueOf(rescueInput(failover, { observations: observations(downObs('replica-1', { container: 'missing' }), replicaObs('replica-2')) }))).toEqual({ kind: 'replan', to: 'replica-2', why: 'the target replica-1 is down (container missing)' });
  });

  it('a paused target is not lost at once: it may thaw (the deadline decides)', () => {
    expect(rescueOf(rescueInput(failover, { observations: observations(replicaObs('replica-1', { container: 'paused' }), replicaObs('replica-2')) }))).toBeNull();
  });

  it('the deadline counts from the last progress, a re-plan included', () => {
    const replanned = replanTo(failover, 'replica-2', 'x', NOW + 5_000);
    expect(lastProgressAt(replanned)).toBe(NOW + 5_000);
    expect(rescueOf(rescueInput({ ...replanned, error: 'e' }, { now: NOW + 25_000 }))).toBeNull();
    // The target given up before (replica-1) is not taken back: that would go round for ever.
    expect(rescueOf(rescueInput({ ...replanned, error: 'e' }, { now: NOW + 25_001 }))).toMatchObject({ kind: 'stuck', why: expect.stringMatching(/no other target/) });
  });

  it('a fence that keeps failing is not mended by another target: the failover says it is stuck', () => {
    const fresh = startOperation({ id: 'op', kind: 'failover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'a', now: NOW - 30_000 });
    expect(rescueOf(rescueInput({ ...fresh, error: 'fence-old: docker kill of pgsql did not answer' }))).toEqual({
      kind: 'stuck',
      why: 'step fence-old has failed for 30000 ms (deadline 20000 ms): fence-old: docker kill of pgsql did not answer; another target would not help: the old primary must be fenced first',
    });
  });

  it('giving up the most advanced replica never lets one far behind it through the lag limit', () => {
    const ahead = observations(downObs(PRIMARY, { container: 'exited' }), replicaObs('replica-1', { lsn: BASE + 32n * MiB }), replicaObs('replica-2', { lsn: BASE }));
    expect(rescueOf(rescueInput({ ...failover, error: 'promote: engine wedged' }, { now: NOW + 30_000, observations: ahead }))).toMatchObject({ kind: 'stuck', why: expect.stringMatching(/no other target: .*replica-2 32 MiB/) });
  });

  it('a removed old primary at stop-old makes the switchover a failover too', () => {
    const removed = observations(downObs(PRIMARY, { container: 'missing' }), replicaObs('replica-1'), replicaObs('replica-2'));
    expect(rescueOf(rescueInput({ ...startOperation({ id: 'op', kind: 'switchover', from: PRIMARY, to: 'replica-1', epoch: 2, reason: 'r', requestedBy: 'cli:x', now: NOW }), error: 'stop-old: 404' }, { observations: removed }))).toMatchObject({ kind: 'become-failover', to: 'replica-1' });
  });

  it('a rollback that cannot end becomes a failover: to the target it never promoted, else to another replica', () => {
    const undone = rollBack(switchover, 'target slow', NOW);
    const removed = observations(downObs(PRIMARY, { container: 'missing' }), replicaObs('replica-1'), replicaObs('replica-2'));
    expect(rescueOf(rescueInput(undone, { observations: removed }))).toMatchObject({ kind: 'become-failover', to: 'replica-1', why: 'the old primary pgsql was removed during the rollback' });
    const promotedFirst = rollBack(advance(switchover, ['catch-up'], NOW), 'x', NOW);
    expect(rescueOf(rescueInput(promotedFirst, { observations: removed }))).toMatchObject({ kind: 'become-failover', to: 'replica-2' });
    // Within the deadline a failing rollback step is retried; past it, the failover.
    const failing = { ...undone, step: 'restart-old' as const, error: 'restart-old: came back as a standby' };
    expect(rescueOf(rescueInput(failing, { now: NOW + 20_000 }))).toBeNull();
    expect(rescueOf(rescueInput(failing, { now: NOW + 20_001 }))).toMatchObject({ kind: 'become-failover', to: 'replica-1', why: expect.stringMatching(/^the rollback's step restart-old has failed for 20001 ms/) });
  });

  it('the new target is never on an older timeline than the published primary', () => {
    const rescue = rescueOf(rescueInput(failover, { publishedTimeline: 2, observations: observations(downObs('replica-1', { container: 'exited' }), replicaObs('replica-2', { timeline: 1 })) }));
    expect(rescue).toMatchObject({ kind: 'stuck', why: expect.stringMatching(/replica-2 on timeline 1, older than the published primary's timeline 2/) });
  });
});

describe('rerankAfterFence', () => {
  const at = (r1: bigint, r2: bigint) => observations(replicaObs('replica-1', { lsn: r1, streaming: false }), replicaObs('replica-2', { lsn: r2, streaming: false }));
  const input = (obs: ReturnType<typeof at>, journal = failover) => ({ journal, specs: LAB_SPECS, observations: obs, publishedTimeline: 1, lastKnownPrimaryLsn: null, maxLagBytes: 16n * MiB });

  it('keeps the target when nobody holds more', () => {
    expect(rerankAfterFence(input(at(BASE, BASE)))).toBeNull();
    expect(rerankAfterFence(input(at(BASE + 1n, BASE)))).toBeNull();
  });

  it('switches to a replica that received more before the fence', () => {
    expect(rerankAfterFence(input(at(BASE, BASE + 300n)))).toEqual({ to: 'replica-2', why: 'after the fence, replica-2 holds more WAL than replica-1 (300 bytes more)' });
  });

  it('switches when the target is no longer eligible', () => {
    const obs = observations(downObs('replica-1', { error: 'timeout' }), replicaObs('replica-2', { lsn: BASE, streaming: false }));
    expect(rerankAfterFence(input(obs))).toMatchObject({ to: 'replica-2', why: expect.stringMatching(/replica-1 is no longer a safe candidate \(unreachable: timeout\)/) });
  });

  it('a target that does not answer the fresh probe is left only for a replica within the lag limit of its last known position', () => {
    const silent = observations(downObs('replica-1', { error: 'probe took longer than 800 ms' }), replicaObs('replica-2', { lsn: BASE, streaming: false }));
    expect(rerankAfterFence({ ...input(silent), lastKnownPrimaryLsn: BASE + 32n * MiB })).toBeNull();
    expect(rerankAfterFence({ ...input(silent), lastKnownPrimaryLsn: BASE + 1n * MiB })).toMatchObject({ to: 'replica-2' });
  });

  it('never takes back a target given up before', () => {
    const replanned = replanTo(failover, 'replica-2', 'replica-1 kept failing', NOW);
    expect(rerankAfterFence(input(at(BASE + 300n, BASE), replanned))).toBeNull();
  });

  it('only at catch-up of a failover: never after the promotion, never in a switchover', () => {
    expect(rerankAfterFence(input(at(BASE, BASE + 300n), advance(failover, ['catch-up'], NOW)))).toBeNull();
    expect(rerankAfterFence(input(at(BASE, BASE + 300n), { ...switchover, step: 'catch-up' }))).toBeNull();
  });
});
