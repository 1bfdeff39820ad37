import { InvalidArgumentError, type Command } from 'commander';
import { ClientClosedError, EtcdError, GRPCGenericError } from 'etcd3';
import { databaseNameProblem } from '../../backup/dump-output.js';
import { restoreDump } from '../../backup/dump.js';
import { runDump, type DumpRun } from '../../backup/dump-runner.js';
import { formatAge, newestGood } from '../../core/backup-catalog.js';
import { formatBytes } from '../../core/bytes.js';
import { BACKUP_ID, readBackups, type BackupRecord } from '../../dcs/backups.js';
import { describeEtcdError } from '../../dcs/client.js';
import { EventLog } from '../../dcs/events.js';
import { CliError, printJson, withStore } from '../context.js';
import { backupConfigOf } from '../backup-context.js';
import { operator } from './pause.js';

// `failover backup dump [--now]`, `backup list`, `backup restore-dump <id> --into <db>`:
// the plan's logical dumps by hand. Without --now, `dump` shows the schedule and takes
// nothing: a dump reads the whole database, so taking one is asked for explicitly.

const bytes = (n: number): string => formatBytes(BigInt(n));

/** An error that is not already one line for the user: etcd's, or Docker's when a node could not be reached. */
function failure(what: string, error: unknown, endpoints: string[]): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof GRPCGenericError || error instanceof EtcdError || error instanceof ClientClosedError) return new CliError(`${what}: ${describeEtcdError(error, endpoints)}`, 1);
  return new CliError(`${what}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`, 1);
}

function databaseName(value: string): string {
  const problem = databaseNameProblem(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

export function registerDumpCommands(backup: Command): void {
  backup
    .command('dump')
    .description('with --now: take a dump now, from a healthy streaming replica (the primary when none qualifies); without: show the dump schedule')
    .option('--now', 'take a dump now (under the backup lock), record it, and prune past backup.dumps.keep')
    .option('--json', 'machine-readable output')
    .action(async (options: { now?: boolean; json?: boolean }, command: Command) => {
      if (options.now) await dumpNow(command, options.json ?? false);
      else await showSchedule(command, options.json ?? false);
    });

  backup
    .command('list')
    .description('every backup in the catalogue, newest first: time, node, size, duration, checksum or label, and why a failed one failed')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const { config } = backupConfigOf(command, 'backup list');
      const catalog = await withStore(command, (store) => readBackups(store.etcd, store.keys), 'reader');
      if (catalog.unreadable.length > 0) process.stderr.write(`failover: backup list: ${catalog.unreadable.length} catalogue record(s) under ${config.etcd.prefix} do not parse and are left out\n`);
      if (options.json) {
        printJson({ backups: catalog.records, unreadable: catalog.unreadable });
        return;
      }
      if (catalog.records.length === 0) {
        process.stdout.write('no backups recorded\n');
        return;
      }
      for (const r of catalog.records) process.stdout.write(`${listLine(r)}\n`);
    });

  backup
    .command('restore-dump')
    .description('restore a dump into a new database on the primary (checksum verified first; an existing database is refused)')
    .argument('<id>', 'the dump, as `backup list` names it (e.g. dump-20261129T234500Z)')
    .requiredOption('--into <database>', 'the new database (lower-case letters, digits, underscores)', databaseName)
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { into: string; json?: boolean }, command: Command) => {
      const { config, edges } = backupConfigOf(command, 'restore-dump');
      if (!BACKUP_ID.test(id) || !id.startsWith('dump-')) throw new CliError(`restore-dump: invalid dump id ${JSON.stringify(id.slice(0, 80))}: expected dump-<YYYYMMDD>T<HHMMSS>Z as \`failover backup list\` shows it`, 2);
      const outcome = await withStore(command, async (store) => {
        const record = (await readBackups(store.etcd, store.keys)).records.find((r) => r.id === id);
        if (!record) throw new CliError(`restore-dump: no dump ${id} in the catalogue (see failover backup list)`, 1);
        if (!record.ok) throw new CliError(`restore-dump: ${id} is a failed dump (${record.error ?? 'no reason recorded'}); it has no file to restore`, 1);
        const published = await store.published();
        const primary = config.nodes.find((n) => n.name === published?.name);
        if (!primary) throw new CliError(`restore-dump: ${published ? `the published primary ${published.name} is not a node of the config` : 'no primary is published'}; a restore needs the primary`, 1);
        try {
          const result = await restoreDump(edges, primary, record, options.into);
          const said = result.ok ? `restore-dump ${id} into ${options.into}: done in ${result.ms} ms` : `restore-dump ${id} into ${options.into}: refused: ${result.error}`;
          await new EventLog(store.etcd, store.keys, `cli:${operator()}`).emit({ kind: 'command', rule: 'operator', message: said, nodes: [primary.name] }).catch(() => undefined);
          return { result, node: primary.name };
        } catch (error) {
          throw failure('restore-dump', error, config.etcd.endpoints);
        }
      });
      const { result, node } = outcome;
      if (options.json) printJson(result.ok ? { ok: true, id, node, database: result.database, owner: result.owner, ms: result.ms, verifyMs: result.verifyMs, restoreMs: result.restoreMs } : { ok: false, id, node, error: result.error, changed: result.changed });
      if (!result.ok) {
        if (!options.json) process.stderr.write(`failover: restore-dump: ${result.error}\n`);
        process.exitCode = 1;
        return;
      }
      if (!options.json) {
        process.stdout.write(`restored ${id} into database ${result.database} on ${node} in ${result.ms} ms (checksum ${result.verifyMs} ms, pg_restore ${result.restoreMs} ms); objects keep their owners, the database belongs to ${result.owner}\n`);
      }
    });
}

