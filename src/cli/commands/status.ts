import type { Command } from 'commander';
import { readStatus, renderStatus } from '../cluster-status.js';
import { printJson, withStore } from '../context.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('the cluster as agents see it')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const status = await withStore(command, (store, config) => readStatus(store, config.cluster, config.replication.synchronous), 'reader');
      if (options.json) printJson(status);
      else process.stdout.write(`${renderStatus(status)}\n`);
    });
}
