// The decision rules as data: an ordered table that decide() matches first-match-wins,
// in the manner of pg_auto_failover's state machine rows. Each row reads a Situation
// (everything one tick knows, computed once) and says what to do and why. A new
// behaviour is a new row with its own test, not one more branch in decide().
import { chooseCandidate } from './candidate.js';
import type { PrimaryVerdict } from './detector.js';
import { asFailover, isFinished, replanTo, rollBack, type Journal } from './journal.js';
import { rescueOf, type Rescue } from './operation-rescue.js';
import { isLiveView, isReachable, isWritablePrimary } from './liveness.js';
import { planPromote, type PromotePlan } from './promote-request.js';
import { replicasToRejoin } from './rejoin.js';
import type { StreamingWatch } from './streaming-watch.js';
import type { SyncRecord } from './sync-set.js';
import type { AgentView, Lsn, NodeObservation, NodeSpec, Published, Timings } from './types.js';

export type Action =
  | { type: 'resume'; journal: Journal }
  /** The unfinished operation changes course (another target, or a switchover undone): record `journal`, then run it. */
  | { type: 'replan'; journal: Journal; why: string }
  | { type: 'failover'; from: string; to: string; reason: string; position: Lsn }
  | { type: 'bootstrap'; node: string }
  | { type: 'fence'; node: string; reason: string }
  | { type: 'rejoin'; node: string; reason: string };

/** What one tick knows, computed once before the rows are matched. */
export interface Situation {
  now: number;
  isLeader: boolean;
  paused: boolean;
  published: Published | null;
  specs: NodeSpec[];
  primaryHosts: string[];
  verdict: PrimaryVerdict | null;
  own: AgentView | undefined;
  observations: Record<string, NodeObservation>;
  journal: Journal | null;
  timings: Timings;
  maxLagBytes: bigint;
  /** The recorded synchronous set; null when none is recorded. */
  sync: SyncRecord | null;
  streamingWatch: StreamingWatch;
  /** Whether the caller handed a watch in (without one, rejoin relies on the receiver's last contact). */
  hasStreamingWatch: boolean;
  /** Keys the decision needs whose etcd value did not parse, described. */
  unreadable: string[];
  /** Rule 1's fences: they go out alongside whatever row matches (see STANDING_RULES). */
  fences: Action[];
}

export interface Outcome {
  actions: Action[];
  notes: string[];
}

export interface Rule {
  id: string;
  /** The condition, in words, for `failover rules`. */
  when: string;
  /** What happens, in words. */
  then: string;
  /** Why this is right, for the operator reading `status` or `events`. */
  why: string;
  matches(s: Situation): boolean;
  decide(s: Situation): Outcome;
}

/** Rules that hold on every tick of a leader with a live view, alongside the row that matches. */
export const STANDING_RULES = [
  {
    id: 'fence-stray-primary',
    when: 'a node other than the published primary accepts writes (the target of an unfinished operation excepted)',
    then: 'fence it (stop its container), alongside whatever else is decided, paused or not',
    why: 'safety rule 1: one writable primary per epoch outranks everything',
  },
  {
    id: 'hold-writes-until-published',
    when: 'an operation has started (fence or stop) and has not yet published its new primary',
    then: 'the write endpoint holds new writes (PgBouncer PAUSE or KILL), whatever the etcd key still says',
    why: 'between the fence and the publication there is no primary a write may safely reach',
  },
  {
    id: 'route-writes-to-published',
    when: 'no operation is between its first step and its publication',
    then: 'the write endpoint points at the published primary, and only at it',
    why: 'etcd is the single source of truth for where writes go',
  },
  {
    id: 'promote-request-deferred',
    when: 'a promote request is pending while an operation runs or starts this tick, or the state is unreadable',
    then: 'leave the request for a later tick',
    why: 'one operation at a time; the request is judged on the state it will meet',
  },
  {
    id: 'promote-request-refused',
    when: 'a promote request names no node, the primary, a node that is down, not streaming, tagged noFailover or too far behind (without --force), or nothing is published',
    then: 'refuse it with the reason; change nothing',
    why: 'safety rules 3 and 7: a refusal is a result, and it leaves the cluster as it was',
  },
  {
    id: 'promote-request-accepted',
    when: 'a promote request passes every check',
    then: 'a planned switchover when the primary is healthy, a manual failover to the named node when it is not',
    why: 'the operator asked, and the same fenced, journaled steps as an automatic failover keep it safe',
  },
] as const;

export type StandingRuleId = (typeof STANDING_RULES)[number]['id'];

/** A `failover promote` request as the core sees it. */
export interface PromoteAsk {
  target: string;
  force: boolean;
}

export type RequestDecision =
  | { rule: 'promote-request-accepted'; plan: Extract<PromotePlan, { ok: true }> }
  | { rule: 'promote-request-refused'; reason: string }
  | { rule: 'promote-request-deferred' };

