// How a node that does not follow the published primary comes back: the cheapest correct
// path, as rows read in order (first match wins), like the decision table in rules.ts.
//   follow  its WAL ends at or before the point where the published timeline forked from its
//           own: standby.signal and primary_conninfo, nothing copied;
//   rewind  it went past the fork (or crashed, so where its WAL ends is unknown): pg_rewind
//           copies back only what changed, then it follows;
//   clone   only when there is no data, or rewinding (or following) did not work: a
//           pg_basebackup into a side directory, swapped in only once complete.
// Some rows wait or refuse instead: no copy while the primary is unreachable from the node
// (it would fail, and a cut replica comes back by following), none of a node that may hold
// WAL the primary lacks (safety rule 4), and a failed attempt is retried with backoff.
// Pure: the facts and the time come in, one choice comes out.
import type { Lsn } from './types.js';

export const REJOIN_METHODS = ['follow', 'rewind', 'clone'] as const;
export type RejoinMethod = (typeof REJOIN_METHODS)[number];

/** Where a node's WAL is: its timeline, and where it ends when that is known. */
export interface NodeWal {
  timeline: number;
  /**
   * Where its last record ends (a standby's replayed or received position; after a clean shutdown,
   * anything past the start of the shutdown checkpoint record); null after a crash (the end is
   * known only by replaying).
   */
  end: Lsn | null;
}

/** One line of the published primary's timeline history: `timeline` ended at `switchpoint`. */
export interface TimelineSwitch {
  timeline: number;
  switchpoint: Lsn;
}

/** What was tried for one node, and how it went: kept by the leader between ticks (and in etcd). */
export interface RejoinAttempts {
  /** Methods that failed since the node last followed the primary, in order. */
  failed: RejoinMethod[];
  /** When the last attempt failed; null when none did. */
  lastFailedAt: number | null;
  /** When the node was last pointed at the primary (a follow), and not yet seen streaming. */
  followedAt: number | null;
}

export const NO_ATTEMPTS: RejoinAttempts = { failed: [], lastFailedAt: null, followedAt: null };

export interface RejoinTimings {
  /** After a follow, how long the node gets to start streaming before it is judged again. */
  followGraceMs: number;
  /** The first retry after a failure waits this long; each further one twice as long... */
  backoffBaseMs: number;
  /** ...up to this. */
  backoffMaxMs: number;
}

export const DEFAULT_REJOIN_TIMINGS: RejoinTimings = { followGraceMs: 5000, backoffBaseMs: 2000, backoffMaxMs: 60_000 };

export interface RejoinFacts {
  now: number;
  node: string;
  /** The node's WAL; null when it holds no data directory PostgreSQL could start from. */
  wal: NodeWal | null;
  /** The published primary: its timeline, and its current position when known. */
  primary: { name: string; timeline: number; lsn: Lsn | null };
  /** The published primary's timeline history (empty on timeline 1); null when it could not be read. */
  history: TimelineSwitch[] | null;
  /** Whether the primary answers from the node's own network; null when not asked (a stopped node). */
  sourceReachable: boolean | null;
  attempts: RejoinAttempts;
  timings: RejoinTimings;
}

export type RejoinChoice =
  | { kind: 'rejoin'; method: RejoinMethod; rule: string; why: string }
  | { kind: 'wait' | 'refuse'; rule: string; why: string };

export interface RejoinRule {
  id: string;
  when: string;
  then: string;
  why: string;
  choose(f: RejoinFacts): RejoinChoice | null;
}

/** Where the published history left the node's timeline: null when that timeline is not in it. */
export function forkPointOf(history: readonly TimelineSwitch[], timeline: number): Lsn | null {
  return history.find((h) => h.timeline === timeline)?.switchpoint ?? null;
}

export function backoffMs(failures: number, timings: RejoinTimings): number {
  if (failures <= 0) return 0;
  return Math.min(timings.backoffMaxMs, timings.backoffBaseMs * 2 ** Math.min(failures - 1, 20));
}

const failedBefore = (f: RejoinFacts, method: RejoinMethod) => f.attempts.failed.includes(method);
const followGraceLeft = (f: RejoinFacts) => (f.attempts.followedAt === null ? 0 : f.attempts.followedAt + f.timings.followGraceMs - f.now);

