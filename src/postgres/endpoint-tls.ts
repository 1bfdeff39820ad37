import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config/load.js';
import type { PostgresTlsConfig } from '../config/schema.js';
import type { EndpointTls } from './connection.js';

/**
 * The config's PostgreSQL TLS as endpoints carry it: the CA file is read here, once, when
 * an agent or a command starts, not at every probe. A file that cannot be read or holds
 * no certificate stops the start with one line naming it; found later, it would turn
 * every probe into a failure that looks like a dead node.
 */
export function loadEndpointTls(tls: PostgresTlsConfig | undefined): EndpointTls | undefined {
  if (tls === undefined) return undefined;
  if (tls.ca === undefined) return { mode: tls.mode };
  let ca: string;
  try {
    ca = readFileSync(tls.ca, 'utf8');
  } catch (error) {
    throw new ConfigError([`config: tls.ca: cannot read ${tls.ca} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  try {
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    createSecureContext({ ca });
  } catch {
    throw new ConfigError([`config: tls.ca: ${tls.ca} holds no PEM certificate`]);
  }
  return { mode: tls.mode, ca };
}