/** Whether the write endpoint holds writes this tick, and the standing rule that says so. */
export function writeEndpointRule(s: Situation): { hold: boolean; rule: StandingRuleId } {
  const journal = unfinished(s);
  const publishing = journal !== null && !journal.completed.some((c) => c.step === 'publish');
  return publishing ? { hold: true, rule: 'hold-writes-until-published' } : { hold: false, rule: 'route-writes-to-published' };
}

/** What becomes of a pending promote request, given what the matched row decided this tick. */
export function requestRule(s: Situation, ask: PromoteAsk | null, actions: readonly Action[]): RequestDecision | null {
  if (ask === null || !s.isLeader) return null;
  const busy = unfinished(s) !== null || actions.some((a) => a.type === 'failover' || a.type === 'resume') || s.unreadable.length > 0 || !liveView(s);
  if (busy) return { rule: 'promote-request-deferred' };
  if (s.published === null) return { rule: 'promote-request-refused', reason: 'no primary is published yet' };
  const plan = planPromote({
    target: ask.target,
    force: ask.force,
    published: s.published,
    verdict: s.verdict,
    specs: s.specs,
    observations: s.observations,
    primaryHosts: s.primaryHosts,
    lastKnownPrimaryLsn: parseDecimalLsn(s.published.lastLsn),
    maxLagBytes: s.maxLagBytes,
    sync: s.sync,
  });
  return plan.ok ? { rule: 'promote-request-accepted', plan } : { rule: 'promote-request-refused', reason: plan.reason };
}

const unfinished = (s: Situation): Journal | null => (s.journal !== null && !isFinished(s.journal) ? s.journal : null);
const liveView = (s: Situation): boolean => s.own !== undefined && isLiveView(s.own, s.now, s.timings.viewStaleMs);
const primariesAmong = (s: Situation): string[] =>
  s.specs.filter((spec) => isReachable(s.observations[spec.name]) && isWritablePrimary(s.observations[spec.name])).map((spec) => spec.name);
const verdictIs = (s: Situation, ...kinds: Array<PrimaryVerdict['kind']>): boolean => s.published !== null && s.verdict !== null && kinds.includes(s.verdict.kind);
const reasonOf = (v: PrimaryVerdict): string => ('reason' in v ? v.reason : v.kind);
const withFences = (s: Situation, actions: Action[] = [], notes: string[] = []): Outcome => ({ actions: [...s.fences, ...actions], notes });

export const DEFAULT_STEP_DEADLINE_MS = 20_000;

function rescue(s: Situation): Rescue | null {
  const journal = unfinished(s);
  if (journal === null || s.published === null) return null;
  return rescueOf({
    now: s.now,
    journal,
    specs: s.specs,
    observations: s.observations,
    publishedTimeline: s.published.timeline,
    lastKnownPrimaryLsn: parseDecimalLsn(s.published.lastLsn),
    maxLagBytes: s.maxLagBytes,
    sync: s.sync,
    stepDeadlineMs: s.timings.stepDeadlineMs ?? DEFAULT_STEP_DEADLINE_MS,
  });
}

function rejoinsOf(s: Situation) {
  return replicasToRejoin({
    now: s.now,
    published: s.published!,
    primaryHosts: s.primaryHosts,
    specs: s.specs,
    observations: s.observations,
    failureTimeMs: s.timings.failureTimeMs,
    ...(s.hasStreamingWatch ? { streamingWatch: s.streamingWatch } : {}),
  });
}

function candidateOf(s: Situation) {
  return chooseCandidate({
    specs: s.specs,
    observations: s.observations,
    failedPrimary: s.published!.name,
    lastKnownPrimaryLsn: parseDecimalLsn(s.published!.lastLsn),
    maxLagBytes: s.maxLagBytes,
    publishedTimeline: s.published!.timeline,
    sync: s.sync,
  });
}

function refusalOf(s: Situation) {
  const chosen = candidateOf(s);
  return chosen.ok ? null : chosen;
}

/** Published.lastLsn is a decimal string; an unreadable one means "unknown", not an error. */
function parseDecimalLsn(text: string | undefined): Lsn | null {
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : null;
}

