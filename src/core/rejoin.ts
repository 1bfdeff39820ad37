// Which replicas must be rejoined from the published primary. A rejoin may stop a
// standby for a rewind or a clone (core/rejoin-method.ts chooses), so it is only ever
// proposed with evidence that the standby will not find its way back on its own.
import { sqlOf, streamsFrom } from './liveness.js';
import type { StreamingWatch } from './streaming-watch.js';
import type { NodeObservation, NodeSpec, Published } from './types.js';

export interface RejoinInput {
  now: number;
  published: Published;
  primaryHosts: string[];
  specs: NodeSpec[];
  /** Our own view's observations. */
  observations: Record<string, NodeObservation>;
  failureTimeMs: number;
  streamingWatch?: StreamingWatch;
}

export interface RejoinNeed {
  node: string;
  reason: string;
}

export function replicasToRejoin(input: RejoinInput): RejoinNeed[] {
  const needs: RejoinNeed[] = [];
  for (const spec of input.specs) {
    if (spec.name === input.published.name) continue;
    const reason = rejoinReason(spec.name, input);
    if (reason !== null) needs.push({ node: spec.name, reason });
  }
  return needs;
}

function rejoinReason(name: string, input: RejoinInput): string | null {
  const observation = input.observations[name];
  const sql = sqlOf(observation);
  // Only a running standby can be rebuilt; a writable stray is fenced instead.
  if (observation === undefined || sql === null || observation.container !== 'running' || !sql.inRecovery) return null;
  if (streamsFrom(sql, input.primaryHosts)) return null;

  const primary = input.published.name;
  // An older timeline that is not streaming diverged at the promotion (the old
  // primary, or a standby that missed the switch): waiting will not fix it.
  if (sql.timeline < input.published.timeline && !sql.streaming) {
    return `${name} is on timeline ${sql.timeline}, behind the published timeline ${input.published.timeline}, and not streaming`;
  }
  const notStreamingMs = notStreamingFor(name, observation, input);
  if (notStreamingMs === null || notStreamingMs <= input.failureTimeMs) return null;
  const upstream = sql.streaming ? `streams from ${sql.upstreamHost ?? 'an unknown host'}` : 'is not streaming';
  return `${name} ${upstream}, not from primary ${primary}, for ${notStreamingMs} ms`;
}

/**
 * How long the standby has been cut off from the primary: from the agent's
 * watch when it has one; otherwise from the receiver's last contact, but only
 * when it is not streaming at all (a receiver streaming from the wrong host
 * hears from that host, which says nothing about the primary). Null: unknown.
 */
function notStreamingFor(name: string, observation: NodeObservation, input: RejoinInput): number | null {
  const watch = input.streamingWatch;
  if (watch !== undefined && watch.primary === input.published.name) {
    const since = watch.notStreamingSince[name];
    return since === undefined ? null : Math.max(0, input.now - since);
  }
  const sql = sqlOf(observation);
  if (sql === null || sql.streaming || sql.receiptAgeMs === null) return null;
  return sql.receiptAgeMs + Math.max(0, input.now - observation.at);
}
