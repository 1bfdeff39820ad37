import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { EventLog } from '../../dcs/events.js';
import { withStore } from '../context.js';

export const operator = (): string => `${process.env.USER ?? loginName()}@${hostname()}`;

/** The login of the process when USER is not set (a root shell, cron, a container). */
function loginName(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

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
        const by = operator();
        await store.setPaused({ since: new Date().toISOString(), by });
        await new EventLog(store.etcd, store.keys, `cli:${by}`).emit({ kind: 'command', rule: 'operator', message: 'pause: automatic failover off' });
        process.stdout.write('paused: automatic failover is off until `failover resume`\n');
      });
    });
  program
    .command('resume')
    .description('leave maintenance mode: automatic failover is on again')
    .action(async (_options: unknown, command: Command) => {
      await withStore(command, async (store) => {
        await store.setPaused(null);
        await new EventLog(store.etcd, store.keys, `cli:${operator()}`).emit({ kind: 'command', rule: 'operator', message: 'resume: automatic failover on' });
        process.stdout.write('resumed: automatic failover is on\n');
      });
    });
}
