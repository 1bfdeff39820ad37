import type { Command } from 'commander';
import { registerDumpCommands } from './backup-dump.js';
import { registerPhysicalBackup } from './backup-physical.js';

// `failover backup …` (issue 16): the plan's logical dumps (backup-dump.ts) and pgBackRest's
// physical backups with point-in-time restore. Each kind's subcommands live in their own file;
// what they share (the config's backup section, or exit 2) is in ../backup-context.ts.

export function registerBackup(program: Command): Command {
  const backup = program.command('backup').description('logical dumps (pg_dump, the plan\'s every 6 h, keep 30) and pgBackRest backups with point-in-time restore');
  registerDumpCommands(backup);
  registerPhysicalBackup(backup);
  return backup;
}
