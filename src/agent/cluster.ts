import type Docker from 'dockerode';
import type { Etcd3 } from 'etcd3';
import type { Config, NodeConfig } from '../config/schema.js';
import { replicationHostOf, slotNameOf } from '../config/schema.js';
import { passwordOf } from '../config/load.js';
import { engineFor } from '../docker/engine.js';
import type { Endpoint } from '../postgres/connection.js';
import type { NodeSpec } from '../core/types.js';
import type { Logger } from '../log.js';
import { ClusterStore } from '../dcs/store.js';
import { keysFor } from '../dcs/keys.js';

/**
 * What an agent knows about its cluster and how to reach each part of it: the
 * config with secrets resolved, a Docker engine per node, and the etcd store.
 * Secrets stay in here and in the connections made from it; they are never logged.
 */
export class Cluster {
  readonly store: ClusterStore;
  private readonly superPassword: string;
  readonly replicationPassword: string;

  constructor(
    readonly config: Config,
    readonly etcd: Etcd3,
    readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.store = new ClusterStore(etcd, keysFor(config.etcd.prefix, config.cluster));
    this.superPassword = passwordOf(config.superuser, env);
    this.replicationPassword = passwordOf(config.replication, env);
  }

  get nodes(): NodeConfig[] {
    return this.config.nodes;
  }

  node(name: string): NodeConfig | undefined {
    return this.config.nodes.find((n) => n.name === name);
  }

  nodeOfContainer(container: string): NodeConfig | undefined {
    return this.config.nodes.find((n) => n.container === container);
  }

  engine(node: NodeConfig): Docker {
    return engineFor(node.docker);
  }

  sqlEndpoint(node: NodeConfig): Endpoint {
    return { host: node.host, port: node.port, user: this.config.superuser.user, password: this.superPassword, database: this.config.database };
  }

  specs(): NodeSpec[] {
    return this.config.nodes.map((n) => ({ name: n.name, noFailover: n.tags.noFailover, priority: n.tags.priority }));
  }

  /** Every host name a node may appear under in another node's pg_stat_wal_receiver.sender_host. */
  hostsOf(): Record<string, string[]> {
    return Object.fromEntries(this.config.nodes.map((n) => [n.name, [...new Set([n.host, n.container, replicationHostOf(n)])]]));
  }

  slotOf(node: NodeConfig): string {
    return slotNameOf(node.name);
  }

  /** libpq conninfo a replica uses to stream from `primary`. Holds the replication password. */
  primaryConninfo(primary: NodeConfig, replica: NodeConfig): string {
    const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    return [
      `host=${quote(replicationHostOf(primary))}`,
      `port=${primary.replicationPort}`,
      `user=${quote(this.config.replication.user)}`,
      `password=${quote(this.replicationPassword)}`,
      `application_name=${quote(replica.name)}`,
      'connect_timeout=2',
    ].join(' ');
  }
}
