import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { positionOf } from '../../src/core/candidate.js';
import { sqlOf } from '../../src/core/liveness.js';
import { lsnLag } from '../../src/core/lsn.js';
import { clusterNames } from '../../src/dcs/clusters.js';
import { execIn } from '../../src/docker/engine.js';
import { startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli, writeCliConfig, type CliResult } from '../support/cli.js';
import { allStreamFrom, docker, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';

// Safety rule 7 at the CLI, through the built CLI (dist/) against real agents and
// containers: bad input gets one clear line and a non-zero exit, and changes nothing.

/** The promote lag limit of these agents: small, so that a few MB of WAL make a replica lag. */
const LAG_LIMIT = 1024 * 1024;
const UNREACHABLE_ETCD = 'http://127.0.0.1:1';
/** No config from the environment of whoever runs the tests: each case says what it uses. */
const CLEAN_ENV = { FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '' };

/** The lines a command printed on stderr, without the trailing newline. */
const linesOf = (text: string) => text.split('\n').filter((l) => l !== '');

describe('bad input at the CLI (rule 7)', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let configFile: string;
  let dir: string;

  /** What bad input must never change: the published primary, its epoch, history, pause, journal, request. */
  async function facts() {
    const store = agents.store;
    const [published, history, paused, journal, request] = await Promise.all([store.published(), store.history(), store.paused(), store.journal(), store.request()]);
    return { published, epochs: history.map((h) => h.epoch), paused, journal, request };
  }

  /** The CLI against the test cluster, by flags only. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    failoverCli([...args, '--etcd', cluster.etcdUrl!, '--cluster', agents.config.cluster], { ...CLEAN_ENV, ...env }, 60_000);

  beforeAll(async () => {
    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster, { config: { maxLagOnFailover: LAG_LIMIT } });
    ({ file: configFile, dir } = writeCliConfig(cluster));
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming from pgsql', 30_000);
  });
  afterAll(async () => {
    await agents?.stop();
    await cluster?.stop();
  });

  describe('an unreachable etcd', () => {
    it.each([
      ['status', ['status']],
      ['status --json', ['status', '--json']],
      ['promote', ['promote', 'replica-1']],
      ['history', ['history']],
      ['pause', ['pause']],
      ['resume', ['resume']],
    ])('%s: one line naming the etcd, exit 1, within seconds', async (_name, args) => {
      const started = Date.now();
      const result = await failoverCli([...args, '--etcd', UNREACHABLE_ETCD], CLEAN_ENV, 30_000);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^failover: etcd at http:\/\/127\.0\.0\.1:1 is unreachable \(.+\)$/)]);
      // A hang that a timeout ends would also exit non-zero: the line must come from the check.
      expect(Date.now() - started).toBeLessThan(15_000);
    });

    it('health, with a config that names the nodes: the same line, exit 1', async () => {
      const result = await failoverCli(['health', '--config', configFile, '--etcd', UNREACHABLE_ETCD], CLEAN_ENV, 30_000);
      expect(result.code).toBe(1);
      expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^failover: etcd at http:\/\/127\.0\.0\.1:1 is unreachable/)]);
    });
  });

  describe('an invalid config file', () => {
    // Several problems at once, in a file that otherwise points at the test cluster:
    // a CLI that went ahead anyway would show up in its etcd.
    const invalid = () => ({
      cluster: agents.config.cluster,
      etcd: { endpoints: [cluster.etcdUrl!] },
      superuser: { user: 'postgres' },
      nodes: [
        { name: 'pgsql', container: 'c1', host: '127.0.0.1', port: 70000 },
        { name: 'Replica_1', container: 'c2', host: '127.0.0.1' },
      ],
      timings: { probeIntervalMs: 'fast' },
    });
    /** What zod itself says about the file: the CLI must print each of these, one a line. */
    const expectedLines = () => {
      const parsed = configSchema.safeParse(invalid());
      expect(parsed.success).toBe(false);
      return parsed.error!.issues.map((i) => `failover: config: ${i.path.join('.')}: ${i.message}`);
    };

    it.each([
      ['status', ['status']],
      ['agent', ['agent', '--id', 'cli-intruder']],
      ['promote', ['promote', 'replica-1']],
      ['pause', ['pause']],
      ['health', ['health']],
    ])('%s: one line per problem with zod path and message, exit 2, nothing changed', async (_name, args) => {
      const file = join(dir, 'invalid.json');
      writeFileSync(file, JSON.stringify(invalid()));
      const expected = expectedLines();
      expect(expected.length).toBeGreaterThanOrEqual(4);
      const before = await facts();
      const result = await failoverCli([...args, '--config', file], CLEAN_ENV, 30_000);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(linesOf(result.stderr).sort()).toEqual([...expected].sort());
      for (const path of ['nodes.0.port', 'nodes.1.name', 'timings.probeIntervalMs', 'superuser']) expect(result.stderr).toContain(`config: ${path}: `);
      expect(await facts()).toEqual(before);
      expect((await agents.store.views()).map((v) => v.agentId)).not.toContain('cli-intruder');
    });

    it('a file that is not JSON: one line naming the file, exit 2', async () => {
      const file = join(dir, 'broken.json');
      writeFileSync(file, '{"cluster": "main",');
      const result = await failoverCli(['status', '--config', file], CLEAN_ENV, 30_000);
      expect(result.code).toBe(2);
      expect(linesOf(result.stderr)).toEqual([expect.stringMatching(/^failover: config: .*broken\.json is not valid JSON: .+/)]);
    });
  });

  describe('promote', () => {
    it('an unknown node: one line listing the valid ones, exit 1, nothing changed', async () => {
      const before = await facts();
      const result = await cli(['promote', 'replica-9']);
      expect(result.code).toBe(1);
      expect(linesOf(result.stderr)).toEqual(['failover: promote: unknown node replica-9; valid nodes: pgsql, replica-1, replica-2']);
      expect(await facts()).toEqual(before);
    });

    it('the current primary: one line, exit 1, nothing changed', async () => {
      const before = await facts();
      expect(before.published).toMatchObject({ name: 'pgsql', epoch: 1 });
      const result = await cli(['promote', 'pgsql']);
      expect(result.code).toBe(1);
      expect(linesOf(result.stderr)).toEqual(['failover: promote: pgsql is already the primary (epoch 1)']);
      expect(await facts()).toEqual(before);
    });

    it('a lagging target without --force: one line saying it lags and that --force exists, exit 1, nothing changed', async () => {
      // The leader ranks a replica on the WAL it has received, so pausing replay is not
      // lag: freeze the replica's WAL receiver instead. Its status still says streaming
      // (the process cannot update it), so the refusal can only be for the lag.
      const target = cluster.node('replica-2');
      const [receiver] = await cluster.query<{ pid: number }>('replica-2', 'SELECT pid FROM pg_stat_wal_receiver');
      expect(receiver?.pid).toBeGreaterThan(0);
      const signal = async (name: string) => {
        const result = await execIn(docker, target.container, ['kill', `-${name}`, String(receiver!.pid)]);
        expect(result.exitCode).toBe(0);
      };
      const before = await facts();
      await signal('STOP');
      try {
        await cluster.query('pgsql', 'CREATE TABLE lag_filler AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 20000) AS g');
        await eventually(async () => {
          const views = await agents.store.views();
          const lags = views.map((v) => {
            const primary = sqlOf(v.nodes.pgsql);
            const replica = v.nodes['replica-2'];
            const position = replica ? positionOf(replica) : null;
            return primary && position ? lsnLag(primary.lsn, position) : 0n;
          });
          return views.length === 3 && lags.every((lag) => lag > BigInt(LAG_LIMIT));
        }, 'every agent seeing replica-2 more than the lag limit behind', 20_000);

        const text = await cli(['promote', 'replica-2']);
        expect(text.code).toBe(1);
        expect(linesOf(text.stderr)).toEqual([expect.stringMatching(/^failover: promote refused: replica-2 is .+ behind the primary \(limit 1(\.0)? MiB\); use --force to promote it anyway$/)]);
        const json = await cli(['promote', 'replica-2', '--json']);
        expect(json.code).toBe(1);
        expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, to: 'replica-2', epoch: 1, error: expect.stringMatching(/behind the primary .*--force/) });
        expect(await facts()).toEqual(before);
      } finally {
        await signal('CONT');
      }
      // Streaming and caught up again, so that the cases after this one meet a healthy cluster.
      await eventually(async () => {
        const [primary] = await cluster.query<{ lsn: string }>('pgsql', 'SELECT pg_current_wal_lsn()::text AS lsn');
        const [replica] = await cluster.query<{ behind: string | null }>('replica-2', `SELECT pg_wal_lsn_diff('${primary!.lsn}', pg_last_wal_replay_lsn())::text AS behind`);
        return replica?.behind !== null && Number(replica?.behind) <= 0 && (await allStreamFrom(cluster, 'pgsql'));
      }, 'replica-2 streaming and caught up again', 60_000, 200);
    });
  });

  describe('an unknown cluster', () => {
    const refusal = () => new RegExp(`^failover: unknown cluster nope; clusters in etcd under /pg-failover: ${agents.config.cluster}; choose one with --cluster or FAILOVER_CLUSTER$`);
    it.each([
      ['status', ['status']],
      ['status --json', ['status', '--json']],
      ['history', ['history']],
      ['promote', ['promote', 'replica-1']],
      ['pause', ['pause']],
      ['resume', ['resume']],
    ])('%s --cluster nope: one line naming the clusters that exist, exit 1, nothing created', async (_name, args) => {
      const before = await facts();
      const result = await failoverCli([...args, '--etcd', cluster.etcdUrl!, '--cluster', 'nope'], CLEAN_ENV, 30_000);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(linesOf(result.stderr)).toEqual([expect.stringMatching(refusal())]);
      expect(await facts()).toEqual(before);
      expect(await clusterNames(agents.store.etcd, agents.config.etcd.prefix)).toEqual([agents.config.cluster]);
    });

    it.each([
      ['health', ['health']],
      ['drill', ['drill', 'kill-primary', '--rounds', '1', '--json']],
    ])('%s with a config file and --cluster nope: the same line, exit 1, no fault injected', async (_name, args) => {
      const before = await facts();
      const result = await failoverCli([...args, '--config', configFile, '--cluster', 'nope'], CLEAN_ENV, 60_000);
      expect(result.code).toBe(1);
      expect(linesOf(result.stderr)).toEqual([expect.stringMatching(refusal())]);
      expect(await facts()).toEqual(before);
      expect(await allStreamFrom(cluster, 'pgsql')).toBe(true);
    });

    it('the cluster that exists is still served', async () => {
      const result = await cli(['status', '--json']);
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ cluster: agents.config.cluster, epoch: 1, primary: { name: 'pgsql' } });
    });
  });
});
