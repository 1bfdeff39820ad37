import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { LabAccess } from '../../src/drill/lab-access.js';
import { withClient, type Endpoint } from '../../src/postgres/connection.js';
import { NodeProber } from '../../src/postgres/probe.js';
import { clusterPerTest, publishedOtherThan, startAgents } from '../support/agents.js';
import { docker, POSTGRES_PASSWORD, startCluster, streamsFrom } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { makeTestCa } from '../support/test-ca.js';

// Issue 15 item 3, the agents' side, on nodes that serve TLS with certificates from the
// run's CA (hostssl only): the agents probe and act over verify-full connections, and the
// primary_conninfo they write makes a re-pointed replica stream over verify-full too.

const t = clusterPerTest();

describe('PostgreSQL TLS between the agents and the nodes', () => {
  it('a TLS cluster fails over: the agents connect with TLS, and the surviving replica streams from the new primary with sslmode=verify-full', async () => {
    t.cluster = await startCluster({ replicas: 2, tls: true });
    const c = t.cluster;
    expect(c.config().tls).toMatchObject({ mode: 'verify-full', nodeCa: '/etc/pg-failover/tls/ca.crt' });
    t.agents = await startAgents(c);

    // Every connection the agents hold on the primary (probes, the leader's pool) is encrypted.
    const agentSessions = await eventually(async () => {
      const rows = await c.query<{ application_name: string; ssl: boolean }>(
        'pgsql',
        `SELECT a.application_name, s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name LIKE 'pg-failover%'`,
      );
      return rows.filter((r) => r.application_name === 'pg-failover-probe').length >= 3 ? rows : undefined;
    }, "the three agents' probe connections on pgsql", 15_000);
    expect(agentSessions.filter((r) => !r.ssl)).toEqual([]);

    await docker.getContainer(c.node('pgsql').container).kill();
    const published = await publishedOtherThan(t.agents, 'pgsql');
    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    await eventually(() => streamsFrom(c, other, published.name), `${other} streaming from ${published.name}`, 20_000);

    // The conninfo the leader wrote when it re-pointed the survivor, as its WAL receiver uses it.
    const receiver = (await c.query<{ conninfo: string }>(other, 'SELECT conninfo FROM pg_stat_wal_receiver'))[0]!;
    expect(receiver.conninfo).toContain(`host=${c.node(published.name).container}`);
    expect(receiver.conninfo).toMatch(/\bsslmode=verify-full\b/);
    expect(receiver.conninfo).toContain('sslrootcert=/etc/pg-failover/tls/ca.crt');
    // And on the new primary, that walsender's connection is encrypted.
    const walsender = await c.query<{ ssl: boolean }>(published.name, `SELECT s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = $1`, [other]);
    expect(walsender).toEqual([{ ssl: true }]);
  });

  it("a probe whose CA did not sign the node's certificate fails, and so does a plain one; drills and health connect with the config's CA", async () => {
    t.cluster = await startCluster({ replicas: 0, etcd: false, tls: true });
    const c = t.cluster;
    const node = c.node('pgsql');
    const endpoint = (tls: Endpoint['tls']): Endpoint => ({ host: '127.0.0.1', port: node.port, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres', tls });
    const foreign = makeTestCa();

    const ours = new NodeProber(endpoint({ mode: 'verify-full', ca: c.tls!.ca() }), 2000);
    const theirs = new NodeProber(endpoint({ mode: 'verify-full', ca: foreign.ca }), 2000);
    const plain = new NodeProber(endpoint({ mode: 'disable' }), 2000);
    try {
      expect(await ours.probe()).toMatchObject({ ok: true, inRecovery: false });
      expect(await theirs.probe()).toMatchObject({ ok: false, error: expect.stringMatching(/self[- ]signed|unable to verify|certificate/i) });
      expect(await plain.probe()).toMatchObject({ ok: false, error: expect.stringMatching(/pg_hba\.conf|SSL off|no encryption/i) });
    } finally {
      for (const p of [ours, theirs, plain]) p.close();
    }

    // A drill (and `failover health`) reaches the node from the host through LabAccess.
    const config = c.config();
    const access = new LabAccess(configSchema.parse({ ...config, nodes: config.nodes.map((n) => ({ ...n, hostPort: n.port })) }), { POSTGRES_PASSWORD });
    const ssl = await withClient(access.endpoint(access.node('pgsql')), { timeoutMs: 3000 }, async (client) => (await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]?.ssl);
    expect(ssl).toBe(true);
  });
});
