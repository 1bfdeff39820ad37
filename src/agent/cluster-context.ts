import type Docker from 'dockerode';
import pg from 'pg';
import type { Etcd3 } from 'etcd3';
import type { Config, NodeConfig } from '../config/schema.js';
import { replicationHostOf, slotNameOf } from '../config/schema.js';
import { passwordOf } from '../config/load.js';
import { refusePublicPasswords } from '../config/public-passwords.js';
import { engineFor, inspectContainer } from '../docker/engine.js';
import { sslOptionsOf, type Endpoint, type EndpointTls } from '../postgres/connection.js';
import { loadEndpointTls } from '../postgres/endpoint-tls.js';
import type { NodeSpec } from '../core/types.js';
import type { Logger } from '../log.js';
import { ClusterStore } from '../dcs/store.js';
import { keysFor } from '../dcs/keys.js';

/**
 * Limits of every SQL call made through a node's pool (ms). Each step's statements are
 * catalog reads and one-line commands that answer in a few ms (pg_is_in_recovery(),
 * LSN reads, ALTER SYSTEM, pg_reload_conf(), slot create/drop, txid_current()), and the
 * loops that wait (promote's poll, awaitReplay) issue many short queries, each under
 * these limits, and bound the whole wait themselves. A paused or cut-off node thus
 * costs a step at most connect + query, not forever: the connect limit also bounds the
 * wait for a free pooled connection, and the query limit is set on the server as well
 * (statement_timeout), since pg's query_timeout only gives up on the client side (the
 * pool then discards that connection).
 */
export const SQL_DEADLINES = { connectMs: 1000, queryMs: 2000 } as const;

/**
 * The agent's connection and resource context for its cluster: the config with
 * secrets resolved, a Docker engine and a kept SQL pool per node, and the etcd store.
 * Secrets stay in here and in the connections made from it; they are never logged.
 */
export class ClusterContext {
  readonly store: ClusterStore;
  private readonly pools = new Map<string, pg.Pool>();
  private readonly pgdata = new Map<string, string>();
  private readonly superPassword: string;
  /** The config's PostgreSQL TLS with its CA read (once, here). */
  /** The config's PostgreSQL TLS with its CA read once, at start (the nodes and the PgBouncers share it). */
  readonly tls: EndpointTls | undefined;
  readonly replicationPassword: string;
  /** The PgBouncer admin console's password, when endpoints are configured. */
  readonly poolerPassword: string | null;

  constructor(
    readonly config: Config,
    readonly etcd: Etcd3,
    readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.store = new ClusterStore(etcd, keysFor(config.etcd.prefix, config.cluster));
    this.superPassword = passwordOf(config.superuser, env);
    this.replicationPassword = passwordOf(config.replication, env);
    this.poolerPassword = config.endpoints ? passwordOf(config.endpoints.admin, env) : null;
    refusePublicPasswords(
      { [`superuser ${config.superuser.user}`]: this.superPassword, [`replication user ${config.replication.user}`]: this.replicationPassword, 'the PgBouncer admin': this.poolerPassword },
      config.allowPublicLabPasswords,
    );
    this.tls = loadEndpointTls(config.tls);
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
    return { host: node.host, port: node.port, user: this.config.superuser.user, password: this.superPassword, database: this.config.database, ...(this.tls ? { tls: this.tls } : {}) };
  }

  /**
   * Warm connections for the steps of an operation: a failover should not pay for a
   * new connection at every step. Broken connections leave the pool on their own.
   */
  pool(node: NodeConfig): pg.Pool {
    let pool = this.pools.get(node.name);
    if (!pool) {
      const { tls: _tls, ...endpoint } = this.sqlEndpoint(node);
      pool = new pg.Pool({
        ...endpoint,
        ssl: sslOptionsOf({ host: node.host, tls: this.tls }),
        max: 3,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: SQL_DEADLINES.connectMs,
        query_timeout: SQL_DEADLINES.queryMs,
        statement_timeout: SQL_DEADLINES.queryMs,
        // A peer that vanished without closing (a host cut off) is noticed by the OS too.
        keepAlive: true,
        application_name: 'pg-failover',
      });
      pool.on('error', () => undefined);
      this.pools.set(node.name, pool);
    }
    return pool;
  }

  /** PGDATA of a node's container (from its environment), looked up once. */
  private readonly dataVolumes = new Map<string, { volume: string; image: string; pgdata: string }>();

  async pgdataOf(node: NodeConfig): Promise<string> {
    const known = this.pgdata.get(node.name);
    if (known) return known;
    const info = await inspectContainer(this.engine(node), node.container);
    const entry = (info.Config.Env ?? []).find((e) => e.startsWith('PGDATA='));
    const pgdata = entry ? entry.slice('PGDATA='.length) : '/var/lib/postgresql/data';
    this.pgdata.set(node.name, pgdata);
    // Remembered while the container exists: after `docker rm -f` the volume outlives it, and
    // compose would start a new container on it (see node-ops.prepareForReturn).
    const volume = (info.Mounts ?? []).find((m) => m.Destination === pgdata && m.Type === 'volume' && m.Name);
    if (volume?.Name) this.dataVolumes.set(node.name, { volume: volume.Name, image: info.Config.Image, pgdata });
    return pgdata;
  }

  /** The named volume holding a node's data directory, as last seen while its container existed. */
  dataVolumeOf(node: NodeConfig): { volume: string; image: string; pgdata: string } | null {
    return this.dataVolumes.get(node.name) ?? null;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.pools.clear();
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

  /**
   * libpq conninfo a replica uses to stream from `primary`. Names the node's password
   * file when the config has one; otherwise it holds the replication password. With tls,
   * it carries the config's sslmode and, for the verifying modes, the CA as the node
   * containers see it (tls.nodeCa): sslrootcert with require would make libpq verify the
   * chain after all, which is verify-ca's job.
   */
  primaryConninfo(primary: NodeConfig, replica: NodeConfig): string {
    const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const passfile = this.config.replicationPassfile;
    return [
      `host=${quote(replicationHostOf(primary))}`,
      `port=${primary.replicationPort}`,
      `user=${quote(this.config.replication.user)}`,
      passfile ? `passfile=${quote(passfile)}` : `password=${quote(this.replicationPassword)}`,
      `application_name=${quote(replica.name)}`,
      'connect_timeout=2',
      ...this.sslConninfo(quote),
    ].join(' ');
  }

  private sslConninfo(quote: (v: string) => string): string[] {
    const tls = this.config.tls;
    if (!tls) return [];
    const verifying = tls.mode === 'verify-full' || tls.mode === 'verify-ca';
    return [`sslmode=${tls.mode}`, ...(verifying && tls.nodeCa ? [`sslrootcert=${quote(tls.nodeCa)}`] : [])];
  }
}
