import { replicationHostOf, type NodeConfig } from '../config/schema.js';
import { containerState, disableRestart, execIn, killContainer, putFiles, runWithVolumesOf, signalAndWaitForExit, startContainer, statusCode, stopContainer } from '../docker/engine.js';
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
 * Tells a fenced, stopped node how to come back: with `primary`, the node image's
 * entrypoint reads pg-failover.rebuild at its next start and clones that primary
 * before PostgreSQL starts (the caller creates the node's slot there before
 * publishing it). An image without that support (the official postgres image)
 * ignores the file, comes up read-only from standby.signal, and the rejoin rule
 * rebuilds it. Both files go in one archive: each archive call mounts the container.
 */
export async function prepareForReturn(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig | null): Promise<'written' | 'written-to-volume' | 'moot'> {
  const files: Record<string, string> = { 'standby.signal': '' };
  if (primary) {
    files['pg-failover.rebuild'] = [`PRIMARY_HOST=${replicationHostOf(primary)}`, `PRIMARY_PORT=${primary.replicationPort}`, `REPLICATION_SLOT=${cluster.slotOf(node)}`, ''].join('\n');
  }
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

/**
 * A stopped node that still carries a rebuild marker (a fenced old primary that has not come
 * back yet, or whose clone failed) would clone, at its next start, from the primary the marker
 * names, which may be dead or no longer hold its slot by then. After a new publication the
 * marker is pointed at the new primary, whose slot for the node is created first.
 * Returns whether there was a marker to refresh.
 */
export async function refreshReturnMarker(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig): Promise<boolean> {
  const engine = cluster.engine(node);
  // Asked of Docker right now, not of a view: a node being started runs its entrypoint, which
  // empties the data directory for its clone, and a file written then makes the clone fail.
  if (!isContainerNotRunning(await containerState(engine, node.container))) return false;
  const pgdata = await cluster.pgdataOf(node);
  // Only "no such file" means no marker: an engine that does not answer must not keep a stale one silently.
  const marker = await readFileFrom(engine, node.container, `${pgdata}/pg-failover.rebuild`).catch((error: unknown) => {
    if (statusCode(error) === 404) return null;
    throw error;
  });
  if (marker === null) return false;
  await ensureSlot(cluster, primary, cluster.slotOf(node));
  // Already naming this primary: nothing to write (every write is a chance to race a start).
  if (marker.toString().split('\n').includes(`PRIMARY_HOST=${replicationHostOf(primary)}`)) return false;
  await prepareForReturn(cluster, node, primary);
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

/**
 * The always-correct path: stop the node, replace its data directory with a
 * `pg_basebackup -R` of the primary (on the node's slot), start it as a standby.
 */
/**
 * The clone's own connection is named apart from the standby's, which must carry the node's name
 * (synchronous_standby_names and health know standbys by it). pg_basebackup -R writes the name
 * quoted when it holds a dash (application_name=''replica-1-basebackup''): the pattern takes the
 * name itself, whatever surrounds it (node names are [a-z0-9-], nothing sed reads specially).
 */
export function renameCloneConnection(node: string, autoConf: string): string {
  return `sed -i "s/application_name=\\(''\\)\\{0,1\\}${node}-basebackup/application_name=\\1${node}/" "${autoConf}"`;
}

export async function rebuild(cluster: ClusterContext, node: NodeConfig, primary: NodeConfig, labels: Record<string, string> = {}): Promise<void> {
  const engine = cluster.engine(node);
  const slot = cluster.slotOf(node);
  await ensureSlot(cluster, primary, slot);
  await disableRestart(engine, node.container).catch(() => undefined);
  await stopContainer(engine, node.container, 10);
  const pgdata = await cluster.pgdataOf(node);
  const conninfo = `host=${replicationHostOf(primary)} port=${primary.replicationPort} user=${cluster.config.replication.user} application_name=${node.name}-basebackup`;
  const script = [
    'set -e',
    `rm -rf "${pgdata}"/* "${pgdata}"/.[!.]* 2>/dev/null || true`,
    `pg_basebackup -D "${pgdata}" -R -X stream -c fast -S "${slot}" -d "$CONNINFO"`,
    renameCloneConnection(node.name, `${pgdata}/postgresql.auto.conf`),
    `chmod 0700 "${pgdata}"`,
  ].join('\n');
  const result = await runWithVolumesOf(engine, node.container, ['bash', '-c', script], {
    env: [`PGPASSWORD=${cluster.replicationPassword}`, `CONNINFO=${conninfo}`],
    labels,
    timeoutMs: 600_000,
    requireMount: pgdata,
  });
  if (result.exitCode !== 0) {
    throw new Error(`pg_basebackup for ${node.name} from ${primary.name} exited ${result.exitCode}: ${result.stdout.trim().split('\n').slice(-2).join(' ')}`);
  }
  await startContainer(engine, node.container);
}

export { describeError };
