import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HttpConfig } from '../../../src/config/schema.js';
import type { ClusterStore } from '../../../src/dcs/store.js';
import { serveAgentHttp } from '../../../src/http/agent-http.js';
import type { HttpServer } from '../../../src/http/server.js';
import { createLogger } from '../../../src/log.js';
import { eventually } from '../../support/eventually.js';
import { ask, HANDSHAKE_REFUSED, type Ask } from '../../support/https-ask.js';
import { view } from '../core/fixtures.js';
import { freeLoopbackPort } from '../../support/loopback-port.js';

// The agent's HTTP API behind TLS, a client certificate and a bearer token (issue 15,
// item 6): a real node:https server on loopback with certificates from scripts/tls, real
// clients. No Docker, no etcd: /health reads the agent's memory only.

const TOKEN = 'c2VjcmV0LXRva2VuLWZvci10aGUtdGVzdHM';
const dir = mkdtempSync(join(tmpdir(), 'pgf-http-tls-'));
const tls = join(dir, 'tls');
const foreign = join(dir, 'foreign');
const pem = (folder: string, name: string) => readFileSync(join(folder, name));

beforeAll(() => {
  const script = resolve(__dirname, '../../../scripts/tls');
  execFileSync(script, ['ca', tls]);
  execFileSync(script, ['server', tls, 'agent', '127.0.0.1', 'localhost']);
  execFileSync(script, ['client', tls, 'scraper', 'prometheus']);
  // A client certificate from another CA: well-formed, but not one the agent trusts.
  execFileSync(script, ['ca', foreign]);
  execFileSync(script, ['client', foreign, 'intruder', 'prometheus']);
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
});

/** A request to the server under test, trusting the test CA; `client` names a certificate from scripts/tls as [folder, name]. */
const request = (port: number, { client, ...rest }: Omit<Ask, 'client' | 'ca'> & { client?: [string, string] } = {}) =>
  ask(port, { ...rest, ca: pem(tls, 'ca.crt'), ...(client ? { client: { cert: pem(client[0], `${client[1]}.crt`), key: pem(client[0], `${client[1]}.key`) } } : {}) });


const agentState = () => ({
  agentId: 'agent-1',
  view: view('agent-1', []),
  isLeader: true,
  leaseHeld: true,
  edges: { etcdOk: true, lastEtcdOkAt: Date.now(), lastEtcdError: null, etcdErrors: 0, dockerErrors: 0 },
});
const noEtcd = {} as ClusterStore;

const SYNC_OFF = { mode: 'off', number: 1, durability: 'required', degradeAfterMs: 10_000 } as const;

describe('the agent HTTP API with TLS, a client certificate and a bearer token', () => {
  const servers: HttpServer[] = [];
  const logged: string[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function serve(http: Partial<HttpConfig>): Promise<number> {
    const log = createLogger('test', 'trace', { write: (line: string) => void logged.push(line) });
    const server = serveAgentHttp({ state: agentState, store: noEtcd, clusterName: 'main', nodes: [], synchronous: SYNC_OFF }, { host: '127.0.0.1', port: await freeLoopbackPort(), ...http }, log);
    servers.push(server);
    const address = await eventually(async () => server.address(), 'the server listening', 2000, 5);
    return address.port;
  }
  const certAndKey = () => ({ cert: join(tls, 'agent.crt'), key: join(tls, 'agent.key') });

  it('with tls: serves HTTPS, and plain HTTP on the same port gets nothing', async () => {
    const port = await serve({ tls: certAndKey() });
    const got = await request(port);
    expect([got.status, JSON.parse(got.body).agent]).toEqual([200, 'agent-1']);
    // The TLS server reads the plain request as a broken handshake and drops the connection.
    await expect(request(port, { scheme: 'http' })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('with tls.clientCa: a client without a certificate, or with one from another CA, is refused; with its certificate it gets 200', async () => {
    const port = await serve({ tls: { ...certAndKey(), clientCa: join(tls, 'ca.crt') } });
    await expect(request(port)).rejects.toMatchObject(HANDSHAKE_REFUSED);
    await expect(request(port, { client: [foreign, 'intruder'] })).rejects.toMatchObject(HANDSHAKE_REFUSED);
    const got = await request(port, { client: [tls, 'scraper'] });
    expect(got.status).toBe(200);
  });

  it('with a token: none or a wrong one is a 401 with a JSON error and no data; the right one is served; it stays read-only', async () => {
    const port = await serve({ tls: certAndKey(), tokenFile: join(dir, 'token') });
    const refusals = await Promise.all([
      request(port),
      request(port, { headers: { authorization: `Bearer ${TOKEN.slice(1)}x` } }),
      request(port, { headers: { authorization: `Bearer ${TOKEN}${TOKEN}` } }),
      request(port, { headers: { authorization: `Basic ${TOKEN}` } }),
      // Unknown paths and other methods are refused before they are routed: no path list for strangers.
      request(port, { path: '/nope' }),
      request(port, { method: 'POST', path: '/health' }),
    ]);
    for (const refused of refusals) {
      expect(refused.status).toBe(401);
      expect(refused.headers['www-authenticate']).toBe('Bearer');
      expect(JSON.parse(refused.body)).toEqual({ error: 'a bearer token is required (Authorization: Bearer <token>)' });
    }
    const good = { authorization: `Bearer ${TOKEN}` };
    const served = await request(port, { headers: good });
    expect([served.status, JSON.parse(served.body).agent]).toEqual([200, 'agent-1']);
    const post = await request(port, { method: 'POST', headers: good });
    expect([post.status, post.headers.allow]).toEqual([405, 'GET, HEAD']);
    const del = await request(port, { method: 'DELETE', path: '/cluster', headers: good });
    expect(del.status).toBe(405);
  });

  it('a token from the environment works over plain HTTP on loopback too', async () => {
    process.env.PGF_TEST_HTTP_TOKEN = TOKEN;
    try {
      const port = await serve({ tokenEnv: 'PGF_TEST_HTTP_TOKEN' });
      expect((await request(port, { scheme: 'http' })).status).toBe(401);
      expect((await request(port, { scheme: 'http', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    } finally {
      delete process.env.PGF_TEST_HTTP_TOKEN;
    }
  });

  it('a client certificate and a token together: both are required', async () => {
    const port = await serve({ tls: { ...certAndKey(), clientCa: join(tls, 'ca.crt') }, tokenFile: join(dir, 'token') });
    await expect(request(port, { headers: { authorization: `Bearer ${TOKEN}` } })).rejects.toMatchObject(HANDSHAKE_REFUSED);
    expect((await request(port, { client: [tls, 'scraper'] })).status).toBe(401);
    expect((await request(port, { client: [tls, 'scraper'], headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('says how it serves when it starts, and never logs the token', async () => {
    logged.length = 0;
    const port = await serve({ tls: { ...certAndKey(), clientCa: join(tls, 'ca.crt') }, tokenFile: join(dir, 'token') });
    await request(port, { client: [tls, 'scraper'], headers: { authorization: `Bearer ${TOKEN}x` } });
    await request(port, { client: [tls, 'scraper'], headers: { authorization: `Bearer ${TOKEN}` } });
    const started = logged.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'http server listening');
    expect(started).toMatchObject({ tls: true, clientCertificate: true, token: true });
    expect(logged.join('')).not.toContain(TOKEN);
  });
});
