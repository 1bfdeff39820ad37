import { describe, expect, it } from 'vitest';
import { chooseCandidate, forcedPromotionRisk, type CandidateInput, type Chosen, type Refused } from '../../../src/core/candidate.js';
import { forcedLoss, syncQuorum, type SyncQuorum } from '../../../src/core/sync-quorum.js';
import type { SyncRecord } from '../../../src/core/sync-set.js';
import type { NodeObservation, NodeSpec } from '../../../src/core/types.js';
import { MiB, PRIMARY, downObs, observations, primaryObs, replicaObs, spec, syncRecord } from './fixtures.js';

const R1 = 'replica-1';
const R2 = 'replica-2';
const R3 = 'replica-3';
const R4 = 'replica-4';
const BASE = 0x10000000n;

describe('syncQuorum: n-k+1 of the n recorded members must be seen', () => {
  const members = (n: number) => [R1, R2, R3, R4].slice(0, n);
  it.each([
    { n: 1, k: 1, need: 1 },
    { n: 2, k: 1, need: 2 },
    { n: 2, k: 2, need: 1 },
    { n: 3, k: 1, need: 3 },
    { n: 3, k: 2, need: 2 },
    { n: 3, k: 3, need: 1 },
    { n: 4, k: 2, need: 3 },
    // A record asking more than it names cannot be met by PostgreSQL; one member seen is still needed.
    { n: 1, k: 2, need: 1 },
  ])('ANY $k of $n: $need needed, one fewer is short', ({ n, k, need }) => {
    const record = syncRecord(members(n), k);
    expect(syncQuorum(record, members(n).slice(0, need))).toEqual({ kind: 'met', members: members(n), seen: members(n).slice(0, need), need });
    if (need > 1) expect(syncQuorum(record, members(n).slice(0, need - 1))).toMatchObject({ kind: 'short', need });
  });

  it('counts only members: others seen do not help, and the reason names the missing ones', () => {
    const quorum = syncQuorum(syncRecord([R1, R2]), [R1, R3, R4]);
    expect(quorum).toEqual({
      kind: 'short',
      members: [R1, R2],
      seen: [R1],
      need: 2,
      reason: `waiting for the synchronous standbys: 1 of the 2 recorded (ANY 1 of ${R1}, ${R2}) can be seen, 2 are needed; ${R2} may hold the last acknowledged commit`,
    });
  });

  it.each<{ rule: string; record: SyncRecord | null | undefined }>([
    { rule: 'no record', record: null },
    { rule: 'no record given (the caller does not know)', record: undefined },
    { rule: 'a pending record', record: syncRecord([R1, R2], 1, { pending: true }) },
    { rule: 'a degraded record', record: syncRecord([R1, R2], 1, { degraded: true }) },
    { rule: 'mode off', record: syncRecord([R1, R2], 1, { mode: 'off' }) },
  ])('$rule promises nothing: the old rules apply', ({ record }) => {
    expect(syncQuorum(record, [])).toEqual({ kind: 'not-promising' });
  });
});

describe('forcedLoss', () => {
  const met: SyncQuorum = { kind: 'met', members: [R1, R2], seen: [R1, R2], need: 2 };
  const short = syncQuorum(syncRecord([R1, R2]), [R1]);
  it.each<{ rule: string; quorum: SyncQuorum; target: string; ahead?: string[]; loss: string | null }>([
    { rule: 'nothing is promised: nothing to lose', quorum: { kind: 'not-promising' }, target: R3, loss: null },
    { rule: 'a seen member, quorum met, none ahead of it', quorum: met, target: R1, loss: null },
    { rule: 'a node outside the record', quorum: met, target: R3, loss: `commits acknowledged by the synchronous standbys may be lost: ${R3} is not in the recorded synchronous set (${R1}, ${R2})` },
    { rule: 'a member, but another cannot be seen', quorum: short, target: R1, loss: `commits acknowledged by the synchronous standbys may be lost: ${R2} cannot be seen` },
    { rule: 'outside the record and a member missing', quorum: short, target: R3, loss: `commits acknowledged by the synchronous standbys may be lost: ${R3} is not in the recorded synchronous set (${R1}, ${R2}); ${R2} cannot be seen` },
    { rule: 'a member with a seen member ahead of it', quorum: met, target: R2, ahead: [R1], loss: `commits acknowledged by the synchronous standbys may be lost: ${R1} has more WAL than ${R2}` },
  ])('$rule', ({ quorum, target, ahead, loss }) => {
    expect(forcedLoss(quorum, target, ahead)).toBe(loss);
  });
});

