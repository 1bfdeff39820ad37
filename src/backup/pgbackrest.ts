import { z } from 'zod';
import type { NodeConfig } from '../config/schema.js';
import { attemptFields, backupRecordSchema, type BackupRecord } from '../dcs/backups.js';
import { execIn, type ExecResult } from '../docker/engine.js';
import { type BackupEdges, type BackupSource, stanzaOf } from './edges.js';

// pgBackRest, the I/O half (issue 16): every command runs inside a node's container through
// Docker exec, as the OS user postgres, over the local socket: no password anywhere. The node
// image writes pgBackRest's config at every start (docker/postgres/pgf-backup.sh: pg1-path,
// compression, process-max, start-fast); the stanza, the repository and the retention come from
// the orchestrator's config on every command line here, so the config is what decides them.
//
// Full and differential backups run on the primary. pgBackRest can copy most files from a
// standby (backup-standby), but only with remote access to the primary as well (SSH, or its TLS
// server with certificates of its own): the node image has neither, so that is left out.
// Expiry (repo1-retention-full) is pgBackRest's, run by `backup` itself after each good backup.

/** How long stanza-create may take, and `check` (which waits for a WAL switch to reach the archive). */
const STANZA_CREATE_MS = 60_000;
const CHECK_ARCHIVE_TIMEOUT_SEC = 60;
const INFO_MS = 60_000;
/** A backup's exec is given this much past backup.pgbackrest.timeoutMs, to report rather than hang. */
const EXEC_MARGIN_MS = 30_000;

/** A pgBackRest command that failed: one line, from its ERROR output. */
export class PgbackrestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgbackrestError';
  }
}

export const repositoryOf = (edges: Pick<BackupEdges, 'backup'>): string => `${edges.backup.directory.replace(/\/+$/, '')}/pgbackrest`;

/** `pgbackrest --stanza=… --repo1-path=… <args>`, as an argument vector (no shell). */
export function pgbackrestCommand(edges: Pick<BackupEdges, 'cluster' | 'backup'>, ...args: string[]): string[] {
  return ['pgbackrest', `--stanza=${stanzaOf(edges)}`, `--repo1-path=${repositoryOf(edges)}`, ...args];
}

/**
 * `pgbackrest stop|start` for the stanza on one node. These take no repository or data
 * directory options: given --repo1-path, pgBackRest 2.45 refuses them ("option 'repo-path' not
 * valid for command 'stop'", error 31), which is how an earlier version never stopped anything.
 */
export function stopStartCommand(edges: Pick<BackupEdges, 'cluster' | 'backup'>, command: 'stop' | 'start'): string[] {
  return ['pgbackrest', `--stanza=${stanzaOf(edges)}`, ...(command === 'stop' ? ['--force'] : []), command];
}

/**
 * The line that says why a pgBackRest command failed: its first `ERROR: [nnn]: …` line (with the
 * message's continuation folded in), else the last non-empty line, else the exit code. pgBackRest
 * prints paths and settings, never a password (none is given to it).
 */
export function errorLineOf(result: ExecResult, what: string): string {
  const lines = `${result.stderr}\n${result.stdout}`.split('\n');
  const at = lines.findIndex((line) => /\bERROR:? \[\d+\]/.test(line));
  let message: string;
  if (at >= 0) {
    const rest = lines.slice(at + 1).filter((line) => /^\s{4,}\S/.test(line) && !/^\s*(HINT|[A-Za-z]+Error):/.test(line));
    message = [lines[at]!.replace(/^.*?\bERROR:? /, 'ERROR '), ...rest.slice(0, 1).map((l) => l.trim())].join(' ');
    const hint = lines.slice(at + 1).find((line) => /^\s*HINT:/.test(line));
    if (hint) message += ` (${hint.trim()})`;
  } else {
    message = lines.map((l) => l.trim()).filter(Boolean).pop() ?? `exit code ${result.exitCode}`;
  }
  return `${what} failed: ${message.replace(/\s+/g, ' ').slice(0, 600)}`;
}

