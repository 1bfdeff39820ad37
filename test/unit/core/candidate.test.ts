import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseCandidate, positionOf, type CandidateInput, type Chosen, type Refused } from '../../../src/core/candidate.js';
import type { NodeObservation, NodeSpec } from '../../../src/core/types.js';
import { MiB, PRIMARY, downObs, observations, replicaObs, spec, syncRecord } from './fixtures.js';

const BASE = 0x10000000n;

function input(specs: NodeSpec[], nodes: NodeObservation[], extra: Partial<CandidateInput> = {}): CandidateInput {
  return {
    specs: [spec(PRIMARY), ...specs],
    observations: observations(downObs(PRIMARY, { container: 'exited' }), ...nodes),
    failedPrimary: PRIMARY,
    lastKnownPrimaryLsn: null,
    maxLagBytes: 16n * MiB,
    ...extra,
  };
}

describe('chooseCandidate: automatic choice', () => {
  it.each<{ rule: string; input: CandidateInput; chosen: string; extra?: Partial<Chosen> }>([
    {
      rule: 'a lone replica is chosen',
      input: input([spec('replica-1')], [replicaObs('replica-1', { lsn: BASE })]),
      chosen: 'replica-1',
      extra: { position: BASE, lagBytes: 0n },
    },
    {
      rule: 'the most advanced position wins over priority',
      input: input(
        [spec('replica-1', { priority: 100 }), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE + 1n })],
      ),
      chosen: 'replica-2',
      extra: { lagBytes: 0n },
    },
    {
      rule: 'ties on position go to the higher priority',
      input: input(
        [spec('replica-1', { priority: 1 }), spec('replica-2', { priority: 5 })],
        [replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE })],
      ),
      chosen: 'replica-2',
    },
    {
      rule: 'ties on position and priority go to the first name',
      input: input([spec('replica-2'), spec('replica-1')], [replicaObs('replica-2', { lsn: BASE }), replicaObs('replica-1', { lsn: BASE })]),
      chosen: 'replica-1',
    },
    {
      rule: 'in synchronous mode only a member of the recorded set is a candidate, whatever its priority or position',
      input: input(
        [spec('replica-1', { priority: 100 }), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + MiB }), replicaObs('replica-2', { lsn: BASE })],
        { sync: syncRecord(['replica-2']) },
      ),
      chosen: 'replica-2',
      extra: { ranking: [{ name: 'replica-2', position: BASE, priority: 0, sync: true }] },
    },
    {
      // Issue 12 item 1: after A->B (timeline 2), A returns as a standby still on timeline 1
      // with more WAL than C; B dies. A's WAL is a fork B never had: only C may be chosen.
      rule: 'a standby on an older timeline than the published primary is never chosen, however advanced',
      input: input(
        [spec('replica-1', { priority: 100 }), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + 8n * MiB, timeline: 1 }), replicaObs('replica-2', { lsn: BASE, timeline: 2 })],
        { publishedTimeline: 2 },
      ),
      chosen: 'replica-2',
      // Positions on another timeline are not comparable: the old fork sets no reference.
      extra: { lagBytes: 0n, excluded: [{ name: 'replica-1', why: 'on timeline 1, older than the published primary\'s timeline 2: it has not followed the fork' }] },
    },
    {
      rule: 'a rounded-down receive LSN after a restart is not penalised (replay counts)',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [
          replicaObs('replica-1', { lsn: BASE + 0x500n, receiveLsn: BASE - 0x1000000n, replayLsn: BASE + 0x500n }),
          replicaObs('replica-2', { lsn: BASE + 0x400n }),
        ],
      ),
      chosen: 'replica-1',
      extra: { position: BASE + 0x500n },
    },
    {
      rule: 'WAL received but not yet replayed counts: it will be replayed before promotion',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [
          replicaObs('replica-1', { lsn: BASE, receiveLsn: BASE + 0x900n, replayLsn: BASE }),
          replicaObs('replica-2', { lsn: BASE + 0x400n }),
        ],
      ),
      chosen: 'replica-1',
      extra: { position: BASE + 0x900n },
    },
    {
      rule: 'the failed primary is never chosen, even when it is the most advanced',
      input: {
        ...input([spec('replica-1')], [replicaObs('replica-1', { lsn: BASE })]),
        observations: observations(replicaObs(PRIMARY, { lsn: BASE + MiB }), replicaObs('replica-1', { lsn: BASE })),
      },
      chosen: 'replica-1',
    },
    {
      rule: 'noFailover is excluded even when most advanced',
      input: input(
        [spec('replica-1', { noFailover: true }), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + 100n }), replicaObs('replica-2', { lsn: BASE })],
      ),
      chosen: 'replica-2',
      extra: { lagBytes: 100n, excluded: [{ name: 'replica-1', why: 'tagged noFailover' }] },
    },
    {
      rule: 'not-in-recovery is excluded',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + 100n, inRecovery: false }), replicaObs('replica-2', { lsn: BASE })],
      ),
      chosen: 'replica-2',
      extra: { lagBytes: 0n, excluded: [{ name: 'replica-1', why: 'not in recovery: it runs as a primary' }] },
    },
    {
      rule: 'a failed SQL probe is unreachable',
      input: input([spec('replica-1'), spec('replica-2')], [downObs('replica-1', { error: 'ECONNREFUSED' }), replicaObs('replica-2')]),
      chosen: 'replica-2',
      extra: { excluded: [{ name: 'replica-1', why: 'unreachable: ECONNREFUSED' }] },
    },
    {
      rule: 'a container that is not running is unreachable even if SQL answered',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + 100n, container: 'paused' }), replicaObs('replica-2', { lsn: BASE })],
      ),
      chosen: 'replica-2',
      extra: { excluded: [{ name: 'replica-1', why: 'unreachable: container is paused' }] },
    },
    {
      rule: 'a node without an observation is excluded',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-2')]),
      chosen: 'replica-2',
      extra: { excluded: [{ name: 'replica-1', why: 'not observed' }] },
    },
    {
      rule: 'a replica further behind than maxLagBytes is excluded',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE - 17n * MiB })],
      ),
      chosen: 'replica-1',
      extra: { excluded: [{ name: 'replica-2', why: expect.stringMatching(/17 MiB behind .*limit 16 MiB/) }] },
    },
    {
      rule: 'a replica exactly maxLagBytes behind is still eligible',
      input: input([spec('replica-1')], [replicaObs('replica-1', { lsn: BASE })], { lastKnownPrimaryLsn: BASE + 16n * MiB }),
      chosen: 'replica-1',
      extra: { lagBytes: 16n * MiB },
    },
    {
      rule: 'lag is measured against a noFailover replica when it is the most advanced',
      input: input(
        [spec('replica-1', { noFailover: true }), spec('replica-2'), spec('replica-3')],
        [replicaObs('replica-1', { lsn: BASE + 20n * MiB }), replicaObs('replica-2', { lsn: BASE }), replicaObs('replica-3', { lsn: BASE + 5n * MiB })],
      ),
      chosen: 'replica-3',
      extra: { lagBytes: 15n * MiB },
    },
    {
      rule: 'an unreachable node\'s stale position does not set the reference',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE + 100n * MiB, container: 'exited' }), replicaObs('replica-2', { lsn: BASE })],
      ),
      chosen: 'replica-2',
      extra: { lagBytes: 0n },
    },
    {
      rule: 'force ignores the lag limit',
      input: input([spec('replica-1')], [replicaObs('replica-1', { lsn: BASE })], { lastKnownPrimaryLsn: BASE + 48n * MiB, force: true }),
      chosen: 'replica-1',
      extra: { lagBytes: 48n * MiB },
    },
  ])('$rule', ({ input, chosen, extra }) => {
    const result = chooseCandidate(input);
    expect(result).toMatchObject({ ok: true, name: chosen, ...extra });
  });
});