function input(nodes: NodeObservation[], sync: SyncRecord | null, extra: Partial<CandidateInput> = {}, specs: NodeSpec[] = [spec(R1), spec(R2), spec(R3)]): CandidateInput {
  return {
    specs: [spec(PRIMARY), ...specs],
    observations: observations(downObs(PRIMARY, { container: 'exited' }), ...nodes),
    failedPrimary: PRIMARY,
    lastKnownPrimaryLsn: null,
    maxLagBytes: 16n * MiB,
    publishedTimeline: 1,
    sync,
    ...extra,
  };
}

const at = (name: string, lsn: bigint, options: Parameters<typeof replicaObs>[1] = {}) => replicaObs(name, { lsn, streaming: false, ...options });
const chosen = (name: string) => expect.objectContaining({ ok: true, name }) as unknown as Chosen;
const refused = (reason: RegExp, cause?: 'sync-quorum') => expect.objectContaining({ ok: false, reason: expect.stringMatching(reason), ...(cause ? { cause } : {}) }) as unknown as Refused;

describe('chooseCandidate in zero-loss mode', () => {
  it.each<{ rule: string; input: CandidateInput; result: Chosen | Refused }>([
    {
      rule: 'ANY 1 of two, both seen: the more advanced member, not the more advanced non-member',
      input: input([at(R1, BASE), at(R2, BASE + 10n), at(R3, BASE + MiB)], syncRecord([R1, R2])),
      result: chosen(R2),
    },
    {
      rule: 'ANY 1 of two, one unreachable: wait, whatever the other holds',
      input: input([at(R1, BASE + MiB), downObs(R2, { container: 'exited' }), at(R3, BASE)], syncRecord([R1, R2])),
      result: refused(/1 of the 2 recorded .* replica-2 may hold the last acknowledged commit/, 'sync-quorum'),
    },
    {
      rule: 'ANY 2 of three, one unreachable: two seen are enough',
      input: input([at(R1, BASE), at(R2, BASE + 5n), downObs(R3)], syncRecord([R1, R2, R3], 2)),
      result: chosen(R2),
    },
    {
      rule: 'ANY 2 of three, two unreachable: wait',
      input: input([at(R1, BASE), downObs(R2), downObs(R3)], syncRecord([R1, R2, R3], 2)),
      result: refused(/1 of the 3 recorded .* 2 are needed/, 'sync-quorum'),
    },
    {
      rule: 'the failed primary named in the record (right after a promotion) counts as unseen, even if it answers as a standby',
      input: { ...input([at(R1, BASE)], syncRecord([PRIMARY, R1])), observations: observations(replicaObs(PRIMARY, { lsn: BASE + MiB }), at(R1, BASE)) },
      result: refused(/1 of the 2 recorded .* pgsql may hold/, 'sync-quorum'),
    },
    {
      rule: 'a recorded name that is no node of the config counts as unseen',
      input: input([at(R1, BASE), at(R2, BASE)], syncRecord([R1, 'replica-9'])),
      result: refused(/replica-9 may hold/, 'sync-quorum'),
    },
    {
      rule: 'a member on an older timeline than the published primary counts as unseen',
      input: input([at(R1, BASE, { timeline: 2 }), at(R2, BASE + MiB, { timeline: 1 })], syncRecord([R1, R2]), { publishedTimeline: 2 }),
      result: refused(/replica-2 may hold/, 'sync-quorum'),
    },
    {
      rule: 'a member running as a primary counts as unseen',
      input: input([at(R1, BASE), primaryObs(R2, { lsn: BASE + MiB })], syncRecord([R1, R2])),
      result: refused(/replica-2 may hold/, 'sync-quorum'),
    },
    {
      rule: 'a member ahead of every candidate that may not be promoted (tagged noFailover): no failover',
      input: input([at(R1, BASE + 8n), at(R2, BASE)], syncRecord([R1, R2]), {}, [spec(R1, { noFailover: true }), spec(R2)]),
      result: refused(/replica-1 holds more WAL than replica-2 .*tagged noFailover/),
    },
    {
      rule: 'a member tagged noFailover that is not ahead does not hold the failover back',
      input: input([at(R1, BASE), at(R2, BASE)], syncRecord([R1, R2]), {}, [spec(R1, { noFailover: true }), spec(R2)]),
      result: chosen(R2),
    },
    ...(['pending', 'degraded', 'off', 'none'] as const).map((state) => ({
      rule: `a record that does not promise (${state}): the old rules, the most advanced node whoever it is`,
      input: input([at(R1, BASE), downObs(R2), at(R3, BASE + MiB)], state === 'none' ? null : syncRecord([R1, R2], 1, state === 'off' ? { mode: 'off' } : { [state]: true })),
      result: chosen(R3),
    })),
  ])('$rule', ({ input: candidateInput, result }) => {
    expect(chooseCandidate(candidateInput)).toEqual(result);
  });

  it('excludes non-members and says why', () => {
    const result = chooseCandidate(input([at(R1, BASE), at(R2, BASE), at(R3, BASE + MiB)], syncRecord([R1, R2])));
    expect(result.excluded).toContainEqual({ name: R3, why: `not in the recorded synchronous set (${R1}, ${R2}): it may lack acknowledged commits` });
    expect(result.ok && result.ranking.map((r) => [r.name, r.sync])).toEqual([[R1, true], [R2, true]]);
  });
});

