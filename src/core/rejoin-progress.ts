// How far each rejoin has got, and what to try next: a pure reducer beside
// streaming-watch.ts. A replica that does not follow the published primary goes
//   idle -> re-pointed at t -> (still not streaming) rebuilding -> rebuilt at t -> idle
// with grace windows so that a node just re-pointed or rebuilt gets time to start
// streaming before it is judged again. The agent keeps the progress between ticks and
// carries out the step this returns; nothing here performs I/O or reads the clock.

export interface RejoinProgress {
  /** Node -> when it was last re-pointed (by a rejoin, or by an operation's repoint step). */
  repointedAt: Record<string, number>;
  /** Node -> when its last rebuild finished. */
  rebuiltAt: Record<string, number>;
}

export const EMPTY_REJOIN_PROGRESS: RejoinProgress = { repointedAt: {}, rebuiltAt: {} };

export interface RejoinTimings {
  /** After a re-point, how long a node gets to start streaming before it is judged again. */
  graceMs: number;
  /** A freshly rebuilt standby needs a moment to start streaming: at least this long. */
  rebuiltGraceMs: number;
  /** A re-point this recent that did not help is followed by a rebuild, not by another re-point. */
  repointMemoryMs: number;
}

export const REJOIN_TIMINGS = (graceMs: number): RejoinTimings => ({ graceMs, rebuiltGraceMs: Math.max(graceMs, 5000), repointMemoryMs: 30_000 });

export type RejoinStep =
  | { kind: 'wait'; why: string }
  | { kind: 'repoint'; why: string }
  | { kind: 'rebuild'; why: string };

/**
 * The next step for `node`. `wasOldPrimary`: the last failover fenced it, so its WAL
 * likely went past the fork and only a rebuild (later: a rewind) brings it back.
 */
export function nextRejoinStep(progress: RejoinProgress, node: string, now: number, wasOldPrimary: boolean, timings: RejoinTimings): RejoinStep {
  const repointed = progress.repointedAt[node];
  const rebuilt = progress.rebuiltAt[node];
  if (repointed !== undefined && now - repointed < timings.graceMs && !wasOldPrimary) {
    return { kind: 'wait', why: `re-pointed ${now - repointed} ms ago; giving it ${timings.graceMs} ms to follow` };
  }
  if (rebuilt !== undefined && now - rebuilt < timings.rebuiltGraceMs) {
    return { kind: 'wait', why: `rebuilt ${now - rebuilt} ms ago; giving it ${timings.rebuiltGraceMs} ms to start streaming` };
  }
  if (wasOldPrimary) return { kind: 'rebuild', why: 'the old primary of the last failover: its WAL may have gone past the fork' };
  if (repointed !== undefined && now - repointed < timings.repointMemoryMs) {
    return { kind: 'rebuild', why: `re-pointed ${now - repointed} ms ago and still not streaming` };
  }
  return { kind: 'repoint', why: 'not streaming from the primary' };
}

/** A node was re-pointed at `now`. */
export function repointed(progress: RejoinProgress, nodes: readonly string[], now: number): RejoinProgress {
  return { ...progress, repointedAt: { ...progress.repointedAt, ...Object.fromEntries(nodes.map((n) => [n, now])) } };
}

/** A node's rebuild finished at `now`: the re-point that did not help is forgotten. */
export function rebuilt(progress: RejoinProgress, node: string, now: number): RejoinProgress {
  const { [node]: _forgotten, ...repointedAt } = progress.repointedAt;
  return { repointedAt, rebuiltAt: { ...progress.rebuiltAt, [node]: now } };
}
