import type { NodeConfig } from '../config/schema.js';
import { containerState, disableRestart, execIn, killContainer, putFiles, runWithVolumesOf, signalAndWaitForExit, startContainer, statusCode, stopContainer } from '../docker/engine.js';
import type { RejoinMethod } from '../core/rejoin-method.js';
import { failedMethodsOf, formatRejoinMarker, MARKER_FILE, type RejoinMarker } from './rejoin-marker.js';
import { readFileFrom } from '../docker/read-file.js';
import { putFilesIntoVolume } from '../docker/volume-files.js';
import { parseControlFile } from '../postgres/control-file.js';
import { describeError } from '../postgres/connection.js';
import { CURRENT_TIMELINE_SQL } from '../postgres/timeline.js';
import { isContainerNotRunning } from '../core/liveness.js';
import type { ContainerState } from '../core/types.js';
import { sleep } from '../time.js';
import { formatLsn, tryParseLsn } from '../core/lsn.js';
import type { ClusterContext } from './cluster-context.js';

// The I/O of one operation step, on one node. Each function is idempotent, so a
// leader that resumes a journal can run a step again safely.


/**
 * Fences a node so it cannot take writes: SIGKILL its container and keep Docker
 * from restarting it. `prepareForReturn` must follow before the operation publishes.
 * The fence is verified, not assumed (safety rule 4): the container must be seen not
 * running; it throws when it still runs. `unknown` (the engine did not answer) is not
 * proof, so it is retried until the deadline.
 */
export async function fence(cluster: ClusterContext, node: NodeConfig): Promise<{ verifiedAs: ContainerState }> {
  const engine = cluster.engine(node);
  // A restart policy left on would bring the fenced primary back by itself: the step fails
  // instead, unless the container is dead (Docker never starts a dead container again).
  await Promise.all([
    killContainer(engine, node.container),
    disableRestart(engine, node.container).catch(async (error: unknown) => {
      if ((await containerState(engine, node.container)) !== 'dead') throw error;
    }),
  ]);
  const deadline = Date.now() + 5000;
  for (;;) {
    const state = await containerState(engine, node.container);
    if (isContainerNotRunning(state)) return { verifiedAs: state };
    if (Date.now() > deadline) throw new Error(`fence of ${node.name} not verified: its container is still ${state}`);
    await sleep(20);
  }
}

/**
 * Tells a fenced, stopped node how to come back: standby.signal always, so it can only start
 * read-only; with a marker, the node image's entrypoint also rejoins it at its next start, before
 * PostgreSQL starts (follow, pg_rewind, or a clone swapped in only once complete; see
 * rejoin-marker.ts), on a slot the caller creates on the source before publishing it. An image
 * without that support (the official postgres image) ignores the marker, comes up as a standby,
 * and the rejoin rule brings it back. Both files go in one archive: each archive call mounts the container.
 */
export async function prepareForReturn(cluster: ClusterContext, node: NodeConfig, marker: RejoinMarker | null): Promise<'written' | 'written-to-volume' | 'moot'> {
  const files: Record<string, string> = { 'standby.signal': '' };
  if (marker) files[MARKER_FILE] = formatRejoinMarker(cluster, node, marker);
  const engine = cluster.engine(node);
  try {
    await putFiles(engine, node.container, await cluster.pgdataOf(node), files);
    return 'written';
  } catch (error) {
    // A 404 with the container still listed: it is being removed right now.
    const missing = (await containerState(engine, node.container)) === 'missing';
    if (!missing && statusCode(error) !== 404) throw error;
    // A removed container (`docker rm -f`) leaves its named volume, on which compose would
    // start a new container as a writable primary of the old timeline: the files go into the
    // volume. With no volume known (or left), they are moot, and waiting for them would keep
    // the operation from ever publishing (issue 12, item 3).
    const data = cluster.dataVolumeOf(node);
    if (data !== null && (await putFilesIntoVolume(engine, data, files))) return 'written-to-volume';
    if (!missing) throw error;
    return 'moot';
  }
}

/** The marker in a stopped node's data directory; null when there is none (an engine that does not answer throws). */
export async function readReturnMarker(cluster: ClusterContext, node: NodeConfig): Promise<string | null> {
  const pgdata = await cluster.pgdataOf(node);
  return readFileFrom(cluster.engine(node), node.container, `${pgdata}/${MARKER_FILE}`).then(
    (file) => file.toString(),
    (error: unknown) => {
      if (statusCode(error) === 404) return null;
      throw error;
    },
  );
}

