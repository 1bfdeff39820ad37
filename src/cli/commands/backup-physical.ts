import type { Command } from 'commander';
import { ClientClosedError, EtcdError, GRPCGenericError } from 'etcd3';
import { runPhysical, type PhysicalRun } from '../../backup/physical-runner.js';
import { restoreCopy, type RestoreCopyResult } from '../../backup/restore-copy.js';
import { checkRestoreName, parseRestoreTarget } from '../../backup/restore-target.js';
import { formatBytes } from '../../core/bytes.js';
import { withBackupLock } from '../../dcs/backup-lock.js';
import { describeEtcdError } from '../../dcs/client.js';
import { EventLog } from '../../dcs/events.js';
import { CliError, printJson, withStore } from '../context.js';
import { backupConfigOf } from '../backup-context.js';
import { operator } from './pause.js';

// `failover backup full | diff | restore --to <time|lsn> --as <name>` (issue 16): pgBackRest's
// physical backups by hand, and a point-in-time copy of the cluster beside it. Both run under
// the backup lock: a restore reads backups and WAL that a backup's expiry could delete.

const bytes = (n: number): string => formatBytes(BigInt(n));
/** The backup lock's lease: a CLI that dies frees it this long after. */
const LOCK_TTL_SEC = 15;

function failure(what: string, error: unknown, endpoints: string[]): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof GRPCGenericError || error instanceof EtcdError || error instanceof ClientClosedError) return new CliError(`${what}: ${describeEtcdError(error, endpoints)}`, 1);
  return new CliError(`${what}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`, 1);
}

export function registerPhysicalBackup(backup: Command): void {
  for (const kind of ['full', 'diff'] as const) {
    backup
      .command(kind)
      .description(
        kind === 'full'
          ? 'take a full pgBackRest backup now, on the primary (older full backups past backup.pgbackrest.retentionFull expire with their WAL)'
          : 'take a differential pgBackRest backup now, on the primary (the files changed since the last full; a full when there is none)',
      )
      .option('--json', 'machine-readable output: the catalogue record')
      .action(async (options: { json?: boolean }, command: Command) => takeNow(command, kind, options.json ?? false));
  }

  backup
    .command('restore')
    .description('bring up a copy of the cluster as it was at a time or LSN, beside it: container and volume pgf-restore-<name>, port 5432 on a free 127.0.0.1 port; the cluster is not touched')
    .requiredOption('--to <time|lsn>', 'the point to restore to: an ISO time with its zone (2026-01-31T12:00:00Z) or an LSN (0/3000060)')
    .requiredOption('--as <name>', 'the copy\'s name: lower-case letters, digits and dashes')
    .option('--json', 'machine-readable output')
    .action(async (options: { to: string; as: string; json?: boolean }, command: Command) => restore(command, options));
}

async function takeNow(command: Command, kind: 'full' | 'diff', json: boolean): Promise<void> {
  const { config, edges } = backupConfigOf(command, `backup ${kind}`);
  const by = `cli:${operator()}`;
  const run: PhysicalRun = await withStore(command, async (store) => {
    try {
      const done = await runPhysical({ edges, store, kind, by, viewStaleMs: config.timings.failureTimeMs, lockTtlSec: LOCK_TTL_SEC });
      if (done.outcome === 'taken' || done.outcome === 'failed') {
        const r = done.record;
        const message = `backup ${kind}: ${r.id} on ${r.node} (${r.role}) ${r.ok ? `${r.label ?? ''} ${r.sizeBytes} bytes in ${r.durationMs} ms` : `failed: ${r.error ?? ''}`}`;
        await new EventLog(store.etcd, store.keys, by).emit({ kind: 'command', rule: 'operator', message, nodes: [r.node] }).catch(() => undefined);
      }
      return done;
    } catch (error) {
      throw failure(`backup ${kind}`, error, config.etcd.endpoints);
    }
  });
  if (run.outcome === 'locked') throw new CliError(`backup ${kind}: another backup is running (held by ${run.heldBy}); try again when it has finished`, 1);
  if (run.outcome === 'refused') throw new CliError(`backup ${kind}: no node may serve a backup now: ${run.reason} [${run.rule}]`, 1);
  const { record, source } = run;
  if (json) printJson({ ...record, source });
  else if (record.ok) {
    const changed = record.kind !== kind ? ` (pgBackRest took a full: there was no full backup to base a ${kind} on)` : '';
    process.stdout.write(`${record.kind} backup ${record.label} (${record.id}) on ${record.node} (${record.role}): ${bytes(record.sizeBytes)} in the repository, ${record.durationMs} ms${changed}\n`);
    process.stdout.write(`  WAL ${record.walStart ?? '?'} to ${record.walStop ?? '?'}; stanza ${config.backup!.pgbackrest.stanza ?? config.cluster} in ${edges.backup.directory}/pgbackrest; full backups kept: ${edges.backup.pgbackrest.retentionFull}\n`);
  }
  if (!record.ok) {
    if (!json) process.stderr.write(`failover: backup ${kind}: ${record.id} on ${record.node} failed after ${record.durationMs} ms: ${record.error ?? 'no reason recorded'}\n`);
    process.exitCode = 1;
  }
}

