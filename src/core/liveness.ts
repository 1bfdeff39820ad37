// Small shared judgements about observations, used by the detector, the
// candidate choice and the tick decision so they all mean the same thing.
import type { AgentView, ContainerState, NodeObservation, SqlProbe } from './types.js';

/**
 * Docker says the process is gone. `paused` is deliberately absent: a frozen
 * container keeps its sockets and may thaw, so it must earn a failure through
 * the SQL timeout and quorum like any other unresponsive primary.
 */
const NOT_RUNNING: ReadonlySet<ContainerState> = new Set(['exited', 'dead', 'missing', 'restarting']);

export function isContainerNotRunning(state: ContainerState): boolean {
  return NOT_RUNNING.has(state);
}

/** A view counts as a live agent only while it is fresh. */
export function isLiveView(view: AgentView, now: number, viewStaleMs: number): boolean {
  return now - view.at <= viewStaleMs;
}

export function liveViews(views: readonly AgentView[], now: number, viewStaleMs: number): AgentView[] {
  return views.filter((view) => isLiveView(view, now, viewStaleMs));
}

/** The successful SQL probe of an observation, or null when SQL did not answer. */
export function sqlOf(observation: NodeObservation | undefined): SqlProbe | null {
  return observation !== undefined && observation.sql.ok ? observation.sql : null;
}

/** Reachable means both Docker and SQL answer for it. */
export function isReachable(observation: NodeObservation | undefined): boolean {
  return observation !== undefined && observation.container === 'running' && observation.sql.ok;
}

/** Runs as a writable primary: SQL answers and the server is out of recovery. */
export function isWritablePrimary(observation: NodeObservation | undefined): boolean {
  const sql = sqlOf(observation);
  return sql !== null && !sql.inRecovery;
}

/** A replica streams from `hosts` when its receiver is up and its upstream is one of them (or unreported). */
export function streamsFrom(sql: SqlProbe, hosts: readonly string[]): boolean {
  return sql.inRecovery && sql.streaming && (sql.upstreamHost === null || hosts.includes(sql.upstreamHost));
}
