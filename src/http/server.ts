import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { describeError } from '../postgres/connection.js';
import { json, type Reply } from './routes.js';
import { bearerAccepted, type HttpSecurity } from './security.js';

// A small read-only HTTP server on node:http, or node:https when given TLS material. It
// shares the agent's event loop, so every handler only reads memory or makes one bounded
// etcd read (1 s deadline): a slow or flooding client can never hold up a tick, and
// nothing here can change the cluster.

export type Handler = () => Promise<Reply> | Reply;

/** Routing as a pure function: GET (and HEAD) on an exact path; the query string is ignored. */
export async function route(routes: Readonly<Record<string, Handler>>, method: string | undefined, url: string | undefined): Promise<Reply> {
  const path = new URL(url ?? '/', 'http://agent').pathname;
  const handler = Object.hasOwn(routes, path) ? routes[path] : undefined;
  if (handler === undefined) return json(404, { error: `no such path: ${path}`, paths: Object.keys(routes) });
  if (method !== 'GET' && method !== 'HEAD') return json(405, { error: `${method ?? '?'} not allowed; use GET` });
  try {
    return await handler();
  } catch (error) {
    return json(500, { error: describeError(error) });
  }
}

export interface HttpServer {
  /** The bound address, or null when not (yet) listening. */
  address(): { host: string; port: number } | null;
  close(): Promise<void>;
}

/** Refused before routing: a stranger learns neither the paths nor the methods. */
export const TOKEN_REQUIRED = json(401, { error: 'a bearer token is required (Authorization: Bearer <token>)' });

const NO_SECURITY: HttpSecurity = { tls: null, token: null };

export function startHttpServer(options: { host: string; port: number; routes: Readonly<Record<string, Handler>>; log: Logger; security?: HttpSecurity }): HttpServer {
  const { log } = options;
  const { tls, token } = options.security ?? NO_SECURITY;
  const answer: RequestListener = (request: IncomingMessage, response: ServerResponse) => {
    const reply = token !== null && !bearerAccepted(request.headers.authorization, token) ? Promise.resolve(TOKEN_REQUIRED) : route(options.routes, request.method, request.url);
    void reply.then((reply) => {
      const headers: Record<string, string | number> = { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body), 'cache-control': 'no-store' };
      if (reply.status === 405) headers.allow = 'GET, HEAD';
      if (reply.status === 401) headers['www-authenticate'] = 'Bearer';
      response.writeHead(reply.status, headers);
      response.end(request.method === 'HEAD' ? undefined : reply.body);
    }).catch(() => response.destroy());
  };
  // With clientCa the handshake itself refuses a client without a certificate that CA signed.
  const server: Server = tls
    ? createTlsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, answer)
    : createServer(answer);
  // Idle keep-alive sockets must not hold up close() at shutdown.
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  // A port that cannot be bound is reported once; the agent runs on without HTTP.
  server.once('error', (error) => log.error({ host: options.host, port: options.port, error: describeError(error) }, 'http server failed; the agent runs on without it'));
  server.on('error', () => undefined);
  let closed = false;
  server.listen(options.port, options.host, () => {
    // Stopped before the bind completed: release the port at once.
    if (closed) server.close();
    else log.info({ host: options.host, port: options.port, tls: tls !== null, clientCertificate: tls?.clientCa !== undefined, token: token !== null }, 'http server listening');
  });
  server.unref();
  return {
    address() {
      const address = server.address() as AddressInfo | null;
      return address === null || typeof address === 'string' ? null : { host: address.address, port: address.port };
    },
    close() {
      closed = true;
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
