import { replicationHostOf, type NodeConfig } from '../config/schema.js';
import { parseTimelineHistory, type RejoinMethod, type TimelineSwitch } from '../core/rejoin-method.js';
import { containerState, execIn, inspectContainer, startContainer, stopContainer } from '../docker/engine.js';
import { readFileFrom } from '../docker/read-file.js';
import { parseControlFile } from '../postgres/control-file.js';
import { describeError } from '../postgres/connection.js';
import { timelineHistorySql } from '../postgres/timeline.js';
import { isContainerNotRunning } from '../core/liveness.js';
import { sleep } from '../time.js';
import type { ClusterContext } from './cluster-context.js';
import { prepareForReturn } from './node-ops.js';
import { parseRejoined, REJOINED_FILE, type RejoinMarker } from './rejoin-marker.js';

// The I/O of a rejoin, each call with a deadline: the facts the rule table needs (the
// primary's timeline history, whether the primary answers from the node's network, a stopped
// node's pg_control), and the restart that makes the node's entrypoint carry a method out.

/** The exit code of a node's entrypoint whose rejoin failed (docker/postgres/docker-entrypoint.sh). */
export const EX_REJOIN_FAILED = 75;

export async function readHistory(cluster: ClusterContext, primary: NodeConfig, timeline: number): Promise<TimelineSwitch[] | null> {
  const query = timelineHistorySql(timeline);
  const { rows } = await cluster.pool(primary).query<{ history: string }>(query.text, query.values);
  return parseTimelineHistory(rows[0]?.history ?? '');
}

/**
 * Whether the primary answers from the node's own network namespace (pg_isready inside the
 * node's container): 0 accepting, 1 rejecting (starting up: it answers), 2 no response.
 * Null when the question could not be asked (the exec failed).
 */
export async function primaryAnswersFrom(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig): Promise<boolean | null> {
  const result = await execIn(cluster.engine(node), node.container, ['pg_isready', '-q', '-h', replicationHostOf(primary), '-p', String(primary.replicationPort), '-t', '2'], { timeoutMs: 4000 }).catch(() => null);
  if (result === null) return null;
  if (result.exitCode === 0 || result.exitCode === 1) return true;
  return result.exitCode === 2 ? false : null;
}

/** A stopped node's WAL from its pg_control: null when it holds no cluster (no pg_control). */
export async function stoppedNodeWal(cluster: ClusterContext, node: NodeConfig): Promise<{ timeline: number; end: bigint | null } | null> {
  const pgdata = await cluster.pgdataOf(node);
  const file = await readFileFrom(cluster.engine(node), node.container, `${pgdata}/global/pg_control`).catch((error: unknown) => {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  });
  if (file === null) return null;
  const control = parseControlFile(file);
  // Only a clean shutdown says where the WAL ends; after a crash, crash recovery would find out.
  const clean = control.state === 'shut down' || control.state === 'shut down in recovery';
  // pg_control gives where the shutdown checkpoint record starts; the WAL ends after it. One past
  // its start is what the rule compares (`end <= fork`): a record that starts before the fork ends
  // by it (a switchpoint lies on a record boundary), one that starts at the fork is past it.
  return { timeline: control.timeline, end: clean ? control.checkpointLsn + 1n : null };
}

/** How a stopped container last ended: its exit code and when (ms since the epoch); null when it runs. */
export async function lastExit(cluster: ClusterContext, node: NodeConfig): Promise<{ code: number; at: number } | null> {
  const info = await inspectContainer(cluster.engine(node), node.container);
  if (info.State.Running) return null;
  const at = Date.parse(info.State.FinishedAt);
  return { code: info.State.ExitCode, at: Number.isNaN(at) ? Date.now() : at };
}

export type RestartOutcome = { ok: true; method: RejoinMethod; ms: number | null } | { ok: false; why: string };

/**
 * Stops the node cleanly (a standby stops as "shut down in recovery", which pg_rewind accepts),
 * writes the marker, starts it: the entrypoint carries the method out before PostgreSQL starts.
 * `stillValid` is asked right before the marker is written (leadership, the same publication):
 * when it says no, the node is started again as the standby it was.
 */
