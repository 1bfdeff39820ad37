import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { engineFor } from '../../docker/engine.js';
import { LabAccess } from '../../drill/lab-access.js';
import { SCENARIOS, type Scenario } from '../../drill/faults.js';
import { summarise, renderTable } from '../../drill/report.js';
import { runRound, type RoundResult } from '../../drill/round.js';
import { DEFAULT_OUTAGE_MS } from '../../drill/fault-standby-loss.js';
import { DEFAULT_CUT_MS } from '../../drill/fault-replica-cut.js';
import { ensureDataset, type DatasetReport } from '../../drill/dataset.js';
import { awaitHealthy } from '../../drill/cluster-checks.js';
import { EtcdMembers, membersProblem } from '../../drill/etcd-members.js';
import { timelineSvg } from '../../drill/timeline-svg.js';
import { ConfigError, loadConfig } from '../../config/load.js';
import { CliError, openStore, printJson, type GlobalOptions } from '../context.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return n;
}

function outage(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1000 || n > 600_000) throw new InvalidArgumentError('expected a whole number of milliseconds from 1000 to 600000');
  return n;
}

function datasetMb(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 1_000_000) throw new InvalidArgumentError('expected a whole number of MB from 0 (no dataset) to 1000000');
  return n;
}

function viaRoute(value: string): 'primary' | 'write-endpoint' {
  if (value !== 'primary' && value !== 'write-endpoint') throw new InvalidArgumentError('expected primary or write-endpoint');
  return value;
}

