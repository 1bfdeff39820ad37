import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/load.js';
import type { HttpConfig } from '../config/schema.js';

// Who may read the agent's HTTP API (issue 15, item 6): TLS with the agent's certificate,
// optionally a client certificate signed by a given CA, optionally a bearer token. The
// files are read once at start, so a wrong path is one clear line before the agent runs,
// not a server that silently fails to come up later.

export interface HttpSecurity {
  /** Contents, not paths: cert and key of the agent, and the CA client certificates must chain to. */
  tls: { cert: Buffer; key: Buffer; clientCa?: Buffer } | null;
  /** The bearer token every request must carry; never logged, never in a reply. */
  token: string | null;
}

export type HttpSecurityConfig = Partial<Pick<HttpConfig, 'tls' | 'tokenFile' | 'tokenEnv'>>;

function readConfigFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([`config: ${setting}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`]);
  }
}

function loadTls(tls: NonNullable<HttpConfig['tls']>): NonNullable<HttpSecurity['tls']> {
  const cert = readConfigFile('http.tls.cert', tls.cert);
  const key = readConfigFile('http.tls.key', tls.key);
  const clientCa = tls.clientCa === undefined ? undefined : readConfigFile('http.tls.clientCa', tls.clientCa);
  if (clientCa !== undefined) {
    // OpenSSL skips a CA bundle it cannot parse without a word: every client would then be refused for no visible reason.
    try {
      new X509Certificate(clientCa);
    } catch {
      throw new ConfigError([`config: http.tls.clientCa: ${tls.clientCa} is not a PEM certificate`]);
    }
  }
  try {
    createSecureContext({ cert, key, ...(clientCa ? { ca: clientCa } : {}) });
  } catch (error) {
    // OpenSSL's reason (no start line, key values mismatch) names no key material.
    throw new ConfigError([`config: http.tls: the certificate ${tls.cert} and key ${tls.key} do not load: ${(error as Error).message}`]);
  }
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

function loadToken(config: HttpSecurityConfig, env: NodeJS.ProcessEnv): string | null {
  if (config.tokenFile !== undefined) {
    const token = readConfigFile('http.tokenFile', config.tokenFile).toString('utf8').trim();
    if (token === '') throw new ConfigError([`config: http.tokenFile: ${config.tokenFile} is empty`]);
    return token;
  }
  if (config.tokenEnv !== undefined) {
    const token = (env[config.tokenEnv] ?? '').trim();
    if (token === '') throw new ConfigError([`config: http.tokenEnv: environment variable ${config.tokenEnv} is not set`]);
    return token;
  }
  return null;
}

/** Reads what `http` names (files, the token's variable); a ConfigError of one line naming the setting otherwise. */
export function loadHttpSecurity(config: HttpSecurityConfig, env: NodeJS.ProcessEnv = process.env): HttpSecurity {
  return { tls: config.tls === undefined ? null : loadTls(config.tls), token: loadToken(config, env) };
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Whether an Authorization header carries the token, as `Bearer <token>` (the scheme in
 * any case). Both sides are hashed first so that timingSafeEqual compares equal-length
 * buffers: the time taken tells neither how much of the token matched nor its length.
 */
export function bearerAccepted(header: string | undefined, token: string): boolean {
  const match = /^bearer +(\S+) *$/i.exec(header ?? '');
  if (match === null) return false;
  return timingSafeEqual(digest(match[1]!), digest(token));
}
