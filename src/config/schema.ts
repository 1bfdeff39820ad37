import { z } from 'zod';
import { backupSchema } from './backup-schema.js';

// Node names appear in commands (`failover promote replica-1`) and etcd keys.
const nodeName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');

/**
 * A Docker engine: the local socket (the default), or a remote engine over mutual TLS
 * only. A remote engine over plain http would let anyone on the path start, stop and
 * exec in the database containers, so it is refused (issue 15). `ca`, `cert` and `key`
 * are file paths (relative ones as for every path in the config: see config/paths.ts).
 */
const dockerEndpoint = z
  .object({
    socketPath: z.string().optional(),
    host: z.string().optional(),
    port: z.number().int().positive().optional(),
    protocol: z.enum(['http', 'https']).optional(),
    ca: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((docker, ctx) => {
    if (docker.host === undefined) return;
    if (docker.protocol !== 'https') ctx.addIssue({ code: 'custom', path: ['protocol'], message: 'a remote Docker engine is reached over TLS only: set protocol "https" with ca, cert and key' });
    for (const file of ['ca', 'cert', 'key'] as const) {
      if (docker[file] === undefined) ctx.addIssue({ code: 'custom', path: [file], message: `a remote Docker engine needs ${file} (a file path) for mutual TLS` });
    }
  });

const nodeSchema = z
  .object({
    name: nodeName,
    container: z.string().min(1),
    /** Where agents reach the node's SQL port. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(5432),
    /** Where other nodes reach it for streaming replication (inside the Docker network). */
    replicationHost: z.string().min(1).optional(),
    replicationPort: z.number().int().min(1).max(65535).default(5432),
    /** Where a client on the Docker host reaches it (drills, the CLI's health view). */
    hostPort: z.number().int().min(1).max(65535).optional(),
    docker: dockerEndpoint.default({}),
    tags: z
      .object({
        noFailover: z.boolean().default(false),
        priority: z.number().int().default(0),
      })
      .strict()
      .default({ noFailover: false, priority: 0 }),
  })
  .strict();

const credentialSchema = z
  .object({
    user: z.string().min(1),
    /** The password itself is never in the file: name an environment variable or a file. */
    passwordEnv: z.string().optional(),
    passwordFile: z.string().optional(),
  })
  .strict()
  .refine((c) => c.passwordEnv !== undefined || c.passwordFile !== undefined, {
    message: 'give passwordEnv or passwordFile',
  });

/**
 * Zero-loss mode (issue 13): the leader manages the primary's synchronous_standby_names as
 * `ANY number (...)` over the healthy streaming standbys and records the set in etcd. Off by
 * default (PostgreSQL's own default); the lab runs quorum, 1, required.
 */
const synchronousSchema = z
  .object({
    mode: z.enum(['off', 'quorum']).default('off'),
    number: z.number().int().min(1).max(16).default(1),
    /** required: a commit waits until `number` standbys have it; preferred: after degradeAfterMs short of them, writes go on. */
    durability: z.enum(['required', 'preferred']).default('required'),
    degradeAfterMs: z.number().int().min(0).max(3_600_000).default(10_000),
  })
  .strict();

const SYNCHRONOUS_OFF = { mode: 'off' as const, number: 1, durability: 'required' as const, degradeAfterMs: 10_000 };

const replicationSchema = z
  .object({
    user: z.string().min(1),
    passwordEnv: z.string().optional(),
    passwordFile: z.string().optional(),
    synchronous: synchronousSchema.default(SYNCHRONOUS_OFF),
  })
  .strict()
  .refine((c) => c.passwordEnv !== undefined || c.passwordFile !== undefined, {
    message: 'give passwordEnv or passwordFile',
  });

/** A PgBouncer the leader points at the cluster: its admin console, and its container for the databases file. */
const pgbouncerSchema = z
  .object({
    container: z.string().min(1),
    /** Where agents reach its admin console. */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(6432),
    /** Where a client on the Docker host reaches it (drills, tests). */
    hostPort: z.number().int().min(1).max(65535).optional(),
    docker: dockerEndpoint.default({}),
    /** The [databases] file the PgBouncer includes, as a path inside its container. */
    databasesFile: z.string().regex(/^\/.+[^/]$/, 'an absolute file path').default('/var/lib/pgbouncer/databases.ini'),
    /**
     * The agents see databasesFile at the same path (a volume both mount): they write it
     * directly instead of through the Docker API, which costs 200-400 ms on the failover path.
     */
    databasesFileShared: z.boolean().default(false),
  })
  .strict();

const endpointsSchema = z
  .object({
    /** The PgBouncer admin user (`admin_users`), with its password from the environment or a file. */
    admin: credentialSchema.default({ user: 'pgbouncer', passwordEnv: 'PGBOUNCER_ADMIN_PASSWORD' }),
    /** Follows the published primary. */
    write: pgbouncerSchema.optional(),
    /** Spreads reads over the healthy replicas; the primary when none is healthy. */
    read: pgbouncerSchema.optional(),
    /** A replica further behind the primary than this leaves the read endpoint. */
    readMaxLagBytes: z.number().int().min(0).default(16 * 1024 * 1024),
  })
  .strict();

const hookSchema = z
  .object({
    name: z.string().min(1),
    /** argv, run without a shell. */
    command: z.array(z.string().min(1)).min(1),
    timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  })
  .strict();

// A URL with a user and password in it would be printed in every "etcd unreachable"
// line and passed on to gRPC (which repeats it in its errors): refuse it, without
// repeating it. (The message names the path only; zod's messages carry no value.)
const etcdEndpoint = z
  .string()
  .url()
  .refine((url) => !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(url), { message: 'credentials do not belong in the URL; give etcd endpoints as scheme://host:port' });

const etcdLogin = z
  .object({
    user: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an etcd user name'),
    passwordEnv: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => c.passwordEnv !== undefined || c.passwordFile !== undefined, { message: 'give passwordEnv or passwordFile' });

/**
 * etcd, locked down (issue 15): TLS with the cluster's CA (`cacert`), a client
 * certificate (`cert`, `key`), and a user whose role reaches only this cluster's keys.
 * `reader` is a second login with a read-only role: `status`, `health`, `history` and
 * `events` use it when it is given, so that reading the cluster never needs the
 * credentials that can change it.
 */
const etcdSchema = z
  .object({
    endpoints: z.array(etcdEndpoint).min(1).default(['http://127.0.0.1:2379']),
    prefix: z.string().regex(/^\/[^\s]*[^/\s]$/, 'an absolute key prefix without a trailing slash').default('/pg-failover'),
    callTimeoutMs: z.number().int().min(100).max(30_000).default(1000),
    cacert: z.string().min(1).optional(),
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    user: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'an etcd user name').optional(),
    passwordEnv: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
    reader: etcdLogin.optional(),
  })
  .strict()
  .superRefine((etcd, ctx) => {
    if ((etcd.cert === undefined) !== (etcd.key === undefined)) ctx.addIssue({ code: 'custom', path: [etcd.cert === undefined ? 'cert' : 'key'], message: 'give cert and key together (the client certificate and its key)' });
    if (etcd.user !== undefined && etcd.passwordEnv === undefined && etcd.passwordFile === undefined) ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'give passwordFile or passwordEnv for the etcd user' });
    if (etcd.user === undefined && (etcd.passwordEnv !== undefined || etcd.passwordFile !== undefined)) ctx.addIssue({ code: 'custom', path: ['user'], message: 'a password needs the etcd user it belongs to' });
    const tls = etcd.cacert !== undefined || etcd.cert !== undefined;
    etcd.endpoints.forEach((endpoint, i) => {
      if (tls && !endpoint.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['endpoints', i], message: 'with cacert or a client certificate, etcd endpoints must be https://host:port' });
      // etcd's Authenticate call carries the password: never over plain http.
      else if (etcd.user !== undefined && !endpoint.startsWith('https://')) ctx.addIssue({ code: 'custom', path: ['endpoints', i], message: 'an etcd login sends its password: etcd endpoints must be https://host:port' });
    });
  });