/** The node's WAL ends at or before the fork of the published timeline from its own (or it is on that timeline). */
function withinHistory(f: RejoinFacts): boolean {
  const wal = f.wal!;
  if (wal.timeline === f.primary.timeline) return true;
  if (wal.end === null || f.history === null) return false;
  const fork = forkPointOf(f.history, wal.timeline);
  return fork !== null && wal.end <= fork;
}

const rejoin = (method: RejoinMethod, rule: string, why: string): RejoinChoice => ({ kind: 'rejoin', method, rule, why });

export const REJOIN_RULES: readonly RejoinRule[] = [
  {
    id: 'rejoin-wait-source-unreachable',
    when: 'the published primary does not answer from the node\'s own network',
    then: 'wait; copy nothing',
    why: 'a rewind or clone would fail half way, and a replica cut off for a while comes back by following once the network heals',
    choose: (f) => (f.sourceReachable === false ? { kind: 'wait', rule: 'rejoin-wait-source-unreachable', why: `${f.primary.name} does not answer from ${f.node}'s network` } : null),
  },
  {
    id: 'rejoin-refuse-newer-timeline',
    when: 'the node is on a later timeline than the published primary',
    then: 'refuse; a person decides',
    why: 'safety rule 4: it was promoted after the published primary was, and may hold the newest acknowledged WAL',
    choose: (f) =>
      f.wal !== null && f.wal.timeline > f.primary.timeline
        ? { kind: 'refuse', rule: 'rejoin-refuse-newer-timeline', why: `${f.node} is on timeline ${f.wal.timeline}, past the published ${f.primary.timeline}: it may hold WAL ${f.primary.name} lacks` }
        : null,
  },
  {
    id: 'rejoin-refuse-ahead',
    when: 'the node is on the published timeline, its WAL ends past the primary\'s position',
    then: 'refuse; a person decides',
    why: 'safety rule 4: a node that holds WAL the primary lacks is never rewound or cloned',
    choose: (f) =>
      f.wal !== null && f.wal.timeline === f.primary.timeline && f.wal.end !== null && f.primary.lsn !== null && f.wal.end > f.primary.lsn
        ? { kind: 'refuse', rule: 'rejoin-refuse-ahead', why: `${f.node}'s WAL ends past ${f.primary.name}'s position on the same timeline` }
        : null,
  },
  {
    id: 'rejoin-wait-backoff',
    when: 'the last attempt failed less than its backoff ago (2 s, doubling, at most 60 s)',
    then: 'wait',
    why: 'a source that just failed a copy usually fails the next one too; retrying without pause would load it for nothing',
    choose: (f) => {
      if (f.attempts.lastFailedAt === null) return null;
      const left = f.attempts.lastFailedAt + backoffMs(f.attempts.failed.length, f.timings) - f.now;
      return left > 0 ? { kind: 'wait', rule: 'rejoin-wait-backoff', why: `${f.attempts.failed.join(', ')} failed; next attempt in ${left} ms` } : null;
    },
  },
  {
    id: 'rejoin-wait-follow-grace',
    when: 'the node was pointed at the primary less than the grace ago',
    then: 'wait',
    why: 'a standby needs a moment to connect and stream; judging it sooner would copy data for nothing',
    choose: (f) => {
      const left = followGraceLeft(f);
      return left > 0 ? { kind: 'wait', rule: 'rejoin-wait-follow-grace', why: `${f.node} was pointed at ${f.primary.name}; ${left} ms left to start streaming` } : null;
    },
  },
  {
    id: 'rejoin-clone-no-data',
    when: 'the node has no data directory PostgreSQL can start from',
    then: 'clone',
    why: 'there is nothing to follow with or rewind',
    choose: (f) => (f.wal === null ? rejoin('clone', 'rejoin-clone-no-data', `${f.node} holds no data to start from`) : null),
  },
  {
    id: 'rejoin-clone-after-failure',
    when: 'a rewind or a clone failed, or a follow failed on the primary\'s own timeline',
    then: 'clone (into a side directory; the data stays until the clone is complete)',
    why: 'the last resort: a failed rewind may have left the data unusable, and a node on the primary\'s timeline that cannot follow lacks WAL the primary no longer keeps (nothing to rewind)',
    choose: (f) =>
      failedBefore(f, 'rewind') || failedBefore(f, 'clone') || (failedBefore(f, 'follow') && f.wal!.timeline === f.primary.timeline)
        ? rejoin('clone', 'rejoin-clone-after-failure', `${f.attempts.failed.join(', ')} did not bring ${f.node} back`)
        : null,
  },
  {
    id: 'rejoin-rewind-after-failed-follow',
    when: 'a follow did not bring a node on an older timeline to stream',
    then: 'rewind with pg_rewind, then follow',
    why: 'its WAL may have gone past the fork after all (a re-point that met a node still replaying its own tail, or a follow judged on a stale position); pg_rewind copies only what changed, and says so when nothing did',
    choose: (f) => (failedBefore(f, 'follow') ? rejoin('rewind', 'rejoin-rewind-after-failed-follow', `a follow did not bring ${f.node} back`) : null),
  },
  {
    id: 'rejoin-follow',
    when: 'the node\'s WAL ends at or before the fork of the published timeline from its own (or it is on the published timeline)',
    then: 'follow: standby.signal and primary_conninfo, nothing copied',
    why: 'nothing diverged: with recovery_target_timeline = latest a standby crosses to the new timeline by itself',
    choose: (f) => (withinHistory(f) ? rejoin('follow', 'rejoin-follow', `${f.node}'s WAL is all in ${f.primary.name}'s history`) : null),
  },
  {
    id: 'rejoin-rewind',
    when: 'otherwise: the node went past the fork, crashed (its WAL end is unknown), or its timeline is not in the published history',
    then: 'rewind with pg_rewind, then follow',
    why: 'pg_rewind copies back only the blocks that changed since the fork, whatever the size of the data; it finds no rewind needed when nothing diverged',
    choose: (f) => {
      const wal = f.wal!;
      const fork = f.history === null ? null : forkPointOf(f.history, wal.timeline);
      const why =
        wal.end === null
          ? `${f.node} crashed: where its WAL ends is unknown`
          : f.history === null
            ? `${f.primary.name}'s timeline history could not be read`
            : fork === null
              ? `timeline ${wal.timeline} is not in ${f.primary.name}'s history`
              : `${f.node}'s WAL goes past the fork of timeline ${f.primary.timeline}`;
      return rejoin('rewind', 'rejoin-rewind', why);
    },
  },
];

