import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { docker, startCluster, type TestCluster } from '../support/cluster.js';
import { clusterPerTest, publishedOtherThan, startAgents, verdictWithNote, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import { failoverCli } from '../support/cli.js';
import { claims, type SyncRecord } from '../../src/core/sync-set.js';
import { RELOAD_SETTLE_MS } from '../../src/core/sync-plan.js';

// Zero-loss mode (issue 13) with real containers: the leader manages synchronous_standby_names
// and the `sync` key; commits wait for a standby; a failover promotes only a node that holds
// every acknowledged commit, and waits when it cannot know which one does.

const t = clusterPerTest();

function synchronous(durability: 'required' | 'preferred', degradeAfterMs = 10_000) {
  return { replication: { user: 'replicator', passwordEnv: 'REPLICATION_PASSWORD', synchronous: { mode: 'quorum', number: 1, durability, degradeAfterMs } } };
}

function cli(c: TestCluster, agents: RunningAgents, args: string[]) {
  return failoverCli([...args, '--etcd', c.etcdUrl!, '--cluster', agents.config.cluster], { FAILOVER_CONFIG: '' }, 60_000);
}

async function record(agents: RunningAgents): Promise<SyncRecord | null> {
  return agents.store.sync();
}

async function setting(c: TestCluster, node: string): Promise<string> {
  return (await c.query<{ s: string }>(node, `SELECT current_setting('synchronous_standby_names') AS s`))[0]!.s;
}

/** Whether a backend on `node` waits for a synchronous standby's confirmation right now. */
async function commitWaits(c: TestCluster, node: string, table: string): Promise<boolean> {
  const rows = await c.query<{ n: string }>(node, `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE $1`, [`INSERT INTO ${table}%`]);
  return rows[0]!.n !== '0';
}

/** Starts an INSERT on its own connection; resolves when PostgreSQL acknowledges it. */
async function insertInBackground(c: TestCluster, node: string, table: string, value: number): Promise<{ done: Promise<number>; client: pg.Client }> {
  const client = await c.client(node);
  client.on('error', () => undefined);
  const done = client.query(`INSERT INTO ${table} VALUES ($1)`, [value]).then(() => Date.now());
  done.catch(() => undefined);
  return { done, client };
}

async function presetSettled(c: TestCluster, node: string, preset: string): Promise<boolean> {
  const rows = await c.query<{ s: string; ms: number }>(node, `SELECT current_setting('synchronous_standby_names') AS s, (extract(epoch FROM clock_timestamp() - pg_conf_load_time()) * 1000)::float8 AS ms`);
  return rows[0]!.s === preset && rows[0]!.ms >= RELOAD_SETTLE_MS;
}

async function promisingWith(agents: RunningAgents, standbys: string[]): Promise<SyncRecord | null> {
  const current = await record(agents);
  return current !== null && claims(current) && JSON.stringify(current.standbys) === JSON.stringify(standbys) ? current : null;
}

/**
 * ANY 1 of both replicas promised; then replica-2 stops and the primary dies before the leader
 * could take replica-2 out of the set (it waits failureTimeMs): replica-2 may hold the last
 * acknowledged commit, and the failover waits for it.
 */
async function failoverHeldByMissingMember() {
  t.cluster = await startCluster({ replicas: 2 });
  t.agents = await startAgents(t.cluster, { config: synchronous('required') });
  const c = t.cluster;
  await eventually(() => promisingWith(t.agents!, ['replica-1', 'replica-2']), 'the sync key promising ANY 1 of both replicas', 30_000);
  await docker.getContainer(c.node('replica-2').container).kill();
  await docker.getContainer(c.node('pgsql').container).kill();
  const held = await verdictWithNote(t.agents, (note) => note.startsWith('failover waits: waiting for the synchronous standbys'), 'the failover waiting for replica-2');
  return { c, held };
}

describe('zero-loss mode (replication.synchronous)', () => {
  it('required: ANY 1 over both replicas; with both down a commit waits until one returns; the failover after loses no acknowledged row', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster, { config: synchronous('required') });
    const c = t.cluster;
    await eventually(() => promisingWith(t.agents!, ['replica-1', 'replica-2']), 'the sync key promising ANY 1 of both replicas', 30_000);
    expect(await setting(c, 'pgsql')).toBe('ANY 1 ("replica-1", "replica-2")');
    await c.query('pgsql', 'CREATE TABLE acked (id int PRIMARY KEY)');

    await Promise.all(['replica-1', 'replica-2'].map((name) => docker.getContainer(c.node(name).container).stop({ t: 1 })));
    const insert = await insertInBackground(c, 'pgsql', 'acked', 1);
    try {
      await eventually(() => commitWaits(c, 'pgsql', 'acked'), 'the commit waiting for a synchronous standby (wait_event SyncRep)', 10_000);
      // Required durability never empties the setting for want of standbys.
      expect(await setting(c, 'pgsql')).toBe('ANY 1 ("replica-1", "replica-2")');
      await docker.getContainer(c.node('replica-1').container).start();
      await insert.done;
    } finally {
      await insert.client.end().catch(() => undefined);
    }
    await docker.getContainer(c.node('replica-2').container).start();
    await eventually(() => promisingWith(t.agents!, ['replica-1', 'replica-2']), 'both replicas members again', 30_000);
    for (let id = 2; id <= 50; id++) await c.query('pgsql', 'INSERT INTO acked VALUES ($1)', [id]);

    // Each replica holds the setting it would need if promoted, loaded long enough ago to count
    // as in effect (the leader keeps these presets; RELOAD_SETTLE_MS by the server's clock).
    await eventually(async () => (await presetSettled(c, 'replica-1', 'ANY 1 ("replica-2")')) && presetSettled(c, 'replica-2', 'ANY 1 ("replica-1")'), 'both replicas holding their settled presets', 30_000);
    await docker.getContainer(c.node('pgsql').container).kill();
    const published = await publishedOtherThan(t.agents, 'pgsql');
    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    // Its preset was settled and the other replica streamed from it before the publication: the
    // record was rewritten with the publication to name that replica alone (no window in which
    // losing the new primary would wait for it).
    expect(await record(t.agents!)).toMatchObject({ standbys: [other], epoch: 2, pending: false, degraded: false });
    expect((await c.query<{ n: string }>(published.name, 'SELECT count(*) AS n FROM acked'))[0]!.n).toBe('50');
    expect((await t.agents!.store.history())[0]).toMatchObject({ epoch: 2, to: published.name, synchronous: true });
    // The new primary's first commits already waited for its standby; the set follows it.
    await eventually(() => promisingWith(t.agents!, [other]), `the sync key naming ${other} alone under ${published.name}`, 30_000);
    expect(await setting(c, published.name)).toMatch(new RegExp(`^ANY 1 \\(.*"${other}".*\\)$`));
  });

  it('quorum: a recorded member that cannot be seen when the primary dies holds the failover back until it returns', async () => {
    const { c, held } = await failoverHeldByMissingMember();
    expect(held.notes.join(' ')).toMatch(/replica-2 may hold the last acknowledged commit/);
    expect((await t.agents!.store.published())?.name).toBe('pgsql');
    const refused = await cli(t.cluster!, t.agents!, ['promote', 'replica-1']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/promote refused: cannot promote replica-1: waiting for the synchronous standbys/);

    await docker.getContainer(c.node('replica-2').container).start();
    const published = await publishedOtherThan(t.agents!, 'pgsql', 60_000);
    expect(['replica-1', 'replica-2']).toContain(published.name);
  });

  it('promote --force while a member cannot be seen: says what may be lost, then fails over', async () => {
    await failoverHeldByMissingMember();
    const forced = await cli(t.cluster!, t.agents!, ['promote', 'replica-1', '--force']);
    expect(forced.stderr).toMatch(/warning: --force overrides zero-loss mode: .*commits acknowledged by the synchronous standbys may be lost: replica-2 cannot be seen/);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^failover: pgsql -> replica-1, epoch 2/);
    expect((await t.agents!.store.published())?.name).toBe('replica-1');
  });

  it('preferred: with no standby for degradeAfterMs writes go on, recorded as degraded; the set promises again once a standby streams', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    t.agents = await startAgents(t.cluster, { config: synchronous('preferred', 1500) });
    const c = t.cluster;
    await eventually(() => promisingWith(t.agents!, ['replica-1', 'replica-2']), 'the sync key promising ANY 1 of both replicas', 30_000);
    await c.query('pgsql', 'CREATE TABLE acked (id int PRIMARY KEY)');

    // The leader counts degradeAfterMs from the first tick it sees them gone: after this instant.
    const stoppingAt = Date.now();
    await Promise.all(['replica-1', 'replica-2'].map((name) => docker.getContainer(c.node(name).container).stop({ t: 1 })));
    const insert = await insertInBackground(c, 'pgsql', 'acked', 1);
    try {
      const ackedAt = await insert.done;
      expect(ackedAt - stoppingAt).toBeGreaterThanOrEqual(1500);
    } finally {
      await insert.client.end().catch(() => undefined);
    }
    const degraded = await record(t.agents);
    expect(degraded).toMatchObject({ mode: 'quorum', degraded: true });
    expect(await setting(c, 'pgsql')).toBe('');

    await docker.getContainer(c.node('replica-1').container).start();
    await eventually(async () => (await record(t.agents!))?.degraded === false && promisingWith(t.agents!, ['replica-1']), 'the set promising again with replica-1', 30_000);
    expect(await setting(c, 'pgsql')).toBe('ANY 1 ("replica-1")');
  });
});
