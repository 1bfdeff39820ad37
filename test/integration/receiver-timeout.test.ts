import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { encode } from '../../src/dcs/store.js';
import { checkReceiverTimeouts } from '../../src/postgres/receiver-settings.js';
import { failoverCli, writeCliConfig } from '../support/cli.js';
import { POSTGRES_PASSWORD, REPLICATION_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

// The partition rule ("a replica heard from the primary within the failure time, so it
// lives") holds only while a standby's wal_receiver_timeout is short enough (see
// core/receiver-timeout.ts). A replica left at PostgreSQL's default of 60 s must be
// named by the agent when it starts, with the value and what is expected.

const endpointOf = (cluster: TestCluster, name: string) => ({ host: '127.0.0.1', port: cluster.node(name).port, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres' });

describe('wal_receiver_timeout is checked against the failure time', () => {
  let cluster: TestCluster;
  let config: Config;

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 1 });
    config = cluster.config();
    // As if the replica ran with PostgreSQL's default; the primary keeps the lab's 3 s.
    await cluster.query('replica-1', `ALTER SYSTEM SET wal_receiver_timeout = '60s'`);
    await cluster.query('replica-1', 'SELECT pg_reload_conf()');
    await eventually(async () => (await cluster.query<{ v: string }>('replica-1', "SELECT current_setting('wal_receiver_timeout') AS v"))[0]?.v === '1min', 'the replica running with a 60 s wal_receiver_timeout', 10_000);
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('reads each node\'s value and names the one that does not fit', async () => {
    const results = await checkReceiverTimeouts(
      ['pgsql', 'replica-1'].map((name) => ({ node: name, endpoint: endpointOf(cluster, name) })),
      config.timings,
      2000,
    );
    expect(results).toEqual([
      { node: 'pgsql', receiverTimeoutMs: 3000, problem: null },
      { node: 'replica-1', receiverTimeoutMs: 60_000, problem: expect.stringMatching(/^replica-1: wal_receiver_timeout is 60000 ms, expected 1 to 3700 ms/) },
    ]);
  });

  it('a node that does not answer is reported as unread, not as fitting', async () => {
    const [result] = await checkReceiverTimeouts([{ node: 'nowhere', endpoint: { ...endpointOf(cluster, 'pgsql'), port: 1 } }], config.timings, 1000);
    expect(result).toMatchObject({ node: 'nowhere', receiverTimeoutMs: null, problem: null, error: expect.any(String) });
  });

  it('`failover agent` says so at start: one warning line for the replica, none for the primary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-receiver-'));
    const file = join(dir, 'agent.json');
    writeFileSync(file, JSON.stringify(config));
    let output = '';
    const child = spawn('node', ['dist/cli/main.js', 'agent', '--id', 'agent-cli', '--config', file], {
      env: { ...process.env, FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '', POSTGRES_PASSWORD, REPLICATION_PASSWORD, FAILOVER_LOG_LEVEL: 'info' },
    });
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const line = await eventually(async () => output.split('\n').find((l) => l.includes('wal_receiver_timeout is 60000 ms')), 'the agent\'s warning about replica-1', 30_000);
      const entry = JSON.parse(line) as { level: number; msg: string; node?: string };
      expect(entry).toMatchObject({ level: 40, node: 'replica-1' });
      expect(entry.msg).toMatch(/^replica-1: wal_receiver_timeout is 60000 ms, expected 1 to 3700 ms .*may be failed over instead of reported as a partition$/);
      expect(output).not.toMatch(/pgsql: wal_receiver_timeout/);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
  });

  it('`failover health --json` lists it among the warnings, and the exit code is unchanged', async () => {
    const etcd = createEtcd(config.etcd);
    try {
      await etcd.put(keysFor(config.etcd.prefix, config.cluster).primary).value(encode({ name: 'pgsql', host: '127.0.0.1', port: cluster.node('pgsql').port, epoch: 1, timeline: 1, since: new Date().toISOString() }));
    } finally {
      etcd.close();
    }
    const { file } = writeCliConfig(cluster);
    const result = await failoverCli(['health', '--json', '--config', file], { FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '' }, 30_000);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { healthy: boolean; warnings: string[] };
    expect(report.healthy).toBe(true);
    expect(report.warnings.filter((w) => w.includes('wal_receiver_timeout'))).toEqual([expect.stringMatching(/^replica-1: wal_receiver_timeout is 60000 ms, expected 1 to 3700 ms/)]);
  });
});
