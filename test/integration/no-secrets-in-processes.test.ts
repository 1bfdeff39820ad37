import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execIn } from '../../src/docker/engine.js';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { failoverCli } from '../support/cli.js';
import {
  allStreamFrom,
  APP_PASSWORD,
  APP_USER,
  docker,
  PGBOUNCER_ADMIN_PASSWORD,
  PGBOUNCER_AUTH_PASSWORD,
  POSTGRES_PASSWORD,
  REPLICATION_PASSWORD,
  startCluster,
  type TestCluster,
} from '../support/cluster.js';
import { eventually } from '../support/eventually.js';
import { LeakSampler, type Leak } from '../support/leak-sampler.js';

// Issue 15 item 7, the last attack: no password appears in the host's process list or in
// `docker inspect` of a node (or a PgBouncer, or an agent's helper container) while the
// cluster starts, fails over (the primary killed), rejoins the old primary and switches over
// (`failover promote`). A TLS cluster whose passwords are files (*_FILE), with the application
// and PgBouncer roles, as the lab runs it. Sampled every ~50 ms (test/support/leak-sampler.ts):
// a password passed as an argument or an environment variable exists only while its process or
// container does. Docker's exec_create events and the logs are secrets.test.ts's.

const SECRETS: Record<string, string> = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, APP_PASSWORD, PGBOUNCER_AUTH_PASSWORD, PGBOUNCER_ADMIN_PASSWORD };
/** Every container this test process creates carries it (nodes, PgBouncers, etcd, the agents' helpers). */
const OUR_CONTAINERS = `pg-failover.pid=${process.pid}`;
/** What the rounds remember of the process list: the processes of replication, promotion and rejoins. */
const WATCHED = /pgf-rejoin|pg_rewind|pg_basebackup|pg_ctl|initdb|postgres: [\w.-]+: (walsender|walreceiver|startup)/;

