import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { docker, POSTGRES_PASSWORD, processAlive, startCluster, streamsFrom, type TestCluster } from '../support/cluster.js';
import { publishedOtherThan, startAgents, type RunningAgents } from '../support/agents.js';
import { eventually } from '../support/eventually.js';

// Role-change hooks with real agents, a real cluster and real processes: a hook gets the
// right environment (and not the secrets), and a failing or slow hook holds nothing back.

const LARAVEL_HOOK = resolve('dist/hooks/laravel-env.js');
const node = process.execPath;
const run = promisify(execFile);

// Appends its PGF_* variables (and whether it saw the superuser's password) as one JSON line.
const RECORD = `
  const fs = require('node:fs');
  const pgf = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('PGF_')));
  fs.appendFileSync(process.argv[1] + '/records.jsonl', JSON.stringify({ ...pgf, sawPassword: 'POSTGRES_PASSWORD' in process.env, at: Date.now() }) + '\\n');`;
const FAIL = `require('node:fs').appendFileSync(process.argv[1] + '/failed', process.env.PGF_EPOCH + '\\n'); console.error('hook says no'); process.exit(1);`;
// A shell, not node: it must have written its pid well within its 500 ms, even on a busy machine.
const SLOW = 'echo $$ >> "$1/slow-pids"; exec sleep 30';
// Within its (long) timeout: still running when the next operation is over, if nothing waited for it.
const LINGER = 'echo $$ >> "$1/linger-pids"; exec sleep 120';

const LARAVEL_ENV = ['APP_NAME=Laravel', 'APP_KEY=base64:c2VjcmV0', '', '# primary', 'DB_CONNECTION=pgsql', 'DB_HOST=pgsql', 'DB_PORT=5432', 'DB_HOST_READ=pgsql-replica-2', 'DB_DATABASE=app', ''].join('\n');

function records(dir: string): Array<Record<string, unknown>> {
  const file = join(dir, 'records.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('role-change hooks', () => {
  let cluster: TestCluster | undefined;
  let agents: RunningAgents | undefined;
  const savedPassword = process.env.POSTGRES_PASSWORD;
  const lingering: number[] = [];

  afterAll(async () => {
    for (const pid of lingering) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    if (savedPassword === undefined) delete process.env.POSTGRES_PASSWORD;
    else process.env.POSTGRES_PASSWORD = savedPassword;
    await agents?.stop();
    await cluster?.stop();
  });

  it('after a failover and a switchover, every hook runs once with the right environment; failing and slow hooks hold nothing back', async () => {
    expect(existsSync(LARAVEL_HOOK), `${LARAVEL_HOOK} is missing: run npm run build`).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'pgf-hooks-'));
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, LARAVEL_ENV);
    chmodSync(dotenv, 0o640);
    // The agents run in this process: their environment holds the superuser's password, as a real agent's does.
    process.env.POSTGRES_PASSWORD = POSTGRES_PASSWORD;

    cluster = await startCluster({ replicas: 2 });
    agents = await startAgents(cluster, {
      config: {
        hooks: {
          onRoleChange: [
            { name: 'record', command: [node, '-e', RECORD, dir] },
            { name: 'fail', command: [node, '-e', FAIL, dir] },
            { name: 'slow', command: ['/bin/sh', '-c', SLOW, 'slow', dir], timeoutMs: 500 },
            { name: 'laravel', command: [node, LARAVEL_HOOK, dotenv] },
            { name: 'linger', command: ['/bin/sh', '-c', LINGER, 'linger', dir], timeoutMs: 120_000 },
          ],
        },
      },
    });
    const c = cluster;
    const running = agents;
    // Bootstrap publishes the first primary without running hooks: they are about changes.
    expect(records(dir)).toEqual([]);

    const killedAt = Date.now();
    await docker.getContainer(c.node('pgsql').container).kill();
    // Hooks run only after the publication: a leader that waited for them (the lingering one
    // takes 120 s) would miss this deadline, the same as the failover tests' without hooks.
    const published = await publishedOtherThan(running, 'pgsql', 15_000);
    expect(Date.parse(published.since)).toBeGreaterThan(killedAt);
    expect(published.epoch).toBe(2);

    const [first] = await eventually(async () => (records(dir).length > 0 ? records(dir) : undefined), 'the record hook', 10_000);
    expect(first).toEqual({
      PGF_CLUSTER: running.config.cluster,
      PGF_KIND: 'failover',
      PGF_OPERATION_ID: expect.any(String),
      PGF_EPOCH: '2',
      PGF_REASON: expect.stringMatching(/pgsql/),
      PGF_OLD_PRIMARY: 'pgsql',
      PGF_NEW_PRIMARY: published.name,
      PGF_NEW_PRIMARY_HOST: '127.0.0.1',
      PGF_NEW_PRIMARY_PORT: String(c.node(published.name).port),
      PGF_TIMELINE: String(published.timeline),
      PGF_PUBLISHED_AT: published.since,
      sawPassword: false,
      at: expect.any(Number),
    });
    expect(first!.at).toBeGreaterThanOrEqual(Date.parse(published.since));
    const lingerPid = Number(await eventually(async () => existsSync(join(dir, 'linger-pids')) && (readFileSync(join(dir, 'linger-pids'), 'utf8').trim() || null), 'the lingering hook started', 5000));
    lingering.push(lingerPid);
    const [history] = await running.store.history();
    expect(first!.PGF_REASON).toBe(history!.reason);

    // The failing hook ran; the slow one was started and killed at its timeout (plus the kill's grace).
    await eventually(async () => existsSync(join(dir, 'failed')), 'the failing hook ran', 5000);
    const slowPid = Number(await eventually(async () => existsSync(join(dir, 'slow-pids')) && (readFileSync(join(dir, 'slow-pids'), 'utf8').trim() || null), 'the slow hook started', 5000));
    await eventually(async () => !processAlive(slowPid), 'the slow hook killed', 5000);

    // The Laravel hook pointed the app at the new primary, and kept everything else.
    await eventually(async () => readFileSync(dotenv, 'utf8').includes(`DB_PORT=${c.node(published.name).port}`), 'the .env rewritten', 5000);
    expect(readFileSync(dotenv, 'utf8')).toBe(LARAVEL_ENV.replace('DB_HOST=pgsql\n', 'DB_HOST=127.0.0.1\n').replace('DB_PORT=5432', `DB_PORT=${c.node(published.name).port}`));
    expect(statSync(dotenv).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);

    // The leader is not held up by the failed hooks: a switchover runs, and the hooks run again for it.
    await eventually(async () => (await running.store.journal()) === null, 'the failover journal closed', 15_000);
    const other = published.name === 'replica-1' ? 'replica-2' : 'replica-1';
    await eventually(() => streamsFrom(c, other, published.name), `${other} streaming from ${published.name}`, 30_000, 200);
    const id = `hooks-${Date.now()}`;
    expect(await running.store.fileRequest({ id, target: other, force: false, at: new Date().toISOString(), by: 'test' })).toBe(true);
    const result = await eventually(() => running.store.result(id).then((r) => r ?? undefined), 'the switchover result', 60_000, 200);
    expect(result).toMatchObject({ ok: true, kind: 'switchover', from: published.name, to: other, epoch: 3 });
    // The failover's lingering hook still runs: nobody waited for it.
    expect(processAlive(lingerPid)).toBe(true);
    const switched = (await running.store.published())!;
    await eventually(async () => records(dir).length >= 2, 'the record hook after the switchover', 10_000);
    expect(records(dir)[1]).toMatchObject({
      PGF_KIND: 'switchover',
      PGF_EPOCH: '3',
      PGF_OLD_PRIMARY: published.name,
      PGF_NEW_PRIMARY: other,
      PGF_NEW_PRIMARY_PORT: String(c.node(other).port),
      PGF_REASON: `planned switchover to ${other}`,
      PGF_PUBLISHED_AT: switched.since,
      sawPassword: false,
    });
    await eventually(async () => readFileSync(dotenv, 'utf8').includes(`DB_PORT=${c.node(other).port}\n`), 'the .env rewritten again', 5000);

    // At most once per operation: on the leader that finished it, not on every agent. Every
    // agent has gone through a full tick since the switchover was published (each republishes
    // its view at least once a second): one that ran hooks on its own would have by now.
    const after = Date.now();
    await eventually(async () => {
      const views = await running.store.views();
      return views.length === 3 && views.every((v) => v.at > after);
    }, 'every agent ticking after the switchover', 10_000, 100);
    expect(records(dir).map((r) => r.PGF_EPOCH)).toEqual(['2', '3']);
    expect(readFileSync(join(dir, 'failed'), 'utf8')).toBe('2\n3\n');
    lingering.push(...readFileSync(join(dir, 'linger-pids'), 'utf8').trim().split('\n').map(Number));
  });
});