async function run(edges: BackupEdges, node: NodeConfig, args: string[], timeoutMs: number): Promise<ExecResult> {
  return execIn(edges.engine(node), node.container, args, { timeoutMs });
}

async function runOrThrow(edges: BackupEdges, node: NodeConfig, args: string[], timeoutMs: number, what: string): Promise<ExecResult> {
  let result: ExecResult;
  try {
    result = await run(edges, node, args, timeoutMs);
  } catch (error) {
    throw new PgbackrestError(`${what} could not run in ${node.container}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (result.exitCode !== 0) throw new PgbackrestError(errorLineOf(result, `${what} on ${node.name}`));
  return result;
}

/**
 * Creates the stanza when missing (stanza-create is idempotent: an existing stanza of the same
 * cluster is left as it is), then `check`: the configuration, and that a forced WAL switch
 * reaches the archive. Run on the primary; throws a PgbackrestError with one line.
 */
export async function ensureStanza(edges: BackupEdges, primary: NodeConfig): Promise<void> {
  // A stop left by a timed-out backup whose `start` failed would refuse every archive-push:
  // lifted here, before every backup (start is idempotent: it only warns when not stopped).
  await run(edges, primary, stopStartCommand(edges, 'start'), 30_000).catch(() => undefined);
  await runOrThrow(edges, primary, pgbackrestCommand(edges, 'stanza-create'), STANZA_CREATE_MS, `pgbackrest stanza-create (stanza ${stanzaOf(edges)})`);
  await checkArchiving(edges, primary);
}

/** `pgbackrest check` on the primary: switches WAL and waits until that segment is in the archive. */
export async function checkArchiving(edges: BackupEdges, primary: NodeConfig): Promise<void> {
  await runOrThrow(
    edges,
    primary,
    pgbackrestCommand(edges, `--archive-timeout=${CHECK_ARCHIVE_TIMEOUT_SEC}`, 'check'),
    CHECK_ARCHIVE_TIMEOUT_SEC * 1000 + EXEC_MARGIN_MS,
    'pgbackrest check',
  );
}

// `pgbackrest info --output=json`, validated: what a container prints is input.
const backupInfoSchema = z.object({
  label: z.string(),
  type: z.enum(['full', 'diff', 'incr']),
  error: z.boolean().optional(),
  archive: z.object({ start: z.string().nullable(), stop: z.string().nullable() }).partial().optional(),
  lsn: z.object({ start: z.string(), stop: z.string() }).partial().optional(),
  timestamp: z.object({ start: z.number(), stop: z.number() }),
  info: z.object({ size: z.number(), delta: z.number(), repository: z.object({ size: z.number(), delta: z.number() }) }),
});
const stanzaInfoSchema = z.object({
  name: z.string(),
  status: z.object({ code: z.number(), message: z.string() }),
  backup: z.array(backupInfoSchema),
  archive: z.array(z.object({ id: z.string(), min: z.string().nullable().optional(), max: z.string().nullable().optional() })),
});

export type PgbackrestBackup = z.infer<typeof backupInfoSchema>;
export type PgbackrestStanza = z.infer<typeof stanzaInfoSchema>;

/** The stanza as pgBackRest's `info` reports it (from `node`'s container): its backups oldest first, and the archive's range. */
export async function pgbackrestInfo(edges: BackupEdges, node: NodeConfig): Promise<PgbackrestStanza> {
  const result = await runOrThrow(edges, node, pgbackrestCommand(edges, '--output=json', 'info'), INFO_MS, 'pgbackrest info');
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch {
    throw new PgbackrestError(`pgbackrest info on ${node.name} printed no JSON`);
  }
  const stanzas = z.array(z.unknown()).safeParse(parsed);
  const mine = stanzas.success ? stanzas.data.find((s) => (s as { name?: unknown })?.name === stanzaOf(edges)) : undefined;
  const stanza = stanzaInfoSchema.safeParse(mine);
  if (!stanza.success) throw new PgbackrestError(`pgbackrest info on ${node.name}: no readable entry for stanza ${stanzaOf(edges)}`);
  return stanza.data;
}

export interface PhysicalBackupOptions {
  /** Who asked: 'schedule', or `cli:user@host`. */
  by: string;
  /** The clock (ms since the epoch); Date.now by default. */
  now?: () => number;
}

/**
 * One full or differential backup of the cluster, from `source` (the primary), as a catalogue
 * record, not yet stored. A backup that failed is a record with ok: false and one line saying
 * why; it does not throw. pgBackRest turns a differential with no full before it into a full:
 * the record then says full, as the repository does. The stanza must exist (ensureStanza).
 */
export async function takePhysicalBackup(edges: BackupEdges, kind: 'full' | 'diff', source: BackupSource, options: PhysicalBackupOptions): Promise<BackupRecord> {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const { node } = source;
  const limitMs = edges.backup.pgbackrest.timeoutMs;
  const args = pgbackrestCommand(edges, `--repo1-retention-full=${edges.backup.pgbackrest.retentionFull}`, '--log-level-console=info', `--type=${kind}`, 'backup');
  let outcome: { ok: true; backup: PgbackrestBackup } | { ok: false; error: string };
  try {
    const result = await run(edges, node, args, limitMs + EXEC_MARGIN_MS);
    if (result.exitCode !== 0) outcome = { ok: false, error: errorLineOf(result, `pgbackrest ${kind} backup on ${node.name}`) };
    else outcome = await describeNewBackup(edges, node, result.stdout);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    outcome = { ok: false, error: `pgbackrest ${kind} backup on ${node.name} did not finish within ${limitMs} ms or could not run: ${message}` };
    // The exec's deadline only stops waiting: pgBackRest would go on copying. Stop it.
    await stopRunningBackup(edges, node);
  }
  const finishedAt = now();
  const actualKind = outcome.ok && outcome.backup.type === 'full' ? 'full' : kind;
  const base = attemptFields(actualKind, startedAt, finishedAt, { node: node.name, role: source.role }, options.by);
  const record: BackupRecord = outcome.ok
    ? {
        ...base,
        ok: true,
        // What this backup added to the repository (compressed; for a full, all of it).
        sizeBytes: Math.max(0, Math.round(outcome.backup.info.repository.delta)),
        label: outcome.backup.label,
        ...(outcome.backup.archive?.start ? { walStart: outcome.backup.archive.start } : {}),
        ...(outcome.backup.archive?.stop ? { walStop: outcome.backup.archive.stop } : {}),
      }
    : { ...base, ok: false, sizeBytes: 0, error: outcome.error.slice(0, 2000) };
  return backupRecordSchema.parse(record);
}

/** The backup `backup` just made: its label from the output (`new backup label = …`), its figures from `info`. */
async function describeNewBackup(edges: BackupEdges, node: NodeConfig, stdout: string): Promise<{ ok: true; backup: PgbackrestBackup } | { ok: false; error: string }> {
  const label = /new backup label = (\S+)/.exec(stdout)?.[1];
  try {
    const info = await pgbackrestInfo(edges, node);
    const backup = label ? info.backup.find((b) => b.label === label) : info.backup[info.backup.length - 1];
    if (!backup) return { ok: false, error: `pgbackrest backup on ${node.name} reported label ${label ?? '(none)'}, which info does not list` };
    return { ok: true, backup };
  } catch (error) {
    return { ok: false, error: `the backup finished but could not be described: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * Stops a backup that outran its limit: `stop --force` ends the stanza's pgBackRest processes
 * on that node (TERM), and `start` at once lifts the stop, which would otherwise refuse every
 * archive-push too. pgBackRest resumes or discards the aborted backup on the next one.
 */
async function stopRunningBackup(edges: BackupEdges, node: NodeConfig): Promise<void> {
  await run(edges, node, stopStartCommand(edges, 'stop'), 30_000).catch(() => undefined);
  await run(edges, node, stopStartCommand(edges, 'start'), 30_000).catch(() => undefined);
}