/**
 * TLS for the agents' own PostgreSQL connections and the replication conninfo they write
 * (issue 15). `ca` is the CA file as the agent sees it; `nodeCa` the same CA as the node
 * containers see it (primary_conninfo's sslrootcert). verify-full checks that the
 * server's certificate names the host connected to.
 */
const postgresTlsSchema = z
  .object({
    mode: z.enum(['verify-full', 'verify-ca', 'require', 'disable']).default('verify-full'),
    ca: z.string().min(1).optional(),
    nodeCa: z.string().regex(/^\/.+/, 'an absolute path inside the node containers').optional(),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if ((tls.mode === 'verify-full' || tls.mode === 'verify-ca') && tls.ca === undefined) ctx.addIssue({ code: 'custom', path: ['ca'], message: `sslmode ${tls.mode} needs ca (the CA file that signed the nodes' certificates)` });
    // Without it the replication conninfo says verify-full with no sslrootcert, and libpq in the
    // node looks for ~/.postgresql/root.crt: replication would break at the first re-point.
    if ((tls.mode === 'verify-full' || tls.mode === 'verify-ca') && tls.nodeCa === undefined) ctx.addIssue({ code: 'custom', path: ['nodeCa'], message: `sslmode ${tls.mode} needs nodeCa (the same CA as the node containers see it, for primary_conninfo's sslrootcert)` });
  });

