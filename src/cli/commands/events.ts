import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { formatEvent, parseDuration, type ClusterEvent } from '../../core/event.js';
import { EventLog } from '../../dcs/events.js';
import { jsonText } from '../../json.js';
import { configOf, CliError, openStore } from '../context.js';
import { describeEtcdError } from '../../dcs/client.js';

function duration(value: string): number {
  const ms = parseDuration(value);
  if (ms === null) throw new InvalidArgumentError('expected a duration such as 30s, 15m, 2h or 7d');
  return ms;
}

/** The cluster's event log, newest last; with --follow, new events as they are written. */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('the event log: verdict changes, fences, promotion steps, rejoins, refusals, hooks and operator commands, each with its rule')
    .option('--since <duration>', 'only events of the last <duration> (30s, 15m, 2h, 7d)', duration)
    .option('--follow', 'keep printing new events until interrupted')
    .option('--json', 'machine-readable output (with --follow: one JSON object per line)')
    .action(async (options: { since?: number; follow?: boolean; json?: boolean }, command: Command) => {
      const config = configOf(command);
      const { etcd, store } = await openStore(config, 'reader');
      const print = (events: ClusterEvent[]) => {
        if (options.json && !options.follow) process.stdout.write(jsonText(events));
        else for (const e of events) process.stdout.write(options.json ? `${JSON.stringify(e)}\n` : `${formatEvent(e)}\n`);
      };
      const log = new EventLog(etcd, store.keys, 'cli');
      try {
        const past = await log.list(options.since === undefined ? undefined : Date.now() - options.since);
        if (!options.follow) {
          if (past.length === 0 && !options.json) process.stdout.write('no events recorded\n');
          else print(past);
          return;
        }
        print(past);
        const seen = new Set(past.map((e) => e.id));
        const stop = await log.follow((event) => {
          if (!seen.has(event.id)) print([event]);
        });
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await stop();
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(describeEtcdError(error, config.etcd.endpoints), 1);
      } finally {
        etcd.close();
      }
    });
}
