import type { Command } from 'commander';
import { backupEdgesOf, type BackupEdges } from '../backup/edges.js';
import type { Config } from '../config/schema.js';
import { CliError, configOf } from './context.js';

/**
 * The config and its backup edges for a `failover backup …` command, read before etcd is
 * opened: a config without a `backup` section is a configuration error (exit 2), whatever etcd says.
 */
export function backupConfigOf(command: Command, what: string): { config: Config; edges: BackupEdges } {
  const config = configOf(command);
  const edges = backupEdgesOf(config);
  if (edges === null) throw new CliError(`${what}: the config has no backup section; add "backup": {} to it to take and restore backups (see the README's Backups)`, 2);
  return { config, edges };
}
