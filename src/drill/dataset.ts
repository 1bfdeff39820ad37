import type Docker from 'dockerode';
import type { NodeConfig } from '../config/schema.js';
import type { ClusterStore } from '../dcs/store.js';
import { execIn } from '../docker/engine.js';
import { withClient } from '../postgres/connection.js';
import type { LabAccess } from './lab-access.js';
import { sleep, until } from './wait.js';

/** What `--dataset-mb` put in place before the rounds, for the report. */
export interface DatasetReport {
  requestedMb: number;
  /** pg_database_size of the application database on the primary, after the load. */
  actualMb: number;
  scale: number;
  /** pgbench's load, the checkpoint and every replica's replay of it; null when the tables were already there. */
  loadedMs: number | null;
}

/** pgbench's tables take about 15 MB per unit of scale (100 000 accounts, with their index). */
export const MB_PER_SCALE = 15;
export const ACCOUNTS_PER_SCALE = 100_000;

/** The pgbench scale for about `mb` MB: 0 for none, at least 1 otherwise. */
export function scaleFor(mb: number): number {
  return mb <= 0 ? 0 : Math.max(1, Math.round(mb / MB_PER_SCALE));
}

/** Generous limits that grow with the size: a 5 GB load takes minutes on this machine's two cores. */
export function loadLimitMs(mb: number): number {
  return 120_000 + mb * 300;
}
export function replayLimitMs(mb: number): number {
  return 60_000 + mb * 100;
}

export interface DatasetContext {
  access: LabAccess;
  store: ClusterStore;
  engine: Docker;
  log: (line: string) => void;
}

/**
 * Loads the cluster's application database with pgbench's tables, about `mb` MB, on the
 * published primary, unless pgbench_accounts already holds the scale's rows. Then a
 * CHECKPOINT, so that a crash recovery or pg_rewind later does not replay the load, and
 * a wait until every replica has replayed up to the primary's position: the rounds start
 * from a cluster that holds the dataset everywhere.
 */
export async function ensureDataset(ctx: DatasetContext, mb: number): Promise<DatasetReport | null> {
  const scale = scaleFor(mb);
  if (scale === 0) return null;
  const published = await ctx.store.published();
  if (!published) throw new Error('no primary is published: cannot load the dataset');
  const primary = ctx.access.node(published.name);
  const database = ctx.access.config.database;
  const began = Date.now();
  const rows = await accountRows(ctx.access, primary);
  let loadedMs: number | null = null;
  if (rows === ACCOUNTS_PER_SCALE * scale) {
    ctx.log(`dataset: ${database} on ${primary.name} already holds pgbench scale ${scale} (${rows} accounts); not loading again`);
  } else {
    ctx.log(`dataset: loading pgbench scale ${scale} (about ${mb} MB) into ${database} on ${primary.name}${rows === null ? '' : ` (it holds ${rows} accounts)`}`);
    await loadWithProgress(ctx, primary, scale, mb);
  }
  await withClient(ctx.access.endpoint(primary), { timeoutMs: replayLimitMs(mb) }, (client) => client.query('CHECKPOINT'));
  const target = await withClient(ctx.access.endpoint(primary), { timeoutMs: 5000 }, async (client) => (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn);
  const replicas = ctx.access.config.nodes.filter((n) => n.name !== primary.name);
  ctx.log(`dataset: checkpoint done; waiting for ${replicas.map((n) => n.name).join(', ')} to replay up to ${target}`);
  await until(`every replica replaying up to ${target} (the dataset)`, replayLimitMs(mb), async () => {
    const done = await Promise.all(replicas.map((n) => replayedUpTo(ctx.access, n, target)));
    return done.every(Boolean);
  }, 250);
  // A restartpoint on every replica too: a node that dies later holds the load on disk, as a
  // node of a long-running cluster does, not in dirty page cache that its next rewind or crash
  // recovery would have to sync first (pg_rewind fsyncs the whole data directory at its end).
  await Promise.all(replicas.map((n) => withClient(ctx.access.endpoint(n), { timeoutMs: replayLimitMs(mb) }, (client) => client.query('CHECKPOINT'))));
  if (rows !== ACCOUNTS_PER_SCALE * scale) loadedMs = Date.now() - began;
  const actualMb = await databaseMb(ctx.access, primary);
  ctx.log(`dataset: ${actualMb} MB in ${database}${loadedMs === null ? '' : `, loaded and replayed in ${loadedMs} ms`}`);
  return { requestedMb: mb, actualMb, scale, loadedMs };
}

/** Rows in pgbench_accounts; null when the table does not exist. */
async function accountRows(access: LabAccess, node: NodeConfig): Promise<number | null> {
  // Counting 30 million rows takes seconds: a limit that fits the biggest dataset.
  return withClient(access.endpoint(node), { timeoutMs: 300_000 }, async (client) => {
    const { rows } = await client.query<{ present: boolean }>("SELECT to_regclass('pgbench_accounts') IS NOT NULL AS present");
    if (!rows[0]?.present) return null;
    const counted = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM pgbench_accounts');
    return Number(counted.rows[0]!.n);
  });
}

async function databaseMb(access: LabAccess, node: NodeConfig): Promise<number> {
  return withClient(access.endpoint(node), { timeoutMs: 5000 }, async (client) => {
    const { rows } = await client.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes');
    return Math.round(Number(rows[0]!.bytes) / 1024 / 1024);
  });
}

async function replayedUpTo(access: LabAccess, node: NodeConfig, lsn: string): Promise<boolean> {
  return withClient(access.endpoint(node), { timeoutMs: 1000 }, async (client) => {
    const { rows } = await client.query<{ ok: boolean | null }>('SELECT pg_is_in_recovery() AND pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 AS ok', [lsn]);
    return rows[0]?.ok === true;
  });
}

/**
 * The command that loads the dataset inside the primary's container: pgbench itself, run as
 * the OS user postgres over the local socket, where no password is asked (the node image
 * maps that user to the superuser by peer; the official image trusts the socket). No shell
 * around it copies a password into its environment: with passwords as files (*_FILE) the
 * container has none to copy anyway. The data is generated on the server (`G`): nothing
 * crosses the socket but the statements.
 */
export function pgbenchInitCommand(scale: number, user: string, database: string): string[] {
  return ['pgbench', '-i', '-I', 'dtGvp', '-s', String(scale), '-U', user, database];
}

/** `pgbench -i` in the primary's container; while it runs, the database's size is reported every few seconds. */
async function loadWithProgress(ctx: DatasetContext, primary: NodeConfig, scale: number, mb: number): Promise<void> {
  const cmd = pgbenchInitCommand(scale, ctx.access.config.superuser.user, ctx.access.config.database);
  const load = execIn(ctx.engine, primary.container, cmd, { timeoutMs: loadLimitMs(mb) });
  let finished = false;
  const progress = (async () => {
    const started = Date.now();
    let next = started + 5000;
    while (!finished) {
      await sleep(250);
      if (finished || Date.now() < next) continue;
      next += 5000;
      const size = await databaseMb(ctx.access, primary).catch(() => null);
      ctx.log(`dataset: loading, ${size ?? '?'} MB after ${Math.round((Date.now() - started) / 1000)} s`);
    }
  })();
  try {
    const result = await load;
    if (result.exitCode !== 0) throw new Error(`pgbench -i failed (exit ${result.exitCode}): ${(result.stderr || result.stdout).trim().split('\n').slice(-2).join(' ')}`);
  } finally {
    finished = true;
    await progress;
  }
}
