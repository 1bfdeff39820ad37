import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allStreamFrom, startCluster, type TestCluster } from '../support/cluster.js';
import { failoverCli, writeCliConfig } from '../support/cli.js';
import { startAgents, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';
import type { RoundResult } from '../../src/drill/round.js';

// `drill --dataset-mb` and the replica-cut scenario, through the built CLI, on one test
// cluster with real agents: the dataset is loaded once and found again, and a replica cut
// off its network comes back by following, holding the primary's rows.

describe('drill --dataset-mb and replica-cut', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let configFile: string;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster);
    ({ file: configFile } = writeCliConfig(cluster));
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming', 30_000);
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  it.each([
    ['--dataset-mb', '-1'],
    ['--dataset-mb', '2.5'],
    ['--dataset-mb', 'lots'],
    ['--cut-ms', '10'],
  ])('%s %s: one clear line, exit 2, nothing loaded', async (option, value) => {
    const result = await failoverCli(['drill', 'replica-cut', option, value, '--config', configFile]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(option);
    const [row] = await cluster.query<{ present: boolean }>('pgsql', "SELECT to_regclass('pgbench_accounts') IS NOT NULL AS present");
    expect(row?.present).toBe(false);
  });

  it('loads the dataset once, reports it, and a cut replica comes back by following with the primary\'s rows', async () => {
    const run = () => failoverCli(['drill', 'replica-cut', '--rounds', '1', '--cut-ms', '4000', '--dataset-mb', '15', '--json', '--config', configFile]);
    const first = await run();
    expect(first.code, `${first.stderr}\n${first.stdout}`).toBe(0);
    const report = JSON.parse(first.stdout) as { dataset: { requestedMb: number; actualMb: number; scale: number; loadedMs: number | null }; rounds: RoundResult[] };
    expect(report.dataset).toMatchObject({ requestedMb: 15, scale: 1 });
    expect(report.dataset.actualMb).toBeGreaterThanOrEqual(15);
    expect(report.dataset.loadedMs).toBeGreaterThan(0);
    const [accounts] = await cluster.query<{ n: string }>('replica-1', 'SELECT count(*)::text AS n FROM pgbench_accounts');
    expect(accounts?.n).toBe('100000');
    const round = report.rounds[0]!;
    expect(round.error).toBeUndefined();
    expect(round).toMatchObject({ from: 'pgsql', to: 'pgsql', cutMs: 4000, lost: 0, splitBrain: false });
    expect(round.followMs).toBeGreaterThan(0);
    expect(round.fault).toMatchObject({ replica: 'replica-1' });

    // A second drill finds the tables in place and does not load them again.
    const second = await run();
    expect(second.code, `${second.stderr}\n${second.stdout}`).toBe(0);
    expect(JSON.parse(second.stdout).dataset).toMatchObject({ requestedMb: 15, scale: 1, loadedMs: null });
  });
});
