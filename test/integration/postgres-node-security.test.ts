import { chmodSync, chownSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execIn } from '../../src/docker/engine.js';
import { docker, freePort, POSTGRES_PASSWORD, REPLICATION_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { exitCodeOf, pathExists, PGDATA } from '../support/node-files.js';
import { imagePostgresIds, NODE_SECRETS_DIR, NODE_TLS_DIR, RunFiles, TestTls } from '../support/node-tls.js';

// Issue 15, the node image without certificates (how the other integration tests run it), the
// same data directory started again with certificates mounted, and the inputs it refuses: one
// line naming what is wrong, exit 1, and nothing written to the data directory.

describe('the node image: no TLS, TLS added later, bad input (issue 15)', () => {
  let c: TestCluster;
  let files: RunFiles;
  let tls: TestTls;

  beforeAll(async () => {
    c = await startCluster({ replicas: 0, etcd: false });
    files = new RunFiles(`${c.runId}-input`);
    tls = new TestTls(files);
  });
  afterAll(async () => {
    await c?.stop();
    files?.remove();
  });

  /** A node container on the test's network that is expected to refuse to start; its exit code and log. */
  async function refusedStart(name: string, env: Record<string, string>, binds: string[] = []): Promise<{ code: number; log: string; container: string }> {
    const container = `pgf-${c.runId}-${name}`;
    await docker.createContainer({
      name: container,
      Image: 'pg-failover/postgres:lab',
      Labels: c.labels,
      Env: Object.entries({ REPLICATION_MODE: 'primary', ...env }).map(([k, v]) => `${k}=${v}`),
      HostConfig: { NetworkMode: c.network, Binds: binds },
    });
    await docker.getContainer(container).start();
    const code = await exitCodeOf(container, 30_000);
    const log = (await docker.getContainer(container).logs({ stdout: true, stderr: true })).toString();
    return { code, log, container };
  }

  /** A TLS directory for a refused start, from the run's CA, changed by `spoil`. */
  function tlsDir(name: string, spoil: (dir: string) => void): string {
    const dir = files.subdir('cases', name);
    const node = tls.nodeDir(name, name);
    for (const f of ['server.crt', 'server.key', 'ca.crt']) copyFileSync(join(node, f), join(dir, f));
    const { uid, gid } = imagePostgresIds();
    chownSync(join(dir, 'server.key'), uid, gid);
    chmodSync(join(dir, 'server.key'), 0o600);
    spoil(dir);
    return dir;
  }

  function secretFile(name: string, value: string): string {
    const dir = files.subdir('secrets', name);
    writeFileSync(join(dir, 'postgres_password'), value, { mode: 0o400 });
    chownSync(join(dir, 'postgres_password'), imagePostgresIds().uid, imagePostgresIds().gid);
    return dir;
  }

  const plain = { POSTGRES_PASSWORD, REPLICATION_PASSWORD };

  it.each([
    ['both-password', { ...plain, POSTGRES_PASSWORD_FILE: `${NODE_SECRETS_DIR}/postgres_password` }, () => [`${secretFile('both', 'x')}:${NODE_SECRETS_DIR}:ro`], /both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set/],
    ['missing-file', { REPLICATION_PASSWORD, POSTGRES_PASSWORD_FILE: '/run/secrets/nope' }, () => [], /POSTGRES_PASSWORD_FILE names \/run\/secrets\/nope, which postgres \(uid \d+\) cannot read/],
    ['tls-partial', plain, () => [`${tlsDir('partial', (d) => rmSync(join(d, 'ca.crt')))}:${NODE_TLS_DIR}:ro`], null],
    ['tls-key-mode', plain, () => [`${tlsDir('mode', (d) => chmodSync(join(d, 'server.key'), 0o644))}:${NODE_TLS_DIR}:ro`], /server\.key has mode 644; PostgreSQL needs 0600/],
    ['tls-key-owner', plain, () => [`${tlsDir('owner', (d) => chownSync(join(d, 'server.key'), 12345, 12345))}:${NODE_TLS_DIR}:ro`], /server\.key is owned by uid 12345; chown it to this image's postgres user \(uid \d+\) with mode 0600/],
    ['app-in-postgres-db', { ...plain, APP_USER: 'app', APP_PASSWORD: 'x', POSTGRES_DB: 'postgres' }, () => [], /APP_USER='app' owns POSTGRES_DB, which is 'postgres'; set POSTGRES_DB/],
    ['app-no-password', { ...plain, APP_USER: 'app', POSTGRES_DB: 'app' }, () => [], /APP_USER='app' has no password; set APP_PASSWORD_FILE/],
    ['app-bad-name', { ...plain, APP_USER: 'app;x', POSTGRES_DB: 'app' }, () => [], /APP_USER='app;x' is not a valid role name/],
    ['app-is-superuser', { ...plain, APP_USER: 'postgres', APP_PASSWORD: 'x', POSTGRES_DB: 'app' }, () => [], /APP_USER='postgres' is the name of another role of the image/],
  ] as const)('refuses %s: one line, exit 1, no data directory', async (name, env, binds, message) => {
    const { code, log, container } = await refusedStart(name, env, binds());
    expect(code, log).toBe(1);
    expect(log.trim().split('\n')).toHaveLength(1);
    expect(log).toMatch(message ?? /holds server\.crt server\.key but not ca\.crt: TLS needs server\.crt, server\.key and ca\.crt/);
    expect(await pathExists(container, `${PGDATA}/PG_VERSION`)).toBe(false);
  });

  it('without certificates: local is peer, the network is scram over plain host lines, TLS off', async () => {
    const rules = await c.query<{ type: string; auth_method: string }>('pgsql', 'SELECT type, auth_method FROM pg_hba_file_rules ORDER BY line_number');
    expect(rules.filter((r) => r.type === 'local').map((r) => r.auth_method)).toEqual(['peer', 'peer']);
    expect(new Set(rules.filter((r) => r.type !== 'local').map((r) => `${r.type} ${r.auth_method}`))).toEqual(new Set(['host scram-sha-256', 'host reject']));
    expect(await c.query('pgsql', "SELECT current_setting('ssl') AS ssl")).toEqual([{ ssl: 'off' }]);
    const peer = await execIn(docker, c.node('pgsql').container, ['psql', '-XAtqw', '-U', 'replicator', '-d', 'postgres', '-c', 'SELECT 1'], { timeoutMs: 10_000 });
    expect([peer.exitCode, peer.stderr]).toEqual([2, expect.stringMatching(/Peer authentication failed for user "replicator"/)]);
  });

  it('an existing data directory started with certificates mounted takes TLS connections only', async () => {
    await c.query('pgsql', 'CREATE TABLE before_tls (note text)');
    await c.query('pgsql', `INSERT INTO before_tls VALUES ('written without TLS')`);
    const old = c.node('pgsql').container;
    const env = (await docker.getContainer(old).inspect()).Config.Env;
    await docker.getContainer(old).stop({ t: 30 });
    const port = await freePort();
    const container = `pgf-${c.runId}-pgsql-tls`;
    await docker.createContainer({
      name: container,
      Image: 'pg-failover/postgres:lab',
      Labels: c.labels,
      Env: env,
      ExposedPorts: { '5432/tcp': {} },
      HostConfig: {
        NetworkMode: c.network,
        VolumesFrom: [old],
        Binds: [`${tls.nodeDir('pgsql', container)}:${NODE_TLS_DIR}:ro`],
        PortBindings: { '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] },
      },
    });
    await docker.getContainer(container).start();
    const connect = async (ssl: pg.ClientConfig['ssl']) => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres', ssl, connectionTimeoutMillis: 3000 });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query("SELECT (SELECT note FROM before_tls) AS note, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl")).rows[0];
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    const row = await eventually(() => connect({ ca: tls.ca(), rejectUnauthorized: true }).catch(() => null), 'a verify-full connection to the restarted node', 60_000, 200);
    expect(row).toEqual({ note: 'written without TLS', ssl: true });
    await expect(connect(false)).rejects.toMatchObject({ code: '28000' });
  });
});