describe('the laravel-env hook as a program', () => {
  async function laravel(args: string[], env: NodeJS.ProcessEnv = {}) {
    try {
      const { stdout, stderr } = await run(node, [LARAVEL_HOOK, ...args], { env: { PATH: process.env.PATH, ...env } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('flags win over the environment; bad input is one line on stderr, exit 2, and no change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgf-laravel-'));
    const dotenv = join(dir, '.env');
    writeFileSync(dotenv, 'DB_HOST=old\r\nDB_PORT=5432\r\n');

    const ok = await laravel(['--host', 'db.internal', '--port', '6432', dotenv], { PGF_NEW_PRIMARY_HOST: 'ignored', PGF_NEW_PRIMARY_PORT: '1' });
    expect(ok.code).toBe(0);
    expect(readFileSync(dotenv, 'utf8')).toBe('DB_HOST=db.internal\r\nDB_PORT=6432\r\n');

    const bad: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [[], { PGF_NEW_PRIMARY_HOST: 'h', PGF_NEW_PRIMARY_PORT: '5432' }, /usage/],
      [[dotenv], {}, /no host/],
      [[dotenv], { PGF_NEW_PRIMARY_HOST: 'h' }, /no port/],
      [[dotenv], { PGF_NEW_PRIMARY_HOST: 'h x', PGF_NEW_PRIMARY_PORT: '5432' }, /invalid host/],
      [[dotenv], { PGF_NEW_PRIMARY_HOST: 'h', PGF_NEW_PRIMARY_PORT: '99999' }, /invalid port/],
      [[join(dir, 'missing.env')], { PGF_NEW_PRIMARY_HOST: 'h', PGF_NEW_PRIMARY_PORT: '5432' }, /no such file/],
      [['--bogus', dotenv], { PGF_NEW_PRIMARY_HOST: 'h', PGF_NEW_PRIMARY_PORT: '5432' }, /bogus/],
    ];
    for (const [args, env, message] of bad) {
      const result = await laravel(args, env);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    expect(readFileSync(dotenv, 'utf8')).toBe('DB_HOST=db.internal\r\nDB_PORT=6432\r\n');
    expect(existsSync(join(dir, 'missing.env'))).toBe(false);
    expect(readdirSync(dir)).toEqual(['.env']);
  });
});