/**
 * A stopped node that still carries a rejoin marker (a fenced old primary that has not come
 * back yet, or whose rejoin failed) would rejoin, at its next start, from the primary the marker
 * names, which may be dead or no longer hold its slot by then. After a new publication the
 * marker is pointed at the new primary (its slot created there first), keeping the method and
 * what failed before. Returns whether there was a marker to refresh.
 */
export async function refreshReturnMarker(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig, epoch: number, timeline: number): Promise<boolean> {
  // Asked of Docker right now, not of a view: a node being started runs its entrypoint, which
  // reads the marker, and a file written then would race it.
  if (!isContainerNotRunning(await containerState(cluster.engine(node), node.container))) return false;
  const marker = await readReturnMarker(cluster, node);
  if (marker === null) return false;
  await ensureSlot(cluster, primary, cluster.slotOf(node));
  // Already naming this primary: nothing to write (every write is a chance to race a start).
  if (marker.split('\n').includes(`SOURCE=${primary.name}`) && marker.split('\n').includes(`EPOCH=${epoch}`)) return false;
  const method = /^METHOD=(follow|rewind|clone)$/m.exec(marker)?.[1] as RejoinMethod | undefined;
  await prepareForReturn(cluster, node, { epoch, source: primary, timeline, method: method ?? 'clone', failed: failedMethodsOf(marker) });
  return true;
}

/** The old primary is down, but not from a clean shutdown: it crashed or was killed (see core's switchover-becomes-failover). */
export class UncleanShutdownError extends Error {}

/**
 * Where the cleanly stopped old primary's WAL ends: the shutdown checkpoint recorded in its
 * pg_control, read from the stopped container. Whatever path a switchover took (a query that
 * failed before the stop, a leader that resumed after it), the target is checked against this.
 */
export async function shutdownCheckpointOf(cluster: ClusterContext, node: NodeConfig, options: { justStopped?: boolean } = {}): Promise<bigint> {
  const engine = cluster.engine(node);
  // Right after stopCleanly saw it exit, a second look would only cost time on the write-unavailable path.
  const state = options.justStopped ? 'exited' : await containerState(engine, node.container);
  if (!isContainerNotRunning(state)) throw new Error(`${node.name} is ${state}: its final WAL position can be read only while it is stopped`);
  const control = parseControlFile(await readFileFrom(engine, node.container, `${await cluster.pgdataOf(node)}/global/pg_control`));
  if (control.state !== 'shut down') throw new UncleanShutdownError(`${node.name} did not shut down cleanly (pg_control says ${control.state}): the switchover cannot prove the target has all its WAL`);
  return control.checkpointLsn;
}

/**
 * Undoing a switchover: the old primary, stopped cleanly, starts again as the primary. Its
 * standby.signal (written for a return as a standby) is removed by a helper container with
 * its volumes, since a stopped container runs no command. Idempotent: a node already
 * running as a primary is left as it is; one running as a standby is an error a person must see.
 */
export async function startAsPrimary(cluster: ClusterContext, node: NodeConfig, limitMs = 30_000): Promise<void> {
  const engine = cluster.engine(node);
  const pgdata = await cluster.pgdataOf(node);
  if (isContainerNotRunning(await containerState(engine, node.container))) {
    const removed = await runWithVolumesOf(engine, node.container, ['rm', '-f', `${pgdata}/standby.signal`], { timeoutMs: 30_000, requireMount: pgdata });
    if (removed.exitCode !== 0) throw new Error(`removing standby.signal from ${node.name} exited ${removed.exitCode}: ${removed.stdout.trim()}`);
    await startContainer(engine, node.container);
  }
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const state = await replayState(cluster, node);
      if (state.inRecovery) throw new Error(`${node.name} runs as a standby, not as the primary it was`);
      await verifyWrite(cluster, node);
      return;
    } catch (error) {
      if (error instanceof Error && /runs as a standby/.test(error.message)) throw error;
      if (Date.now() > deadline) throw new Error(`${node.name} did not take a write within ${limitMs} ms of its start: ${describeError(error)}`);
      await sleep(50);
    }
  }
}