export const RULES: readonly Rule[] = [
  {
    id: 'follower-observes',
    when: 'this agent is not the leader',
    then: 'nothing: publish the view, act on nothing',
    why: 'only the leader acts; the others vote with their views',
    matches: (s) => !s.isLeader,
    decide: () => ({ actions: [], notes: [] }),
  },
  {
    id: 'hold-unreadable-state',
    when: 'the published primary or the journal in etcd does not parse',
    then: 'nothing: name the key and the problem, until a person repairs or removes it',
    why: 'read as absent, a broken primary key would bootstrap a new epoch 1 and a broken journal would be forgotten half done',
    matches: (s) => s.unreadable.length > 0,
    decide: (s) => ({ actions: [], notes: s.unreadable.map((u) => `holding: unreadable ${u}`) }),
  },
  {
    id: 'hold-without-own-view',
    when: "the leader has no view of its own, or it is older than the failure time",
    then: 'resume an unfinished operation if there is one; decide nothing new',
    why: 'a decision needs fresh eyes; an operation already under way must still be able to end',
    matches: (s) => !liveView(s),
    decide: (s) => {
      const journal = unfinished(s);
      const why = s.own === undefined ? 'no view of our own yet' : `our own view is ${s.now - s.own.at} ms old`;
      return { actions: journal ? [{ type: 'resume', journal }] : [], notes: [`holding: ${why}`] };
    },
  },
  {
    id: 'replan-failover',
    when: 'an unpublished failover\'s target is down (container exited, dead or gone) or its step has failed for longer than the step deadline, and another safe candidate exists',
    then: 'continue the failover with the most advanced other candidate (the fence stays done); the abandoned target, should it run as a primary, is fenced as a stray',
    why: 'every operation can end: waiting for a dead target keeps writes held for ever, and nothing was published, so no client wrote to it',
    matches: (s) => rescue(s)?.kind === 'replan',
    decide: (s) => {
      const found = rescue(s) as Extract<Rescue, { kind: 'replan' }>;
      const journal = replanTo(unfinished(s)!, found.to, found.why, s.now);
      return withFences(s, [{ type: 'replan', journal, why: `${found.why}; ${journal.to} takes over the failover` }]);
    },
  },
  {
    id: 'switchover-becomes-failover',
    when: 'an unpublished switchover found its old primary down without a clean shutdown (or removed) when it came to stop it; or its rollback cannot end (the old primary removed, or not back within the step deadline)',
    then: 'continue as a failover: to the same target (or, when the target was fenced, to the best other replica), fenced, caught up with what it received, promoted',
    why: 'the primary crashed or was killed as the switchover began, or cannot be brought back: there is nothing to stop cleanly or to restart, and writes must not stay held for ever',
    matches: (s) => rescue(s)?.kind === 'become-failover',
    decide: (s) => {
      const found = rescue(s) as Extract<Rescue, { kind: 'become-failover' }>;
      const journal = asFailover(unfinished(s)!, found.why, s.now, found.to);
      return withFences(s, [{ type: 'replan', journal, why: `${found.why}: the switchover continues as a failover to ${journal.to}` }]);
    },
  },
  {
    id: 'roll-back-switchover',
    when: 'an unpublished switchover\'s target is down or its step has failed for longer than the step deadline',
    then: 'undo it: fence the target if its promotion was attempted, and start the cleanly stopped old primary as the primary again',
    why: 'the old primary stopped cleanly with every acknowledged write and nothing was published: undoing loses nothing, waiting keeps writes held',
    matches: (s) => rescue(s)?.kind === 'roll-back',
    decide: (s) => {
      const found = rescue(s)!;
      return withFences(s, [{ type: 'replan', journal: rollBack(unfinished(s)!, found.why, s.now), why: `switchover rolled back: ${found.why}` }]);
    },
  },
  {
    id: 'resume-operation',
    when: 'an operation (failover or switchover) is journaled and not finished',
    then: 'resume it at its current step; decide nothing new (say why when its target is lost and nothing else is safe)',
    why: 'safety rule 5: a half-done operation is rolled forward before anything else',
    matches: (s) => unfinished(s) !== null,
    // Fences first: the leader carries actions out in order, and an operation can take seconds.
    decide: (s) => {
      const stuck = rescue(s);
      return withFences(s, [{ type: 'resume', journal: unfinished(s)! }], stuck?.kind === 'stuck' ? [`operation stuck at ${unfinished(s)!.step}: ${stuck.why}`] : []);
    },
  },
  {
    id: 'bootstrap-single-primary',
    when: 'nothing is published and exactly one reachable node runs as a primary',
    then: 'publish it as the primary of epoch 1',
    why: 'the cluster as it was built: one primary, no choice to make',
    matches: (s) => s.published === null && primariesAmong(s).length === 1,
    decide: (s) => ({ actions: [{ type: 'bootstrap', node: primariesAmong(s)[0]! }], notes: [] }),
  },
  {
    id: 'bootstrap-no-primary',
    when: 'nothing is published and no reachable node runs as a primary',
    then: 'nothing; say so',
    why: 'there is nothing to publish, and promoting a replica without a known primary would be a guess',
    matches: (s) => s.published === null && primariesAmong(s).length === 0,
    decide: () => ({ actions: [], notes: ['no primary published and no reachable node runs as a primary'] }),
  },
  {
    id: 'bootstrap-refuse-several',
    when: 'nothing is published and several nodes run as primaries',
    then: 'nothing; name them',
    why: 'choosing between two primaries would discard one of them: a person must decide',
    matches: (s) => s.published === null,
    decide: (s) => {
      const primaries = primariesAmong(s);
      return { actions: [], notes: [`no primary published and ${primaries.length} nodes run as primaries (${primaries.join(', ')}): refusing to choose`] };
    },
  },
  {
    id: 'failed-while-paused',
    when: 'the primary is failed and the cluster is paused',
    then: 'no failover; say what would have happened',
    why: 'maintenance mode: a person is working on the cluster',
    matches: (s) => verdictIs(s, 'failed') && s.paused,
    decide: (s) => withFences(s, [], [`paused: automatic failover suspended (${reasonOf(s.verdict!)})`]),
  },
  {
    id: 'failed-awaiting-sync-quorum',
    when: 'the primary is failed, the recorded synchronous set promises, and fewer than n-k+1 of its n members can be seen',
    then: 'no failover; wait for the members, and say which are missing (promote --force overrides, and says what may be lost)',
    why: 'safety rule 9: with ANY k of n, a member that cannot be seen may hold the last acknowledged commit; promoting another would lose it',
    matches: (s) => verdictIs(s, 'failed') && refusalOf(s)?.cause === 'sync-quorum',
    decide: (s) => withFences(s, [], [`failover waits: ${refusalOf(s)!.reason}`]),
  },
  {
    id: 'failed-no-safe-candidate',
    when: 'the primary is failed and no replica is a safe candidate',
    then: 'no failover; say why each replica was refused',
    why: 'safety rule 3: promoting an unsafe replica loses acknowledged writes',
    matches: (s) => verdictIs(s, 'failed') && !candidateOf(s).ok,
    decide: (s) => {
      const chosen = candidateOf(s);
      return withFences(s, [], chosen.ok ? [] : [`failover refused: ${chosen.reason}`]);
    },
  },
  {
    id: 'failed-failover',
    when: 'the primary is failed and a safe candidate exists',
    then: 'fail over to the most advanced safe replica',
    why: 'safety rule 2 gave the evidence; rule 3 chose the replica that loses the least',
    matches: (s) => verdictIs(s, 'failed'),
    decide: (s) => {
      const chosen = candidateOf(s);
      if (!chosen.ok) return withFences(s, [], [`failover refused: ${chosen.reason}`]);
      return withFences(s, [{ type: 'failover', from: s.published!.name, to: chosen.name, reason: reasonOf(s.verdict!), position: chosen.position }]);
    },
  },
  {
    id: 'healthy-rejoin-paused',
    when: 'the primary is healthy, a replica needs a rejoin, and the cluster is paused',
    then: 'no rejoin; say which replica would be rejoined',
    why: 'maintenance mode means hands off the data: a rebuild waits for resume',
    matches: (s) => verdictIs(s, 'healthy') && s.paused && rejoinsOf(s).length > 0,
    decide: (s) => withFences(s, [], rejoinsOf(s).map((need) => `paused: would rejoin ${need.node} (${need.reason})`)),
  },
  {
    id: 'healthy',
    when: 'the primary is healthy',
    then: 'rejoin every replica that stopped following it for longer than the failure time (none if all follow)',
    why: 'a replica that does not stream from the primary is no candidate for the next failover',
    matches: (s) => verdictIs(s, 'healthy'),
    decide: (s) => withFences(s, rejoinsOf(s).map((need) => ({ type: 'rejoin' as const, ...need }))),
  },
  {
    id: 'published-primary-read-only',
    when: 'the published primary answers but is in recovery (started with standby.signal, or demoted by hand)',
    then: 'no failover and no rebuild; say so, and how a person can end it',
    why: 'it loses no write by waiting, but may hold WAL the replicas lack: promoting it again or failing over to a replica is a choice between positions that a person makes (`failover promote <node> --force`)',
    matches: (s) => verdictIs(s, 'read-only'),
    decide: (s) => withFences(s, [], [`${reasonOf(s.verdict!)}; failover promote <node> --force fails over to a replica, or pg_ctl promote on it makes it writable again`]),
  },
  {
    id: 'primary-in-doubt',
    when: 'otherwise: the primary is suspect, partitioned from the agents, or unknown',
    then: 'no failover and no rebuild; say why',
    why: 'safety rule 2: no failover on a hunch; a rebuild could wipe the standby a failover might need',
    // The rows above took every other case: this last row always matches.
    matches: () => true,
    decide: (s) => withFences(s, [], [reasonOf(s.verdict!)]),
  },
];

/** The first row whose condition holds; the last row always does. */
export function matchRule(s: Situation): Rule {
  return RULES.find((rule) => rule.matches(s))!;
}
