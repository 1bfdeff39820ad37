import type { Command } from 'commander';
import { printJson, withStore } from '../context.js';

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('past promotions, newest first')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const history = await withStore(command, (store) => store.history(), 'reader');
      if (options.json) {
        printJson(history);
        return;
      }
      if (history.length === 0) {
        process.stdout.write('no promotions recorded\n');
        return;
      }
      for (const h of history) {
        const total = h.timings.total === undefined ? '' : `  ${h.timings.total} ms`;
        process.stdout.write(`epoch ${h.epoch}  ${h.at}  ${h.kind}  ${h.from ?? '-'} -> ${h.to}  timeline ${h.timeline}${total}  ${h.reason}\n`);
      }
    });
}