/**
 * A clean (fast) shutdown: the walsenders ship all WAL, the shutdown checkpoint
 * included, and wait for connected standbys to confirm it before the server exits.
 * Where its WAL ends is read afterwards from pg_control (`shutdownCheckpointOf`).
 * `prepareForReturn` must follow before the operation publishes, so that the node can
 * only come back as a standby.
 */
export async function stopCleanly(cluster: ClusterContext, node: NodeConfig): Promise<{ wasRunning: boolean; lastLsn: bigint | null }> {
  const engine = cluster.engine(node);
  // Whether it was still running when we came to stop it: a primary that was already down
  // crashed or was killed; one we stopped is ours to restart if its shutdown was not clean.
  // Its WAL position before the stop is only a lower bound (the shutdown checkpoint comes
  // after it), for the catch-up to wait on; the proof is pg_control's, checked before publishing.
  const [state, lastLsn] = await Promise.all([
    containerState(engine, node.container),
    cluster
      .pool(node)
      .query<{ lsn: string | null }>('SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn')
      .then((result) => (result.rows[0]?.lsn ? tryParseLsn(result.rows[0].lsn) : null))
      .catch(() => null),
    disableRestart(engine, node.container),
  ]);
  const wasRunning = !isContainerNotRunning(state);
  // SIGINT is PostgreSQL's fast shutdown; waiting for the process to exit, not for all of
  // `docker stop`, saves the engine's bookkeeping on the write-unavailability path.
  await signalAndWaitForExit(engine, node.container, 'SIGINT', 30_000).catch(() => stopContainer(engine, node.container, 30));
  return { wasRunning, lastLsn };
}

/** Starts a cleanly stopped old primary (it comes up as a standby) and points it at the new primary. */
export async function restartAsStandby(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig, limitMs = 30_000): Promise<void> {
  await startContainer(cluster.engine(node), node.container);
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const state = await replayState(cluster, node);
      if (!state.inRecovery) throw new Error(`${node.name} came back out of recovery`);
      break;
    } catch (error) {
      if (error instanceof Error && /out of recovery/.test(error.message)) throw error;
      if (Date.now() > deadline) throw new Error(`${node.name} did not accept connections within ${limitMs} ms of its start`);
      await sleep(50);
    }
  }
  await repoint(cluster, node, primary);
}

export interface ReplayState {
  receive: bigint | null;
  replay: bigint | null;
  inRecovery: boolean;
}

export async function replayState(cluster: ClusterContext, node: NodeConfig): Promise<ReplayState> {
  const { rows } = await cluster.pool(node).query<{ r: boolean; rcv: string | null; rpl: string | null }>(
    'SELECT pg_is_in_recovery() AS r, pg_last_wal_receive_lsn()::text AS rcv, pg_last_wal_replay_lsn()::text AS rpl',
  );
  const row = rows[0]!;
  return { inRecovery: row.r, receive: row.rcv ? tryParseLsn(row.rcv) : null, replay: row.rpl ? tryParseLsn(row.rpl) : null };
}

/**
 * Waits until the candidate has replayed everything it received (bounded; promotion
 * replays the rest anyway). With `atLeast` (a switchover), it must first have
 * received the old primary's last position, or the step fails.
 */
export async function awaitReplay(cluster: ClusterContext, node: NodeConfig, limitMs: number, atLeast: bigint | null = null): Promise<string | null> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const state = await replayState(cluster, node);
    if (!state.inRecovery) return null;
    if (atLeast !== null && (state.receive === null || state.receive < atLeast)) {
      if (Date.now() > deadline) throw new Error(`${node.name} received only up to ${state.receive === null ? 'nothing' : formatLsn(state.receive)}, not the old primary's ${formatLsn(atLeast)}`);
      await sleep(5);
      continue;
    }
    if (state.receive === null || (state.replay !== null && state.replay >= state.receive) || Date.now() > deadline) {
      const position = state.replay ?? state.receive;
      return position === null ? null : formatLsn(position);
    }
    await sleep(10);
  }
}

/**
 * `pg_ctl promote -W` (without its 100 ms polling wait) through Docker exec, then a
 * 2 ms poll of pg_is_in_recovery() on a warm connection. The poll does not wait for
 * the exec's stream to close; the exit code is checked only if the server stays in
 * recovery.
 */
