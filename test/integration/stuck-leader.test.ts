import { describe, expect, it } from 'vitest';
import { docker, startCluster } from '../support/cluster.js';
import { clusterPerTest, publishedOtherThan, startAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Safety rule 6 (issue 12, item 2): a leader whose loop stops making progress loses its
// lease. The leader's Docker engine wedges on the calls that fence the dead primary
// (kill and restart-policy update are held, never answered): it must give way within
// the lease TTL plus the progress bound, and another agent must resume the journal and
// finish the failover.

const t = clusterPerTest();

/** What etcd round trips, heartbeat spacing (TTL/4) and the test's own polling add to the promise. */
const MARGIN_MS = 3000;
/** A stuck leader's own bound in this test: shorter than the default so the test stays short. */
const PROGRESS_BOUND_MS = 8000;

describe('a stuck leader gives way', () => {
  it('loses leadership within TTL + the progress bound when its Docker calls hang; another agent finishes the failover', async () => {
    t.cluster = await startCluster({ replicas: 2 });
    const c = t.cluster;
    const steps: Array<{ agent: string; step: string }> = [];
    t.agents = await startAgents(c, {
      dockerProxies: true,
      config: { timings: { leaderProgressMs: PROGRESS_BOUND_MS } },
      beforeStep: (agent, step) => steps.push({ agent, step }),
    });
    const running = t.agents;
    const ttlMs = running.config.timings.leaseTtlSec * 1000;
    const stuck = await eventually(() => running.leaderId(), 'a leader');
    const primary = c.node('pgsql').container;
    const proxy = running.dockerProxy(stuck);
    proxy.stall('POST', new RegExp(`^/containers/${primary}/(kill|update)\\b`));

    await docker.getContainer(primary).kill();
    // The leader starts the failover and its fence hangs on the held calls.
    const stalledAt = await eventually(async () => proxy.stalled[0]?.at, `${stuck}'s fence reaching the stalled Docker calls`, 20_000, 20);

    const limitMs = ttlMs + PROGRESS_BOUND_MS + MARGIN_MS;
    const next = await eventually(async () => {
      const leader = await running.leaderId();
      return leader !== null && leader !== stuck ? leader : null;
    }, `a leader other than the stuck ${stuck}`, limitMs + 5000, 50);
    const handoverMs = Date.now() - stalledAt;
    console.log(`stuck-leader: stall to new leader ${next}: ${handoverMs} ms (limit ${limitMs} ms)`);
    expect(handoverMs).toBeLessThanOrEqual(limitMs);
    expect(running.agent(stuck).state().isLeader).toBe(false);

    // The new leader resumes the journal through its own (working) engine.
    const published = await publishedOtherThan(running, 'pgsql', 60_000);
    expect(published.epoch).toBe(2);
    await eventually(async () => (await running.store.journal()) === null, 'the journal closed', 30_000, 100);
    const [latest] = await running.store.history();
    expect(latest).toMatchObject({ epoch: 2, kind: 'failover', from: 'pgsql', to: published.name });
    expect(latest!.leader).not.toBe(stuck);
    const [row] = await c.query<{ rec: boolean }>(published.name, 'SELECT pg_is_in_recovery() AS rec');
    expect(row?.rec).toBe(false);
    // The stuck leader never got past its fence; the new leader carried the failover on.
    expect(steps.filter((s) => s.agent === stuck).map((s) => s.step)).toEqual(['fence-old']);
    expect(steps.some((s) => s.agent === next && s.step === 'promote')).toBe(true);
  });
});
