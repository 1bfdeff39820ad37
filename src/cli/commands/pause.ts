import { hostname } from 'node:os';
import type { Command } from 'commander';
import { withStore } from '../context.js';

export function registerPause(program: Command): void {
  program
    .command('pause')
    .description('maintenance mode: no automatic failover until resume')
    .action(async (_options: unknown, command: Command) => {
      await withStore(command, async (store) => {
        const current = await store.paused();
        if (current) {
          process.stdout.write(`already paused since ${current.since}\n`);
          return;
        }
        await store.setPaused({ since: new Date().toISOString(), by: `${process.env.USER ?? 'unknown'}@${hostname()}` });
        process.stdout.write('paused: automatic failover is off until `failover resume`\n');
      });
    });
  program
    .command('resume')
    .description('leave maintenance mode: automatic failover is on again')
    .action(async (_options: unknown, command: Command) => {
      await withStore(command, async (store) => {
        await store.setPaused(null);
        process.stdout.write('resumed: automatic failover is on\n');
      });
    });
}