describe('chooseCandidate: refusals', () => {
  it.each<{ rule: string; input: CandidateInput; reason: RegExp; excluded?: Refused['excluded'] }>([
    {
      rule: 'no replicas at all',
      input: input([], []),
      reason: /no safe candidate: there are no replicas to promote/,
      excluded: [],
    },
    {
      rule: 'every replica too far behind names the lag of each',
      input: input(
        [spec('replica-1'), spec('replica-2')],
        [replicaObs('replica-1', { lsn: BASE }), replicaObs('replica-2', { lsn: BASE - 2n * MiB })],
        { lastKnownPrimaryLsn: BASE + 48n * MiB },
      ),
      reason: /^no safe candidate: every replica is further than 16 MiB behind the most advanced known position \(replica-1 48 MiB, replica-2 50 MiB\)$/,
    },
    {
      rule: 'a mix of exclusions lists each node and why',
      input: input(
        [spec('replica-1', { noFailover: true }), spec('replica-2')],
        [replicaObs('replica-1'), downObs('replica-2', { error: 'timeout' })],
      ),
      reason: /no safe candidate: replica-1 tagged noFailover; replica-2 unreachable: timeout/,
      excluded: [
        { name: 'replica-1', why: 'tagged noFailover' },
        { name: 'replica-2', why: 'unreachable: timeout' },
      ],
    },
    {
      rule: 'only standbys on an older timeline: no candidate, each named with its timeline',
      input: input([spec('replica-1')], [replicaObs('replica-1', { lsn: BASE, timeline: 3 })], { publishedTimeline: 4 }),
      reason: /^no safe candidate: replica-1 on timeline 3, older than the published primary's timeline 4: it has not followed the fork$/,
    },
    {
      rule: 'manual target on an older timeline is refused even with force',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1', { timeline: 2 }), replicaObs('replica-2', { timeline: 1 })], { publishedTimeline: 2, target: 'replica-2', force: true }),
      reason: /^cannot promote replica-2: on timeline 1, older than the published primary's timeline 2/,
    },
    {
      rule: 'manual target that is unknown lists the valid names',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1'), replicaObs('replica-2')], { target: 'replica-9' }),
      reason: /^unknown node replica-9; valid: replica-1, replica-2$/,
    },
    {
      rule: 'manual target that is the primary being replaced',
      input: input([spec('replica-1')], [replicaObs('replica-1')], { target: PRIMARY }),
      reason: /pgsql is the primary being replaced/,
    },
    {
      rule: 'manual target that is excluded gives its reason',
      input: input([spec('replica-1'), spec('replica-2', { noFailover: true })], [replicaObs('replica-1'), replicaObs('replica-2')], { target: 'replica-2' }),
      reason: /^cannot promote replica-2: tagged noFailover$/,
    },
    {
      rule: 'manual target that is unreachable gives its reason even with force',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1'), downObs('replica-2', { container: 'exited' })], { target: 'replica-2', force: true }),
      reason: /^cannot promote replica-2: unreachable: container is exited$/,
    },
    {
      rule: 'manual target that lags without force names the lag and the override',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1', { lsn: BASE + 32n * MiB }), replicaObs('replica-2', { lsn: BASE })], { target: 'replica-2' }),
      reason: /cannot promote replica-2: 32 MiB behind .*limit 16 MiB.*force overrides/,
    },
  ])('$rule', ({ input, reason, excluded }) => {
    const result = chooseCandidate(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(reason);
    if (excluded !== undefined) expect(result.excluded).toEqual(excluded);
  });
});

describe('chooseCandidate: manual target', () => {
  it.each<{ rule: string; input: CandidateInput; chosen: string }>([
    {
      rule: 'an eligible target is chosen even when another is more advanced',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1', { lsn: BASE + 10n }), replicaObs('replica-2', { lsn: BASE })], { target: 'replica-2' }),
      chosen: 'replica-2',
    },
    {
      rule: 'a lagging target is chosen with force',
      input: input([spec('replica-1'), spec('replica-2')], [replicaObs('replica-1', { lsn: BASE + 32n * MiB }), replicaObs('replica-2', { lsn: BASE })], { target: 'replica-2', force: true }),
      chosen: 'replica-2',
    },
  ])('$rule', ({ input, chosen }) => {
    expect(chooseCandidate(input)).toMatchObject({ ok: true, name: chosen });
  });
});

describe('positionOf', () => {
  it.each([
    { rule: 'replay ahead of a rounded-down receive', obs: replicaObs('r', { lsn: 10n, receiveLsn: 0n, replayLsn: 10n }), position: 10n },
    { rule: 'receive ahead of replay', obs: replicaObs('r', { lsn: 10n, receiveLsn: 20n, replayLsn: 10n }), position: 20n },
    { rule: 'primary-style probe uses lsn', obs: replicaObs('r', { lsn: 30n, receiveLsn: null, replayLsn: null }), position: 30n },
    { rule: 'no SQL, no position', obs: downObs('r'), position: null },
  ])('$rule', ({ obs, position }) => {
    expect(positionOf(obs)).toBe(position);
  });
});

// --- properties --------------------------------------------------------------

const NAMES = ['pgsql', 'replica-1', 'replica-2', 'replica-3', 'replica-4'];

const arbNode = (name: string) =>
  fc.record({
    spec: fc.record({ name: fc.constant(name), noFailover: fc.boolean(), priority: fc.integer({ min: 0, max: 3 }) }),
    container: fc.constantFrom('running', 'running', 'running', 'paused', 'exited', 'missing') as fc.Arbitrary<NodeObservation['container']>,
    sqlOk: fc.boolean(),
    inRecovery: fc.boolean(),
    lsn: fc.bigInt({ min: 0n, max: 64n * MiB }),
    receiveLsn: fc.option(fc.bigInt({ min: 0n, max: 64n * MiB })),
  });

const arbInput = fc
  .record({
    nodes: fc.tuple(...NAMES.map(arbNode)),
    failedPrimary: fc.constantFrom(...NAMES),
    lastKnownPrimaryLsn: fc.option(fc.bigInt({ min: 0n, max: 64n * MiB })),
    maxLagBytes: fc.bigInt({ min: 0n, max: 32n * MiB }),
  })
  .map(({ nodes, failedPrimary, lastKnownPrimaryLsn, maxLagBytes }) => {
    const obs = nodes.map((node) =>
      node.sqlOk
        ? replicaObs(node.spec.name, { container: node.container, inRecovery: node.inRecovery, lsn: node.lsn, receiveLsn: node.receiveLsn, replayLsn: node.lsn })
        : downObs(node.spec.name, { container: node.container }),
    );
    const candidateInput: CandidateInput = {
      specs: nodes.map((node) => node.spec),
      observations: observations(...obs),
      failedPrimary,
      lastKnownPrimaryLsn,
      maxLagBytes,
    };
    return candidateInput;
  });

/** An independent restatement of rule 3, to check the implementation against. */
function eligibleByRule(candidateInput: CandidateInput): Map<string, bigint> {
  const replicas = candidateInput.specs.filter((s) => s.name !== candidateInput.failedPrimary);
  const reachable = replicas.flatMap((s) => {
    const observation = candidateInput.observations[s.name];
    if (observation === undefined || observation.container !== 'running' || !observation.sql.ok || !observation.sql.inRecovery) return [];
    const { lsn, receiveLsn, replayLsn } = observation.sql;
    const position = [lsn, receiveLsn ?? 0n, replayLsn ?? 0n].reduce((a, b) => (a > b ? a : b));
    return [{ spec: s, position }];
  });
  const reference = [candidateInput.lastKnownPrimaryLsn ?? 0n, ...reachable.map((r) => r.position)].reduce((a, b) => (a > b ? a : b));
  return new Map(
    reachable
      .filter((r) => !r.spec.noFailover && reference - r.position <= candidateInput.maxLagBytes)
      .map((r) => [r.spec.name, r.position]),
  );
}

describe('chooseCandidate: properties', () => {
  it('never chooses the failed primary, a noFailover node, an unreachable node or one too far behind', () => {
    fc.assert(
      fc.property(arbInput, (candidateInput) => {
        const result = chooseCandidate(candidateInput);
        if (!result.ok) return;
        const chosenSpec = candidateInput.specs.find((s) => s.name === result.name);
        const observation = candidateInput.observations[result.name];
        expect(result.name).not.toBe(candidateInput.failedPrimary);
        expect(chosenSpec?.noFailover).toBe(false);
        expect(observation?.container).toBe('running');
        expect(observation?.sql.ok && observation.sql.inRecovery).toBe(true);
        expect(result.lagBytes <= candidateInput.maxLagBytes).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('chooses exactly when some node is eligible, and no eligible node has a strictly greater position', () => {
    fc.assert(
      fc.property(arbInput, (candidateInput) => {
        const eligible = eligibleByRule(candidateInput);
        const result = chooseCandidate(candidateInput);
        expect(result.ok).toBe(eligible.size > 0);
        if (!result.ok) return;
        expect(eligible.get(result.name)).toBe(result.position);
        for (const position of eligible.values()) expect(position > result.position).toBe(false);
        expect(result.ranking.map((r) => r.name).sort()).toEqual([...eligible.keys()].sort());
      }),
      { numRuns: 1000 },
    );
  });

  it('is independent of the order of specs and observations', () => {
    fc.assert(
      fc.property(
        arbInput.chain((candidateInput) =>
          fc.tuple(fc.constant(candidateInput), fc.shuffledSubarray(candidateInput.specs, { minLength: candidateInput.specs.length })),
        ),
        ([candidateInput, shuffledSpecs]) => {
          const reversedObservations = Object.fromEntries(Object.entries(candidateInput.observations).reverse());
          const again = chooseCandidate({ ...candidateInput, specs: shuffledSpecs, observations: reversedObservations });
          expect(again).toEqual(chooseCandidate(candidateInput));
        },
      ),
      { numRuns: 500 },
    );
  });
});