/** The agent's read-only HTTP API (issue 15: TLS, a client certificate or a bearer token). */
const httpSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535),
    tls: z
      .object({
        cert: z.string().min(1),
        key: z.string().min(1),
        /** When given, a client must present a certificate this CA signed. */
        clientCa: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** A bearer token every request must carry (`Authorization: Bearer …`), from a file or the environment. */
    tokenFile: z.string().min(1).optional(),
    tokenEnv: z.string().min(1).optional(),
    /**
     * Serving a non-loopback address with neither a client certificate nor a token is
     * refused unless this is set: say so explicitly (the lab does, its port is published
     * on 127.0.0.1 only).
     */
    allowUnauthenticated: z.boolean().default(false),
  })
  .strict()
  .superRefine((http, ctx) => {
    if (http.tokenFile !== undefined && http.tokenEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: 'give tokenFile or tokenEnv, not both' });
    const loopback = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(http.host);
    // A bearer token over plain http travels in clear: it authenticates only over TLS.
    const authenticated = http.tls?.clientCa !== undefined || (http.tls !== undefined && (http.tokenFile !== undefined || http.tokenEnv !== undefined));
    if (!loopback && !authenticated && !http.allowUnauthenticated) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: `serving ${http.host} (not loopback) needs tls.clientCa or a bearer token (tokenFile/tokenEnv) over tls; set allowUnauthenticated: true to serve it openly on purpose` });
    }
  });

