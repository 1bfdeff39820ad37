import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import Docker from 'dockerode';
import pg from 'pg';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import type { Config } from '../../src/config/schema.js';
import { configSchema, slotNameOf } from '../../src/config/schema.js';
import { eventually } from './eventually.js';
import { NODE_SECRETS_DIR, NODE_TLS_DIR, RunFiles, TestTls, writeSecretFiles } from './node-tls.js';

// A PostgreSQL cluster for integration tests: etcd and a primary with N streaming
// replicas from the lab images, on a fresh Docker network, each node published on
// a free 127.0.0.1 port. Everything carries the label pg-failover.test=true, so a
// crashed run's leftovers are removed at the next start.

export const TEST_LABEL = 'pg-failover.test';
export const POSTGRES_PASSWORD = 'test-postgres-secret';
export const REPLICATION_PASSWORD = 'test-replication-secret';
export const PGBOUNCER_ADMIN_PASSWORD = 'test-pgbouncer-secret';
/** The application role and PgBouncer's lookup role of a cluster started with `appRoles` (issue 15). */
export const APP_USER = 'app';
export const APP_PASSWORD = 'test-app-secret';
export const PGBOUNCER_AUTH_USER = 'pgbouncer_auth';
export const PGBOUNCER_AUTH_PASSWORD = 'test-pgbouncer-auth-secret';
export const docker = new Docker();