describe('a manual failover to a chosen node in zero-loss mode', () => {
  const bothSeen = [at(R1, BASE + 8n), at(R2, BASE), at(R3, BASE + MiB)];
  it.each<{ rule: string; target: string; force: boolean; nodes: NodeObservation[]; result: Chosen | Refused; mayLose?: string }>([
    { rule: 'the most advanced member, quorum met: nothing may be lost', target: R1, force: false, nodes: bothSeen, result: chosen(R1) },
    { rule: 'a non-member is refused without force', target: R3, force: false, nodes: bothSeen, result: refused(/cannot promote replica-3: not in the recorded synchronous set/) },
    {
      rule: 'a non-member with force: promoted, and what may be lost is said',
      target: R3,
      force: true,
      nodes: bothSeen,
      result: chosen(R3),
      mayLose: `commits acknowledged by the synchronous standbys may be lost: ${R3} is not in the recorded synchronous set (${R1}, ${R2})`,
    },
    { rule: 'a member while another cannot be seen is refused without force', target: R1, force: false, nodes: [at(R1, BASE), downObs(R2)], result: refused(/cannot promote replica-1: waiting for the synchronous standbys.*force overrides it/) },
    { rule: 'a member while another cannot be seen, with force', target: R1, force: true, nodes: [at(R1, BASE), downObs(R2)], result: chosen(R1), mayLose: `commits acknowledged by the synchronous standbys may be lost: ${R2} cannot be seen` },
    { rule: 'a member behind another seen member is refused without force', target: R2, force: false, nodes: bothSeen, result: refused(/cannot promote replica-2: .*replica-1 has more WAL than replica-2; force overrides it/) },
    { rule: 'a member behind another seen member, with force', target: R2, force: true, nodes: bothSeen, result: chosen(R2), mayLose: `commits acknowledged by the synchronous standbys may be lost: ${R1} has more WAL than ${R2}` },
  ])('$rule', ({ target, force, nodes, result, mayLose }) => {
    const outcome = chooseCandidate(input(nodes, syncRecord([R1, R2]), { target, force }));
    expect(outcome).toEqual(result);
    if (outcome.ok) expect(outcome.mayLose).toBe(mayLose);
  });

  it('forcedPromotionRisk says the same before the request is filed', () => {
    const { target: _target, force: _force, ...base } = input([at(R1, BASE + 8n), at(R2, BASE)], syncRecord([R1, R2]));
    expect(forcedPromotionRisk(base, R1)).toBeNull();
    expect(forcedPromotionRisk(base, R2)).toBe(`commits acknowledged by the synchronous standbys may be lost: ${R1} has more WAL than ${R2}`);
    expect(forcedPromotionRisk({ ...base, sync: null }, R2)).toBeNull();
  });
});