export function registerDrill(program: Command): void {
  program
    .command('drill')
    .description(`chaos drill against the running lab; scenarios: ${SCENARIOS.join(', ')}, all`)
    .argument('<scenario>', 'the fault to inject')
    .option('--rounds <n>', 'rounds per scenario', positiveInt, 1)
    .option('--json', 'machine-readable output')
    .option('--out <dir>', 'also write the report as JSON into this directory')
    .option('--outage-ms <ms>', 'standby-loss: how long every standby stays down', outage, DEFAULT_OUTAGE_MS)
    .option('--cut-ms <ms>', 'replica-cut: how long the replica stays cut off its network', outage, DEFAULT_CUT_MS)
    .option('--dataset-mb <mb>', 'load the application database with pgbench tables of about this many MB before the rounds (0: none)', datasetMb, 0)
    .option('--via <route>', 'where the writer sends its rows: primary (the published primary) or write-endpoint (PgBouncer)', viaRoute, 'primary')
    .action(async (scenario: string, options: { rounds: number; json?: boolean; out?: string; via: 'primary' | 'write-endpoint'; outageMs: number; cutMs: number; datasetMb: number }, command: Command) => {
      const scenarios: Scenario[] = scenario === 'all' ? [...SCENARIOS] : SCENARIOS.includes(scenario as Scenario) ? [scenario as Scenario] : [];
      if (scenarios.length === 0) throw new CliError(`drill: unknown scenario '${scenario}'; expected one of ${SCENARIOS.join(', ')}, all`, 2);
      const globals = command.optsWithGlobals<GlobalOptions>();
      const file = globals.config ?? process.env.FAILOVER_CONFIG ?? (existsSync('config/lab.json') ? 'config/lab.json' : undefined);
      if (!file) throw new CliError('drill: no config; pass --config <file> (the lab uses config/lab.json)', 2);
      let access: LabAccess;
      try {
        access = new LabAccess(loadConfig({ file, etcd: globals.etcd, cluster: globals.cluster }));
      } catch (error) {
        if (error instanceof ConfigError) throw new CliError(error.message, 2);
        throw error;
      }
      const { etcd, store } = await openStore(access.config);
      const etcdMembers = new EtcdMembers(access.config.etcd);
      const reports = [];
      // Ctrl-C undoes the fault in force (unpause, reconnect, restart) before leaving.
      // A holder, not a `let`: TypeScript cannot see that the callback below assigns it.
      const inForce: { undo: (() => Promise<void>) | null } = { undo: null };
      const interrupted = () => {
        process.stderr.write('drill: interrupted; undoing the fault in force\n');
        void (inForce.undo ? inForce.undo() : Promise.resolve()).finally(() => process.exit(130));
      };
      process.once('SIGINT', interrupted);
      const context = {
        access,
        store,
        engine: engineFor(access.config.nodes[0]?.docker),
        probeIntervalMs: access.config.timings.probeIntervalMs,
        via: options.via,
        outageMs: options.outageMs,
        cutMs: options.cutMs,
        etcdMembers,
        log: (l: string) => process.stderr.write(`${l}\n`),
        onFault: (restore: (() => Promise<void>) | null) => {
          inForce.undo = restore;
        },
      };
      try {
        // A drill never starts on a cluster that is already in trouble, nor on one it was not given.
        const etcdProblem = membersProblem(await etcdMembers.facts(), scenarios.includes('etcd-member-loss') ? 3 : 1);
        if (etcdProblem) throw new CliError(`drill: ${scenarios.includes('etcd-member-loss') ? 'etcd-member-loss cannot run: ' : ''}${etcdProblem}`, 1);
        try {
          await awaitHealthy(context, 20_000);
        } catch (error) {
          throw new CliError(`drill: ${error instanceof Error ? error.message : String(error)}; see failover status`, 1);
        }
        // The dataset is loaded once, before every round, and reported with each scenario.
        let dataset: DatasetReport | null = null;
        try {
          dataset = await ensureDataset({ ...context, log: options.json ? () => undefined : context.log }, options.datasetMb);
        } catch (error) {
          throw new CliError(`drill: could not load the dataset: ${error instanceof Error ? error.message : String(error)}`, 1);
        }
        if (dataset) {
          try {
            await awaitHealthy(context, 60_000);
          } catch (error) {
            throw new CliError(`drill: after loading the dataset, ${error instanceof Error ? error.message : String(error)}; see failover status`, 1);
          }
        }
        for (const s of scenarios) {
          const rounds: RoundResult[] = [];
          for (let round = 1; round <= options.rounds; round++) {
            const id = Date.now() % 1_000_000_000;
            if (!options.json) process.stderr.write(`${s} round ${round}/${options.rounds}: waiting for a healthy cluster, then injecting the fault\n`);
            const result = await runRound(context, s, id);
            result.round = round;
            rounds.push(result);
            if (!options.json) process.stderr.write(`${s} round ${round}: ${result.from} -> ${result.to ?? '?'} rto ${result.rtoMs ?? '-'} ms, lost ${result.lost}${result.error ? `, ${result.error}` : ''}\n`);
          }
          const summary = summarise(rounds);
          reports.push({ scenario: s, dataset, rounds: options.out ? rounds : rounds.map(({ timeline: _t, ...r }) => r), summary });
          if (!options.json) process.stdout.write(`${renderTable(s, rounds, summary)}\n`);
          if (options.out) {
            mkdirSync(options.out, { recursive: true });
            const stamp = new Date().toISOString().replace(/[:.]/g, '-');
            writeFileSync(join(options.out, `${s}-${stamp}.json`), JSON.stringify({ scenario: s, dataset, rounds, summary }, null, 2));
            for (const r of rounds) writeFileSync(join(options.out, `${s}-${stamp}-round-${r.round}.svg`), timelineSvg(r));
          }
        }
      } finally {
        // A round that failed unexpectedly may leave its fault in force: undo it.
        if (inForce.undo) await inForce.undo().catch(() => undefined);
        process.removeListener('SIGINT', interrupted);
        etcdMembers.close();
        etcd.close();
      }
      if (options.json) printJson(reports.length === 1 ? reports[0] : reports);
      // Lost writes fail a round only where the settings promise none (a promising synchronous set, see round.ts): with asynchronous replication they are reported.
      // A round that lost sight of a node cannot claim "no split brain": it fails too.
      const bad = reports.some((r) => r.summary.splitBrain || !r.summary.observable || r.summary.failedRounds > 0);
      if (bad) process.exitCode = 1;
    });
}
