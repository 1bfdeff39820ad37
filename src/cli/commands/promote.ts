import { randomUUID } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import type { RequestResult } from '../../dcs/store.js';
import { EventLog } from '../../dcs/events.js';
import { CliError, printJson, withStore } from '../context.js';
import { operator } from './pause.js';
import { forcedPromotionRisk } from '../../core/candidate.js';
import type { SyncRecord } from '../../core/sync-set.js';
import type { AgentView, Published } from '../../core/types.js';
import type { Config } from '../../config/schema.js';

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds between 0 and 3600');
  return n;
}

import { sleep } from '../../time.js';

/**
 * `--force` overrides zero-loss mode's rule: before anything is filed, say what that may cost,
 * judged on the leader's view (the leader re-judges; a switchover of a healthy primary loses nothing).
 */
function warnWhatMayBeLost(target: string, sync: SyncRecord | null, published: Published | null, views: AgentView[], leader: string | null, config: Config): void {
  if (published === null) return;
  const view = views.find((v) => v.agentId === leader) ?? views[0];
  const risk = forcedPromotionRisk(
    {
      // The CLI may run without the cluster's config (--etcd, --cluster): the view names the nodes too.
      specs: [...new Set([...config.nodes.map((n) => n.name), ...Object.keys(view?.nodes ?? {})])].map((name) => ({ name, noFailover: false, priority: 0 })),
      observations: view?.nodes ?? {},
      failedPrimary: published.name,
      lastKnownPrimaryLsn: null,
      maxLagBytes: BigInt(config.maxLagOnFailover),
      publishedTimeline: published.timeline,
      sync,
    },
    target,
  );
  if (risk !== null) process.stderr.write(`failover: warning: --force overrides zero-loss mode: if the primary has failed, ${risk}\n`);
}

export function registerPromote(program: Command): void {
  program
    .command('promote')
    .description('planned switchover to <node> when the primary is healthy; manual failover to it when it is not')
    .argument('<node>', 'the node to promote, e.g. replica-1')
    .option('--force', 'promote even if the node is further behind than maxLagOnFailover, or, in zero-loss mode, not proven to hold every acknowledged commit (it says what may be lost)')
    .option('--timeout <s>', 'how long to wait for the leader to carry it out', seconds, 30)
    .option('--json', 'machine-readable output')
    .action(async (node: string, options: { force?: boolean; timeout: number; json?: boolean }, command: Command) => {
      const started = Date.now();
      const result = await withStore(command, async (store, config) => {
        const [published, leader, journal, views] = await Promise.all([store.published(), store.leader(), store.journal(), store.views()]);
        const known = [...new Set(views.flatMap((v) => Object.keys(v.nodes)))].sort();
        // The cheap refusals are made here, before anything is filed; the leader re-checks everything.
        if (known.length > 0 && !known.includes(node)) throw new CliError(`promote: unknown node ${node}; valid nodes: ${known.join(', ')}`, 1);
        if (published?.name === node) throw new CliError(`promote: ${node} is already the primary (epoch ${published.epoch})`, 1);
        if (journal) throw new CliError(`promote: another operation is in progress (${journal.kind} ${journal.from} -> ${journal.to}, step ${journal.step})`, 1);
        if (!leader) throw new CliError('promote: no leader agent is running; start the agents (npm run lab) and try again', 1);
        if (options.force) warnWhatMayBeLost(node, await store.sync(), published, views, leader, config);
        const id = randomUUID();
        const request = { id, target: node, force: options.force ?? false, at: new Date().toISOString(), by: operator() };
        const filed = await store.fileRequest(request);
        if (!filed) throw new CliError('promote: another operation is in progress; try again when it has finished', 1);
        await new EventLog(store.etcd, store.keys, `cli:${operator()}`).emit({ kind: 'command', rule: 'operator', message: `promote ${node}${options.force ? ' --force' : ''} requested`, nodes: [node], ...(published ? { epoch: published.epoch } : {}) });
        const deadline = started + options.timeout * 1000;
        let picked = false;
        while (Date.now() < deadline) {
          const outcome: RequestResult | null = await store.result(id);
          if (outcome) {
            await store.etcd.delete().key(store.keys.requestResult(id));
            return outcome;
          }
          if (!picked && (await store.request())?.id !== id) picked = true;
          await sleep(50);
        }
        // Withdrawn in one transaction, only if no leader took it: then, and only then, nothing has changed.
        if (!picked && (await store.withdrawRequest(request))) {
          throw new CliError(`promote: no leader agent took the request within ${options.timeout} s; nothing was changed`, 1);
        }
        const current = await store.journal();
        throw new CliError(`promote: not finished within ${options.timeout} s; the leader is still at step ${current?.step ?? 'unknown'} (see failover status)`, 1);
      });
      const out = { ok: result.ok, from: result.from, to: result.to, epoch: result.epoch, kind: result.kind, ms: result.ms, ...(result.error ? { error: result.error } : {}) };
      if (options.json) printJson(out);
      if (!result.ok) {
        if (!options.json) process.stderr.write(`failover: promote refused: ${result.error}\n`);
        process.exitCode = 1;
        return;
      }
      if (!options.json) process.stdout.write(`${result.kind}: ${result.from} -> ${result.to}, epoch ${result.epoch}, writes refused for ${result.ms} ms (${Date.now() - started} ms in all)\n`);
    });
}