/** The node behind the write endpoint, as the application reaches it (its role, looked up by PgBouncer; TLS); null while it is not a primary. */
async function writeEndpointNode(c: TestCluster): Promise<string | null> {
  const client = new pg.Client({ host: '127.0.0.1', port: c.poolers!.write.port, user: APP_USER, password: APP_PASSWORD, database: 'app', ssl: { ca: c.tls!.ca(), rejectUnauthorized: true }, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ node: string; rec: boolean }>(`SELECT current_setting('cluster_name') AS node, pg_is_in_recovery() AS rec`);
    return rows[0] && !rows[0].rec ? rows[0].node : null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function describeLeaks(leaks: Leak[]): string[] {
  return leaks.map((l) => `${l.secret} in ${l.where}: ${l.text}`);
}

describe('no password in process arguments or container inspection during a failover and a switchover', () => {
  let sampler: LeakSampler;
  let cluster: TestCluster;
  let agents: RunningAgents;
  const began = Date.now();

  beforeAll(async () => {
    // From before the first container: the nodes' first start (initdb, the replicas' clones) is sampled too.
    sampler = new LeakSampler(SECRETS, OUR_CONTAINERS, WATCHED).start();
    cluster = await startCluster({ replicas: 2, tls: true, secretFiles: true, appRoles: true, pgbouncer: true });
    agents = await startAgents(cluster);
    const c = cluster;
    await eventually(() => allStreamFrom(c, 'pgsql'), 'both replicas streaming from pgsql', 30_000);
  });
  afterAll(async () => {
    await sampler?.stop();
    await agents?.stop();
    await cluster?.stop();
  });

  it('the sampler finds a planted password in a host command line, a container command line, an exec and a container environment', async () => {
    const planted = `planted-${cluster.runId}-Secret`;
    const probe = new LeakSampler({ PLANTED: planted }, OUR_CONTAINERS, /$^/).start();
    const host = spawn('sh', ['-c', 'sleep 60; true', 'sh', `--password=${planted}`], { stdio: 'ignore' });
    const node = cluster.node('replica-1').container;
    const inContainer = execIn(docker, node, ['sh', '-c', 'sleep 2; true', 'sh', `--password=${planted}`], { timeoutMs: 10_000 });
    const created = await docker.createContainer({ Image: 'pg-failover/postgres:lab', name: `pgf-${cluster.runId}-planted`, Env: [`SOME_PASSWORD=${planted}`], Labels: cluster.labels, Cmd: ['true'] });
    try {
      // `; true`: a shell would otherwise exec sleep in its place, and the argument would be gone.
      const where = ['ps: sh -c sleep 60; true', 'ps: sh -c sleep 2; true', `exec ${node}`, `inspect pgf-${cluster.runId}-planted`];
      const found = (w: string) => probe.leaks.some((l) => (w.startsWith('ps: ') ? l.where === 'ps' && l.text.includes(w.slice(4)) : l.where.startsWith(w)));
      await eventually(async () => where.every(found), `the planted password seen in ${where.join(', ')}`, 15_000);
    } finally {
      host.kill('SIGKILL');
      await inContainer.catch(() => undefined);
      await created.remove({ force: true });
      await probe.stop();
    }
    expect(probe.leaks.every((l) => l.secret === 'PLANTED')).toBe(true);
  });

  it('kill-primary, the old primary rejoining, then a switchover back: no round ever sees a password', async () => {
    const c = cluster;
    const container = (name: string) => c.node(name).container;
    const startupRounds = sampler.psRounds.length;

    // A failover: the primary killed.
    const killedAt = Date.now();
    await docker.getContainer(container('pgsql')).kill();
    const first = await publishedOtherThan(agents, 'pgsql');
    const failedOverAt = Date.now();
    // The old primary comes back and rejoins as a standby (the rejoin runs in its entrypoint).
    await docker.getContainer(container('pgsql')).start();
    await eventually(() => allStreamFrom(c, first.name), `every node streaming from ${first.name}`, 90_000, 200);
    const rejoinedAt = Date.now();
    // The PgBouncers are in the loop: the write endpoint follows (their passwords in use: admin console, auth role).
    await eventually(async () => (await writeEndpointNode(c)) === first.name, `the write endpoint reaching ${first.name}`, 20_000);

    // A switchover back to pgsql, through the CLI.
    const switchAt = Date.now();
    const promote = await failoverCli(['promote', 'pgsql', '--json', '--etcd', c.etcdUrl!, '--cluster', agents.config.cluster], { FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '' }, 90_000);
    expect(promote.code, promote.stderr).toBe(0);
    expect(JSON.parse(promote.stdout)).toMatchObject({ ok: true, to: 'pgsql', kind: 'switchover' });
    await eventually(() => allStreamFrom(c, 'pgsql'), 'every node streaming from pgsql', 90_000, 200);
    const doneAt = Date.now();
    await eventually(async () => (await writeEndpointNode(c)) === 'pgsql', 'the write endpoint reaching pgsql', 20_000);
    await sampler.stop();

    const figures = {
      psRounds: sampler.psRounds.length,
      dockerRounds: sampler.dockerRounds.length,
      seconds: Math.round((doneAt - began) / 100) / 10,
      failover: { ms: failedOverAt - killedAt, psRounds: sampler.psRoundsBetween(killedAt, failedOverAt), dockerRounds: sampler.dockerRoundsBetween(killedAt, failedOverAt) },
      rejoin: { ms: rejoinedAt - failedOverAt, psRounds: sampler.psRoundsBetween(failedOverAt, rejoinedAt) },
      switchover: { ms: doneAt - switchAt, psRounds: sampler.psRoundsBetween(switchAt, doneAt), dockerRounds: sampler.dockerRoundsBetween(switchAt, doneAt) },
      longestPsGapMs: sampler.longestPsGap(killedAt, doneAt),
      execs: sampler.execs.size,
      processes: sampler.processes.size,
      errors: sampler.errors.length,
    };
    console.log(`no-secrets-in-processes: ${JSON.stringify(figures)}`);
    console.log(`exec command lines seen:\n  ${[...sampler.execs.keys()].join('\n  ')}`);
    console.log(`watched processes seen:\n  ${[...sampler.processes.keys()].join('\n  ')}`);

    // The verdict.
    expect(describeLeaks(sampler.leaks)).toEqual([]);

    // A sampler that saw nothing would pass: it looked often, all along, and saw the operations happen.
    expect(sampler.errors).toEqual([]);
    expect(startupRounds).toBeGreaterThanOrEqual(20);
    expect(figures.failover.psRounds).toBeGreaterThanOrEqual(3);
    expect(figures.failover.dockerRounds).toBeGreaterThanOrEqual(2);
    expect(figures.switchover.psRounds).toBeGreaterThanOrEqual(5);
    expect(figures.switchover.dockerRounds).toBeGreaterThanOrEqual(3);
    expect(figures.longestPsGapMs).toBeLessThan(2000);
    const seenAfter = (pattern: RegExp, after: number) => [...sampler.processes].some(([line, at]) => at >= after && pattern.test(line));
    // The failover: the new primary serving its standbys, and a standby replaying its new timeline's WAL.
    const walOf = (timeline: number) => timeline.toString(16).toUpperCase().padStart(8, '0');
    expect(seenAfter(new RegExp(`postgres: ${first.name}: walsender`), killedAt), `a walsender on ${first.name}`).toBe(true);
    expect(seenAfter(new RegExp(`postgres: [\\w-]+: startup (recovering|waiting for) ${walOf(first.timeline)}`), killedAt), `a standby on timeline ${first.timeline}`).toBe(true);
    // The old primary's rejoin: the rejoin script or the tools it runs, aimed at a node of this run; then pgsql as a standby.
    expect(seenAfter(new RegExp(`(pgf-rejoin|pg_rewind|pg_basebackup).*${c.runId}`), failedOverAt), 'the rejoin of pgsql').toBe(true);
    expect(seenAfter(/postgres: pgsql: walreceiver/, failedOverAt), 'a walreceiver on pgsql').toBe(true);
    // The switchover: a standby replaying the timeline pgsql's promotion began.
    const last = (await agents.store.published())!;
    expect(last.timeline).toBeGreaterThan(first.timeline);
    expect(seenAfter(new RegExp(`postgres: [\\w-]+: startup (recovering|waiting for) ${walOf(last.timeline)}`), switchAt), `a standby on timeline ${last.timeline}`).toBe(true);
    // The promotions' `pg_ctl promote` execs last a few ms and Docker lists an exec for its container only while it runs:
    // the rounds see some of them (the first test shows a longer one is seen); Docker's exec_create events, which name them all, are secrets.test.ts's.
    // And the first start's clones: pg_basebackup of both replicas (or the clone script running it).
    expect([...sampler.processes.keys()].some((line) => /pg_basebackup/.test(line))).toBe(true);
  });
});
