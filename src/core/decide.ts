// One agent tick: observations and the time in, actions out. The agent carries
// out the actions; nothing here performs I/O, so every safety rule can be
// replayed in a unit test.
import { chooseCandidate } from './candidate.js';
import { assessPrimary, type PrimaryVerdict } from './detector.js';
import { isFinished, type Journal } from './journal.js';
import { isLiveView, isWritablePrimary, isReachable } from './liveness.js';
import { replicasToRejoin } from './rejoin.js';
import { EMPTY_STREAMING_WATCH, watchStreaming, type StreamingWatch } from './streaming-watch.js';
import type { AgentView, Lsn, NodeObservation, NodeSpec, Published, Timings } from './types.js';

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
  syncStandbys?: string[];
  /** The watch decide() returned last tick; without it, rejoin relies on the receiver's last contact. */
  streamingWatch?: StreamingWatch;
}

export type Action =
  | { type: 'resume'; journal: Journal }
  | { type: 'failover'; from: string; to: string; reason: string; position: Lsn }
  | { type: 'bootstrap'; node: string }
  | { type: 'fence'; node: string; reason: string }
  | { type: 'rejoin'; node: string; reason: string };

export interface Decision {
  verdict: PrimaryVerdict | null;
  actions: Action[];
  /** Human reasons for refusals and holds, shown in status. */
  notes: string[];
  /** Hand this back as `streamingWatch` on the next tick. */
  streamingWatch: StreamingWatch;
}

export function decide(input: DecideInput): Decision {
  const { now, published, timings } = input;
  const primaryHosts = published === null ? [] : hostsOfPrimary(input, published);
  const verdict =
    published === null
      ? null
      : assessPrimary({ now, selfId: input.selfId, primary: published.name, primaryHosts, views: input.views, timings });
  const own = input.views.find((view) => view.agentId === input.selfId);
  const observations = own?.nodes ?? {};
  const streamingWatch = watchStreaming(input.streamingWatch ?? EMPTY_STREAMING_WATCH, {
    now,
    primary: published?.name ?? null,
    primaryHosts,
    observations,
  });
  const decision = (actions: Action[], notes: string[]): Decision => ({ verdict, actions, notes, streamingWatch });

  if (!input.isLeader) return decision([], []);

  const resume: Action[] = input.journal !== null && !isFinished(input.journal) ? [{ type: 'resume', journal: input.journal }] : [];
  if (own === undefined || !isLiveView(own, now, timings.viewStaleMs)) {
    const why = own === undefined ? 'no view of our own yet' : `our own view is ${now - own.at} ms old`;
    return decision(resume, [`holding: ${why}`]);
  }

  // Rule 1 outranks everything, pause and half-done operations included.
  const fences = fenceStrays(input, observations);
  if (resume.length > 0) return decision([...resume, ...fences], []);

  if (published === null) return bootstrap(input.specs, observations, decision);
  if (verdict === null) return decision(fences, []);

  switch (verdict.kind) {
    case 'failed':
      return onFailed(input, published, verdict.reason, observations, fences, decision);
    case 'healthy': {
      const rejoins = replicasToRejoin({
        now,
        published,
        primaryHosts,
        specs: input.specs,
        observations,
        failureTimeMs: timings.failureTimeMs,
        ...(input.streamingWatch === undefined ? {} : { streamingWatch }),
      });
      // Maintenance mode means hands off the data: a rebuild waits for resume.
      if (input.paused) return decision(fences, rejoins.map((need) => `paused: would rejoin ${need.node} (${need.reason})`));
      return decision([...fences, ...rejoins.map((need) => ({ type: 'rejoin' as const, ...need }))], []);
    }
    // Replicas are not rebuilt while the primary is in doubt: a rebuild would
    // wipe the very standby a failover might need.
    case 'suspect':
    case 'partition':
    case 'unknown':
      return decision(fences, [verdict.reason]);
  }
}

function onFailed(
  input: DecideInput,
  published: Published,
  why: string,
  observations: Record<string, NodeObservation>,
  fences: Action[],
  decision: (actions: Action[], notes: string[]) => Decision,
): Decision {
  if (input.paused) return decision(fences, [`paused: automatic failover suspended (${why})`]);
  const chosen = chooseCandidate({
    specs: input.specs,
    observations,
    failedPrimary: published.name,
    lastKnownPrimaryLsn: parseDecimalLsn(published.lastLsn),
    maxLagBytes: input.maxLagBytes,
    ...(input.syncStandbys === undefined ? {} : { syncStandbys: input.syncStandbys }),
  });
  if (!chosen.ok) return decision(fences, [`failover refused: ${chosen.reason}`]);
  const failover: Action = { type: 'failover', from: published.name, to: chosen.name, reason: why, position: chosen.position };
  return decision([...fences, failover], []);
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
    .filter((spec) => spec.name !== publishedName && spec.name !== promoting)
    .filter((spec) => isWritablePrimary(observations[spec.name]))
    .map((spec) => ({
      type: 'fence' as const,
      node: spec.name,
      reason: `${spec.name} accepts writes but the published primary is ${publishedName} (epoch ${input.published?.epoch})`,
    }));
}

/** Nothing published yet: publish the one node that runs as a primary, and never guess between two. */
function bootstrap(
  specs: NodeSpec[],
  observations: Record<string, NodeObservation>,
  decision: (actions: Action[], notes: string[]) => Decision,
): Decision {
  const primaries = specs
    .filter((spec) => isReachable(observations[spec.name]) && isWritablePrimary(observations[spec.name]))
    .map((spec) => spec.name);
  const [only] = primaries;
  if (primaries.length === 1 && only !== undefined) return decision([{ type: 'bootstrap', node: only }], []);
  if (primaries.length === 0) return decision([], ['no primary published and no reachable node runs as a primary']);
  return decision([], [`no primary published and ${primaries.length} nodes run as primaries (${primaries.join(', ')}): refusing to choose`]);
}

function hostsOfPrimary(input: DecideInput, published: Published): string[] {
  const known = input.hostsOf[published.name] ?? [];
  return known.includes(published.host) ? known : [...known, published.host];
}

/** Published.lastLsn is a decimal string; an unreadable one means "unknown", not an error. */
function parseDecimalLsn(text: string | undefined): Lsn | null {
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : null;
}