async function dumpNow(command: Command, json: boolean): Promise<void> {
  const { config, edges } = backupConfigOf(command, 'backup dump');
  const by = `cli:${operator()}`;
  const run: DumpRun = await withStore(command, async (store) => {
    try {
      const done = await runDump({ edges, store, by, viewStaleMs: config.timings.failureTimeMs });
      if (done.outcome === 'taken' || done.outcome === 'failed') {
        const r = done.record;
        const message = `backup dump --now: ${r.id} from ${r.node} (${r.role}) ${r.ok ? `${r.sizeBytes} bytes in ${r.durationMs} ms` : `failed: ${r.error ?? ''}`}`;
        await new EventLog(store.etcd, store.keys, by).emit({ kind: 'command', rule: 'operator', message, nodes: [r.node] }).catch(() => undefined);
      }
      return done;
    } catch (error) {
      throw failure('backup dump', error, config.etcd.endpoints);
    }
  });
  if (run.outcome === 'locked') throw new CliError(`backup dump: another backup is running (held by ${run.heldBy}); try again when it has finished`, 1);
  if (run.outcome === 'refused') throw new CliError(`backup dump: no node may serve a dump now: ${run.reason} [${run.rule}]`, 1);
  const { record, attempts, source, pruned } = run;
  if (json) {
    printJson({ ...record, source, attempts: attempts.map((a) => ({ id: a.id, node: a.node, role: a.role, ok: a.ok, ...(a.error ? { error: a.error } : {}) })), pruned });
  } else {
    for (const earlier of attempts.slice(0, -1)) process.stderr.write(`failover: backup dump: ${earlier.id} from ${earlier.node} failed: ${earlier.error ?? ''}; taken again from another source\n`);
    if (record.ok) {
      process.stdout.write(`dump ${record.id} at ${record.startedAt} from ${record.node} (${record.role}): ${bytes(record.sizeBytes)} in ${record.durationMs} ms, sha256 ${record.sha256}\n`);
      process.stdout.write(`  file ${edges.backup.directory}/${record.file} of database ${record.database}; source: ${source.why}\n`);
      const gone = pruned.filter((p) => p.ok).map((p) => p.id);
      if (gone.length > 0) process.stdout.write(`  pruned (backup.dumps.keep ${edges.backup.dumps.keep}): ${gone.join(', ')}\n`);
    }
  }
  for (const p of pruned.filter((x) => !x.ok)) process.stderr.write(`failover: backup dump: ${p.id} could not be pruned (${p.error ?? ''}); its record stays until it is\n`);
  if (!record.ok) {
    if (!json) process.stderr.write(`failover: backup dump: ${record.id} from ${record.node} (${record.role}) failed after ${record.durationMs} ms: ${record.error ?? 'no reason recorded'}\n`);
    process.exitCode = 1;
  }
}

/** Without --now: what the schedule says, read from the catalogue; nothing is taken. */
async function showSchedule(command: Command, json: boolean): Promise<void> {
  const { edges } = backupConfigOf(command, 'backup dump');
  const { records } = await withStore(command, (store) => readBackups(store.etcd, store.keys), 'reader');
  const dumps = records.filter((r) => r.kind === 'dump');
  const good = newestGood(dumps, 'dump');
  const failedSince = dumps.find((r) => !r.ok && (good === null || r.startedAt > good.startedAt)) ?? null;
  const now = Date.now();
  const { intervalMs, keep } = edges.backup.dumps;
  const dueAt = good === null ? now : Date.parse(good.startedAt) + intervalMs;
  if (json) {
    printJson({
      schedule: edges.backup.schedule,
      intervalMs,
      keep,
      kept: dumps.filter((r) => r.ok).length,
      lastGood: good,
      lastFailure: failedSince,
      nextDueAt: edges.backup.schedule ? new Date(dueAt).toISOString() : null,
    });
    return;
  }
  const lines = [
    `dumps: every ${formatAge(intervalMs)}, the newest ${keep} kept (${dumps.filter((r) => r.ok).length} now); schedule ${edges.backup.schedule ? 'on: the agents\' leader takes them' : 'off (backup.schedule false): by hand only'}`,
    good === null ? 'last good dump: none yet' : `last good dump: ${good.id} from ${good.node} (${good.role}), ${formatAge(now - Date.parse(good.startedAt))} ago, ${bytes(good.sizeBytes)}`,
    ...(failedSince ? [`failed since: ${failedSince.id} from ${failedSince.node}: ${failedSince.error ?? 'no reason recorded'}`] : []),
    edges.backup.schedule ? `next due: ${dueAt <= now ? 'now' : `in ${formatAge(dueAt - now)}`}` : 'next due: not scheduled',
    'take one now with: failover backup dump --now',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

function listLine(r: BackupRecord): string {
  const what = r.kind === 'dump' ? (r.sha256 ? `sha256 ${r.sha256.slice(0, 16)}…` : '-') : (r.label ?? '-');
  const outcome = r.ok ? 'ok' : `FAILED: ${r.error ?? 'no reason recorded'}`;
  return `${r.id}  ${r.kind.padEnd(4)}  ${r.startedAt}  ${r.node} (${r.role})  ${r.ok ? bytes(r.sizeBytes) : '-'}  ${r.durationMs} ms  ${what}  ${outcome}`;
}