async function restore(command: Command, options: { to: string; as: string; json?: boolean }): Promise<void> {
  // Bad input first, before the config or etcd is read.
  const name = checkRestoreName(options.as);
  if (!name.ok) throw new CliError(`backup restore: ${name.error}`, 2);
  const target = parseRestoreTarget(options.to);
  if (!target.ok) throw new CliError(`backup restore: ${target.error}`, 2);
  const { config, edges } = backupConfigOf(command, 'backup restore');
  const by = `cli:${operator()}`;
  const progress = options.json ? undefined : (line: string) => void process.stderr.write(`failover: backup restore: ${line}\n`);
  const result: RestoreCopyResult = await withStore(command, async (store) => {
    try {
      const published = await store.published();
      const primary = config.nodes.find((n) => n.name === published?.name) ?? null;
      const locked = await withBackupLock(store.etcd, store.keys, `${by} (restore ${name.value})`, LOCK_TTL_SEC, () =>
        restoreCopy(edges, { name: name.value, target: target.value, primary, progress }),
      );
      if (!locked.ok) throw new CliError(`backup restore: a backup is running (held by ${locked.heldBy}), and its expiry could remove what a restore reads; try again when it has finished`, 1);
      const outcome = locked.value;
      const message = outcome.ok
        ? `backup restore: copy ${outcome.copy.container} at ${outcome.copy.target.value} from backup ${outcome.copy.backupSet}, on 127.0.0.1:${outcome.copy.hostPort}`
        : `backup restore --as ${name.value} --to ${target.value.target}: ${outcome.error}`;
      await new EventLog(store.etcd, store.keys, by).emit({ kind: 'command', rule: 'operator', message }).catch(() => undefined);
      return outcome;
    } catch (error) {
      throw failure('backup restore', error, config.etcd.endpoints);
    }
  });
  if (!result.ok) {
    const left = result.created && result.leftovers.length > 0 ? ` (could not remove: ${result.leftovers.join('; ')})` : '';
    if (options.json) printJson({ ok: false, name: name.value, error: result.error, created: result.created, ...(result.created ? { leftovers: result.leftovers } : {}) });
    else process.stderr.write(`failover: backup restore: ${result.error}${left}\n`);
    process.exitCode = 1;
    return;
  }
  const copy = result.copy;
  const remove = `docker rm -f ${copy.container} && docker volume rm ${copy.volume}`;
  if (options.json) {
    printJson({ ok: true, ...copy, connect: { host: '127.0.0.1', port: copy.hostPort }, remove });
    return;
  }
  const lines = [
    `restored copy ${copy.name}: the cluster as of ${copy.target.value} (${copy.target.type}), from backup ${copy.backupSet}, on timeline ${copy.timeline ?? '?'}`,
    `  container ${copy.container}, volume ${copy.volume}, image ${copy.image}${copy.network ? `, network ${copy.network}` : ''}; restore ${copy.restoreMs} ms, recovery ${copy.recoveryMs} ms, total ${copy.totalMs} ms`,
    `  reach it: psql -h 127.0.0.1 -p ${copy.hostPort} -U <role> <database>   (the cluster's roles and passwords as of then)`,
    `        or: docker exec -it ${copy.container} psql -U ${copy.superuser}`,
    `  it does not archive and replicates nothing; it is not part of the cluster`,
    `  remove it: ${remove}`,
    ...copy.warnings.map((w) => `  warning: ${w}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
