import type Docker from 'dockerode';
import type { BackupConfig } from '../config/backup-schema.js';
import type { Config, NodeConfig } from '../config/schema.js';
import { engineFor } from '../docker/engine.js';

// What a backup needs from its caller, whether the agents' leader (on schedule) or the
// CLI (`failover backup …`): the Docker engine of each node, and the backup settings.
// Every backup runs inside a node's container (pg_dump, pgbackrest), through Docker exec,
// as the postgres user over the local socket (peer): no password travels.

export interface BackupEdges {
  /** The cluster's name: pgBackRest's stanza unless the config names one. */
  cluster: string;
  /** The config's `database` (dumped unless backup.dumps.database names another). */
  database: string;
  backup: BackupConfig;
  nodes: NodeConfig[];
  engine(node: NodeConfig): Docker;
}

/** The node a backup is taken from, and what it was when chosen. */
export interface BackupSource {
  node: NodeConfig;
  role: 'primary' | 'replica';
}

export const stanzaOf = (edges: Pick<BackupEdges, 'cluster' | 'backup'>): string => edges.backup.pgbackrest.stanza ?? edges.cluster;
export const dumpDatabaseOf = (edges: Pick<BackupEdges, 'database' | 'backup'>): string => edges.backup.dumps.database ?? edges.database;

/** The edges of a config that has a `backup` section, each node's engine as the config names it. */
export function backupEdgesOf(config: Config, engine: (node: NodeConfig) => Docker = (node) => engineFor(node.docker)): BackupEdges | null {
  if (!config.backup) return null;
  return { cluster: config.cluster, database: config.database, backup: config.backup, nodes: config.nodes, engine };
}
