import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { failoverCli } from '../support/cli.js';
import { eventually } from '../support/eventually.js';
import { ask, HANDSHAKE_REFUSED } from '../support/https-ask.js';
import { freeLoopbackPort } from '../support/loopback-port.js';

// `failover agent` (the built CLI, dist/) with the HTTP API behind TLS, a client
// certificate and a bearer token (issue 15, item 6): the files are read before anything
// starts, and the running agent serves what its config says. No Docker and no etcd: the
// agent runs against an etcd that does not answer and a Docker socket that is not there,
// which is enough for it to serve /health (503: no etcd) and /metrics.

const TOKEN = 'integration-token-0f3a9c1e5b7d';
const dir = mkdtempSync(join(tmpdir(), 'pgf-agent-http-tls-'));
const tls = join(dir, 'tls');
const pem = (name: string) => readFileSync(join(tls, name));
/** No config, etcd or cluster from the environment of whoever runs the tests; passwords that are not the lab's old ones. */
const ENV = { FAILOVER_CONFIG: '', FAILOVER_ETCD: '', FAILOVER_CLUSTER: '', POSTGRES_PASSWORD: 'pw-a81c', REPLICATION_PASSWORD: 'pw-77d2', FAILOVER_LOG_LEVEL: 'info' };

beforeAll(() => {
  const script = new URL('../../scripts/tls', import.meta.url).pathname;
  execFileSync(script, ['ca', tls]);
  execFileSync(script, ['server', tls, 'agent', '127.0.0.1', 'localhost']);
  execFileSync(script, ['client', tls, 'scraper', 'prometheus']);
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
});


/** A config for one agent whose etcd and Docker do not answer; relative paths resolve against `dir`. */
function configFile(extra: object, name = `${Math.random().toString(36).slice(2)}.json`): string {
  const path = join(dir, name);
  const node = { name: 'a', container: 'pgf-http-tls-none', host: '127.0.0.1', port: 1, docker: { socketPath: join(dir, 'no-docker.sock') } };
  writeFileSync(path, JSON.stringify({ etcd: { endpoints: ['http://127.0.0.1:1'] }, nodes: [node], ...extra }));
  return path;
}

describe('failover agent: the files its config names are read before it starts', () => {
  it.each<[string, object, () => string | RegExp]>([
    ['a missing certificate', { http: { port: 18_008, tls: { cert: 'tls/nope.crt', key: 'tls/agent.key' } } }, () => `config: http.tls.cert: cannot read ${join(dir, 'tls/nope.crt')}: ENOENT`],
    ['a key that is not the certificate\'s', { http: { port: 18_008, tls: { cert: 'tls/agent.crt', key: 'tls/scraper.key' } } }, () => /^config: http\.tls: the certificate .*agent\.crt and key .*scraper\.key do not load: .*mismatch/],
    ['a token variable that is not set', { http: { port: 18_008, tokenEnv: 'PGF_NO_SUCH_TOKEN' } }, () => 'config: http.tokenEnv: environment variable PGF_NO_SUCH_TOKEN is not set'],
    ['a remote Docker engine whose key cannot be read', { nodes: [{ name: 'a', container: 'a', host: 'a', docker: { host: '10.0.0.5', port: 2376, protocol: 'https', ca: 'tls/ca.crt', cert: 'tls/scraper.crt', key: 'tls/nope.key' } }] }, () => `docker: cannot read key ${join(dir, 'tls/nope.key')} for the engine at 10.0.0.5:2376: ENOENT`],
  ])('%s: one line, exit 2', async (_name, extra, line) => {
    const result = await failoverCli(['agent', '--config', configFile(extra), '--id', 'bad-files'], ENV, 30_000);
    const expected = line();
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    if (typeof expected === 'string') expect(lines[0]).toBe(`failover: ${expected}`);
    else expect(lines[0]).toMatch(new RegExp(`^failover: ${expected.source.slice(1)}`));
  });
});

describe('failover agent: HTTPS with a client certificate and a token', () => {
  let agent: ChildProcess | null = null;
  afterEach(async () => {
    if (agent && agent.exitCode === null) {
      const exited = new Promise((r) => agent!.once('exit', r));
      agent.kill('SIGTERM');
      await exited;
    }
    agent = null;
  });

  it('refuses plain HTTP, a client without a certificate and a request without the token; serves the rest read-only; never logs the token', async () => {
    const port = await freeLoopbackPort();
    const config = configFile({ http: { host: '127.0.0.1', port, tls: { cert: 'tls/agent.crt', key: 'tls/agent.key', clientCa: 'tls/ca.crt' }, tokenFile: 'token' } });
    let output = '';
    agent = spawn('node', ['dist/cli/main.js', 'agent', '--config', config, '--id', 'tls-agent'], { env: { ...process.env, ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually(async () => output.includes('"msg":"http server listening"'), 'the agent serving HTTP', 20_000);

    const trusted = { ca: pem('ca.crt') };
    const scraper = { ...trusted, client: { cert: pem('scraper.crt'), key: pem('scraper.key') } };
    const bearer = { authorization: `Bearer ${TOKEN}` };
    await expect(ask(port, { scheme: 'http', headers: bearer })).rejects.toMatchObject({ code: 'ECONNRESET' });
    await expect(ask(port, { ...trusted, headers: bearer })).rejects.toMatchObject(HANDSHAKE_REFUSED);
    const noToken = await ask(port, scraper);
    expect([noToken.status, JSON.parse(noToken.body)]).toEqual([401, { error: 'a bearer token is required (Authorization: Bearer <token>)' }]);
    expect((await ask(port, { ...scraper, headers: { authorization: `Bearer ${TOKEN}0` } })).status).toBe(401);
    // Served: /health is 503 here only because this agent has no etcd; its body is the agent's.
    const health = await ask(port, { ...scraper, headers: bearer });
    expect([health.status, JSON.parse(health.body).agent]).toEqual([503, 'tls-agent']);
    expect((await ask(port, { ...scraper, path: '/metrics', headers: bearer })).status).toBe(200);
    const post = await ask(port, { ...scraper, method: 'POST', path: '/primary', headers: bearer });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);

    expect(output).toMatch(/"tls":true,"clientCertificate":true,"token":true,"msg":"http server listening"/);
    expect(output).not.toContain(TOKEN);
  });
});
