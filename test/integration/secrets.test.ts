import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli, writeCliConfig, type CliResult } from '../support/cli.js';
import { allStreamFrom, docker, PGBOUNCER_ADMIN_PASSWORD, POSTGRES_PASSWORD, REPLICATION_PASSWORD, startCluster, type TestCluster } from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { secretsIn } from '../support/secret-scan.js';

// Safety rule 8 end to end: after a failover (the primary killed), a switchover
// (`failover promote`) and a drill round, no secret of the test cluster appears in
// any agent's log (three in-process agents and one `failover agent` process, all at
// trace level), any container's log (nodes, PgBouncers, etcd), the command lines the
// agents ran in containers (Docker's exec events), etcd's keys and values, or anything the CLI printed,
// `--json` output and error paths included.

/** Passwords the CLI is given on error paths only: they must not come back either. */
const WRONG_PASSWORD = 'test-wrong-password-secret';
const ETCD_URL_PASSWORD = 'test-etcd-url-secret';
const SECRETS: Record<string, string> = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, PGBOUNCER_ADMIN_PASSWORD, WRONG_PASSWORD, ETCD_URL_PASSWORD };
const CLEAN_ENV = { FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '' };

/** Docker's events since `since` for the containers of one test run, as JSON lines. */
async function dockerEvents(since: number, runId: string): Promise<string> {
  const stream = (await docker.getEvents({ since, until: Math.ceil(Date.now() / 1000), filters: { label: [`pg-failover.run=${runId}`] } })) as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

/** A `failover agent` process, as the lab runs it, with everything it prints kept. */
function cliAgent(configFile: string, labels: Record<string, string>) {
  let output = '';
  const child: ChildProcess = spawn('node', ['dist/cli/main.js', 'agent', '--id', 'agent-cli', '--config', configFile], {
    env: {
      ...process.env,
      ...CLEAN_ENV,
      POSTGRES_PASSWORD,
      REPLICATION_PASSWORD,
      PGBOUNCER_ADMIN_PASSWORD,
      FAILOVER_LOG_LEVEL: 'trace',
      FAILOVER_HELPER_LABELS: Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(','),
    },
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('secrets never reach logs or output (rule 8)', () => {
  let cluster: TestCluster;
  let agents: RunningAgents;
  let agentProcess: ReturnType<typeof cliAgent>;
  let cliConfig: string;
  /** When the test began, in Docker's event time (seconds). */
  let since: number;
  /** Everything the CLI printed, by what was run. */
  const printed: Array<{ what: string; result: CliResult }> = [];

  async function run(what: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
    const result = await failoverCli(args, { ...CLEAN_ENV, ...env }, timeoutMs);
    printed.push({ what, result });
    return result;
  }

  beforeAll(async () => {
    since = Math.floor(Date.now() / 1000);
    cluster = await startCluster({ replicas: 2, pgbouncer: true });
    agents = await startAgents(cluster, { captureLogs: 'trace' });
    let dir: string;
    ({ file: cliConfig, dir } = writeCliConfig(cluster));
    // The agent process gets the same config as the in-process agents (PgBouncers and the replication passfile included).
    const agentConfig = join(dir, 'agent.json');
    writeFileSync(agentConfig, JSON.stringify(agents.config));
    agentProcess = cliAgent(agentConfig, cluster.labels);
    const c = cluster;
    await eventually(async () => (await agents.store.views()).some((v) => v.agentId === 'agent-cli'), 'the agent process publishing its view', 30_000);
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming from pgsql', 30_000);
  });
  afterAll(async () => {
    await agentProcess?.stop();
    await agents?.stop();
    await cluster?.stop();
  });

  it('the scanner finds a planted secret, in every form it looks for', () => {
    const secrets = { PLANTED: 'planted-Secret-42' };
    expect(secretsIn('{"msg":"connect","conninfo":"host=x password=planted-Secret-42"}', secrets)).toEqual(['PLANTED']);
    expect(secretsIn('postgres://u:PLANTED-secret-42@h/db', secrets)).toEqual(['PLANTED']);
    expect(secretsIn(`Authorization: Basic ${Buffer.from('planted-Secret-42').toString('base64')}`, secrets)).toEqual(['PLANTED']);
    expect(secretsIn('{"msg":"connect","password":"[redacted]"}', secrets)).toEqual([]);
    expect(secretsIn(`a log line with ${POSTGRES_PASSWORD} in it`, SECRETS)).toEqual(['POSTGRES_PASSWORD']);
  });

  it('a failover, a switchover and a drill round run, and every output they leave is free of secrets', async () => {
    // A failover: the primary killed.
    await docker.getContainer(cluster.node('pgsql').container).kill();
    const first = await publishedOtherThan(agents, 'pgsql');
    // The old primary comes back and rejoins as a replica.
    await docker.getContainer(cluster.node('pgsql').container).start();
    const c = cluster;
    await eventually(() => allStreamFrom(c, first.name), `every node streaming from ${first.name}`, 90_000, 200);

    // A switchover back to pgsql, through the CLI.
    const promote = await run('promote --json', ['promote', 'pgsql', '--json', '--etcd', cluster.etcdUrl!, '--cluster', agents.config.cluster]);
    expect(promote.code, promote.stderr).toBe(0);
    expect(JSON.parse(promote.stdout)).toMatchObject({ ok: true, to: 'pgsql', kind: 'switchover' });
    await eventually(() => allStreamFrom(c, 'pgsql'), 'every node streaming from pgsql', 90_000, 200);

    // A drill round (it kills the primary again and brings it back).
    const drill = await run('drill --json', ['drill', 'kill-primary', '--rounds', '1', '--json', '--config', cliConfig], {}, 180_000);
    expect(drill.code, drill.stderr).toBe(0);
    expect(JSON.parse(drill.stdout)).toMatchObject({ scenario: 'kill-primary', rounds: [expect.objectContaining({ round: 1 })] });

    // The read commands, after all that.
    const reads = { etcd: ['--etcd', cluster.etcdUrl!, '--cluster', agents.config.cluster] };
    for (const [what, args] of [
      ['status --json', ['status', '--json', ...reads.etcd]],
      ['history --json', ['history', '--json', ...reads.etcd]],
      ['health --json', ['health', '--json', '--config', cliConfig]],
    ] as const) {
      const result = await run(what, [...args]);
      expect(result.code, `${what}: ${result.stderr}`).toBe(0);
      expect(() => JSON.parse(result.stdout)).not.toThrow();
    }
    expect(JSON.parse(printed.find((p) => p.what === 'history --json')!.result.stdout).length).toBeGreaterThanOrEqual(3);

    // Error paths, with --json where the command has it.
    const published = (await agents.store.published())!;
    await run('promote --json of the current primary', ['promote', published.name, '--json', ...reads.etcd]);
    await run('health --json with a wrong password', ['health', '--json', '--config', cliConfig], { POSTGRES_PASSWORD: WRONG_PASSWORD });
    await run('status --json of an unreachable etcd', ['status', '--json', '--etcd', 'http://127.0.0.1:1']);
    await run('status --json of an unknown cluster', ['status', '--json', '--etcd', cluster.etcdUrl!, '--cluster', 'nope']);
    await run('drill --json of an unknown scenario', ['drill', 'nope', '--json', '--config', cliConfig]);
    const withCredentials = await run('status --json of an etcd URL with credentials', ['status', '--json'], { FAILOVER_ETCD: `http://root:${ETCD_URL_PASSWORD}@127.0.0.1:1` });
    expect(withCredentials.stderr).toMatch(/config: etcd\.endpoints\.0: credentials do not belong in the URL/);
    for (const { what, result } of printed.slice(-6)) expect(result.code, what).not.toBe(0);

    // Every source, scanned for every secret.
    const sources: Array<{ what: string; text: string }> = [];
    for (const agent of agents.agents) sources.push({ what: `log of ${agent.id}`, text: agents.logs(agent.id) });
    sources.push({ what: 'log of the agent process', text: agentProcess.output() });
    const containers = await docker.listContainers({ all: true, filters: { label: [`pg-failover.run=${cluster.runId}`] } });
    for (const info of containers) {
      const log = await docker.getContainer(info.Id).logs({ stdout: true, stderr: true });
      sources.push({ what: `log of container ${info.Names[0]}`, text: log.toString('utf8') });
    }
    // Docker's events name every command run in a container (exec_create: <argv>): a password passed as an argument shows there.
    const events = await dockerEvents(since, cluster.runId);
    sources.push({ what: "Docker's events of the test's containers", text: events });
    // Rule 8 names etcd too: every key and value the agents and the CLI left there.
    const stored = await agents.store.etcd.getAll().prefix('/').strings();
    sources.push({ what: 'etcd', text: JSON.stringify(stored) });
    for (const { what, result } of printed) sources.push({ what: `failover ${what} (exit ${result.code})`, text: `${result.stdout}\n${result.stderr}` });
    const leaks = sources.flatMap(({ what, text }) => secretsIn(text, SECRETS).map((secret) => `${secret} in ${what}`));
    expect(leaks).toEqual([]);

    // A scan of nothing would pass: the sources hold what was asked for.
    // Every agent (each follows Docker's events) saw the kills; the leaders logged both operations.
    for (const agent of agents.agents) expect(agents.logs(agent.id), `log of ${agent.id}`).toContain('"msg":"container event"');
    expect(agentProcess.output()).toContain('"msg":"agent started"');
    expect(agentProcess.output()).toContain('"msg":"container event"');
    const agentLogs = agents.agents.map((a) => agents.logs(a.id)).join('') + agentProcess.output();
    expect(agentLogs).toContain('"msg":"failover finished"');
    expect(agentLogs).toContain('"msg":"switchover finished"');
    expect(containers.length).toBeGreaterThanOrEqual(6);
    expect(events).toContain('exec_create: ');
    expect(Object.keys(stored).some((k) => k.endsWith('/primary'))).toBe(true);
    for (const node of cluster.nodes) {
      const text = sources.find((s) => s.what === `log of container /${node.container}`)?.text ?? '';
      expect(text.length, `log of ${node.container}`).toBeGreaterThan(0);
    }
    expect(printed.length).toBe(11);
  });
});