export const configSchema = z
  .object({
    cluster: nodeName.default('main'),
    etcd: etcdSchema.default({ endpoints: ['http://127.0.0.1:2379'], prefix: '/pg-failover', callTimeoutMs: 1000 }),
    database: z.string().min(1).default('postgres'),
    superuser: credentialSchema.default({ user: 'postgres', passwordEnv: 'POSTGRES_PASSWORD' }),
    replication: replicationSchema.default({ user: 'replicator', passwordEnv: 'REPLICATION_PASSWORD', synchronous: SYNCHRONOUS_OFF }),
    /**
     * A libpq password file inside every node container that holds the replication
     * password (the lab's node image writes /var/lib/postgresql/.pgpass-replication).
     * When set, the primary_conninfo the agents write names it (passfile=) instead of
     * carrying the password, which PostgreSQL would print in its log on every reload.
     * Leave it unset for images that do not write one (the official postgres image).
     */
    replicationPassfile: z.string().regex(/^\/.+/, 'an absolute path inside the node containers').optional(),
    nodes: z.array(nodeSchema).min(1),
    timings: z
      .object({
        probeIntervalMs: z.number().int().min(50).max(60_000).default(250),
        probeTimeoutMs: z.number().int().min(50).max(60_000).default(800),
        failureTimeMs: z.number().int().min(500).max(300_000).default(3000),
        leaseTtlSec: z.number().int().min(2).max(60).default(3),
        rejoinGraceMs: z.number().int().min(0).max(600_000).default(3000),
        /**
         * An agent whose loop neither completes a tick nor records an operation step for
         * this long (a hung call, a step that keeps failing) gives its lease up: a stuck
         * leader is replaced within leaseTtlSec plus this. Longer than any one step
         * legitimately takes (promote waits up to 30 s for the end of recovery).
         */
        leaderProgressMs: z.number().int().min(1000).max(600_000).default(40_000),
        /**
         * An unpublished operation whose step keeps failing for this long since its last
         * progress gives up its target: a failover continues with another replica, a
         * switchover is undone (core/operation-rescue.ts). A dead target is given up at once.
         */
        stepDeadlineMs: z.number().int().min(1000).max(600_000).default(20_000),
      })
      .strict()
      .default({ probeIntervalMs: 250, probeTimeoutMs: 800, failureTimeMs: 3000, leaseTtlSec: 3, rejoinGraceMs: 3000, leaderProgressMs: 40_000, stepDeadlineMs: 20_000 }),
    /**
     * How a standby is promoted: `pg_ctl` runs `pg_ctl promote` in its container through
     * Docker exec (the default; no SQL privilege needed beyond the probe's); `sql` calls
     * `pg_promote(false)`, which does the same inside the server and skips the exec's
     * ~150-300 ms of container process start-up.
     */
    promoteWith: z.enum(['pg_ctl', 'sql']).default('pg_ctl'),
    /** PgBouncer endpoints that applications use instead of node addresses. */
    endpoints: endpointsSchema.optional(),
    /** Commands the leader runs after a promotion is published; they never hold it back. */
    hooks: z.object({ onRoleChange: z.array(hookSchema).default([]) }).strict().default({ onRoleChange: [] }),
    /** The agent's HTTP status and metrics server; off when absent. */
    http: httpSchema.optional(),
    /** TLS for PostgreSQL connections (issue 15); absent: plain connections (a lab without certificates). */
    tls: postgresTlsSchema.optional(),
    /**
     * The passwords the lab shipped with before issue 15 are public: an agent refuses to
     * run with one unless the config marks itself as a throw-away lab with this.
     */
    allowPublicLabPasswords: z.boolean().default(false),
    /** The event log under <prefix>/<cluster>/events/: the leader keeps the newest maxCount, none older than maxAgeDays. */
    events: z
      .object({
        maxCount: z.number().int().min(10).max(100_000).default(1000),
        maxAgeDays: z.number().min(0.01).max(365).default(7),
      })
      .strict()
      .default({ maxCount: 1000, maxAgeDays: 7 }),
    /** Dumps and pgBackRest backups (issue 16); absent: no backups are taken or watched. */
    backup: backupSchema.optional(),
    /** A candidate further behind the most advanced known position than this is never promoted automatically. */
    maxLagOnFailover: z.number().int().min(0).default(16 * 1024 * 1024),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.nodes.forEach((node, i) => {
      if (seen.has(node.name)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], message: `duplicate node name ${node.name}` });
      seen.add(node.name);
    });
    const promotable = config.nodes.filter((node) => !node.tags.noFailover).length;
    const { synchronous } = config.replication;
    if (synchronous.mode === 'quorum' && synchronous.number > promotable - 1) {
      ctx.addIssue({ code: 'custom', path: ['replication', 'synchronous', 'number'], message: `must be at most ${promotable - 1}: with ${promotable} nodes that may be promoted, a primary has ${promotable - 1} such standbys` });
    }
    if (config.timings.probeTimeoutMs >= config.timings.failureTimeMs) {
      ctx.addIssue({ code: 'custom', path: ['timings', 'probeTimeoutMs'], message: 'must be shorter than failureTimeMs' });
    }
  });

export type Config = z.infer<typeof configSchema>;
export type NodeConfig = Config['nodes'][number];
export type Credential = z.infer<typeof credentialSchema>;
export type PgBouncerConfig = z.infer<typeof pgbouncerSchema>;
export type HookConfig = z.infer<typeof hookSchema>;
export type EtcdConfig = z.infer<typeof etcdSchema>;
export type HttpConfig = z.infer<typeof httpSchema>;
export type PostgresTlsConfig = z.infer<typeof postgresTlsSchema>;
export type DockerEndpointConfig = z.infer<typeof dockerEndpoint>;

/** Slot names allow only [a-z0-9_]: derived from the node name so every node knows every other's slot. */
export function slotNameOf(node: string): string {
  return node.replace(/[^a-z0-9_]/g, '_');
}

export function replicationHostOf(node: NodeConfig): string {
  return node.replicationHost ?? node.container;
}
