import { describe, expect, it } from 'vitest';
import { planPromote, type PromoteRequestInput } from '../../../src/core/promote-request.js';
import type { PrimaryVerdict } from '../../../src/core/detector.js';
import { LAB_SPECS, MiB, PRIMARY_HOSTS, downObs, observations, primaryObs, published, replicaObs, spec } from './fixtures.js';

const healthy: PrimaryVerdict = { kind: 'healthy' };
const failed: PrimaryVerdict = { kind: 'failed', cause: 'container-not-running', reason: "primary pgsql's container is exited", failingForMs: 0 };

function input(overrides: Partial<PromoteRequestInput> = {}): PromoteRequestInput {
  return {
    target: 'replica-1',
    force: false,
    published: published(),
    verdict: healthy,
    specs: LAB_SPECS,
    observations: observations(primaryObs(), replicaObs('replica-1'), replicaObs('replica-2')),
    primaryHosts: PRIMARY_HOSTS,
    lastKnownPrimaryLsn: null,
    maxLagBytes: 16n * MiB,
    ...overrides,
  };
}

const downPrimary = () => observations(downObs('pgsql', { container: 'running' }), replicaObs('replica-1', { streaming: false }), replicaObs('replica-2', { streaming: false }));

describe('planPromote: a planned promote never becomes a kill', () => {
  it.each<[string, PrimaryVerdict]>([
    ['suspect (one probe timed out)', { kind: 'suspect', reason: 'primary pgsql has not answered SQL for 800 ms', failingForMs: 800 }],
    ['partitioned from the agents, still heard by a replica', { kind: 'partition', reason: 'replica-1 heard from pgsql 200 ms ago', replica: 'replica-1', receiptAgeMs: 200 }],
    ['unknown', { kind: 'unknown', reason: "agent-1's own view is 9000 ms old" }],
  ])('a primary that is %s is not failed: refused without --force, naming the verdict', (_what, verdict) => {
    const plan = planPromote(input({ verdict, observations: downPrimary() }));
    expect(plan).toEqual({ ok: false, reason: expect.stringMatching(new RegExp(`^the primary pgsql is ${verdict.kind} \\(.+\\), not failed: promoting now would kill a primary that may be alive and lose its last commits; wait for a verdict, or use --force`)) });
  });

  it('with --force, a primary that is only suspect is failed over to the named node', () => {
    const verdict: PrimaryVerdict = { kind: 'suspect', reason: 'primary pgsql has not answered SQL for 800 ms', failingForMs: 800 };
    expect(planPromote(input({ verdict, force: true, observations: downPrimary() }))).toMatchObject({ ok: true, kind: 'failover', from: 'pgsql', to: 'replica-1' });
  });
});

describe('planPromote: one row per rule', () => {
  it.each([
    ['an unknown node is refused, naming the valid ones', input({ target: 'replica-9' }), /unknown node replica-9; valid nodes: pgsql, replica-1, replica-2/],
    ['the current primary is refused', input({ target: 'pgsql' }), /pgsql is already the primary/],
    ['a target that is down is refused', input({ observations: observations(primaryObs(), downObs('replica-1'), replicaObs('replica-2')) }), /replica-1 is down or unreachable/],
    ['a target out of recovery is refused', input({ observations: observations(primaryObs(), replicaObs('replica-1', { inRecovery: false }), replicaObs('replica-2')) }), /not a replica/],
    ['a target not streaming is refused', input({ observations: observations(primaryObs(), replicaObs('replica-1', { streaming: false }), replicaObs('replica-2')) }), /not streaming from the primary pgsql/],
    ['a target streaming from another host is refused', input({ observations: observations(primaryObs(), replicaObs('replica-1', { upstreamHost: 'elsewhere' }), replicaObs('replica-2')) }), /not streaming from the primary/],
    [
      'a lagging target is refused without --force',
      input({ observations: observations(primaryObs('pgsql', { lsn: 100n * MiB }), replicaObs('replica-1', { lsn: 10n * MiB }), replicaObs('replica-2')) }),
      /90 MiB behind the primary \(limit 16 MiB\); use --force/,
    ],
    ['a noFailover target is refused without --force', input({ specs: [spec('pgsql'), spec('replica-1', { noFailover: true }), spec('replica-2')] }), /tagged noFailover/],
    ['with the primary down, a target that is down is refused', input({ verdict: failed, observations: observations(downObs('pgsql'), downObs('replica-1'), replicaObs('replica-2')) }), /replica-1/],
  ])('%s', (_name, request, reason) => {
    const plan = planPromote(request);
    expect(plan.ok).toBe(false);
    if (!plan.ok) expect(plan.reason).toMatch(reason);
  });

  it('a healthy primary and a streaming target make a switchover', () => {
    expect(planPromote(input())).toMatchObject({ ok: true, kind: 'switchover', from: 'pgsql', to: 'replica-1' });
  });

  it('--force accepts a lagging target for a switchover', () => {
    const lagging = input({ force: true, observations: observations(primaryObs('pgsql', { lsn: 100n * MiB }), replicaObs('replica-1', { lsn: 10n * MiB }), replicaObs('replica-2')) });
    expect(planPromote(lagging)).toMatchObject({ ok: true, kind: 'switchover' });
  });

  it('a primary that is not healthy makes a manual failover to the named node', () => {
    const plan = planPromote(input({ verdict: failed, target: 'replica-2', observations: observations(downObs('pgsql', { container: 'exited' }), replicaObs('replica-1'), replicaObs('replica-2')) }));
    expect(plan).toMatchObject({ ok: true, kind: 'failover', from: 'pgsql', to: 'replica-2' });
    if (plan.ok) expect(plan.reason).toMatch(/manual failover: primary pgsql's container is exited/);
  });

  it('a manual failover may pick a node that is not the most advanced (the operator named it)', () => {
    const plan = planPromote(
      input({ verdict: failed, target: 'replica-2', observations: observations(downObs('pgsql', { container: 'exited' }), replicaObs('replica-1', { lsn: 0x3000100n }), replicaObs('replica-2', { lsn: 0x3000000n })) }),
    );
    expect(plan).toMatchObject({ ok: true, kind: 'failover', to: 'replica-2' });
  });
});
