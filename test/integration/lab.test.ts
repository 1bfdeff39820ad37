import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docker, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

describe('the lab: a primary with two streaming replicas from the lab images', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2, etcd: false });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('both replicas stream from the primary on their physical slots', async () => {
    const replication = await cluster.query<{ application_name: string; state: string }>('pgsql', 'SELECT application_name, state FROM pg_stat_replication ORDER BY 1');
    expect(replication).toEqual([
      { application_name: 'replica-1', state: 'streaming' },
      { application_name: 'replica-2', state: 'streaming' },
    ]);
    const slots = await cluster.query<{ slot_name: string; active: boolean }>('pgsql', 'SELECT slot_name, active FROM pg_replication_slots ORDER BY 1');
    expect(slots).toEqual([
      { slot_name: 'replica_1', active: true },
      { slot_name: 'replica_2', active: true },
    ]);
  });

  it('a row written on the primary is read on both replicas', async () => {
    await cluster.query('pgsql', 'CREATE TABLE IF NOT EXISTS lab_probe (id int PRIMARY KEY, note text)');
    await cluster.query('pgsql', `INSERT INTO lab_probe VALUES (1, 'hello from the primary')`);
    for (const replica of ['replica-1', 'replica-2']) {
      const note = await eventually(async () => (await cluster.query<{ note: string }>(replica, 'SELECT note FROM lab_probe WHERE id = 1'))[0]?.note, `row on ${replica}`, 10_000);
      expect(note).toBe('hello from the primary');
    }
  });

  it('a write on a replica fails with SQLSTATE 25006 (read-only transaction)', async () => {
    await eventually(async () => (await cluster.query('replica-1', `SELECT 1 FROM pg_class WHERE relname = 'lab_probe'`)).length === 1, 'table on replica', 10_000);
    await expect(cluster.query('replica-1', `INSERT INTO lab_probe VALUES (2, 'nope')`)).rejects.toMatchObject({ code: '25006' });
  });

  it('the replication role cannot open a normal database', async () => {
    await expect(cluster.client('pgsql', { user: 'replicator', password: 'test-replication-secret' })).rejects.toMatchObject({ code: '28000' });
  });

  it('a wrong password is refused', async () => {
    await expect(cluster.client('pgsql', { password: 'not-the-password' })).rejects.toMatchObject({ code: '28P01' });
  });

  it('a restarted replica resumes streaming without re-cloning', async () => {
    const replica = cluster.node('replica-2');
    // A clone replaces the data directory, so a marker left in it proves there was none.
    const marker = await docker.getContainer(replica.container).exec({ Cmd: ['touch', '/var/lib/postgresql/data/kept-across-restart'], User: 'postgres' });
    await marker.start({});
    await eventually(async () => !(await marker.inspect()).Running, 'marker written', 5000, 20);
    await docker.getContainer(replica.container).restart({ t: 10 });
    await eventually(
      async () => (await cluster.query<{ state: string }>('pgsql', `SELECT state FROM pg_stat_replication WHERE application_name = 'replica-2'`))[0]?.state === 'streaming',
      'replica-2 streaming again',
      30_000,
    );
    const check = await docker.getContainer(replica.container).exec({ Cmd: ['test', '-f', '/var/lib/postgresql/data/kept-across-restart'], User: 'postgres' });
    await check.start({});
    const exit = await eventually(async () => {
      const info = await check.inspect();
      return info.Running ? undefined : { code: info.ExitCode };
    }, 'marker check', 5000, 20);
    expect(exit.code).toBe(0);
    const logs = (await docker.getContainer(replica.container).logs({ stdout: true, stderr: true })).toString();
    expect(logs.match(/cloning from/g)?.length).toBe(1);
  });

  it('a replica started on an empty volume clones itself and streams', async () => {
    await cluster.addReplica('replica-3');
    await eventually(
      async () => (await cluster.query<{ state: string }>('pgsql', `SELECT state FROM pg_stat_replication WHERE application_name = 'replica-3'`))[0]?.state === 'streaming',
      'replica-3 streaming',
      30_000,
    );
    const rows = await cluster.query<{ note: string }>('replica-3', 'SELECT note FROM lab_probe WHERE id = 1');
    expect(rows).toEqual([{ note: 'hello from the primary' }]);
  });
});
