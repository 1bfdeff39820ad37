import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterContext } from '../../../src/agent/cluster-context.js';
import { EndpointSwitcher } from '../../../src/agent/endpoints.js';
import { configSchema } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/log.js';
import { startFakePostgres, type FakePostgres } from '../../support/fake-postgres.js';
import { makeTestCa, type TestCa } from '../../support/test-ca.js';

// Issue 15: the leader reaches the PgBouncer admin consoles with the config's TLS (the
// same CA signs PgBouncer's certificate), verifying that it names the configured host.

const env = { POSTGRES_PASSWORD: 'p', REPLICATION_PASSWORD: 'r', PGBOUNCER_ADMIN_PASSWORD: 'a' };
const etcd = new Etcd3({ hosts: 'http://127.0.0.1:1' });
const log = createLogger('test', 'silent');
let ca: TestCa;
let pooler: FakePostgres;

beforeAll(async () => {
  ca = makeTestCa();
  pooler = await startFakePostgres(ca.server('pgbouncer', '127.0.0.1'));
});
afterAll(async () => {
  await pooler.close();
  etcd.close();
});

/** Holds the write endpoint (one admin session) and returns how that session came in. */
async function adminSessionWith(tls: unknown) {
  const config = configSchema.parse({
    nodes: [{ name: 'pgsql', container: 'pgsql', host: '127.0.0.1', port: 1 }],
    endpoints: { write: { container: 'pgbouncer', host: '127.0.0.1', port: pooler.port } },
    ...(tls === undefined ? {} : { tls: { nodeCa: '/etc/pg-failover/tls/ca.crt', ...(tls as object) } }),
  });
  const cluster = new ClusterContext(config, etcd, log, env);
  const before = pooler.sessions.length;
  try {
    await EndpointSwitcher.of(cluster)!.holdWrites('failover');
  } finally {
    await cluster.close();
  }
  return pooler.sessions.slice(before);
}

describe("the endpoint switcher's admin console client", () => {
  it('speaks verified TLS when the config has tls', async () => {
    expect(await adminSessionWith({ mode: 'verify-full', ca: ca.caFile })).toEqual([expect.objectContaining({ askedForTls: true, tls: true, user: 'pgbouncer' })]);
  });

  it("does not log in to a PgBouncer whose certificate the config's CA did not sign", async () => {
    const foreign = makeTestCa();
    const sessions = await adminSessionWith({ mode: 'verify-full', ca: foreign.caFile });
    expect(sessions).toEqual([expect.objectContaining({ askedForTls: true, user: null })]);
  });

  it('connects in plain text without tls, as before', async () => {
    expect(await adminSessionWith(undefined)).toEqual([expect.objectContaining({ askedForTls: false, user: 'pgbouncer' })]);
  });
});
