import { describe, expect, it } from 'vitest';
import { stepsOf, type OperationKind, type StepName } from '../../src/core/journal.js';
import { allStreamFrom, docker, startCluster, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, type RunningAgents, clusterPerTest } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import { steadyWriter } from '../support/writer.js';

// Safety rule 5: every multi-step operation is journaled, and a leader that dies after
// any one of its steps leaves an operation the next leader finishes. One row per crash
// point: the leader dies (no resignation, its lease runs out) right after it recorded
// that step. A switchover also loses no acknowledged row.

const t = clusterPerTest();

/** Every step after which a leader can die: all but the terminal marker. */
const crashPoints = (kind: OperationKind): StepName[] => stepsOf(kind).filter((s) => s !== 'done');

async function startWithCrashAt(step: StepName): Promise<{ crashed: () => string | null }> {
  t.cluster = await startCluster({ replicas: 2 });
  let crashed: string | null = null;
  t.agents = await startAgents(t.cluster, {
    afterStep: async (agentId, done) => {
      if (done === step && crashed === null) {
        crashed = agentId;
        t.agents!.agent(agentId).crash();
        await new Promise(() => undefined); // a dead process never comes back
      }
    },
  });
  return { crashed: () => crashed };
}

/**
 * The operation finished although its leader died: the journal closed, the promotion
 * recorded once (by whoever published it: the dead leader only if it died after that step).
 */
async function expectFinishedByAnotherLeader(running: RunningAgents, c: TestCluster, crashedAgent: () => string | null, step: StepName, to: string, kind: OperationKind): Promise<void> {
  await eventually(async () => (await running.store.journal()) === null, 'the journal closed', 45_000, 200);
  // After the last step the journal is gone before the leader reaches its crash point.
  const crashed = await eventually(async () => crashedAgent(), 'the leader reaching the crash point', 10_000, 20);
  const history = await running.store.history();
  expect(history.map((h) => h.epoch)).toEqual([2, 1]);
  expect(history[0]).toMatchObject({ epoch: 2, to, kind });
  const publishedByTheDead = stepsOf(kind).indexOf(step) >= stepsOf(kind).indexOf('publish');
  if (publishedByTheDead) expect(history[0]!.leader).toBe(crashed);
  else expect(history[0]!.leader).not.toBe(crashed);
  expect(await running.store.published()).toMatchObject({ name: to, epoch: 2 });
  const [row] = await c.query<{ rec: boolean }>(to, 'SELECT pg_is_in_recovery() AS rec');
  expect(row?.rec).toBe(false);
}

describe('leader dies after a failover step', () => {
  it.each(crashPoints('failover'))('after %s: another agent finishes the failover', async (step) => {
    const { crashed } = await startWithCrashAt(step);
    const c = t.cluster!;
    const running = t.agents!;
    await docker.getContainer(c.node('pgsql').container).kill();
    const published = await publishedOtherThan(running, 'pgsql', 60_000);
    await expectFinishedByAnotherLeader(running, c, crashed, step, published.name, 'failover');
    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    // The surviving replica follows the new primary, whoever re-pointed it.
    await eventually(async () => {
      const rows = await c.query<{ status: string; sender_host: string }>(other, 'SELECT status, sender_host FROM pg_stat_wal_receiver');
      return rows[0]?.status === 'streaming' && rows[0].sender_host === c.node(published.name).container;
    }, `${other} streaming from ${published.name}`, 60_000, 200);
    expect((await docker.getContainer(c.node('pgsql').container).inspect()).State.Running).toBe(false);
  });
});

describe('leader dies after a switchover step', () => {
  it.each(crashPoints('switchover'))('after %s: another agent finishes the switchover and no acknowledged row is lost', async (step) => {
    const { crashed } = await startWithCrashAt(step);
    const c = t.cluster!;
    const running = t.agents!;
    await c.query('pgsql', 'CREATE TABLE steady (seq int PRIMARY KEY)');
    const writer = steadyWriter(c, running);
    await eventually(async () => writer.acked.length >= 20, 'the writer committing on pgsql', 10_000, 20);
    const id = `crash-${step}`;
    expect(await running.store.fileRequest({ id, target: 'replica-1', force: false, at: new Date().toISOString(), by: 'test' })).toBe(true);
    const result = await eventually(() => running.store.result(id), 'the switchover result', 90_000, 100);
    expect(result).toMatchObject({ ok: true, from: 'pgsql', to: 'replica-1', epoch: 2, kind: 'switchover' });
    const ackedBefore = writer.acked.length;
    await eventually(async () => writer.acked.length >= ackedBefore + 20, 'the writer committing on the new primary', 30_000, 20);
    await writer.stop();
    await expectFinishedByAnotherLeader(running, c, crashed, step, 'replica-1', 'switchover');
    const stored = new Set((await c.query<{ seq: number }>('replica-1', 'SELECT seq FROM steady')).map((r) => r.seq));
    expect(writer.acked.filter((n) => !stored.has(n))).toEqual([]);
    await eventually(() => allStreamFrom(c, 'replica-1'), 'every other node streaming from replica-1', 90_000, 200);
  });
});
