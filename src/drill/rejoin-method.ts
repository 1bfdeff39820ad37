import type { ClusterEvent } from '../core/event.js';
import { timeOfEventId } from '../core/event.js';
import { EventLog } from '../dcs/events.js';
import type { ClusterStore } from '../dcs/store.js';
import { sleep } from './wait.js';

export type RejoinMethod = 'follow' | 'rewind' | 'clone';
const METHODS: readonly string[] = ['follow', 'rewind', 'clone'];

/**
 * How a 'rejoin' event says its node came back. Events carry `method` and `outcome`
 * (issue 14); older agents wrote only a message, read here as a last resort: a rebuild
 * named pg_basebackup, a re-point in place. Read defensively: values from etcd are input.
 */
export function methodOf(event: ClusterEvent): RejoinMethod | null {
  const method = (event as unknown as Record<string, unknown>).method;
  if (typeof method === 'string') return METHODS.includes(method) ? (method as RejoinMethod) : null;
  if (/pg_basebackup|\brebuil/i.test(event.message)) return 'clone';
  if (/pg_rewind/i.test(event.message)) return 'rewind';
  if (/re-pointed/i.test(event.message)) return 'follow';
  return null;
}

/** The event's `outcome` ('started', 'done', 'failed', 'declined'), or null when it has none. */
export function outcomeOf(event: ClusterEvent): string | null {
  const outcome = (event as unknown as Record<string, unknown>).outcome;
  return typeof outcome === 'string' ? outcome : null;
}

/** Whether `event` is a rejoin of `node` (the node it moves is the first one named). */
export function isRejoinOf(event: ClusterEvent, node: string): boolean {
  return event.kind === 'rejoin' && Array.isArray(event.nodes) && event.nodes[0] === node;
}

/**
 * The method of the newest finished rejoin of `node` written at or after `sinceMs` (by
 * the time in its id), or null when there is none. A rejoin counts as finished when it
 * says `outcome: 'done'`; an event without an outcome (an older agent) counts when its
 * message names what was done.
 */
export function rejoinMethodOf(events: readonly ClusterEvent[], node: string, sinceMs: number): RejoinMethod | null {
  let newest: { at: number; method: RejoinMethod } | null = null;
  for (const event of events) {
    if (!isRejoinOf(event, node)) continue;
    const at = timeOfEventId(event.id);
    if (at === null || at < sinceMs) continue;
    const outcome = outcomeOf(event);
    const finished = outcome === 'done' || (outcome === null && /re-pointed|rebuilt/i.test(event.message));
    const method = methodOf(event);
    if (!finished || method === null) continue;
    if (newest === null || at >= newest.at) newest = { at, method };
  }
  return newest?.method ?? null;
}

/**
 * Waits up to `limitMs` for a finished rejoin of `node` since `sinceMs` in the cluster's
 * event log (an agent writes it in the background, moments after the node streams).
 * Null when none came.
 */
export async function awaitRejoinMethod(store: ClusterStore, node: string, sinceMs: number, limitMs = 5000): Promise<RejoinMethod | null> {
  const log = new EventLog(store.etcd, store.keys, 'drill');
  const deadline = Date.now() + limitMs;
  for (;;) {
    const events = await log.list(sinceMs - 60_000).catch(() => []);
    const method = rejoinMethodOf(events, node, sinceMs);
    if (method !== null || Date.now() >= deadline) return method;
    await sleep(200);
  }
}