export async function rejoinByRestart(cluster: ClusterContext, node: NodeConfig, marker: RejoinMarker, stillValid: () => Promise<boolean>, limitMs: number): Promise<RestartOutcome> {
  const engine = cluster.engine(node);
  if (!isContainerNotRunning(await containerState(engine, node.container))) await stopContainer(engine, node.container, 30);
  if (!(await stillValid())) {
    await startContainer(engine, node.container);
    return { ok: false, why: 'leadership or the publication changed before the marker was written; started again as it was' };
  }
  await prepareForReturn(cluster, node, marker);
  await startContainer(engine, node.container);
  return awaitRejoined(cluster, node, limitMs);
}

/** Once PostgreSQL answers after the entrypoint's work, this long to start streaming. */
const STREAM_AFTER_START_MS = 15_000;

/**
 * Waits until the node streams again (reading what its entrypoint did), or its container exits.
 * `limitMs` bounds the entrypoint's work (a clone of tens of gigabytes takes minutes); once
 * PostgreSQL answers, it gets STREAM_AFTER_START_MS more to stream, or the attempt failed.
 */
export async function awaitRejoined(cluster: ClusterContext, node: NodeConfig, limitMs: number): Promise<RestartOutcome> {
  let deadline = Date.now() + limitMs;
  let answering = false;
  for (;;) {
    const state = await containerState(cluster.engine(node), node.container).catch(() => 'unknown' as const);
    if (isContainerNotRunning(state)) {
      const exit = await lastExit(cluster, node).catch(() => null);
      const code = exit?.code;
      return { ok: false, why: code === EX_REJOIN_FAILED ? 'its entrypoint could not rejoin it (exit 75); the data directory is as it was' : `its container stopped (exit ${code ?? '?'})` };
    }
    const done = await streamingWithResult(cluster, node).catch(() => undefined);
    if (done) return { ok: true, ...done };
    if (done === null && !answering) {
      answering = true;
      deadline = Math.min(deadline, Date.now() + STREAM_AFTER_START_MS);
    }
    if (Date.now() > deadline) return { ok: false, why: answering ? `PostgreSQL runs but did not stream within ${STREAM_AFTER_START_MS} ms` : `its entrypoint was still at work ${limitMs} ms after the start` };
    await sleep(200);
  }
}

/** The method and time the entrypoint recorded, once the node streams; null before. */
export async function streamingWithResult(cluster: ClusterContext, node: NodeConfig): Promise<{ method: RejoinMethod; ms: number | null; at: number | null } | null> {
  const { rows } = await cluster.pool(node).query<{ r: boolean; s: string | null; f: string | null }>(
    `SELECT pg_is_in_recovery() AS r, (SELECT status FROM pg_stat_wal_receiver) AS s, pg_read_file($1, 0, 4096, true) AS f`,
    [REJOINED_FILE],
  );
  const row = rows[0];
  if (!row?.r || row.s !== 'streaming') return null;
  const result = row.f ? parseRejoined(row.f) : null;
  return result ? { method: result.method, ms: result.ms, at: result.at } : { method: 'follow', ms: null, at: null };
}

export { describeError };

/** Clones running from the primary (pg_stat_progress_basebackup, PostgreSQL 13+), by the clone's application_name. */
export async function cloneProgress(cluster: ClusterContext, primary: NodeConfig): Promise<Array<{ name: string; phase: string; doneBytes: number; totalBytes: number | null }>> {
  const { rows } = await cluster.pool(primary).query<{ name: string | null; phase: string; done: string | null; total: string | null }>(
    'SELECT a.application_name AS name, p.phase, p.backup_streamed::text AS done, p.backup_total::text AS total FROM pg_stat_progress_basebackup p JOIN pg_stat_activity a USING (pid)',
  );
  return rows.filter((r) => r.name !== null).map((r) => ({ name: r.name!, phase: r.phase, doneBytes: Number(r.done ?? 0), totalBytes: r.total === null ? null : Number(r.total) }));
}
