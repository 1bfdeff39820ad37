// Is the published primary alive? The answer has to satisfy safety rule 2: no
// failover on a hunch. Docker's word that the process is gone is enough on its
// own; silence over SQL is not, until it has lasted failureTimeMs, a majority
// of live agents share it, and no replica has heard from the primary lately.
import { isContainerNotRunning, isLiveView, liveViews, sqlOf, streamsFrom } from './liveness.js';
import type { AgentView, NodeObservation, Timings } from './types.js';

export interface PrimaryAssessmentInput {
  now: number;
  selfId: string;
  /** Node name of the published primary. */
  primary: string;
  /** Hostnames the primary is known by, to match a replica's upstreamHost. */
  primaryHosts: string[];
  /** Every agent's view, our own included. */
  views: AgentView[];
  timings: Timings;
  /** When the primary was published (ms): a probe older than that saw it before its promotion. */
  publishedAt?: number;
}

export type PrimaryVerdict =
  | { kind: 'healthy' }
  | { kind: 'suspect'; reason: string; failingForMs: number }
  | { kind: 'failed'; cause: 'container-not-running' | 'unreachable'; reason: string; failingForMs: number }
  | { kind: 'partition'; reason: string; replica: string; receiptAgeMs: number }
  | { kind: 'read-only'; reason: string }
  | { kind: 'unknown'; reason: string };

export function assessPrimary(input: PrimaryAssessmentInput): PrimaryVerdict {
  const { now, selfId, primary, views, timings } = input;
  const own = views.find((view) => view.agentId === selfId);
  if (own === undefined) return { kind: 'unknown', reason: `agent ${selfId} has no view of its own yet` };
  // Acting on our own stale picture would be acting on a hunch about the past.
  if (!isLiveView(own, now, timings.viewStaleMs)) {
    return { kind: 'unknown', reason: `agent ${selfId}'s own view is ${now - own.at} ms old` };
  }
  const seen = own.nodes[primary];
  if (seen === undefined) return { kind: 'unknown', reason: `primary ${primary} is not in agent ${selfId}'s view` };

  const failingForMs = failingFor(seen, now, views, input.publishedAt);
  // Seen down only before it was (re)published: a rolled-back switchover's old primary was
  // stopped a moment before it became the primary again. Not news; the next probe will tell.
  if (isContainerNotRunning(seen.container) && input.publishedAt !== undefined && seen.at < input.publishedAt) {
    return { kind: 'suspect', reason: `primary ${primary} was last seen ${seen.container}, before its publication; waiting for a newer look`, failingForMs };
  }
  if (isContainerNotRunning(seen.container)) {
    return {
      kind: 'failed',
      cause: 'container-not-running',
      reason: `primary ${primary}'s container is ${seen.container}`,
      failingForMs,
    };
  }
  // Answering is not enough: a published primary in recovery takes no writes.
  if (seen.sql.ok) {
    // A probe from before the publication saw the new primary still a standby: not news.
    if (!seen.sql.inRecovery || (input.publishedAt !== undefined && seen.at < input.publishedAt)) return { kind: 'healthy' };
    return { kind: 'read-only', reason: `primary ${primary} answers but is in recovery (read-only): no node accepts writes` };
  }

  const error = seen.sql.error;
  if (failingForMs < timings.failureTimeMs) {
    return {
      kind: 'suspect',
      reason: `primary ${primary} has not answered SQL for ${failingForMs} ms (failure after ${timings.failureTimeMs} ms): ${error}`,
      failingForMs,
    };
  }

  const live = liveViews(views, now, timings.viewStaleMs);
  const agreeing = live.filter((view) => seesDown(view.nodes[primary], timings.failureTimeMs, input.publishedAt)).length;
  if (agreeing * 2 <= live.length) {
    return {
      kind: 'suspect',
      reason: `only ${agreeing} of ${live.length} live agents see primary ${primary} down; a majority is needed`,
      failingForMs,
    };
  }

  const heard = freshestReceipt(live, input);
  if (heard !== null && heard.receiptAgeMs < timings.failureTimeMs) {
    return {
      kind: 'partition',
      reason: `${heard.replica} heard from primary ${primary} ${heard.receiptAgeMs} ms ago; the primary is alive but unreachable from the agents`,
      replica: heard.replica,
      receiptAgeMs: heard.receiptAgeMs,
    };
  }

  return {
    kind: 'failed',
    cause: 'unreachable',
    reason: `primary ${primary} has not answered SQL for ${failingForMs} ms and ${agreeing} of ${live.length} live agents agree: ${error}`,
    failingForMs,
  };
}

/**
 * How long SQL has been failing, as this agent saw it. When it never saw the
 * primary answer, count from the oldest view we hold instead of from zero: a
 * primary we know nothing about must wait out the failure time like any other,
 * never be declared failed on the first probe. Never from before its publication.
 */
function failingFor(seen: NodeObservation, now: number, views: readonly AgentView[], publishedAt: number | undefined): number {
  const since = Math.max(seen.lastSqlOkAt ?? Math.min(...views.map((view) => view.at)), publishedAt ?? -Infinity);
  return Math.max(0, now - since);
}

/** One agent's vote that the primary is down: gone per Docker, or silent for the failure time. */
function seesDown(observation: NodeObservation | undefined, failureTimeMs: number, publishedAt: number | undefined): boolean {
  if (observation === undefined) return false;
  // Silence before the publication does not count (see failingFor).
  if (publishedAt !== undefined && observation.at < publishedAt) return false;
  if (isContainerNotRunning(observation.container)) return true;
  return !observation.sql.ok && observation.at - Math.max(observation.lastSqlOkAt ?? 0, publishedAt ?? 0) >= failureTimeMs;
}

/**
 * The most recent sign of life a replica received from the primary, aged to
 * `now`: a probe taken a while ago proves the primary spoke at (probe time -
 * receipt age), not at the probe time, so a slow view cannot hold off a
 * failover for longer than the evidence supports.
 */
function freshestReceipt(
  live: readonly AgentView[],
  input: PrimaryAssessmentInput,
): { replica: string; receiptAgeMs: number } | null {
  let best: { replica: string; receiptAgeMs: number } | null = null;
  for (const view of live) {
    for (const [name, observation] of Object.entries(view.nodes)) {
      if (name === input.primary) continue;
      const sql = sqlOf(observation);
      if (sql === null || sql.receiptAgeMs === null || !streamsFrom(sql, input.primaryHosts)) continue;
      const receiptAgeMs = sql.receiptAgeMs + Math.max(0, input.now - observation.at);
      if (best === null || receiptAgeMs < best.receiptAgeMs || (receiptAgeMs === best.receiptAgeMs && name < best.replica)) {
        best = { replica: name, receiptAgeMs };
      }
    }
  }
  return best;
}
