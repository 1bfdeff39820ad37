import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { dockerEndpointsOf, dockerOptionsOf } from '../../../src/docker/endpoint.js';
import { engineFor } from '../../../src/docker/engine.js';
import { configProblemsOf } from '../../support/config-problems.js';

// A remote Docker engine is reached over mutual TLS only (issue 15, item 6), even when the
// config schema is bypassed: anyone on the path of a plain-http engine could start, stop
// and exec in the database containers. No engine is contacted here: building a client
// does not connect.

const dir = mkdtempSync(join(tmpdir(), 'pgf-docker-tls-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const CA = '-----BEGIN CERTIFICATE-----\nthe CA\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nthe agent\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nthe agent key\n-----END PRIVATE KEY-----\n';
const files = () => ({ ca: file('ca.pem', CA), cert: file('cert.pem', CERT), key: file('key.pem', KEY) });

interface Modem {
  protocol: string;
  host?: string;
  port?: number;
  socketPath?: string;
  ca?: unknown;
  cert?: unknown;
  key?: unknown;
}
const modemOf = (engine: unknown) => (engine as { modem: Modem }).modem;

/** The one message of the ConfigError `run` throws (its problems, a line each). */
const refusal = (run: () => unknown): string => configProblemsOf(run).join('\n');

describe('engineFor: a remote engine', () => {
  it('over https: given the CONTENTS of ca, cert and key, not their paths', () => {
    const modem = modemOf(engineFor({ host: '10.0.0.5', port: 2376, protocol: 'https', ...files() }));
    expect(modem).toMatchObject({ protocol: 'https', host: '10.0.0.5', port: 2376 });
    expect([String(modem.ca), String(modem.cert), String(modem.key)]).toEqual([CA, CERT, KEY]);
  });

  it.each([
    ['plain http', { protocol: 'http' as const, ...files() }],
    ['no protocol', files()],
  ])('over %s: refused, naming the engine', (_name, endpoint) => {
    expect(refusal(() => engineFor({ host: '10.0.0.5', port: 2375, ...endpoint }))).toBe(
      'docker: the engine at 10.0.0.5:2375 is remote: it is reached over TLS only (protocol "https" with ca, cert and key)',
    );
  });

  it.each(['ca', 'cert', 'key'] as const)('over https without %s: refused, naming it', (missing) => {
    const endpoint = { host: '10.0.0.5', port: 2376, protocol: 'https' as const, ...files(), [missing]: undefined };
    expect(refusal(() => engineFor(endpoint))).toBe(`docker: the engine at 10.0.0.5:2376 needs ${missing} (a file) for mutual TLS`);
  });

  it('a file that cannot be read: refused, naming it', () => {
    const missing = join(dir, 'nope.pem');
    expect(refusal(() => engineFor({ host: '10.0.0.5', port: 2376, protocol: 'https', ...files(), key: missing }))).toBe(`docker: cannot read key ${missing} for the engine at 10.0.0.5:2376: ENOENT`);
  });
});

describe('engineFor: the local engine', () => {
  it('keeps the socket path as it is', () => {
    expect(modemOf(engineFor({ socketPath: '/run/pgf-host-1/docker.sock' })).socketPath).toBe('/run/pgf-host-1/docker.sock');
  });
});

describe('the local engine and DOCKER_HOST (dockerode reads it for an endpoint without a host)', () => {
  const PLAIN = 'docker: DOCKER_HOST names a remote engine without mutual TLS (it needs DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH); give the engine in the config (docker.host, protocol "https", ca, cert, key), or unset DOCKER_HOST';

  it.each([
    ['tcp, plain http', { DOCKER_HOST: 'tcp://10.0.0.5:2375' }],
    ['a bare host:port', { DOCKER_HOST: '10.0.0.5:2375' }],
    ['https without a client certificate', { DOCKER_HOST: 'tcp://10.0.0.5:2376' }],
    ['ssh', { DOCKER_HOST: 'ssh://me@10.0.0.5' }],
  ])('DOCKER_HOST over %s: refused for the default endpoint', (_what, env) => {
    expect(refusal(() => dockerOptionsOf({}, env))).toBe(PLAIN);
  });

  it('a socketPath in the config wins over DOCKER_HOST: no call leaves for the remote engine', async () => {
    const previous = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = 'tcp://10.0.0.5:2375';
    try {
      const Docker = (await import('dockerode')).default;
      const modem = modemOf(new Docker(dockerOptionsOf({ socketPath: '/run/pgf-host-2/docker.sock' })));
      expect(modem.host).toBeUndefined();
      expect(modem.socketPath).toBe('/run/pgf-host-2/docker.sock');
    } finally {
      if (previous === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = previous;
    }
  });

  it.each([
    ['unset', {}],
    ['a unix socket', { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }],
    ['mutual TLS', { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/etc/docker/client' }],
  ])('DOCKER_HOST %s: the default endpoint is left to it', (_what, env) => {
    expect(dockerOptionsOf({}, env)).toBeUndefined();
  });
});

describe('dockerEndpointsOf', () => {
  it('lists every engine the agent may call: each node, and the PgBouncers', () => {
    const remote = { host: '10.0.0.5', port: 2376, protocol: 'https', ca: '/ca', cert: '/cert', key: '/key' };
    const config = configSchema.parse({
      nodes: [
        { name: 'a', container: 'a', host: 'a' },
        { name: 'b', container: 'b', host: 'b', docker: remote },
      ],
      endpoints: { write: { container: 'w', host: 'w', docker: { socketPath: '/w.sock' } }, read: { container: 'r', host: 'r' } },
    });
    expect(dockerEndpointsOf(config)).toEqual([{}, remote, { socketPath: '/w.sock' }, {}]);
  });
});
