// One agent tick: observations and the time in, actions out. The agent carries
// out the actions; nothing here performs I/O, so every safety rule can be
// replayed in a unit test. What to do is not written here but in the rule table
// (rules.ts): decide() computes the situation once and takes its first matching row.
import { assessPrimary, type PrimaryVerdict } from './detector.js';
import { isFinished, type Journal } from './journal.js';
import { isWritablePrimary } from './liveness.js';
import { matchRule, requestRule, writeEndpointRule, type Action, type PromoteAsk, type RequestDecision, type Situation, type StandingRuleId } from './rules.js';
import { EMPTY_STREAMING_WATCH, watchStreaming, type StreamingWatch } from './streaming-watch.js';
import type { SyncRecord } from './sync-set.js';
import type { AgentView, NodeObservation, NodeSpec, Published, Timings } from './types.js';

export type { Action } from './rules.js';

export interface DecideInput {
  now: number;
  selfId: string;
  isLeader: boolean;
  paused: boolean;
  published: Published | null;
  specs: NodeSpec[];
  /** Node name -> hostnames it is known by. */
  hostsOf: Record<string, string[]>;
  views: AgentView[];
  journal: Journal | null;
  timings: Timings;
  maxLagBytes: bigint;
  /** The recorded synchronous set (the `sync` key): while it promises, only its members may be promoted. */
  sync?: SyncRecord | null;
  /** The watch decide() returned last tick; without it, rejoin relies on the receiver's last contact. */
  streamingWatch?: StreamingWatch;
  /** Keys the leader needs (the published primary, the journal) whose etcd value did not parse, described. */
  unreadable?: string[];
  /** A pending `failover promote` request. */
  request?: PromoteAsk | null;
}

export interface Decision {
  /** The id of the rule row that decided (see rules.ts and `failover rules`). */
  rule: string;
  verdict: PrimaryVerdict | null;
  actions: Action[];
  /** Human reasons for refusals and holds, shown in status. */
  notes: string[];
  /** Hand this back as `streamingWatch` on the next tick. */
  streamingWatch: StreamingWatch;
  /** Whether the write endpoint holds writes, and the standing rule behind it. */
  writeEndpoint: { hold: boolean; rule: StandingRuleId };
  /** What becomes of a pending promote request (null: none pending, or not the leader). */
  request: RequestDecision | null;
}

export function decide(input: DecideInput): Decision {
  const situation = situationOf(input);
  const rule = matchRule(situation);
  const { actions, notes } = rule.decide(situation);
  return {
    rule: rule.id,
    verdict: situation.verdict,
    actions,
    notes,
    streamingWatch: situation.streamingWatch,
    writeEndpoint: writeEndpointRule(situation),
    request: requestRule(situation, input.request ?? null, actions),
  };
}

function situationOf(input: DecideInput): Situation {
  const { now, published, timings } = input;
  const primaryHosts = published === null ? [] : hostsOfPrimary(input, published);
  const verdict =
    published === null
      ? null
      : assessPrimary({ now, selfId: input.selfId, primary: published.name, primaryHosts, views: input.views, timings, ...publishedAtOf(published, now) });
  const own = input.views.find((view) => view.agentId === input.selfId);
  const observations = own?.nodes ?? {};
  const streamingWatch = watchStreaming(input.streamingWatch ?? EMPTY_STREAMING_WATCH, {
    now,
    primary: published?.name ?? null,
    primaryHosts,
    observations,
  });
  return {
    now,
    isLeader: input.isLeader,
    paused: input.paused,
    published,
    specs: input.specs,
    primaryHosts,
    verdict,
    own,
    observations,
    journal: input.journal,
    timings,
    maxLagBytes: input.maxLagBytes,
    sync: input.sync ?? null,
    streamingWatch,
    hasStreamingWatch: input.streamingWatch !== undefined,
    unreadable: input.unreadable ?? [],
    fences: fenceStrays(input, observations),
  };
}

/**
 * Any node other than the published primary that accepts writes. While an
 * operation is under way its target is promoted before it is published, so
 * it is not a stray during that window.
 */
function fenceStrays(input: DecideInput, observations: Record<string, NodeObservation>): Action[] {
  if (input.published === null) return [];
  const publishedName = input.published.name;
  const promoting = input.journal !== null && !isFinished(input.journal) ? input.journal.to : null;
  return input.specs
    .filter((spec: NodeSpec) => spec.name !== publishedName && spec.name !== promoting)
    .filter((spec) => isWritablePrimary(observations[spec.name]))
    .map((spec) => ({
      type: 'fence' as const,
      node: spec.name,
      reason: `${spec.name} accepts writes but the published primary is ${publishedName} (epoch ${input.published?.epoch})`,
    }));
}

/**
 * `since` is another agent's wall clock, read from etcd: a value in the future (a clock ahead,
 * a bad value) would hold detection off until then, so it is not used at all.
 */
function publishedAtOf(published: Published, now: number): { publishedAt?: number } {
  const at = Date.parse(published.since);
  return Number.isFinite(at) && at <= now ? { publishedAt: at } : {};
}

function hostsOfPrimary(input: DecideInput, published: Published): string[] {
  const known = input.hostsOf[published.name] ?? [];
  return known.includes(published.host) ? known : [...known, published.host];
}
