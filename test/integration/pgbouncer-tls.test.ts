import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import pg from 'pg';
import { GenericContainer, Wait } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execIn, putFiles } from '../../src/docker/engine.js';
import { listDatabases, PgBouncerAdmin } from '../../src/pgbouncer/admin.js';
import { APP_PASSWORD, APP_USER, docker, freePort, PGBOUNCER_AUTH_PASSWORD, PGBOUNCER_AUTH_USER, POSTGRES_PASSWORD, REPLICATION_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';

// Issue 15, PgBouncer's side (items 3, 4, 5): with the cluster's CA and a certificate in
// PGF_TLS_DIR, clients must speak TLS and PgBouncer verifies the nodes (verify-full, or
// verify-ca for a database on several hosts, which PgBouncer 1.18 cannot check by name);
// users are looked up through an auth role and the node image's SECURITY DEFINER function,
// not as the superuser; the admin console answers the admin user only, who reaches nothing
// else; passwords come from files and stay out of the container's environment and of every
// process's. A pooler without TLS files runs in plain text, with the same restrictions.

const TLS_SCRIPT = new URL('../../scripts/tls', import.meta.url).pathname;
const PASSWORDS = { admin: `adm-${randomBytes(6).toString('hex')}`, auth: PGBOUNCER_AUTH_PASSWORD, app: APP_PASSWORD, superuser: POSTGRES_PASSWORD };
const IMAGE = 'pg-failover/pgbouncer:lab';

/** Publishes one port on 127.0.0.1 only (as test/support/cluster.ts does). */
class LoopbackContainer extends GenericContainer {
  withLoopbackPort(containerPort: number, hostPort: number): this {
    this.withExposedPorts({ container: containerPort, host: hostPort });
    this.hostConfig.PortBindings = { ...this.hostConfig.PortBindings, [`${containerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] };
    return this;
  }
}

interface Login {
  user: string;
  password: string;
  database: string;
  ssl?: pg.ClientConfig['ssl'];
}

async function login(port: number, who: Login, timeoutMs = 8000): Promise<pg.Client> {
  const client = new pg.Client({ host: '127.0.0.1', port, connectionTimeoutMillis: timeoutMs, ...who });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

async function queryAs<T extends pg.QueryResultRow>(port: number, who: Login, sql: string): Promise<T[]> {
  const client = await login(port, who);
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why a login is refused; null when it succeeds. */
async function refusal(port: number, who: Login, timeoutMs?: number): Promise<string | null> {
  try {
    await (await login(port, who, timeoutMs)).end();
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

describe('PgBouncer: TLS, auth_query and a restricted admin console', () => {
  let cluster: TestCluster;
  const work = mkdtempSync(join(tmpdir(), 'pgf-pgbouncer-tls-'));
  const ports = { tls: 0, read: 0, plain: 0, plainNode: 0 };
  const names = { tls: '', read: '', plain: '', plainNode: '' };
  let ca: string;
  /** A client's ssl option that checks PgBouncer's certificate by `name` with the cluster's CA. */
  const verifying = (name: string, caPem = ca): pg.ClientConfig['ssl'] => ({ ca: caPem, servername: name, rejectUnauthorized: true, checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert) });
  const superuser = (database = 'postgres'): Login => ({ user: 'postgres', password: POSTGRES_PASSWORD, database });
  const appUser = (ssl?: pg.ClientConfig['ssl'], database = 'app'): Login => ({ user: APP_USER, password: APP_PASSWORD, database, ssl });
  const admin = (ssl?: pg.ClientConfig['ssl'], database = 'pgbouncer'): Login => ({ user: 'pgbouncer', password: PASSWORDS.admin, database, ssl });

  function container(image: string, name: string, port: number, containerPort: number, env: Record<string, string>, mounts: Array<{ source: string; target: string }> = []): LoopbackContainer {
    return new LoopbackContainer(image)
      .withName(name)
      .withNetworkMode(cluster.network)
      .withLabels(cluster.labels)
      .withEnvironment(env)
      .withBindMounts(mounts.map((m) => ({ ...m, mode: 'ro' as const })))
      .withLoopbackPort(containerPort, port);
  }

  async function startPooler(name: string, port: number, env: Record<string, string>, mounts: Array<{ source: string; target: string }>): Promise<void> {
    await container(IMAGE, name, port, 6432, env, mounts).withWaitStrategy(Wait.forLogMessage(/process up/)).withStartupTimeout(30_000).start();
  }

  /** Points a pooler at the nodes, as the leader would, and reloads it. */
  async function pointAt(name: string, port: number, databases: string, ssl?: pg.ClientConfig['ssl']): Promise<void> {
    await putFiles(docker, name, '/var/lib/pgbouncer', { 'databases.ini': databases });
    await queryAs(port, admin(ssl), 'RELOAD');
  }

  beforeAll(async () => {
    // TLS nodes from the node image (hostssl only), the application role and PgBouncer's lookup role.
    cluster = await startCluster({ replicas: 1, etcd: false, tls: true, appRoles: true });
    const caDir = cluster.tls!.caDir;
    ca = cluster.tls!.ca();
    for (const kind of ['tls', 'read', 'plain', 'plainNode'] as const) {
      names[kind] = `pgf-${cluster.runId}-${kind === 'plainNode' ? 'plain-node' : `pgbouncer-${kind}`}`;
      ports[kind] = await freePort();
    }
    execFileSync(TLS_SCRIPT, ['server', caDir, 'pooler', names.tls, 'localhost', '127.0.0.1'], { stdio: 'pipe' });
    const poolerTls = join(work, 'pooler-tls');
    mkdirSync(poolerTls);
    copyFileSync(join(caDir, 'pooler.crt'), join(poolerTls, 'server.crt'));
    copyFileSync(join(caDir, 'pooler.key'), join(poolerTls, 'server.key'));
    copyFileSync(join(caDir, 'ca.crt'), join(poolerTls, 'ca.crt'));
    const secrets = join(work, 'secrets');
    mkdirSync(secrets);
    writeFileSync(join(secrets, 'pgbouncer_admin'), `${PASSWORDS.admin}\n`, { mode: 0o600 });
    writeFileSync(join(secrets, 'pgbouncer_auth'), `${PASSWORDS.auth}\n`, { mode: 0o600 });
    const fromFiles = { PGBOUNCER_ADMIN_PASSWORD_FILE: '/run/secrets/pgbouncer_admin', PGBOUNCER_AUTH_PASSWORD_FILE: '/run/secrets/pgbouncer_auth' };
    const tlsMounts = [
      { source: poolerTls, target: '/etc/pg-failover/tls' },
      { source: secrets, target: '/run/secrets' },
    ];
    await Promise.all([
      startPooler(names.tls, ports.tls, fromFiles, tlsMounts),
      startPooler(names.read, ports.read, { ...fromFiles, PGBOUNCER_SERVER_TLS_SSLMODE: 'verify-ca' }, tlsMounts),
      startPooler(names.plain, ports.plain, { PGBOUNCER_ADMIN_PASSWORD: PASSWORDS.admin, PGBOUNCER_AUTH_PASSWORD: PASSWORDS.auth }, []),
      // A node without TLS files, for the pooler without them.
      container('pg-failover/postgres:lab', names.plainNode, ports.plainNode, 5432, {
        POSTGRES_PASSWORD,
        REPLICATION_PASSWORD,
        APP_USER,
        APP_PASSWORD,
        PGBOUNCER_AUTH_USER,
        PGBOUNCER_AUTH_PASSWORD,
        POSTGRES_DB: 'app',
        REPLICATION_MODE: 'primary',
        NODE_NAME: 'plain',
        REPLICA_SLOTS: '',
      })
        .withHealthCheck({ test: ['CMD', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432'], interval: 250, timeout: 1000, retries: 240, startPeriod: 0 })
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(120_000)
        .start(),
    ]);
    const [primary, replica] = [cluster.node('pgsql').container, cluster.node('replica-1').container];
    // The primary's address is a name its certificate does not carry.
    const address = (await docker.getContainer(primary).inspect()).NetworkSettings.Networks[cluster.network]!.IPAddress;
    await pointAt(names.tls, ports.tls, `app = host=${primary} port=5432 dbname=app\nboth = host=${primary},${replica} port=5432 dbname=app\nunnamed = host=${address} port=5432 dbname=app\n`, verifying(names.tls));
    await pointAt(names.read, ports.read, `both = host=${primary},${replica} port=5432 dbname=app\n`, verifying(names.tls));
    await pointAt(names.plain, ports.plain, `app = host=${names.plainNode} port=5432 dbname=app\n`);
  });

  afterAll(async () => {
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('refuses a client that does not speak TLS', async () => {
    expect(await refusal(ports.tls, appUser(false))).toMatch(/SSL required/i);
    expect(await refusal(ports.tls, admin(false))).toMatch(/SSL required/i);
  });

  it("lets in a client that verifies PgBouncer's certificate with the CA, by its name, by localhost and by 127.0.0.1", async () => {
    for (const name of [names.tls, 'localhost', '127.0.0.1']) {
      const [row] = await queryAs<{ one: number }>(ports.tls, appUser(verifying(name)), 'SELECT 1 AS one');
      expect(row?.one, name).toBe(1);
    }
    expect(await refusal(ports.tls, appUser(verifying('pgf-some-other-host')))).toMatch(/altnames|Hostname/i);
    const foreignDir = join(work, 'foreign-ca');
    execFileSync(TLS_SCRIPT, ['ca', foreignDir], { stdio: 'pipe' });
    expect(await refusal(ports.tls, appUser(verifying(names.tls, readFileSync(join(foreignDir, 'ca.crt'), 'utf8'))))).toMatch(/certificate/i);
  });

  it("reaches the node over TLS, verifying the node's certificate against the name it connects to", async () => {
    const [through] = await queryAs<{ ssl: boolean; pid: number }>(ports.tls, appUser(verifying(names.tls)), 'SELECT ssl, pid FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(through?.ssl).toBe(true);
    // The node's own view of that backend.
    const [seen] = await cluster.query<{ ssl: boolean; usename: string }>('pgsql', 'SELECT s.ssl, a.usename FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE pid = $1', [through!.pid]);
    expect(seen).toEqual({ ssl: true, usename: APP_USER });
    // The primary's address reaches the same server, but its certificate does not carry it.
    const since = Math.floor(Date.now() / 1000);
    expect(await refusal(ports.tls, appUser(verifying(names.tls), 'unnamed'), 3000)).not.toBeNull();
    const log = ((await docker.getContainer(names.tls).logs({ stdout: true, stderr: true, since })) as unknown as Buffer).toString();
    expect(log).toMatch(/name `\d+\.\d+\.\d+\.\d+' not present in server certificate/);
  });

  it('a database on two hosts (the read endpoint with two replicas): verify-full fails on PgBouncer 1.18, verify-ca reaches them over TLS', async () => {
    // PgBouncer 1.18 checks the certificate against the joined "primary,replica" (pgbouncer/pgbouncer#1300).
    // Should this start passing, a newer PgBouncer checks each host: the read pooler can then use verify-full.
    const since = Math.floor(Date.now() / 1000);
    expect(await refusal(ports.tls, appUser(verifying(names.tls), 'both'), 3000)).not.toBeNull();
    const log = ((await docker.getContainer(names.tls).logs({ stdout: true, stderr: true, since })) as unknown as Buffer).toString();
    expect(log).toContain(`name \`${cluster.node('pgsql').container},${cluster.node('replica-1').container}' not present in server certificate`);
    const [row] = await queryAs<{ ssl: boolean }>(ports.read, appUser(verifying(names.tls), 'both'), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(row?.ssl).toBe(true);
  });

  it('an application role that is not a superuser logs in through auth_query; the superuser does not get in', async () => {
    const [me] = await queryAs<{ user: string; super: boolean }>(ports.tls, appUser(verifying(names.tls)), 'SELECT current_user AS user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super');
    expect(me).toEqual({ user: APP_USER, super: false });
    expect(await refusal(ports.tls, { ...appUser(verifying(names.tls)), password: 'not-the-password' })).toMatch(/SASL authentication failed|password authentication failed/);
    expect(await refusal(ports.tls, { ...superuser('app'), ssl: verifying(names.tls) })).not.toBeNull();
  });

  it('the admin console answers the admin user only, and the admin user reaches no database', async () => {
    const console = await login(ports.tls, admin(verifying(names.tls)));
    try {
      const listed = await listDatabases(async (sql) => (await console.query(sql)).rows);
      expect(listed.map((d) => d.name).sort()).toEqual(['app', 'both', 'unnamed']);
    } finally {
      await console.end();
    }
    expect(await refusal(ports.tls, admin(verifying(names.tls), 'app'))).toMatch(/login rejected/);
    // PgBouncer 1.18 looks a user it does not hold up with auth_query before it reads the HBA
    // file, and the console has no server to ask: such a login gets no answer (until
    // client_login_timeout), never the console. Users it holds get the HBA's refusal.
    expect(await refusal(ports.tls, appUser(verifying(names.tls), 'pgbouncer'), 2000)).toMatch(/rejected|not allowed|timeout/i);
    // The auth role is PgBouncer's own: no client logs in as it, even with its password.
    const authRole = (database: string): Login => ({ user: 'pgbouncer_auth', password: PASSWORDS.auth, database, ssl: verifying(names.tls) });
    expect(await refusal(ports.tls, authRole('app'))).toMatch(/login rejected/);
    expect(await refusal(ports.tls, authRole('pgbouncer'))).toMatch(/login rejected|not allowed/);
  });

  it("the agents' admin client speaks TLS with the config's CA", async () => {
    const endpoint = { host: '127.0.0.1', port: ports.tls, user: 'pgbouncer', password: PASSWORDS.admin };
    const listed = await new PgBouncerAdmin({ ...endpoint, tls: { mode: 'verify-full', ca } }).session(listDatabases);
    expect(listed.map((d) => d.name)).toContain('app');
    await expect(new PgBouncerAdmin(endpoint).session(listDatabases)).rejects.toThrow(/SSL required/i);
  });

  it('keeps the auth file to postgres (0600) with the auth role and the admin, whose password is there as a SCRAM verifier only', async () => {
    const stat = await execIn(docker, names.tls, ['stat', '-c', '%a %U', '/var/lib/pgbouncer/userlist.txt'], { user: 'root' });
    expect(stat.stdout.trim()).toBe('600 postgres');
    const content = await execIn(docker, names.tls, ['cat', '/var/lib/pgbouncer/userlist.txt'], { user: 'root' });
    const lines = content.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['"pgbouncer_auth"', '"pgbouncer"']);
    expect(lines[1]).toMatch(/^"pgbouncer" "SCRAM-SHA-256\$4096:/);
    expect(content.stdout).not.toContain(PASSWORDS.admin);
    expect(content.stdout).not.toContain(PASSWORDS.superuser);
  });

  it("keeps passwords out of the container's environment (with *_FILE), out of every process's arguments, and out of PgBouncer's environment", async () => {
    const secrets = [PASSWORDS.admin, PASSWORDS.auth];
    const env = ((await docker.getContainer(names.tls).inspect()).Config.Env ?? []).join('\n');
    expect(env).toContain('PGBOUNCER_ADMIN_PASSWORD_FILE=/run/secrets/pgbouncer_admin');
    for (const pooler of [names.tls, names.plain]) {
      const ps = await execIn(docker, pooler, ['ps', '-eo', 'args'], { user: 'root' });
      const pid = (await execIn(docker, pooler, ['pidof', 'pgbouncer'], { user: 'root' })).stdout.trim();
      expect(pid).toMatch(/^\d+$/);
      const environ = await execIn(docker, pooler, ['cat', `/proc/${pid}/environ`], { user: 'root' });
      for (const secret of secrets) {
        expect(env).not.toContain(secret);
        expect(ps.stdout).not.toContain(secret);
        expect(environ.stdout).not.toContain(secret);
      }
      expect(environ.stdout).not.toMatch(/PASSWORD/);
    }
  });

  it('without TLS files, serves plain clients as before, with the same restrictions', async () => {
    const [row] = await queryAs<{ ssl: boolean }>(ports.plain, appUser(false), 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(row?.ssl).toBe(false);
    const console = await login(ports.plain, admin(false));
    await console.end();
    expect(await refusal(ports.plain, admin(false, 'app'))).toMatch(/login rejected/);
    expect(await refusal(ports.plain, appUser(false, 'pgbouncer'), 2000)).toMatch(/rejected|not allowed|timeout/i);
    expect(await refusal(ports.plain, { user: 'pgbouncer_auth', password: PASSWORDS.auth, database: 'pgbouncer', ssl: false })).toMatch(/login rejected|not allowed/);
  });

  it('refuses to start with some of the TLS files, without the auth password, or with a weaker sslmode to the nodes, saying which', async () => {
    const partial = join(work, 'partial-tls');
    mkdirSync(partial);
    copyFileSync(cluster.tls!.caFile, join(partial, 'ca.crt'));
    const run = async (env: string[], binds: string[]): Promise<{ code: number; log: string }> => {
      const container = await docker.createContainer({ Image: IMAGE, Env: env, Labels: cluster.labels, HostConfig: { Binds: binds, NetworkMode: cluster.network } });
      await container.start();
      const { StatusCode } = (await container.wait()) as { StatusCode: number };
      const log = ((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString();
      await container.remove({ force: true });
      return { code: StatusCode, log };
    };
    const someTls = await run([`PGBOUNCER_ADMIN_PASSWORD=${PASSWORDS.admin}`, `PGBOUNCER_AUTH_PASSWORD=${PASSWORDS.auth}`], [`${partial}:/etc/pg-failover/tls:ro`]);
    expect(someTls.code).toBe(2);
    expect(someTls.log).toMatch(/\/etc\/pg-failover\/tls holds ca\.crt only; give server\.crt, server\.key and ca\.crt \(TLS\) or none of them/);
    const noAuth = await run([`PGBOUNCER_ADMIN_PASSWORD=${PASSWORDS.admin}`], []);
    expect(noAuth.code).toBe(2);
    expect(noAuth.log).toMatch(/PGBOUNCER_AUTH_PASSWORD_FILE \(or PGBOUNCER_AUTH_PASSWORD\) is required/);
    const weak = await run([`PGBOUNCER_ADMIN_PASSWORD=${PASSWORDS.admin}`, `PGBOUNCER_AUTH_PASSWORD=${PASSWORDS.auth}`, 'PGBOUNCER_SERVER_TLS_SSLMODE=require'], []);
    expect(weak.code).toBe(2);
    expect(weak.log).toMatch(/PGBOUNCER_SERVER_TLS_SSLMODE must be verify-full or verify-ca \(got 'require'\)/);
  });
});
