import { expect } from 'vitest';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** What a server answered to one request. */
export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface Ask {
  scheme?: 'https' | 'http';
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** The CA that signed the server's certificate (PEM); the name checked is `localhost`. */
  ca?: Buffer | string;
  /** A client certificate and its key (PEM). */
  client?: { cert: Buffer | string; key: Buffer | string };
}

/** One GET (by default) on a fresh connection to 127.0.0.1; rejects when the connection or the TLS handshake is refused. */
export function ask(port: number, { scheme = 'https', method = 'GET', path = '/health', headers = {}, ca, client }: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { host: '127.0.0.1', port, method, path, headers, agent: false as const };
    const req = scheme === 'https' ? httpsRequest({ ...options, ...(ca ? { ca } : {}), servername: 'localhost', ...(client ?? {}) }) : httpRequest(options);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * How a refused TLS handshake shows at the client: the server's alert (certificate
 * required, unknown CA), or the reset that follows it when the client was still writing.
 * Either way no response. Not ECONNREFUSED: the port is open.
 */
export const HANDSHAKE_REFUSED = { code: expect.stringMatching(/^(ERR_SSL_TLSV1\d?_ALERT_[A-Z_]+|ECONNRESET|EPIPE)$/) };
