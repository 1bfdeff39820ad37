import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterContext } from '../../../src/agent/cluster-context.js';
import { configSchema, type Config } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { connect, discard } from '../../../src/postgres/connection.js';
import { startFakePostgres, type FakePostgres } from '../../support/fake-postgres.js';
import { makeTestCa, type TestCa } from '../../support/test-ca.js';
import { configProblemsOf as problemsOf } from '../../support/config-problems.js';

// Issue 15 item 3, the agent's side: the CA is read once when the agent starts, every
// SQL connection it opens (probes, pooled steps) uses it, and the conninfo it writes
// into a replica carries sslmode and sslrootcert.

const env = { POSTGRES_PASSWORD: 'p', REPLICATION_PASSWORD: 'r' };
const etcd = new Etcd3({ hosts: 'http://127.0.0.1:1' });
const log = createLogger('test', 'silent');
let ca: TestCa;
let node: FakePostgres;
const contexts: ClusterContext[] = [];

beforeAll(async () => {
  ca = makeTestCa();
  node = await startFakePostgres(ca.server('pgsql', '127.0.0.1'));
});
afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  await node.close();
  etcd.close();
});

/** verify-full and verify-ca need nodeCa (the schema says so); a test that leaves it out gets the lab's. */
function withNodeCa(tls: unknown): unknown {
  const t = tls as { mode?: string; nodeCa?: string };
  return (t.mode === undefined || t.mode.startsWith('verify')) && t.nodeCa === undefined ? { ...t, nodeCa: '/etc/pg-failover/tls/ca.crt' } : tls;
}

function configWith(tls: unknown, port = node.port): Config {
  return configSchema.parse({
    nodes: [
      { name: 'pgsql', container: 'pgsql', host: '127.0.0.1', port, replicationHost: 'pgsql' },
      { name: 'replica-1', container: 'replica-1', host: '127.0.0.1', port },
    ],
    replicationPassfile: '/var/lib/postgresql/.pgpass-replication',
    ...(tls === undefined ? {} : { tls: withNodeCa(tls) }),
  });
}

function context(config: Config): ClusterContext {
  const c = new ClusterContext(config, etcd, log, env);
  contexts.push(c);
  return c;
}


describe('ClusterContext with tls', () => {
  it('reads the CA once, at start: probes keep working after the file is gone', async () => {
    const copy = join(ca.dir, 'ca-copy.crt');
    copyFileSync(ca.caFile, copy);
    const c = context(configWith({ mode: 'verify-full', ca: copy }));
    rmSync(copy);
    const pgsql = c.node('pgsql')!;
    expect(c.sqlEndpoint(pgsql).tls).toEqual({ mode: 'verify-full', ca: ca.ca });
    discard(await connect(c.sqlEndpoint(pgsql), { timeoutMs: 3000 }));
    expect(node.sessions.at(-1)).toMatchObject({ tls: true });
  });

  it("opens the operation pool's connections over verified TLS", async () => {
    const c = context(configWith({ mode: 'verify-full', ca: ca.caFile }));
    const before = node.sessions.length;
    await c.pool(c.node('pgsql')!).query('SELECT 1');
    expect(node.sessions.slice(before)).toEqual([expect.objectContaining({ askedForTls: true, tls: true })]);
  });

  it("a pool whose CA did not sign the node's certificate does not connect", async () => {
    const foreign = makeTestCa();
    const c = context(configWith({ mode: 'verify-full', ca: foreign.caFile }));
    await expect(c.pool(c.node('pgsql')!).query('SELECT 1')).rejects.toThrow(/certificate/);
  });

  it('without tls, connects in plain text as before', async () => {
    const c = context(configWith(undefined));
    expect(c.sqlEndpoint(c.node('pgsql')!).tls).toBeUndefined();
    const before = node.sessions.length;
    await c.pool(c.node('pgsql')!).query('SELECT 1');
    expect(node.sessions.slice(before)).toEqual([expect.objectContaining({ askedForTls: false })]);
  });

  it('a CA file that cannot be read stops the start with one line naming it', () => {
    const missing = join(ca.dir, 'no-such-ca.crt');
    expect(problemsOf(() => new ClusterContext(configWith({ mode: 'verify-full', ca: missing }), etcd, log, env))).toEqual([
      `config: tls.ca: cannot read ${missing} (ENOENT)`,
    ]);
  });

  it('a CA file that holds no certificate stops the start too', () => {
    const junk = join(ca.dir, 'junk.crt');
    writeFileSync(junk, 'not a certificate\n');
    expect(problemsOf(() => new ClusterContext(configWith({ mode: 'verify-ca', ca: junk }), etcd, log, env))).toEqual([
      `config: tls.ca: ${junk} holds no PEM certificate`,
    ]);
  });
});

describe('primaryConninfo', () => {
  const conninfo = (tls: unknown) => {
    const c = context(configWith(tls));
    return c.primaryConninfo(c.node('pgsql')!, c.node('replica-1')!);
  };

  it('carries sslmode and the CA as the nodes see it', () => {
    expect(conninfo({ mode: 'verify-full', ca: ca.caFile, nodeCa: '/etc/pg-failover/tls/ca.crt' })).toBe(
      "host='pgsql' port=5432 user='replicator' passfile='/var/lib/postgresql/.pgpass-replication' application_name='replica-1' connect_timeout=2 sslmode=verify-full sslrootcert='/etc/pg-failover/tls/ca.crt'",
    );
    expect(conninfo({ mode: 'verify-ca', ca: ca.caFile, nodeCa: '/etc/ssl/pg ca.crt' })).toMatch(/ sslmode=verify-ca sslrootcert='\/etc\/ssl\/pg ca\.crt'$/);
  });

  it('verify-full without nodeCa is refused by the schema (libpq in the node would look for ~/.postgresql/root.crt and fail)', () => {
    const parsed = configSchema.safeParse({ nodes: [{ name: 'a', container: 'a', host: 'a' }], tls: { mode: 'verify-full', ca: ca.caFile } });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual(['tls.nodeCa']);
  });

  it('require and disable name no root certificate (with one, libpq would verify the chain after all)', () => {
    expect(conninfo({ mode: 'require', nodeCa: '/etc/pg-failover/tls/ca.crt' })).toMatch(/connect_timeout=2 sslmode=require$/);
    expect(conninfo({ mode: 'disable' })).toMatch(/connect_timeout=2 sslmode=disable$/);
  });

  it('without tls, is as before: no ssl keys', () => {
    expect(conninfo(undefined)).not.toMatch(/ssl/);
  });
});
