import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { hookEnvironment, RoleChangeHooks, runHook, secretEnvNames, type RoleChange } from '../../../src/agent/role-change-hooks.js';

const config = configSchema.parse({
  cluster: 'main',
  nodes: [
    { name: 'pgsql', container: 'pgsql', host: 'pgsql' },
    { name: 'replica-1', container: 'pgsql-replica-1', host: 'pgsql-replica-1', port: 5432 },
  ],
  replication: { user: 'replicator', passwordEnv: 'REPL_SECRET' },
  endpoints: { admin: { user: 'pgbouncer', passwordEnv: 'BOUNCER_SECRET' } },
});

const change: RoleChange = {
  operationId: 'op-1',
  kind: 'failover',
  reason: 'container pgsql is exited',
  oldPrimary: 'pgsql',
  published: { name: 'replica-1', host: 'pgsql-replica-1', port: 5432, epoch: 7, timeline: 4, since: '2025-01-02T03:04:05.678Z' },
};

const base = { PATH: '/usr/bin:/bin', HOME: '/root', POSTGRES_PASSWORD: 'pg-secret', REPL_SECRET: 'r-secret', BOUNCER_SECRET: 'b-secret', OTHER: 'kept' };

/** A logger whose output the test reads back, one parsed object per line. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), raw: () => lines.join('\n') };
}

describe('hook environment', () => {
  it('names every password variable of the config, defaults included', () => {
    expect(secretEnvNames(config).sort()).toEqual(['BOUNCER_SECRET', 'POSTGRES_PASSWORD', 'REPL_SECRET']);
  });

  it('without endpoints, PgBouncer admin password is not named (there is none)', () => {
    const plain = configSchema.parse({ nodes: [{ name: 'a', container: 'a', host: 'a' }] });
    expect(secretEnvNames(plain).sort()).toEqual(['POSTGRES_PASSWORD', 'REPLICATION_PASSWORD']);
  });

  it("the etcd logins' passwords and the HTTP token are secrets too (issue 15): a hook never sees them", () => {
    const locked = configSchema.parse({
      nodes: [{ name: 'a', container: 'a', host: 'a' }],
      etcd: { endpoints: ['https://etcd:2379'], user: 'pgf-agent', passwordEnv: 'ETCD_AGENT_PASSWORD', reader: { user: 'pgf-reader', passwordEnv: 'ETCD_READER_PASSWORD' } },
      http: { port: 8008, tokenEnv: 'HTTP_TOKEN' },
    });
    expect(secretEnvNames(locked).sort()).toEqual(['ETCD_AGENT_PASSWORD', 'ETCD_READER_PASSWORD', 'HTTP_TOKEN', 'POSTGRES_PASSWORD', 'REPLICATION_PASSWORD']);
    const env = hookEnvironment(locked, { ...change, published: { ...change.published, name: 'a', host: 'a' } }, { ETCD_AGENT_PASSWORD: 'e', ETCD_READER_PASSWORD: 'r', HTTP_TOKEN: 't', OTHER: 'kept' });
    expect(env).not.toHaveProperty('ETCD_AGENT_PASSWORD');
    expect(env).not.toHaveProperty('ETCD_READER_PASSWORD');
    expect(env).not.toHaveProperty('HTTP_TOKEN');
    expect(env.OTHER).toBe('kept');
  });

  it('strips the secrets, keeps the rest, and describes the change', () => {
    const env = hookEnvironment(config, change, base);
    expect(env).not.toHaveProperty('POSTGRES_PASSWORD');
    expect(env).not.toHaveProperty('REPL_SECRET');
    expect(env).not.toHaveProperty('BOUNCER_SECRET');
    expect(Object.values(env).join(' ')).not.toMatch(/secret/);
    expect(env).toMatchObject({
      PATH: '/usr/bin:/bin',
      HOME: '/root',
      OTHER: 'kept',
      PGF_CLUSTER: 'main',
      PGF_KIND: 'failover',
      PGF_OPERATION_ID: 'op-1',
      PGF_EPOCH: '7',
      PGF_REASON: 'container pgsql is exited',
      PGF_OLD_PRIMARY: 'pgsql',
      PGF_NEW_PRIMARY: 'replica-1',
      PGF_NEW_PRIMARY_HOST: 'pgsql-replica-1',
      PGF_NEW_PRIMARY_PORT: '5432',
      PGF_TIMELINE: '4',
      PGF_PUBLISHED_AT: '2025-01-02T03:04:05.678Z',
    });
  });

  it('the new primary host and port come from the config, never from the record etcd held (issue 15)', () => {
    const env = hookEnvironment(config, { ...change, published: { ...change.published, host: '203.0.113.66', port: 6543 } }, base);
    expect(env).toMatchObject({ PGF_NEW_PRIMARY: 'replica-1', PGF_NEW_PRIMARY_HOST: 'pgsql-replica-1', PGF_NEW_PRIMARY_PORT: '5432' });
    expect(Object.values(env).join(' ')).not.toContain('203.0.113.66');
  });

  it('a new primary the config does not have is refused: no hook is told where it is', () => {
    expect(() => hookEnvironment(config, { ...change, published: { ...change.published, name: 'intruder', host: 'intruder' } }, base)).toThrow(/intruder is not a node of the config/);
  });

  it('text from etcd (reason, operation id) reaches a hook on one line', () => {
    const env = hookEnvironment(config, { ...change, operationId: 'op\n1', reason: 'crafted\nDB_HOST=evil\r\u0000' }, base);
    expect(env.PGF_REASON).toBe('crafted DB_HOST=evil  ');
    expect(env.PGF_OPERATION_ID).toBe('op 1');
  });

  it('PGF_* variables cannot be spoofed by the agent environment', () => {
    const env = hookEnvironment(config, change, { ...base, PGF_EPOCH: '1', PGF_NEW_PRIMARY: 'evil' });
    expect(env.PGF_EPOCH).toBe('7');
    expect(env.PGF_NEW_PRIMARY).toBe('replica-1');
  });
});

describe('running a hook', () => {
  const node = process.execPath;
  const env = hookEnvironment(config, change, { ...base, PATH: process.env.PATH ?? '/usr/bin:/bin' });

  it('a hook gets its environment, and its output and exit code are logged', async () => {
    const { log, records } = capture();
    const result = await runHook({ name: 'echo', command: [node, '-e', 'console.log(process.env.PGF_NEW_PRIMARY, process.env.POSTGRES_PASSWORD ?? "none")'], timeoutMs: 5000 }, env, log);
    expect(result).toMatchObject({ name: 'echo', exitCode: 0, timedOut: false });
    const [record] = records();
    expect(record).toMatchObject({ hook: 'echo', exitCode: 0, stdout: 'replica-1 none', msg: 'role-change hook finished' });
  });

  it('a failing hook is logged with its stderr tail, and its result says so', async () => {
    const { log, records } = capture();
    const result = await runHook({ name: 'fails', command: [node, '-e', 'console.error("x".repeat(5000) + "boom"); process.exit(3)'], timeoutMs: 5000 }, env, log);
    expect(result).toMatchObject({ exitCode: 3, timedOut: false });
    const [record] = records();
    expect(record).toMatchObject({ hook: 'fails', exitCode: 3, level: 40, msg: 'role-change hook failed' });
    expect(String(record!.stderr)).toMatch(/boom$/);
    expect(String(record!.stderr).length).toBeLessThanOrEqual(1000);
  });

  it('a slow hook is killed at its timeout, with what it started', async () => {
    const { log, records } = capture();
    // The hook starts a grandchild that ignores SIGTERM: the process group's SIGKILL must reach it.
    const script = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log(child.pid);
      setInterval(() => {}, 1000);`;
    const began = Date.now();
    const result = await runHook({ name: 'slow', command: [node, '-e', script], timeoutMs: 500 }, env, log);
    expect(Date.now() - began).toBeLessThan(3000);
    expect(result).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM' });
    const [record] = records();
    expect(record).toMatchObject({ hook: 'slow', timeoutMs: 500, msg: 'role-change hook timed out and was killed' });
    const grandchild = Number(record!.stdout);
    expect(grandchild).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(grandchild, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 5000;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  });

  it('a program that does not exist is a logged failure, not an exception', async () => {
    const { log, records } = capture();
    const result = await runHook({ name: 'missing', command: ['/nonexistent/hook'], timeoutMs: 1000 }, env, log);
    expect(result).toMatchObject({ exitCode: null, timedOut: false });
    expect(result.error).toMatch(/ENOENT/);
    expect(records()[0]).toMatchObject({ hook: 'missing', level: 40 });
  });

  it('runs every hook in parallel and never logs the secrets or the arguments', async () => {
    const { log, records, raw } = capture();
    const hooks = new RoleChangeHooks(
      {
        ...config,
        hooks: {
          onRoleChange: [
            { name: 'a', command: [node, '-e', 'setTimeout(() => {}, 600)', 'token=arg-secret'], timeoutMs: 5000 },
            { name: 'b', command: [node, '-e', 'setTimeout(() => {}, 600)'], timeoutMs: 5000 },
          ],
        },
      },
      log,
      { ...base, PATH: process.env.PATH },
    );
    const began = Date.now();
    const results = await hooks.run(change);
    expect(Date.now() - began).toBeLessThan(1150);
    expect(results.map((r) => r.exitCode)).toEqual([0, 0]);
    expect(records().map((r) => r.epoch)).toEqual([7, 7]);
    expect(raw()).not.toMatch(/secret/);
  });

  it('runs no hook for a new primary the config does not have, and says so', async () => {
    const { log, records } = capture();
    const hooks = new RoleChangeHooks({ ...config, hooks: { onRoleChange: [{ name: 'a', command: [node, '-e', ''], timeoutMs: 5000 }] } }, log, base);
    expect(await hooks.run({ ...change, published: { ...change.published, name: 'intruder' } })).toEqual([]);
    expect(records()).toMatchObject([{ level: 50, msg: 'role-change hooks not run', error: expect.stringMatching(/intruder is not a node of the config/) }]);
  });
});
