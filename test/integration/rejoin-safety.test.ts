import { describe, expect, it } from 'vitest';
import { EventLog } from '../../src/dcs/events.js';
import { execIn } from '../../src/docker/engine.js';
import { docker, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { clusterPerTest, startAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import { dataFile, exitCodeOf, logsSince, markerText, onDataVolume, pathExists, PGDATA, putDataFiles, systemIdOf } from '../support/node-files.js';

// Issue 14: what a node's entrypoint does with a rejoin marker and with what a crash left in its
// data directory, on real containers. A failed clone leaves the data as it was and the agents
// retry it; a swap a crash interrupted is finished at the next start, an unfinished clone
// dropped; a marker on a node that runs as a primary is ignored.

const t = clusterPerTest();

/** The node's WAL receiver: streaming from `primary`, on which slot. */
async function receiverOf(c: TestCluster, node: string): Promise<{ status: string; sender_host: string; slot_name: string } | undefined> {
  const rows = await c.query<{ status: string; sender_host: string; slot_name: string }>(node, 'SELECT status, sender_host, slot_name FROM pg_stat_wal_receiver').catch(() => []);
  return rows[0];
}

async function stop(c: TestCluster, node: string): Promise<void> {
  await docker.getContainer(c.node(node).container).stop({ t: 30 });
}

/** A complete clone of pgsql in replica-1's .pgf-clone, taken by the node image's own script while the node runs, on a slot of its own. */
async function cloneIntoSideDirectory(c: TestCluster): Promise<void> {
  await c.query('pgsql', "SELECT pg_create_physical_replication_slot('pgf_test_clone')");
  const result = await execIn(docker, c.node('replica-1').container, ['pgf-rejoin', 'clone', c.node('pgsql').container, '5432', 'pgf_test_clone'], { timeoutMs: 60_000 });
  expect(result.exitCode, result.stderr).toBe(0);
  expect(await pathExists(c.node('replica-1').container, `${PGDATA}/.pgf-clone/.pgf-complete`)).toBe(true);
}

describe('rebuilds that cannot destroy (issue 14)', () => {
  it('a clone that fails leaves the data in place, and is retried', async () => {
    const c = (t.cluster = await startCluster({ replicas: 1 }));
    const replica = c.node('replica-1').container;
    const identifier = await systemIdOf(c, 'replica-1');
    await stop(c, 'replica-1');
    const control = await dataFile(replica, 'global/pg_control');
    expect(control).not.toBeNull();
    // A clone from the real primary on a slot it does not have: pg_basebackup fails.
    await putDataFiles(replica, { 'pg-failover.rebuild': markerText({ epoch: 1, source: 'pgsql', host: c.node('pgsql').container, slot: 'no_such_slot', timeline: 1, method: 'clone' }) });
    const startedAt = Date.now();
    await docker.getContainer(replica).start();
    expect(await exitCodeOf(replica)).toBe(75);
    expect(await logsSince(replica, startedAt - 1000)).toMatch(/the clone from .* failed; the data directory is as it was/);
    expect((await dataFile(replica, 'global/pg_control'))?.equals(control!)).toBe(true);
    expect(await dataFile(replica, 'PG_VERSION')).not.toBeNull();
    expect(await dataFile(replica, 'standby.signal')).not.toBeNull();
    expect(await pathExists(replica, `${PGDATA}/.pgf-clone`)).toBe(false);
    expect((await dataFile(replica, 'pg-failover.rebuild'))?.toString()).toMatch(/^FAILED=clone$/m);

    // The agents see the exit 75 and start it again with a fresh marker naming its real slot.
    const running = (t.agents = await startAgents(c));
    await eventually(() => streamsFrom(c, 'replica-1', 'pgsql'), 'replica-1 streaming from pgsql again', 90_000, 250);
    expect(await systemIdOf(c, 'replica-1')).toBe(identifier);
    expect((await receiverOf(c, 'replica-1'))?.slot_name).toBe(c.node('replica-1').slot);
    expect((await dataFile(replica, 'pg-failover.rejoined'))?.toString()).toMatch(/^METHOD=clone$/m);
    expect(await dataFile(replica, 'pg-failover.rebuild')).toBeNull();
    // The leader records the outcome once it sees the node stream too (it looks every 200 ms).
    const rejoins = async () => (await new EventLog(running.store.etcd, running.store.keys, 'test').list()).filter((e) => e.kind === 'rejoin' && e.nodes?.[0] === 'replica-1');
    await eventually(async () => (await rejoins()).some((e) => e.outcome === 'done'), 'a rejoin event done for replica-1', 30_000, 200);
    expect((await rejoins()).map((e) => `${e.outcome}/${e.method}`)).toEqual(expect.arrayContaining(['started/clone', 'done/clone']));
  });

  it('an interrupted swap is finished at the next start', async () => {
    const c = (t.cluster = await startCluster({ replicas: 1, etcd: false }));
    const replica = c.node('replica-1').container;
    await cloneIntoSideDirectory(c);
    await stop(c, 'replica-1');
    // What a crash in the middle of `pgf-rejoin swap` leaves: the journal at old-aside, half the old entries moved aside.
    await onDataVolume(
      c,
      replica,
      `cd "${PGDATA}"; echo old-aside > .pgf-swap; mkdir .pgf-old; i=0
       for e in $(ls -A); do case "$e" in .pgf-*) continue ;; esac; if [ $((i++ % 2)) -eq 0 ]; then mv "$e" .pgf-old/; fi; done
       test "$(ls -A .pgf-old | wc -l)" -gt 5 && test -f .pgf-clone/.pgf-complete`,
    );
    const startedAt = Date.now();
    await docker.getContainer(replica).start();
    // It streams on the clone's slot: the clone was swapped in, not the old data put back.
    await eventually(async () => {
      const receiver = await receiverOf(c, 'replica-1');
      return receiver?.status === 'streaming' && receiver.sender_host === c.node('pgsql').container && receiver.slot_name === 'pgf_test_clone';
    }, 'replica-1 streaming from pgsql on the clone\'s slot', 60_000, 200);
    expect(await logsSince(replica, startedAt - 1000)).toMatch(/finishing a swap interrupted at old-aside/);
    for (const left of ['.pgf-swap', '.pgf-old', '.pgf-clone']) expect(await pathExists(replica, `${PGDATA}/${left}`), left).toBe(false);
    const [row] = await c.query<{ rec: boolean }>('replica-1', 'SELECT pg_is_in_recovery() AS rec');
    expect(row?.rec).toBe(true);
  });

  it('an unfinished clone is dropped at the next start, and the old data kept', async () => {
    const c = (t.cluster = await startCluster({ replicas: 1, etcd: false }));
    const replica = c.node('replica-1').container;
    await cloneIntoSideDirectory(c);
    await stop(c, 'replica-1');
    // A clone that never completed (no .pgf-complete) and no swap journal; a file only the old data has.
    await onDataVolume(c, replica, `rm "${PGDATA}/.pgf-clone/.pgf-complete"; echo kept > "${PGDATA}/pgf-test-sentinel"`);
    const startedAt = Date.now();
    await docker.getContainer(replica).start();
    await eventually(async () => {
      const receiver = await receiverOf(c, 'replica-1');
      return receiver?.status === 'streaming' && receiver.slot_name === c.node('replica-1').slot;
    }, 'replica-1 streaming from pgsql on its own slot', 60_000, 200);
    expect(await logsSince(replica, startedAt - 1000)).toMatch(/dropping a clone that was never swapped in; the data directory is unchanged/);
    expect(await pathExists(replica, `${PGDATA}/.pgf-clone`)).toBe(false);
    expect((await dataFile(replica, 'pgf-test-sentinel'))?.toString()).toBe('kept\n');
  });

  it('a marker is ignored on a node that runs as a primary', async () => {
    // No agents: a stopped published primary would be failed over. replica-1 is promoted by hand,
    // so the marker names a source that does answer as a primary (on timeline 2): only the
    // entrypoint's guard keeps pgsql from being rewound into a standby of it.
    const c = (t.cluster = await startCluster({ replicas: 1, etcd: false }));
    const pgsql = c.node('pgsql').container;
    const promoted = await execIn(docker, c.node('replica-1').container, ['pg_ctl', 'promote', '-w', '-D', PGDATA], { timeoutMs: 30_000 });
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    await eventually(async () => (await c.query<{ rec: boolean }>('replica-1', 'SELECT pg_is_in_recovery() AS rec'))[0]?.rec === false, 'replica-1 promoted', 30_000, 100);
    await stop(c, 'pgsql');
    expect(await dataFile(pgsql, 'standby.signal')).toBeNull();
    await putDataFiles(pgsql, { 'pg-failover.rebuild': markerText({ epoch: 2, source: 'replica-1', host: c.node('replica-1').container, slot: 'pgsql', timeline: 2, method: 'rewind' }) });
    const startedAt = Date.now();
    await docker.getContainer(pgsql).start();
    const [row] = await eventually(() => c.query<{ rec: boolean; tli: string }>('pgsql', "SELECT pg_is_in_recovery() AS rec, CASE WHEN pg_is_in_recovery() THEN NULL ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS tli").catch(() => null), 'pgsql answering', 60_000, 200);
    expect(row).toEqual({ rec: false, tli: '00000001' });
    expect(await logsSince(pgsql, startedAt - 1000)).toMatch(/ignoring .*pg-failover.rebuild \(epoch 2\): this node runs as a primary/);
    expect(await dataFile(pgsql, 'pg-failover.rebuild')).toBeNull();
    expect(await dataFile(pgsql, 'pg-failover.rejoined')).toBeNull();
  });
});
