import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterContext } from '../../src/agent/cluster-context.js';
import { EndpointSwitcher } from '../../src/agent/endpoints.js';
import type { Config } from '../../src/config/schema.js';
import type { AgentView, Published } from '../../src/core/types.js';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { encode } from '../../src/dcs/store.js';
import { createLogger } from '../../src/log.js';
import { listDatabases, PgBouncerAdmin, type PoolerDatabase } from '../../src/pgbouncer/admin.js';
import { PGBOUNCER_ADMIN_PASSWORD, POSTGRES_PASSWORD, REPLICATION_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';

// Two agents' endpoint switchers on one real PgBouncer and etcd: B, the new leader,
// has published and routed a newer epoch; A, the old leader, still has a change in
// hand that it computed from an older snapshot of etcd (its tick read the published
// primary before B's promotion, then waited on a query or its queue). A's change must
// not put the old route back, nor release writes that B holds.

const env = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, PGBOUNCER_ADMIN_PASSWORD };

describe('PgBouncer writes are checked against the published epoch at write time', () => {
  let cluster: TestCluster;
  let config: Config;
  const etcds: Etcd3[] = [];
  const contexts: ClusterContext[] = [];
  let admin: PgBouncerAdmin;

  const publishedAt = (name: string, epoch: number): Published => ({ name, host: '127.0.0.1', port: cluster.node(name).port, epoch, timeline: epoch, since: new Date().toISOString() });
  const publish = async (p: Published) => {
    await etcds[0]!.put(keysFor(config.etcd.prefix, config.cluster).primary).value(encode(p));
  };
  const view = (agentId: string): AgentView => ({ agentId, at: Date.now(), nodes: {} });
  /** An agent's switcher with its own etcd client; `lines` collects what it logs. */
  const switcher = (leads: () => boolean, lines: string[] = []) => {
    const etcd = createEtcd(config.etcd);
    etcds.push(etcd);
    const context = new ClusterContext(config, etcd, createLogger('pg-failover', 'info', { write: (line: string) => void lines.push(line) }), env);
    contexts.push(context);
    return EndpointSwitcher.of(context, leads)!;
  };
  const routed = async (): Promise<PoolerDatabase[]> => admin.session((query) => listDatabases(query));

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 1, pgbouncer: true });
    // The write endpoint only: it follows etcd alone, so the routes compared here are exact.
    config = cluster.config({ endpoints: { write: cluster.config().endpoints!.write } });
    etcds.push(createEtcd(config.etcd));
    admin = new PgBouncerAdmin({ host: '127.0.0.1', port: cluster.poolers!.write.port, user: config.endpoints!.admin.user, password: PGBOUNCER_ADMIN_PASSWORD });
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    for (const etcd of etcds) etcd.close();
    await cluster?.stop();
  });

  it('drops an old leader\'s route for an older epoch once a newer one is published and routed', async () => {
    const oldRoute = publishedAt('pgsql', 1);
    const newRoute = publishedAt('replica-1', 2);
    const aLines: string[] = [];
    const a = switcher(() => true, aLines);
    const b = switcher(() => true);
    // A's tick read epoch 1; then B promoted, published epoch 2 and re-pointed the endpoint.
    await publish(newRoute);
    await b.followPrimary(newRoute, null);
    const newHost = cluster.node('replica-1').container;
    expect((await routed()).map((d) => d.host)).toEqual(expect.arrayContaining([newHost]));
    expect((await routed()).every((d) => d.host === newHost)).toBe(true);

    // A, which still believes it leads (its lease clock has not run out yet), carries out the change it computed.
    a.reconcile(oldRoute, view('agent-a'), false);
    await a.idle();

    const after = await routed();
    expect(after.filter((d) => d.host !== newHost), 'databases routed away from the epoch-2 primary').toEqual([]);
    expect(aLines.join('')).toMatch(/etcd publishes epoch 2 \(replica-1\); the route is for epoch 1 \(pgsql\)/);
  });

  it('a deposed leader does not release the writes the new leader holds', async () => {
    const current = publishedAt('replica-1', 2);
    await publish(current);
    const b = switcher(() => true);
    await b.followPrimary(current, null);
    // B begins a failover of replica-1: new queries wait in PgBouncer until B publishes.
    await b.holdWrites('failover');
    expect((await routed()).every((d) => d.paused)).toBe(true);

    // A lost its leadership; a change it computed before (same epoch, same route) comes out of its queue.
    const aLines: string[] = [];
    const a = switcher(() => false, aLines);
    a.reconcile(current, view('agent-a'), false);
    await a.idle();

    expect((await routed()).filter((d) => !d.paused).map((d) => d.name), 'databases released by the deposed leader').toEqual([]);
    expect(aLines.join('')).toMatch(/no longer leads/);
    // B, still the leader, releases them.
    await b.followPrimary(current, null);
    expect((await routed()).filter((d) => d.paused)).toEqual([]);
  });
});