/** Publishes one port on 127.0.0.1 only, at a fixed host port so a restarted container keeps it. */
class LoopbackContainer extends GenericContainer {
  withLoopbackPort(containerPort: number, hostPort: number): this {
    this.withExposedPorts({ container: containerPort, host: hostPort });
    this.hostConfig.PortBindings = { ...this.hostConfig.PortBindings, [`${containerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] };
    return this;
  }
}

/** Ports this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port on 127.0.0.1 that nothing listens on, for Docker to publish a container on.
 * Taken below Linux's ephemeral range (32768-60999): a port from that range may be
 * bound a moment later as the local end of one of this process's own connections,
 * and Docker's bind then fails ("port is already allocated").
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port on 127.0.0.1 between 20000 and 32000');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export interface TestNode {
  name: string;
  container: string;
  slot: string;
  port: number;
  handle: StartedTestContainer | null;
}

export interface TestPooler {
  container: string;
  port: number;
}

export interface TestCluster {
  runId: string;
  network: string;
  etcdUrl: string | null;
  etcd: StartedTestContainer | null;
  etcdPort: number | null;
  nodes: TestNode[];
  /** PgBouncer endpoints (write, read) on 127.0.0.1, when asked for. */
  poolers: { write: TestPooler; read: TestPooler } | null;
  labels: Record<string, string>;
  /** The run's CA and node certificates when started with `tls` (clients then verify-full against it). */
  tls: TestTls | null;
  /** The run's backup directory on the machine (mounted at NODE_BACKUP_DIR in every node), when started with `backups`. */
  backupDir: string | null;
  node(name: string): TestNode;
  /** A client on the node's published port; with TLS it verifies the node's certificate unless `ssl` says otherwise. */
  client(name: string, options?: { user?: string; password?: string; database?: string; ssl?: pg.ClientConfig['ssl'] }): Promise<pg.Client>;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(name: string, sql: string, params?: unknown[]): Promise<T[]>;
  /** A config for in-process agents: SQL over the published ports, replication over the network. */
  config(overrides?: Partial<Record<string, unknown>>): Config;
  addReplica(name: string): Promise<TestNode>;
  stop(): Promise<void>;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes test containers and networks: those of `runId`, and those left by a
 * crashed run (their owning test process is gone). A run of another live test
 * process on the same engine is left alone.
 */
export async function removeLeftovers(runId?: string): Promise<void> {
  const stale = (labels: Record<string, string> | undefined) => {
    const owner = Number(labels?.['pg-failover.pid']);
    return labels?.['pg-failover.run'] === runId || !Number.isInteger(owner) || !processAlive(owner);
  };
  const containers = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=true`] } });
  await Promise.all(containers.filter((c) => stale(c.Labels)).map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const networks = await docker.listNetworks({ filters: { label: [`${TEST_LABEL}=true`] } });
  await Promise.all(networks.filter((n) => stale(n.Labels)).map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  RunFiles.removeStale(processAlive);
}

function nodeContainer(image: string, network: string, labels: Record<string, string>, name: string, port: number, env: Record<string, string>, mounts: Array<{ source: string; target: string; mode?: 'rw' | 'ro' }> = []): LoopbackContainer {
  return new LoopbackContainer(image)
    .withName(name)
    .withNetworkMode(network)
    .withLabels(labels)
    .withEnvironment(env)
    .withBindMounts(mounts.map((m) => ({ ...m, mode: m.mode ?? ('ro' as const) })))
    .withLoopbackPort(5432, port)
    .withHealthCheck({ test: ['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432'], interval: 250, timeout: 1000, retries: 240, startPeriod: 0 })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(120_000);
}

function poolerContainer(network: string, labels: Record<string, string>, pooler: TestPooler, env: Record<string, string>, mounts: Array<{ source: string; target: string }>): LoopbackContainer {
  return new LoopbackContainer('pg-failover/pgbouncer:lab')
    .withName(pooler.container)
    .withNetworkMode(network)
    .withLabels(labels)
    .withEnvironment(env)
    .withBindMounts(mounts.map((m) => ({ ...m, mode: 'ro' as const })))
    .withLoopbackPort(6432, pooler.port)
    .withWaitStrategy(Wait.forLogMessage(/process up/))
    .withStartupTimeout(30_000);
}

export interface ClusterOptions {
  replicas?: number;
  etcd?: boolean;
  pgbouncer?: boolean;
  peerHosts?: boolean;
  /** Nodes with server certificates from a CA of the run (hostssl only); the test's clients verify-full. */
  tls?: boolean;
  /** APP_USER (owner of the app database, not a superuser) and PgBouncer's lookup role, with passwords. */
  appRoles?: boolean;
  /** Passwords as mounted files (*_FILE) only, none in the containers' environment (the PgBouncers' too). */
  secretFiles?: boolean;
  /**
   * One backup directory of the run shared by every node at /backups (as the lab's `backups`
   * volume), PGF_BACKUP_DIR and PGF_BACKUP_STANZA set (WAL archiving with pgBackRest), and a
   * `backup` section in config() with the schedule off (a test takes its backups itself).
   */
  backups?: boolean;
}

/** Where every test node mounts the run's backup directory (TestCluster.backupDir on the machine). */
export const NODE_BACKUP_DIR = '/backups';

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const replicaCount = options.replicas ?? 2;
  await removeLeftovers();
  const runId = randomBytes(3).toString('hex');
  const labels = { [TEST_LABEL]: 'true', 'pg-failover.run': runId, 'pg-failover.pid': String(process.pid) };
  const network = `pgf-test-${runId}`;
  await docker.createNetwork({ Name: network, Labels: labels, CheckDuplicate: true });
  const names = ['pgsql', ...Array.from({ length: replicaCount }, (_, i) => `replica-${i + 1}`)];
  const nodes: TestNode[] = [];
  for (const name of names) nodes.push({ name, container: `pgf-${runId}-${name}`, slot: slotNameOf(name), port: await freePort(), handle: null });

  let etcd: StartedTestContainer | null = null;
  let etcdPort: number | null = null;
  const withEtcd = options.etcd ?? true;
  const etcdStart = withEtcd
    ? (async () => {
        etcdPort = await freePort();
        const etcdName = `pgf-${runId}-etcd`;
        etcd = await new LoopbackContainer('pg-failover/etcd:lab')
          .withName(etcdName)
          .withNetworkMode(network)
          .withLabels(labels)
          .withEnvironment({
            ETCD_NAME: 'etcd',
            ETCD_ADVERTISE_CLIENT_URLS: `http://${etcdName}:2379`,
            ETCD_INITIAL_ADVERTISE_PEER_URLS: `http://${etcdName}:2380`,
            ETCD_INITIAL_CLUSTER: `etcd=http://${etcdName}:2380`,
          })
          .withLoopbackPort(2379, etcdPort)
          .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
          .withStartupTimeout(60_000)
          .start();
      })()
    : Promise.resolve();

  const [primary, ...replicas] = nodes;
  // As in the lab's compose file: each node names the others (an emptied first primary whose peers answer refuses initdb).
  const peersOf = (node: TestNode): Record<string, string> =>
    options.peerHosts ? { PEER_HOSTS: replicas.filter((r) => r !== node).map((r) => r.container).join(',') } : {};
  const files = options.tls || options.secretFiles || options.backups ? new RunFiles(runId) : null;
  // Written by the nodes' postgres user, whatever its uid in the image.
  const backupDir = options.backups ? files!.subdir('backups') : null;
  if (backupDir) chmodSync(backupDir, 0o777);
  const tls = options.tls ? new TestTls(files!) : null;
  const secrets: Record<string, string> = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, ...(options.appRoles ? { APP_PASSWORD, PGBOUNCER_AUTH_PASSWORD } : {}) };
  const secretMounts = options.secretFiles ? [{ source: files!.subdir('secrets'), target: NODE_SECRETS_DIR }] : [];
  const common = {
    ...(options.secretFiles ? writeSecretFiles(secretMounts[0]!.source, secrets) : secrets),
    ...(options.appRoles ? { APP_USER, PGBOUNCER_AUTH_USER } : {}),
    POSTGRES_DB: 'app',
    ...(backupDir ? { PGF_BACKUP_DIR: NODE_BACKUP_DIR, PGF_BACKUP_STANZA: `t${runId}` } : {}),
  };
  const startNode = (node: TestNode, env: Record<string, string>) =>
    nodeContainer('pg-failover/postgres:lab', network, labels, node.container, node.port, { ...common, NODE_NAME: node.name, ...env }, [
      ...secretMounts,
      ...(tls ? [{ source: tls.nodeDir(node.name, node.container), target: NODE_TLS_DIR }] : []),
      ...(backupDir ? [{ source: backupDir, target: NODE_BACKUP_DIR, mode: 'rw' as const }] : []),
    ]).start();
  primary!.handle = await startNode(primary!, { ...peersOf(primary!), REPLICATION_MODE: 'primary', ...(replicas.length > 0 ? { REPLICA_SLOTS: replicas.map((r) => r.slot).join(',') } : {}) });
  await Promise.all(
    replicas.map(async (replica) => {
      replica.handle = await startNode(replica, { ...peersOf(replica), REPLICATION_MODE: 'replica', PRIMARY_HOST: primary!.container, REPLICATION_SLOT: replica.slot });
    }),
  );
  await etcdStart;
  const poolers = options.pgbouncer
    ? { write: { container: `pgf-${runId}-pgbouncer-write`, port: await freePort() }, read: { container: `pgf-${runId}-pgbouncer-read`, port: await freePort() } }
    : null;
  if (poolers) {
    // As in the lab: PgBouncer looks users up through its own role when there is one (else as the
    // superuser), its passwords as files when the nodes' are, and TLS with a certificate of the run's CA.
    const poolerSecrets: Record<string, string> = { PGBOUNCER_ADMIN_PASSWORD, ...(options.appRoles ? { PGBOUNCER_AUTH_PASSWORD } : { POSTGRES_PASSWORD }) };
    const poolerSecretDir = options.secretFiles ? files!.subdir('pooler-secrets') : null;
    const poolerEnv = poolerSecretDir ? writeSecretFiles(poolerSecretDir, poolerSecrets) : poolerSecrets;
    const poolerMounts = (p: TestPooler) => [
      ...(poolerSecretDir ? [{ source: poolerSecretDir, target: NODE_SECRETS_DIR }] : []),
      ...(tls ? [{ source: tls.nodeDir(p.container, p.container), target: NODE_TLS_DIR }] : []),
    ];
    await Promise.all([poolers.write, poolers.read].map((p) => poolerContainer(network, labels, p, poolerEnv, poolerMounts(p)).start()));
    // As in the lab's compose file (restart: unless-stopped). Debian's PgBouncer 1.18 now and
    // then dies of SIGSEGV on `KILL <db>` with clients waiting (pgbouncer/pgbouncer#1401, open
    // upstream); the failover's hold sends that KILL, and Docker brings the pooler back.
    await Promise.all([poolers.write, poolers.read].map((p) => docker.getContainer(p.container).update({ RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 } })));
  }

  const cluster: TestCluster = {
    runId,
    network,
    backupDir,
    etcd,
    etcdPort,
    etcdUrl: etcdPort === null ? null : `http://127.0.0.1:${etcdPort}`,
    nodes,
    poolers,
    labels,
    tls,
    node(name) {
      const node = nodes.find((n) => n.name === name);
      if (!node) throw new Error(`no test node ${name}`);
      return node;
    },
    async client(name, opts = {}) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: cluster.node(name).port,
        user: opts.user ?? 'postgres',
        password: opts.password ?? POSTGRES_PASSWORD,
        database: opts.database ?? 'postgres',
        connectionTimeoutMillis: 3000,
        // verify-full: the certificate names 127.0.0.1, the address connected to.
        ssl: opts.ssl !== undefined ? opts.ssl : tls ? { ca: tls.ca(), rejectUnauthorized: true } : false,
      });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async query(name, sql, params) {
      const client = await cluster.client(name);
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    config(overrides = {}) {
      return configSchema.parse({
        cluster: `t${runId}`,
        etcd: { endpoints: [cluster.etcdUrl ?? 'http://127.0.0.1:1'] },
        nodes: nodes.map((n) => ({ name: n.name, container: n.container, host: '127.0.0.1', port: n.port, replicationHost: n.container })),
        // The node image writes it; conninfo then carries no password (which PostgreSQL would log).
        replicationPassfile: '/var/lib/postgresql/.pgpass-replication',
        ...(tls ? { tls: { mode: 'verify-full', ca: tls.caFile, nodeCa: `${NODE_TLS_DIR}/ca.crt` } } : {}),
        ...(backupDir ? { backup: { directory: NODE_BACKUP_DIR, schedule: false } } : {}),
        ...(poolers
          ? {
              endpoints: {
                write: { container: poolers.write.container, host: '127.0.0.1', port: poolers.write.port, hostPort: poolers.write.port },
                read: { container: poolers.read.container, host: '127.0.0.1', port: poolers.read.port, hostPort: poolers.read.port },
              },
            }
          : {}),
        ...overrides,
      });
    },
    async addReplica(name) {
      const node: TestNode = { name, container: `pgf-${runId}-${name}`, slot: slotNameOf(name), port: await freePort(), handle: null };
      await cluster.query(primary!.name, `SELECT pg_create_physical_replication_slot($1)`, [node.slot]);
      node.handle = await startNode(node, { REPLICATION_MODE: 'replica', PRIMARY_HOST: primary!.container, REPLICATION_SLOT: node.slot });
      nodes.push(node);
      return node;
    },
    async stop() {
      await removeLeftovers(runId);
      files?.remove();
    },
  };

  await eventually(
    async () => {
      const rows = await cluster.query<{ n: string }>(primary!.name, `SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'`);
      return Number(rows[0]?.n) === replicas.length;
    },
    'every replica streaming',
    60_000,
  );
  return cluster;
}

/** Whether `replica`'s own WAL receiver streams from `primary` (the primary's pg_stat_replication would also count a pg_basebackup). */
export async function streamsFrom(c: TestCluster, replica: string, primary: string): Promise<boolean> {
  try {
    const rows = await c.query<{ status: string; sender_host: string }>(replica, 'SELECT status, sender_host FROM pg_stat_wal_receiver');
    return rows[0]?.status === 'streaming' && rows[0].sender_host === c.node(primary).container;
  } catch {
    return false;
  }
}

/** Every node but `primary` streams from it. */
export async function allStreamFrom(c: TestCluster, primary: string): Promise<boolean> {
  const results = await Promise.all(c.nodes.filter((n) => n.name !== primary).map((n) => streamsFrom(c, n.name, primary)));
  return results.every(Boolean);
}
