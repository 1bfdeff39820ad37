import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/load.js';

// The config rules of issue 15, item 6: who may reach the agent's HTTP API, and over what
// a remote Docker engine is reached. One row per rule; a refusal is one line naming the path.

const dir = mkdtempSync(join(tmpdir(), 'pgf-config-http-'));
function load(content: object) {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ nodes: [{ name: 'a', container: 'a', host: 'a' }], ...content }));
  return loadConfig({ file: path }, {});
}
const withDocker = (docker: object) => ({ nodes: [{ name: 'a', container: 'a', host: 'a', docker }] });

function problems(content: object): string[] {
  try {
    load(content);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const remote = { host: '10.0.0.5', port: 2376, protocol: 'https', ca: '/tls/ca.crt', cert: '/tls/agent.crt', key: '/tls/agent.key' };

describe('http: who may reach the API', () => {
  it.each([
    ['a non-loopback host with neither a client certificate nor a token', { http: { host: '0.0.0.0', port: 8008 } }, 'config: http.host: serving 0.0.0.0 (not loopback) needs tls.clientCa or a bearer token (tokenFile/tokenEnv) over tls; set allowUnauthenticated: true to serve it openly on purpose'],
    ['TLS without clientCa on a non-loopback host (encryption is not authentication)', { http: { host: '10.0.0.7', port: 8008, tls: { cert: '/c.crt', key: '/c.key' } } }, 'config: http.host: serving 10.0.0.7 (not loopback) needs tls.clientCa or a bearer token (tokenFile/tokenEnv) over tls; set allowUnauthenticated: true to serve it openly on purpose'],
    ['a bearer token over plain http on a non-loopback host (it would travel in clear)', { http: { host: '0.0.0.0', port: 8008, tokenFile: '/run/secrets/http-token' } }, 'config: http.host: serving 0.0.0.0 (not loopback) needs tls.clientCa or a bearer token (tokenFile/tokenEnv) over tls; set allowUnauthenticated: true to serve it openly on purpose'],
    ['tokenFile and tokenEnv together', { http: { port: 8008, tokenFile: '/t', tokenEnv: 'T' } }, 'config: http.tokenFile: give tokenFile or tokenEnv, not both'],
    ['tls without its key', { http: { port: 8008, tls: { cert: '/c.crt' } } }, /^config: http\.tls\.key: /],
    ['an unknown key under http.tls', { http: { port: 8008, tls: { cert: '/c.crt', key: '/c.key', verify: true } } }, /^config: http\.tls: .*verify/],
  ])('refuses %s, naming the path', (_name, content, line) => {
    const found = problems(content);
    expect(found).toHaveLength(1);
    if (typeof line === 'string') expect(found[0]).toBe(line);
    else expect(found[0]).toMatch(line);
  });

  it.each([
    ['loopback IPv4 with nothing', { host: '127.0.0.1' }],
    ['loopback IPv6 with nothing', { host: '::1' }],
    ['localhost with nothing', { host: 'localhost' }],
    ['a non-loopback host with a token file over TLS', { host: '0.0.0.0', tls: { cert: '/c.crt', key: '/c.key' }, tokenFile: '/run/secrets/http-token' }],
    ['a non-loopback host with a token from the environment over TLS', { host: '0.0.0.0', tls: { cert: '/c.crt', key: '/c.key' }, tokenEnv: 'FAILOVER_HTTP_TOKEN' }],
    ['a non-loopback host requiring a client certificate', { host: '0.0.0.0', tls: { cert: '/c.crt', key: '/c.key', clientCa: '/ca.crt' } }],
    ['a non-loopback host served openly on purpose', { host: '0.0.0.0', allowUnauthenticated: true }],
  ])('accepts %s', (_name, http) => {
    expect(problems({ http: { port: 8008, ...http } })).toEqual([]);
  });

  it('defaults to loopback and to refusing the unauthenticated', () => {
    expect(load({ http: { port: 8008 } }).http).toEqual({ host: '127.0.0.1', port: 8008, allowUnauthenticated: false });
  });

  it('resolves relative certificate, key, CA and token paths against the config file', () => {
    const http = load({ http: { port: 8008, tokenFile: 'secrets/token', tls: { cert: 'tls/agent.crt', key: 'tls/agent.key', clientCa: 'tls/ca.crt' } } }).http;
    expect(http).toMatchObject({ tokenFile: join(dir, 'secrets/token'), tls: { cert: join(dir, 'tls/agent.crt'), key: join(dir, 'tls/agent.key'), clientCa: join(dir, 'tls/ca.crt') } });
  });
});

describe('docker: a remote engine over mutual TLS only', () => {
  it.each([
    ['a remote engine over plain http', { ...remote, protocol: 'http' }, ['config: nodes.0.docker.protocol: a remote Docker engine is reached over TLS only: set protocol "https" with ca, cert and key']],
    ['a remote engine with no protocol', { host: '10.0.0.5', port: 2375 }, [
      'config: nodes.0.docker.protocol: a remote Docker engine is reached over TLS only: set protocol "https" with ca, cert and key',
      'config: nodes.0.docker.ca: a remote Docker engine needs ca (a file path) for mutual TLS',
      'config: nodes.0.docker.cert: a remote Docker engine needs cert (a file path) for mutual TLS',
      'config: nodes.0.docker.key: a remote Docker engine needs key (a file path) for mutual TLS',
    ]],
    ['https without the CA', { ...remote, ca: undefined }, ['config: nodes.0.docker.ca: a remote Docker engine needs ca (a file path) for mutual TLS']],
    ['https without a client certificate', { ...remote, cert: undefined }, ['config: nodes.0.docker.cert: a remote Docker engine needs cert (a file path) for mutual TLS']],
    ['https without the client key', { ...remote, key: undefined }, ['config: nodes.0.docker.key: a remote Docker engine needs key (a file path) for mutual TLS']],
  ])('refuses %s, naming the path', (_name, docker, lines) => {
    expect(problems(withDocker(docker))).toEqual(lines);
  });

  it('applies the same rule to a PgBouncer endpoint', () => {
    expect(problems({ endpoints: { write: { container: 'pgbouncer', host: 'pgbouncer', docker: { ...remote, protocol: 'http' } } } })).toEqual([
      'config: endpoints.write.docker.protocol: a remote Docker engine is reached over TLS only: set protocol "https" with ca, cert and key',
    ]);
  });

  it.each([
    ['the local socket (the default)', {}],
    ['another local socket', { socketPath: '/run/pgf-host-1/docker.sock' }],
    ['a remote engine over https with ca, cert and key', remote],
  ])('accepts %s', (_name, docker) => {
    expect(problems(withDocker(docker))).toEqual([]);
  });

  it('resolves relative ca, cert and key paths against the config file', () => {
    const sub = join(dir, 'config');
    mkdirSync(sub, { recursive: true });
    const path = join(sub, 'remote.json');
    writeFileSync(path, JSON.stringify(withDocker({ ...remote, ca: '.lab/tls/ca.crt', cert: '.lab/tls/agent.crt', key: '.lab/tls/agent.key' })));
    // A file in a config/ folder names paths as a person at the repository root would.
    expect(loadConfig({ file: path }, {}).nodes[0]?.docker).toMatchObject({ ca: join(dir, '.lab/tls/ca.crt'), cert: join(dir, '.lab/tls/agent.crt'), key: join(dir, '.lab/tls/agent.key') });
  });
});