/** The first row whose choice is not null; the last row always chooses. */
export function chooseRejoin(facts: RejoinFacts): RejoinChoice {
  for (const rule of REJOIN_RULES) {
    const choice = rule.choose(facts);
    if (choice !== null) return choice;
  }
  throw new Error('unreachable: the last rejoin rule always chooses');
}

/** An attempt with `method` failed at `now`. */
export function attemptFailed(attempts: RejoinAttempts, method: RejoinMethod, now: number): RejoinAttempts {
  return { failed: [...attempts.failed, method], lastFailedAt: now, followedAt: null };
}

/** The node was pointed at the primary at `now` (a follow): judged again after the grace. */
export function followed(attempts: RejoinAttempts, now: number): RejoinAttempts {
  return { ...attempts, followedAt: now };
}

/** A follow whose grace ran out without streaming counts as failed. */
export function followExpired(attempts: RejoinAttempts, now: number, timings: RejoinTimings): RejoinAttempts {
  if (attempts.followedAt === null || now - attempts.followedAt < timings.followGraceMs) return attempts;
  return { failed: [...attempts.failed, 'follow'], lastFailedAt: attempts.followedAt + timings.followGraceMs, followedAt: null };
}

/** Parses a timeline history file (`parent-tli <TAB> switchpoint <TAB> reason` per line). */
export function parseTimelineHistory(text: string): TimelineSwitch[] | null {
  const switches: TimelineSwitch[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const match = /^(\d+)\s+([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})(\s|$)/.exec(trimmed);
    if (!match) return null;
    switches.push({ timeline: Number(match[1]), switchpoint: (BigInt(`0x${match[2]}`) << 32n) + BigInt(`0x${match[3]}`) });
  }
  return switches;
}
