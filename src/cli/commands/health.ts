import { existsSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/load.js';
import { slotNameOf } from '../../config/schema.js';
import { formatBytes } from '../../core/bytes.js';
import { DEFAULT_THRESHOLDS, classifyHealth, type Health } from '../../core/health.js';
import type { Published } from '../../core/types.js';
import { describeEtcdError } from '../../dcs/client.js';
import { LabAccess } from '../../drill/lab-access.js';
import { describeError, sqlStateOf } from '../../postgres/connection.js';
import { readReplicationSnapshotAt } from '../../postgres/replication-health.js';
import { checkReceiverTimeouts } from '../../postgres/receiver-settings.js';
import { CliError, openStore, printJson, type GlobalOptions } from '../context.js';
import { checkBackups } from '../backup-health-check.js';

interface HealthOptions {
  json?: boolean;
  verbose?: boolean;
  maxLag?: number;
}

/** The CLI waits longer than an agent's probe: a person or cron job asks once. */
const SQL_TIMEOUT_MS = 5000;

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds, for example 60 or 2.5');
  return n;
}

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('replication health of the published primary: exit 0 healthy, 1 unhealthy; quiet unless unhealthy or asked')
    .option('--json', 'print the whole report as JSON (healthy or not)')
    .option('--verbose', 'print the report as a table even when healthy')
    .option('--max-lag <s>', `replay lag in seconds above which a replica makes the cluster unhealthy (default ${DEFAULT_THRESHOLDS.alertSeconds}; a warning above ${DEFAULT_THRESHOLDS.warnSeconds})`, positiveSeconds)
    .action(async (options: HealthOptions, command: Command) => {
      const access = labAccessOf(command);
      const config = access.config;
      const published = await publishedPrimary(access);
      if (!published) throw new CliError(`health: no primary is published in etcd for cluster ${config.cluster}`, 1);
      const node = config.nodes.find((n) => n.name === published.name);
      if (!node) throw new CliError(`health: the published primary ${published.name} is not a node of the config`, 2);
      if (node.hostPort === undefined) throw new CliError(`health: node ${node.name} has no hostPort in the config; health reaches the primary through 127.0.0.1:<hostPort>`, 2);

      let snapshot;
      try {
        snapshot = await readReplicationSnapshotAt(access.endpoint(node), Math.max(config.timings.probeTimeoutMs, SQL_TIMEOUT_MS));
      } catch (error) {
        throw new CliError(`health: cannot read the primary ${node.name} at 127.0.0.1:${node.hostPort}: ${firstLine(reasonOf(error))}`, 1);
      }
      const health = classifyHealth({
        primary: node.name,
        ...snapshot,
        expected: config.nodes.filter((n) => n.name !== node.name).map((n) => ({ name: n.name, slot: slotNameOf(n.name) })),
        thresholds: { alertSeconds: options.maxLag },
        synchronous: config.replication.synchronous,
      });
      // A setting that voids the partition rule is a warning, not a replication fault: the exit code stays.
      const reachable = config.nodes.filter((n) => n.hostPort !== undefined);
      const settings = await checkReceiverTimeouts(reachable.map((n) => ({ node: n.name, endpoint: access.endpoint(n) })), config.timings, SQL_TIMEOUT_MS);
      health.warnings.push(...settings.flatMap((s) => (s.problem === null ? [] : [s.problem])));
      // Backups are part of health (issue 16): a stale backup or failing archiving is a problem.
      const backups = await checkBackups(access, node, SQL_TIMEOUT_MS);
      if (backups) {
        health.problems.push(...backups.problems);
        health.warnings.push(...backups.warnings);
        if (backups.problems.length > 0) health.healthy = false;
      }

      if (options.json) printJson({ cluster: config.cluster, epoch: published.epoch, ...health, ...(backups ? { backups: { last: backups.last, archiver: backups.archiver, problems: backups.problems, warnings: backups.warnings } } : {}) });
      else if (options.verbose) {
        process.stdout.write(`${renderHealth(health, config.cluster, published.epoch)}\n`);
        if (!health.healthy) process.stderr.write(health.problems.map((p) => `${p}\n`).join(''));
      } else if (!health.healthy) {
        process.stderr.write([...health.problems, ...health.warnings.map((w) => `warning: ${w}`)].map((l) => `${l}\n`).join(''));
      }
      if (!health.healthy) process.exitCode = 1;
    });
}

/** The config as `drill` finds it (--config, FAILOVER_CONFIG, ./config/lab.json), with the superuser's password from env or ./.env. */
function labAccessOf(command: Command): LabAccess {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const file = globals.config ?? process.env.FAILOVER_CONFIG ?? (existsSync('config/lab.json') ? 'config/lab.json' : undefined);
  if (!file) throw new CliError('health: no config; pass --config <file> (the lab uses config/lab.json)', 2);
  try {
    return new LabAccess(loadConfig({ file, etcd: globals.etcd, cluster: globals.cluster }));
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

async function publishedPrimary(access: LabAccess): Promise<Published | null> {
  const { etcd, store } = await openStore(access.config, 'reader');
  try {
    return await store.published();
  } catch (error) {
    throw new CliError(describeEtcdError(error, access.config.etcd.endpoints), 1);
  } finally {
    etcd.close();
  }
}

/** The SQLSTATE and message, without repeating a network error's code ('ECONNREFUSED connect ECONNREFUSED …'). */
function reasonOf(error: unknown): string {
  const code = sqlStateOf(error);
  return error instanceof Error && code !== undefined && error.message.includes(code) ? error.message : describeError(error);
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

export function renderHealth(health: Health, cluster: string, epoch: number): string {
  const { warnSeconds, alertSeconds } = health.thresholds;
  const lines = [
    `cluster ${cluster}  epoch ${epoch}  primary ${health.primary}  lsn ${health.currentLsn ?? '-'}  ${health.healthy ? 'healthy' : 'UNHEALTHY'}  (warn > ${warnSeconds} s, alert > ${alertSeconds} s)`,
  ];
  const sync = health.synchronous;
  if (sync?.mode === 'quorum') lines.push(`synchronous: quorum ANY ${sync.number} (${sync.durability}), synchronous now: ${sync.standbys.join(', ') || 'none'}`);
  lines.push('');
  const header = ['REPLICA', 'STATE', 'SYNC', 'SENT', 'FLUSHED', 'REPLAYED', 'LAG', 'LAG S', 'SLOT', 'LEVEL'];
  const rows = health.replicas.map((r) => [
    r.name,
    r.state,
    r.syncState ?? '-',
    r.sentLsn ?? '-',
    r.flushLsn ?? '-',
    r.replayLsn ?? '-',
    r.lagBytes === null ? '-' : formatBytes(BigInt(r.lagBytes)),
    r.lagSeconds === null ? '-' : r.lagSeconds.toFixed(1),
    r.slot ?? '-',
    r.level,
  ]);
  lines.push(...table([header, ...rows]));
  if (health.slots.length > 0) {
    lines.push('');
    lines.push(...table([['SLOT', 'ACTIVE', 'RETAINED', 'REPLICA'], ...health.slots.map((s) => [s.name, s.active ? 'yes' : 'no', s.retainedBytes === null ? '-' : formatBytes(BigInt(s.retainedBytes)), s.replica ?? '-'])]));
  }
  if (health.warnings.length > 0) lines.push('', ...health.warnings.map((w) => `warning: ${w}`));
  return lines.join('\n');
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}
