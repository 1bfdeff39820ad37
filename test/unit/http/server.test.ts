import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer, type HttpServer } from '../../../src/http/server.js';
import { createLogger } from '../../../src/log.js';
import { eventually } from '../../support/eventually.js';
import { freeLoopbackPort } from '../../support/loopback-port.js';

// The server itself on loopback: no Docker, no etcd.
const routes = { '/ping': () => ({ status: 200, contentType: 'text/plain', body: 'pong' }) };

function recordingLog() {
  const errors: unknown[] = [];
  const log = createLogger('test', 'silent');
  log.error = ((...args: unknown[]) => void errors.push(args)) as typeof log.error;
  return { log, errors };
}

async function listening(server: HttpServer): Promise<number> {
  const address = await eventually(async () => server.address(), 'the server listening', 2000, 5);
  return address.port;
}

describe('the agent HTTP server', () => {
  const servers: HttpServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('answers GET and HEAD (no body), 405 with Allow, and closes', async () => {
    const { log } = recordingLog();
    const server = startHttpServer({ host: '127.0.0.1', port: await freeLoopbackPort(), routes, log });
    servers.push(server);
    const port = await listening(server);
    const got = await fetch(`http://127.0.0.1:${port}/ping`);
    expect([got.status, await got.text(), got.headers.get('cache-control')]).toEqual([200, 'pong', 'no-store']);
    const head = await fetch(`http://127.0.0.1:${port}/ping`, { method: 'HEAD' });
    expect([head.status, await head.text(), head.headers.get('content-length')]).toEqual([200, '', '4']);
    const post = await fetch(`http://127.0.0.1:${port}/ping`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    await server.close();
    await expect(fetch(`http://127.0.0.1:${port}/ping`)).rejects.toThrow();
  });

  it('a port already taken: logged once, no address, close still resolves', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { log, errors } = recordingLog();
      const server = startHttpServer({ host: '127.0.0.1', port, routes, log });
      servers.push(server);
      await eventually(async () => errors.length > 0, 'the bind error logged', 2000, 5);
      expect(server.address()).toBeNull();
      await server.close();
      expect(errors).toHaveLength(1);
    } finally {
      blocker.close();
    }
  });
});

