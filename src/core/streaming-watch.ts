// Since when has each replica not been streaming from the published primary?
// A single probe cannot say how long a condition has lasted, so the agent keeps
// this small piece of memory between ticks and hands it back to decide(). It is
// a pure reducer: the same previous watch and view always give the same result.
import { sqlOf, streamsFrom } from './liveness.js';
import type { NodeObservation } from './types.js';

export interface StreamingWatch {
  /** The published primary the times refer to; a new primary starts the watch afresh. */
  primary: string | null;
  /** Node name -> when we first saw it reachable, in recovery, and not streaming from the primary. */
  notStreamingSince: Record<string, number>;
}

export const EMPTY_STREAMING_WATCH: StreamingWatch = { primary: null, notStreamingSince: {} };

export interface StreamingWatchInput {
  now: number;
  primary: string | null;
  primaryHosts: string[];
  /** Our own view's observations. */
  observations: Record<string, NodeObservation>;
}

export function watchStreaming(previous: StreamingWatch, input: StreamingWatchInput): StreamingWatch {
  const carried = previous.primary === input.primary ? previous.notStreamingSince : {};
  const notStreamingSince: Record<string, number> = {};
  if (input.primary === null) return { primary: null, notStreamingSince };
  for (const [name, observation] of Object.entries(input.observations)) {
    if (name === input.primary) continue;
    const sql = sqlOf(observation);
    // A node that is down or restarting gets a fresh clock when it is back:
    // a standby needs a few seconds to connect, and must not be rebuilt for it.
    if (sql === null || observation.container !== 'running' || !sql.inRecovery) continue;
    if (streamsFrom(sql, input.primaryHosts)) continue;
    notStreamingSince[name] = carried[name] ?? Math.min(observation.at, input.now);
  }
  return { primary: input.primary, notStreamingSince };
}