export async function promote(cluster: ClusterContext, node: NodeConfig, limitMs = 30_000): Promise<void> {
  const client = await checkedOut(cluster, node);
  try {
    const inRecovery = async () => (await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r;
    const [recovering, pgdata] = await Promise.all([inRecovery(), cluster.pgdataOf(node)]);
    if (!recovering) {
      client.release();
      return;
    }
    let execFailure: Error | null = null;
    const exec =
      cluster.config.promoteWith === 'sql'
        ? client.query('SELECT pg_promote(false)').then(
            () => undefined,
            (error: Error) => {
              execFailure = error;
            },
          )
        : execIn(cluster.engine(node), node.container, ['pg_ctl', 'promote', '-W', '-D', pgdata], { timeoutMs: 10_000 }).then(
            (result) => {
              if (result.exitCode !== 0 && !/not in standby mode/.test(result.stderr)) {
                execFailure = new Error(`pg_ctl promote on ${node.name} exited ${result.exitCode}: ${result.stderr.trim()}`);
              }
            },
            (error: Error) => {
              execFailure = error;
            },
          );
    if (cluster.config.promoteWith === 'sql') await exec;
    const deadline = Date.now() + limitMs;
    while (await inRecovery()) {
      if (execFailure) throw execFailure;
      if (Date.now() > deadline) throw new Error(`${node.name} still in recovery ${limitMs} ms after pg_ctl promote`);
      await sleep(2);
    }
    void exec;
    client.release();
  } catch (error) {
    client.release(true);
    throw error;
  }
}

/** Proves the node takes writes (assigning a transaction id fails on a standby) and returns its timeline. */
export async function verifyWrite(cluster: ClusterContext, node: NodeConfig): Promise<number> {
  const { rows } = await cluster.pool(node).query<{ tli: number }>(
    // Its own commit does not wait for synchronous standbys (none may stream yet): it proves writability, it is no client's write.
    `SELECT set_config('synchronous_commit', 'local', true), txid_current() AS xid, ${CURRENT_TIMELINE_SQL} AS tli`,
  );
  return rows[0]!.tli;
}

export async function ensureSlot(cluster: ClusterContext, primary: NodeConfig, slot: string): Promise<void> {
  await cluster.pool(primary).query(
    `SELECT pg_create_physical_replication_slot($1) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`,
    [slot],
  );
}

/** Drops an unused slot: the new primary's own (kept from its time as a standby) would retain WAL for nobody. */
export async function dropSlot(cluster: ClusterContext, primary: NodeConfig, slot: string): Promise<void> {
  await cluster.pool(primary).query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slot]);
}

/**
 * The fast path of re-pointing a standby: primary_conninfo and primary_slot_name are
 * reloadable (PostgreSQL 13+), and with recovery_target_timeline=latest the standby
 * follows the new timeline without a restart. If it cannot (its WAL went past the
 * fork), the rejoin rule rebuilds it with pg_basebackup.
 */
export async function repoint(cluster: ClusterContext, replica: NodeConfig, primary: NodeConfig): Promise<void> {
  await ensureSlot(cluster, primary, cluster.slotOf(replica));
  const client = await checkedOut(cluster, replica);
  try {
    const conninfo = cluster.primaryConninfo(primary, replica);
    await client.query(`ALTER SYSTEM SET primary_conninfo = ${literal(conninfo)}`);
    await client.query(`ALTER SYSTEM SET primary_slot_name = ${literal(cluster.slotOf(replica))}`);
    await client.query('SELECT pg_reload_conf()');
    client.release();
  } catch (error) {
    client.release(true);
    throw error;
  }
}

/**
 * A pooled connection held across several queries. While it is checked out the pool does not
 * listen for its errors: a node that dies between two queries (FATAL 57P01, a reset socket)
 * would raise an 'error' event nobody handles, which ends the agent's process. The error
 * still fails the next query; it must not crash the leader.
 */
async function checkedOut(cluster: ClusterContext, node: NodeConfig) {
  const client = await cluster.pool(node).connect();
  client.on('error', (error: Error) => cluster.log.debug({ node: node.name, error: describeError(error) }, 'connection to the node lost'));
  return client;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

export { describeError };
