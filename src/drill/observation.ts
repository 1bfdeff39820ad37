import type { ContainerState } from '../core/types.js';
import type { ExecResult } from '../docker/engine.js';
import type { NodeAnswer, Sample } from './split-brain.js';

/**
 * How to read what the split-brain monitor saw, and whether it saw enough. Pure: the
 * monitor (monitor.ts) does the I/O and records samples; these functions judge them.
 */

/**
 * The longest a node may go without an answer while the round is watched. A probe over
 * SQL answers in milliseconds, one through the Docker API (inspect, then `psql` inside
 * the container) in about 100 ms on an idle machine; on two busy cores, with a node being
 * rebuilt, the drill test measured stretches of up to 700 ms. Half the default failure
 * time: well under the time the agents themselves need to judge a node.
 */
export const OBSERVATION_BOUND_MS = 1500;

/**
 * What a container's state says by itself: not running takes no writes ('down'), paused
 * takes none while frozen ('frozen'); null when it runs and only the server inside can
 * say; 'unknown' when Docker did not answer.
 */
export function answerOfState(state: ContainerState): NodeAnswer | null {
  switch (state) {
    case 'running':
      return null;
    case 'paused':
      return 'frozen';
    case 'exited':
    case 'dead':
    case 'missing':
    case 'restarting':
      return 'down';
    default:
      return 'unknown';
  }
}

/**
 * What the engine's last event about a container says, for the moments the engine holds
 * an inspect (it does while it starts or kills that container, up to a second or more):
 * after 'die' (or 'stop', 'destroy') nothing runs until a 'start'; after 'pause' nothing
 * runs until an 'unpause'. 'kill' only says a signal was sent; 'start' that only the
 * server inside can say.
 */
export function answerOfLastEvent(action: string | undefined): NodeAnswer {
  switch (action) {
    case 'die':
    case 'stop':
    case 'destroy':
      return 'down';
    case 'pause':
      return 'frozen';
    default:
      return 'unknown';
  }
}

/**
 * Server messages that prove nothing inside the container accepts a connection, so no
 * write: no socket (not started), refused, starting up, in crash recovery, shutting down.
 * Anything else (too many clients, a timeout) might hide a writable server.
 */
const NOT_ACCEPTING = /No such file or directory|Connection refused|the database system is (starting up|not yet accepting connections|in recovery mode|shutting down)/;

/** What `psql -XAtw -c 'SELECT pg_is_in_recovery()'` run inside a node's container says. */
export function answerOfPsql(result: ExecResult): NodeAnswer {
  // The runtime's own word, when the container stopped between the exec's create and its start.
  if (result.exitCode === 126 && /cannot exec in a stopped/.test(result.stdout + result.stderr)) return 'down';
  if (result.exitCode === 0) {
    const value = result.stdout.trim();
    if (value === 'f') return 'writable';
    if (value === 't') return 'read-only';
    return 'unknown';
  }
  // psql exits 2 when it could not connect (or lost the connection).
  return result.exitCode === 2 && NOT_ACCEPTING.test(result.stderr) ? 'down' : 'unknown';
}

/**
 * A failed exec: 409 for a container that is paused ('frozen') or no longer running
 * ('down'), 404 when gone. Read the engine's own message: dockerode prefixes every 409
 * with "container stopped/paused", whichever it was.
 */
export function answerOfExecError(error: unknown): NodeAnswer {
  const status = typeof error === 'object' && error !== null && 'statusCode' in error ? Number((error as { statusCode: unknown }).statusCode) : undefined;
  const json = typeof error === 'object' && error !== null && 'json' in error ? (error as { json: unknown }).json : undefined;
  const engineMessage = typeof json === 'object' && json !== null && 'message' in json ? String((json as { message: unknown }).message) : '';
  if (status === 404) return 'down';
  if (status === 409) {
    if (/ is paused/.test(engineMessage)) return 'frozen';
    if (/ is not running| is restarting/.test(engineMessage)) return 'down';
  }
  return 'unknown';
}

export interface Observability {
  /** Every node answered (over SQL or Docker) at least once every `boundMs` of the window. */
  observable: boolean;
  /** Per node, the longest stretch of the window without an answer, in ms. */
  unobservedMs: Record<string, number>;
}

/**
 * Whether the monitor saw every node throughout `window`: for each node, the longest
 * stretch between two answers (the window's edges count as answers' neighbours, so a
 * node never answered is unobserved for the whole window). 'unknown' is no answer.
 */
export function observability(samples: Sample[], nodes: string[], window: { from: number; to: number }, boundMs = OBSERVATION_BOUND_MS): Observability {
  const unobservedMs: Record<string, number> = {};
  for (const node of nodes) {
    let last = window.from;
    let longest = 0;
    for (const { at, answers } of samples) {
      const answer = answers[node];
      if (answer === undefined || answer === 'unknown' || at < window.from || at > window.to) continue;
      longest = Math.max(longest, at - last);
      last = at;
    }
    unobservedMs[node] = Math.max(longest, window.to - last);
  }
  return { observable: Object.values(unobservedMs).every((ms) => ms <= boundMs), unobservedMs };
}

/** Each node's last answer other than 'unknown' (absent when it never answered). */
export function lastSeen(samples: Sample[]): Record<string, NodeAnswer> {
  const seen: Record<string, NodeAnswer> = {};
  for (const { answers } of samples) {
    for (const [node, answer] of Object.entries(answers)) if (answer !== 'unknown') seen[node] = answer;
  }
  return seen;
}

/** Per node, each change of its answer, as [ms from `origin`, answer]: what the watch saw of it, in order. */
export function changes(samples: Sample[], origin: number): Record<string, Array<[number, NodeAnswer]>> {
  const seen: Record<string, Array<[number, NodeAnswer]>> = {};
  for (const { at, answers } of samples) {
    for (const [node, answer] of Object.entries(answers)) {
      const list = (seen[node] ??= []);
      if (list.at(-1)?.[1] !== answer) list.push([at - origin, answer]);
    }
  }
  return seen;
}

/**
 * Whether the watch saw the cluster whole again after `at`: every node answered since,
 * `primary` last as writable and every other node last as a replica. Until then the
 * round keeps watching: a returning node is riskiest in its first moments.
 */
export function seenWhole(samples: Sample[], nodes: string[], primary: string, at: number): boolean {
  const seen = lastSeen(samples.filter((s) => s.at > at));
  return nodes.every((n) => seen[n] === (n === primary ? 'writable' : 'read-only'));
}
