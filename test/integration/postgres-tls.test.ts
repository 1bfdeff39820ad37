import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execIn } from '../../src/docker/engine.js';
import {
  APP_PASSWORD,
  APP_USER,
  docker,
  PGBOUNCER_AUTH_PASSWORD,
  PGBOUNCER_AUTH_USER,
  POSTGRES_PASSWORD,
  REPLICATION_PASSWORD,
  startCluster,
  streamsFrom,
  type TestCluster,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { dataFile, PGDATA, putDataFiles, markerText } from '../support/node-files.js';
import { NODE_TLS_DIR, RunFiles, TestTls } from '../support/node-tls.js';

// Issue 15, the node image: with server.crt, server.key and ca.crt mounted at /etc/pg-failover/tls
// a node accepts TLS connections only (hostssl, scram), its own replication, clone and rewind
// connections verify the other node's certificate (sslmode=verify-full), local connections are
// peer, the application logs in as a role that owns its database and is no superuser, PgBouncer
// looks users up through one SECURITY DEFINER function, and passwords come from files.

const SECRETS = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, APP_PASSWORD, PGBOUNCER_AUTH_PASSWORD };
const leaked = (text: string) => Object.entries(SECRETS).filter(([, v]) => text.includes(v)).map(([k]) => k);

describe('a TLS cluster from the node image (issue 15)', () => {
  let c: TestCluster;
  let elsewhere: RunFiles;

  beforeAll(async () => {
    c = await startCluster({ replicas: 2, etcd: false, tls: true, appRoles: true, secretFiles: true });
    elsewhere = new RunFiles(`${c.runId}-other`);
  });
  afterAll(async () => {
    await c?.stop();
    elsewhere?.remove();
  });

  const as = (user: string, password: string, database: string, node = 'pgsql') => c.client(node, { user, password, database });
  async function rows<T extends object>(client: Awaited<ReturnType<typeof as>>, sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      return (await client.query<T & object>(sql, params)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  it('replicas stream over TLS, and their conninfo verifies the primary\'s certificate', async () => {
    const senders = await c.query<{ application_name: string; ssl: boolean; version: string }>(
      'pgsql',
      'SELECT r.application_name, s.ssl, s.version FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) ORDER BY 1',
    );
    expect(senders.map((s) => [s.application_name, s.ssl])).toEqual([
      ['replica-1', true],
      ['replica-2', true],
    ]);
    expect(senders.every((s) => /^TLSv1\.[23]$/.test(s.version))).toBe(true);
    for (const replica of ['replica-1', 'replica-2']) {
      const [receiver] = await c.query<{ conninfo: string }>(replica, 'SELECT conninfo FROM pg_stat_wal_receiver');
      expect(receiver?.conninfo).toContain('sslmode=verify-full');
      expect(receiver?.conninfo).toContain(`sslrootcert=${NODE_TLS_DIR}/ca.crt`);
    }
    for (const node of c.nodes) {
      const [settings] = await c.query<{ ssl: string; min: string; cert: string }>(node.name, "SELECT current_setting('ssl') AS ssl, current_setting('ssl_min_protocol_version') AS min, current_setting('ssl_cert_file') AS cert");
      expect(settings).toEqual({ ssl: 'on', min: 'TLSv1.2', cert: `${NODE_TLS_DIR}/server.crt` });
    }
  });

  it('a client without TLS (sslmode=disable) is refused: no pg_hba entry', async () => {
    await expect(c.client('pgsql', { ssl: false })).rejects.toMatchObject({ code: '28000', message: expect.stringMatching(/no pg_hba\.conf entry .* no encryption/) });
    await expect(c.client('replica-1', { ssl: false })).rejects.toMatchObject({ code: '28000' });
  });

  it('a client that does not trust the CA, or expects another name, is refused', async () => {
    const other = new TestTls(elsewhere, 'other-ca');
    await expect(c.client('pgsql', { ssl: { ca: other.ca(), rejectUnauthorized: true } })).rejects.toThrow(/certificate/);
    await expect(c.client('pgsql', { ssl: { ca: c.tls!.ca(), rejectUnauthorized: true, servername: 'not-a-node' } })).rejects.toThrow(/does not match certificate's altnames/);
  });

  it('every network rule is hostssl with scram, and local connections are peer', async () => {
    const rules = await c.query<{ type: string; database: string[]; user_name: string[]; auth_method: string }>('pgsql', 'SELECT type, database, user_name, auth_method FROM pg_hba_file_rules ORDER BY line_number');
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      if (rule.type === 'local') expect(rule.auth_method).toBe('peer');
      else expect([rule.type, rule.auth_method]).toEqual(['hostssl', expect.stringMatching(/^(scram-sha-256|reject)$/)]);
    }
    // OS user postgres in the container is the superuser (the orchestrator's docker exec), no other role.
    const superuser = await execIn(docker, c.node('pgsql').container, ['psql', '-XAtq', '-U', 'postgres', '-d', 'postgres', '-c', 'SELECT current_user'], { timeoutMs: 10_000 });
    expect([superuser.exitCode, superuser.stdout.trim()]).toEqual([0, 'postgres']);
    const app = await execIn(docker, c.node('pgsql').container, ['psql', '-XAtqw', '-U', APP_USER, '-d', 'app', '-c', 'SELECT 1'], { timeoutMs: 10_000 });
    expect(app.exitCode).toBe(2);
    expect(app.stderr).toMatch(/Peer authentication failed for user "app"/);
  });

  it('the application role owns its database, creates tables there, and cannot run programs', async () => {
    const [role] = await c.query('pgsql', 'SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1', [APP_USER]);
    expect(role).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false, rolcanlogin: true });
    const [owner] = await c.query<{ owner: string }>('pgsql', "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = 'app'");
    expect(owner?.owner).toBe(APP_USER);
    const [program] = await c.query<{ member: boolean }>('pgsql', "SELECT pg_has_role($1, 'pg_execute_server_program', 'MEMBER') AS member", [APP_USER]);
    expect(program?.member).toBe(false);

    const app = await as(APP_USER, APP_PASSWORD, 'app');
    try {
      // What a Laravel migration does first, in the public schema.
      await app.query('CREATE TABLE migrations (id serial PRIMARY KEY, migration text NOT NULL, batch int NOT NULL)');
      await app.query(`INSERT INTO migrations (migration, batch) VALUES ('create_users_table', 1)`);
      expect((await app.query('SELECT count(*)::int AS n FROM migrations')).rows).toEqual([{ n: 1 }]);
      await expect(app.query(`COPY (SELECT 1) TO PROGRAM 'true'`)).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('CREATE ROLE intruder LOGIN')).rejects.toMatchObject({ code: '42501' });
      await expect(app.query('CREATE DATABASE other')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await app.end().catch(() => undefined);
    }
    // Nobody else may create in the application's public schema.
    const auth = await as(PGBOUNCER_AUTH_USER, PGBOUNCER_AUTH_PASSWORD, 'app');
    expect(await rows<{ may: boolean }>(auth, "SELECT has_schema_privilege('public', 'CREATE') AS may")).toEqual([{ may: false }]);
  });

  it('the replicator can only replicate; the rewind role opens only the postgres database', async () => {
    const [replicator] = await c.query('pgsql', "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = 'replicator'");
    expect(replicator).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: true, rolbypassrls: false });
    for (const database of ['postgres', 'app']) {
      await expect(as('replicator', REPLICATION_PASSWORD, database)).rejects.toMatchObject({ code: '28000' });
    }
    const [rewinder] = await c.query('pgsql', "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication FROM pg_roles WHERE rolname = 'rewinder'");
    expect(rewinder).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false });
    expect(await rows(await as('rewinder', REPLICATION_PASSWORD, 'postgres'), 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    await expect(as('rewinder', REPLICATION_PASSWORD, 'app')).rejects.toMatchObject({ code: '28000' });
  });

  it("pgbouncer.user_lookup gives PgBouncer's role the SCRAM secret of application roles only", async () => {
    for (const database of ['app', 'postgres']) {
      const found = await rows<{ usename: string; passwd: string }>(await as(PGBOUNCER_AUTH_USER, PGBOUNCER_AUTH_PASSWORD, database), 'SELECT usename, passwd FROM pgbouncer.user_lookup($1)', [APP_USER]);
      expect(found).toEqual([{ usename: APP_USER, passwd: expect.stringMatching(/^SCRAM-SHA-256\$/) }]);
    }
    const auth = await as(PGBOUNCER_AUTH_USER, PGBOUNCER_AUTH_PASSWORD, 'app');
    try {
      for (const privileged of ['postgres', 'replicator', 'rewinder']) {
        expect((await auth.query('SELECT * FROM pgbouncer.user_lookup($1)', [privileged])).rows, privileged).toEqual([]);
      }
      await expect(auth.query('SELECT rolpassword FROM pg_authid')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await auth.end().catch(() => undefined);
    }
    // PUBLIC (here the application role) may not call it.
    const app = await as(APP_USER, APP_PASSWORD, 'app');
    await expect(app.query('SELECT * FROM pgbouncer.user_lookup($1)', [APP_USER])).rejects.toMatchObject({ code: '42501' });
    await app.end().catch(() => undefined);
    const [fn] = await c.query<{ definer: boolean; owner: string; config: string[] }>(
      'pgsql',
      "SELECT prosecdef AS definer, pg_get_userbyid(proowner) AS owner, proconfig AS config FROM pg_proc WHERE oid = 'pgbouncer.user_lookup(text)'::regprocedure",
    );
    expect(fn).toEqual({ definer: true, owner: 'postgres', config: ['search_path=pg_catalog, pg_temp'] });
    // A database created later has it too (from template1).
    await c.query('pgsql', 'CREATE DATABASE later');
    const later = await rows(await as(PGBOUNCER_AUTH_USER, PGBOUNCER_AUTH_PASSWORD, 'later'), 'SELECT usename FROM pgbouncer.user_lookup($1)', [APP_USER]);
    expect(later).toEqual([{ usename: APP_USER }]);
  });

  it('no password in a node\'s configuration, environment, command lines or log (only *_FILE variables)', async () => {
    for (const node of c.nodes) {
      const info = await docker.getContainer(node.container).inspect();
      const env = info.Config.Env.join('\n');
      expect(env).toMatch(/^POSTGRES_PASSWORD_FILE=\/run\/secrets\//m);
      expect(env).not.toMatch(/^(POSTGRES|REPLICATION|APP|PGBOUNCER_AUTH)_PASSWORD=/m);
      expect(leaked(env), `docker inspect of ${node.name}`).toEqual([]);
      // Every process of the node: its environment and its arguments.
      const procs = await execIn(docker, node.container, ['sh', '-c', 'cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" "\\n"'], { timeoutMs: 10_000 });
      expect(procs.stdout).toContain('PGDATA=');
      expect(leaked(procs.stdout), `processes of ${node.name}`).toEqual([]);
      const log = (await docker.getContainer(node.container).logs({ stdout: true, stderr: true })).toString();
      expect(log.length).toBeGreaterThan(0);
      expect(leaked(log), `log of ${node.name}`).toEqual([]);
    }
  });

  it('a replica started on an empty volume clones over TLS', async () => {
    await c.addReplica('replica-3');
    await eventually(() => streamsFrom(c, 'replica-3', 'pgsql'), 'replica-3 streaming from pgsql', 60_000);
    const [sender] = await c.query<{ ssl: boolean }>('pgsql', "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'replica-3'");
    expect(sender?.ssl).toBe(true);
  });

  it('a diverged old primary comes back by pg_rewind over TLS', async () => {
    const promoted = await execIn(docker, c.node('replica-1').container, ['pg_ctl', 'promote', '-w', '-D', PGDATA], { timeoutMs: 30_000 });
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    await c.query('replica-1', "SELECT pg_create_physical_replication_slot('pgsql')");
    // pgsql writes on the old timeline after the promotion: it diverged.
    await c.query('pgsql', 'CREATE TABLE lost_on_old_timeline (id int)');
    const pgsql = c.node('pgsql').container;
    await docker.getContainer(pgsql).stop({ t: 30 });
    // What the agents write while the node is stopped (fence: standby.signal; the rejoin marker).
    await putDataFiles(pgsql, {
      'standby.signal': '',
      'pg-failover.rebuild': markerText({ epoch: 2, source: 'replica-1', host: c.node('replica-1').container, slot: 'pgsql', timeline: 2, method: 'rewind' }),
    });
    await docker.getContainer(pgsql).start();
    await eventually(() => streamsFrom(c, 'pgsql', 'replica-1'), 'pgsql streaming from replica-1', 90_000, 200);
    expect((await dataFile(pgsql, 'pg-failover.rejoined'))?.toString()).toMatch(/^METHOD=rewind$/m);
    const [sender] = await c.query<{ ssl: boolean }>('replica-1', "SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'pgsql'");
    expect(sender?.ssl).toBe(true);
    // METHOD=rewind: pg_rewind's own connection (the rewind role, hostssl only) verified replica-1's certificate;
    // had it failed, the node would have been cloned instead. What pgsql wrote after the fork is gone.
    const [lost] = await c.query<{ n: number }>('pgsql', "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'lost_on_old_timeline'");
    expect(lost?.n).toBe(0);
  });
});
