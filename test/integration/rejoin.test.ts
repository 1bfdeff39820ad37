import { describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src/core/event.js';
import { EventLog } from '../../src/dcs/events.js';
import { execIn } from '../../src/docker/engine.js';
import { docker, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { clusterPerTest, publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import { dataFile, logsSince, onDataVolume, PGDATA, systemIdOf, watchExits } from '../support/node-files.js';

// Issue 14: a node that comes back rejoins by the cheapest correct path, and no path destroys
// data. Here the paths the agents drive, on real containers: a killed old primary that diverged
// is rewound (not cloned), an old primary started with a marker whose source died meanwhile
// keeps its data and is rejoined from whoever is published then, and an emptied first primary
// never runs initdb while its peers answer, and is cloned back.

const t = clusterPerTest();

async function rejoinEvents(running: RunningAgents, node: string): Promise<ClusterEvent[]> {
  const events = await new EventLog(running.store.etcd, running.store.keys, 'test').list();
  return events.filter((e) => e.kind === 'rejoin' && e.nodes?.[0] === node);
}

async function rowsOf(c: TestCluster, node: string): Promise<string[]> {
  return (await c.query<{ note: string }>(node, 'SELECT note FROM rejoin_probe ORDER BY note')).map((r) => r.note);
}

/** The other replica, once it streams from `primary` (a node not on the published timeline is rightly no candidate). */
async function thirdNode(c: TestCluster, primary: string): Promise<string> {
  const other = primary === 'replica-1' ? 'replica-2' : 'replica-1';
  await eventually(() => streamsFrom(c, other, primary), `${other} streaming from ${primary}`, 30_000, 100);
  return other;
}

/**
 * The failure seen on the lab: pgsql is killed, and started again the moment its successor dies,
 * so its marker names a source that is gone (the old entrypoint emptied the data directory and
 * gave up). Returns once pgsql streams from the third node, the final primary, with nobody
 * touching anything: the final primary, what pgsql logged since its start, and its exit codes.
 */
async function oldPrimaryStartedAsItsSuccessorDies(c: TestCluster, running: RunningAgents): Promise<{ third: string; log: string; exitCodes: number[] }> {
  const pgsql = c.node('pgsql').container;
  await docker.getContainer(pgsql).kill();
  const second = await publishedOtherThan(running, 'pgsql', 30_000);
  const third = await thirdNode(c, second.name);
  await eventually(async () => (await dataFile(pgsql, 'pg-failover.rebuild'))?.toString().includes(`PRIMARY_HOST=${c.node(second.name).container}\n`), `pgsql's marker naming ${second.name}`, 30_000, 100);
  const exits = await watchExits(pgsql);
  const startedAt = Date.now();
  try {
    await docker.getContainer(c.node(second.name).container).kill();
    await docker.getContainer(pgsql).start();
    const final = await publishedOtherThan(running, second.name, 30_000);
    expect(final.name).toBe(third);
    await c.query(third, 'CREATE TABLE rejoin_probe (note text PRIMARY KEY)');
    await c.query(third, "INSERT INTO rejoin_probe VALUES ('final')");
    // Every live node (the second primary stays dead) streams from the final primary.
    await eventually(() => streamsFrom(c, 'pgsql', third), `pgsql streaming from ${third}`, 90_000, 250);
    return { third, log: await logsSince(pgsql, startedAt - 1000), exitCodes: [...exits.codes] };
  } finally {
    exits.stop();
  }
}

describe('rejoin after a failover (issue 14)', () => {
  it('a killed old primary that diverged rejoins by rewind, not by a clone', async () => {
    const c = (t.cluster = await startCluster({ replicas: 2 }));
    const running = (t.agents = await startAgents(c));
    const identifier = await systemIdOf(c, 'pgsql');
    await c.query('pgsql', 'CREATE TABLE rejoin_probe (note text PRIMARY KEY)');
    await c.query('pgsql', "INSERT INTO rejoin_probe VALUES ('before')");
    await eventually(async () => (await Promise.all(['replica-1', 'replica-2'].map((r) => rowsOf(c, r).catch((): string[] => [])))).every((rows) => rows.includes('before')), 'the replicas holding the first row', 20_000, 100);
    // Freeze pgsql's WAL senders, so that what it writes next reaches no replica: its WAL goes past
    // the point where the new primary's timeline will fork, and only a rewind can bring it back.
    // (Freezing the receivers instead does not do it: once thawed they read what the sockets still hold.)
    const senders = await c.query<{ pid: number }>('pgsql', 'SELECT pid FROM pg_stat_replication');
    expect(senders).toHaveLength(2);
    for (const { pid } of senders) await execIn(docker, c.node('pgsql').container, ['kill', '-STOP', String(pid)]);
    await c.query('pgsql', "INSERT INTO rejoin_probe VALUES ('diverged')");
    await docker.getContainer(c.node('pgsql').container).kill();
    const published = await publishedOtherThan(running, 'pgsql', 30_000);
    await eventually(async () => (await running.store.journal()) === null, 'the failover ending', 30_000, 100);
    expect((await dataFile(c.node('pgsql').container, 'pg-failover.rebuild'))?.toString()).toMatch(/^METHOD=rewind$/m);
    await c.query(published.name, "INSERT INTO rejoin_probe VALUES ('after')");
    expect(await rowsOf(c, published.name)).toEqual(['after', 'before']);

    await docker.getContainer(c.node('pgsql').container).start();
    await eventually(() => streamsFrom(c, 'pgsql', published.name), `pgsql streaming from ${published.name}`, 60_000, 200);
    const rejoined = (await dataFile(c.node('pgsql').container, 'pg-failover.rejoined'))?.toString() ?? '';
    expect(rejoined).toMatch(/^METHOD=rewind$/m);
    expect(rejoined).toMatch(new RegExp(`^SOURCE=${published.name}$`, 'm'));
    // The rewind took back what only pgsql had written, kept its identity, and it now replays the new primary's rows.
    expect(await systemIdOf(c, 'pgsql')).toBe(identifier);
    await eventually(async () => (await rowsOf(c, 'pgsql')).includes('after'), 'the new primary\'s row on pgsql', 20_000, 100);
    expect(await rowsOf(c, 'pgsql')).toEqual(['after', 'before']);
    const done = await eventually(async () => (await rejoinEvents(running, 'pgsql')).find((e) => e.outcome === 'done'), 'a rejoin event done for pgsql', 30_000, 200);
    expect(done).toMatchObject({ method: 'rewind', rule: 'rejoin-rewind', nodes: ['pgsql', published.name] });
    expect((await rejoinEvents(running, 'pgsql')).filter((e) => e.method === 'clone')).toEqual([]);
  });

  it('a stale marker is dropped, the data untouched, and the agents rejoin the node from whoever is published', async () => {
    const c = (t.cluster = await startCluster({ replicas: 2 }));
    const running = (t.agents = await startAgents(c));
    const identifier = await systemIdOf(c, 'pgsql');
    const { third, log, exitCodes } = await oldPrimaryStartedAsItsSuccessorDies(c, running);
    expect(log).toMatch(/dropping the stale marker of epoch 2; starting as a standby, data untouched/);
    expect(exitCodes).not.toContain(75);
    // Its data is enough to follow or rewind: a clone would copy everything for nothing. (Before
    // 6dca325 about half the runs cloned: the operation's end started a follow grace for pgsql, which
    // was not running then, and its expiry counted as a failed follow.)
    const rejoins = (await rejoinEvents(running, 'pgsql')).map((e) => `${e.outcome}/${e.method ?? '-'} ${e.rule}: ${e.message}`);
    expect(rejoins.filter((e) => e.includes('/clone'))).toEqual([]);
    expect(log).not.toMatch(/cloning .* into/);
    expect(await systemIdOf(c, 'pgsql')).toBe(identifier);
    await eventually(async () => (await rowsOf(c, 'pgsql').catch((): string[] => [])).includes('final'), `${third}'s row on pgsql`, 20_000, 100);
  });

  it('an emptied first primary never runs initdb while its peers answer, and is cloned back', async () => {
    const c = (t.cluster = await startCluster({ replicas: 2, peerHosts: true }));
    const running = (t.agents = await startAgents(c));
    const identifier = await systemIdOf(c, 'pgsql');
    const pgsql = c.node('pgsql').container;
    await docker.getContainer(pgsql).kill();
    const published = await publishedOtherThan(running, 'pgsql', 30_000);
    await eventually(async () => (await running.store.journal()) === null, 'the failover ending', 30_000, 100);
    // Emptied while stopped (a lost volume, a person's rm -rf): nothing says what it was.
    await onDataVolume(c, pgsql, `find "${PGDATA}" -mindepth 1 -delete; test -z "$(ls -A "${PGDATA}")"`);

    const exits = await watchExits(pgsql);
    const startedAt = Date.now();
    try {
      await docker.getContainer(pgsql).start();
      await eventually(async () => exits.codes.length > 0, 'pgsql exiting', 60_000, 100);
      expect(exits.codes[0]).toBe(75);
      // The agents start it again with a marker: a clone of the published primary.
      await eventually(() => streamsFrom(c, 'pgsql', published.name), `pgsql streaming from ${published.name}`, 90_000, 250);
      const log = await logsSince(pgsql, startedAt - 1000);
      expect(log).toMatch(/no cluster in .*, but peer .* answers: .* so no initdb/);
      expect(log).not.toMatch(/initialising a new primary/);
      expect(await systemIdOf(c, 'pgsql')).toBe(identifier);
      expect((await dataFile(pgsql, 'pg-failover.rejoined'))?.toString()).toMatch(/^METHOD=clone$/m);
      const done = await eventually(async () => (await rejoinEvents(running, 'pgsql')).find((e) => e.outcome === 'done'), 'a rejoin event done for pgsql', 30_000, 200);
      expect(done).toMatchObject({ method: 'clone', nodes: ['pgsql', published.name] });
      expect(exits.codes.filter((code) => code === 75)).toHaveLength(1);
    } finally {
      exits.stop();
    }
  });
});
