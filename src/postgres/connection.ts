import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import pg from 'pg';

/** libpq's sslmode values the config accepts (issue 15): prefer and allow are left out on purpose. */
export type SslMode = 'verify-full' | 'verify-ca' | 'require' | 'disable';

export interface EndpointTls {
  mode: SslMode;
  /** The CA certificate(s) as PEM, read once from the config's file (not per connection). */
  ca?: string | undefined;
}

export interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tls?: EndpointTls | undefined;
}

/**
 * node-postgres' `ssl` option with libpq's sslmode semantics:
 * - verify-full: the chain must lead to `ca` and the certificate must name the host
 *   connected to (a DNS SAN for a name, an IP SAN for an address);
 * - verify-ca: the chain must lead to `ca`; any host name;
 * - require: encrypted, nothing verified (libpq would verify when a root file exists;
 *   here require always means "no verification", say verify-ca for that);
 * - disable (or no tls): plain, no SSLRequest at all.
 * A server that refuses the SSLRequest fails the connect under every mode but disable:
 * no mode falls back to plain text.
 */
export function sslOptionsOf(endpoint: Pick<Endpoint, 'host' | 'tls'>): false | ConnectionOptions {
  const tls = endpoint.tls;
  if (!tls || tls.mode === 'disable') return false;
  if (tls.mode === 'require') return { rejectUnauthorized: false };
  if (tls.ca === undefined) throw new Error(`sslmode ${tls.mode} needs a CA certificate`);
  const host = endpoint.host;
  return {
    ca: tls.ca,
    rejectUnauthorized: true,
    // Named explicitly rather than left to pg and Node: their fallbacks check an IP host
    // against 'localhost' in some versions. verify-ca checks no name at all.
    checkServerIdentity: tls.mode === 'verify-full' ? (_servername, cert) => checkServerIdentity(host, cert) : () => undefined,
  };
}

export interface ConnectOptions {
  timeoutMs: number;
  /** The client-side limit of one query, when it differs from the connect limit. */
  queryTimeoutMs?: number;
  /**
   * Also sets statement_timeout on the server (the default). PgBouncer refuses a
   * connection that sends it as a startup parameter: pass false through an endpoint.
   */
  serverStatementTimeout?: boolean;
  applicationName?: string;
}

/**
 * Opens a client with bounded connect and query times. Every client gets an `error`
 * listener: an idle connection to a server that dies must not crash the agent.
 */
export async function connect(endpoint: Endpoint, options: ConnectOptions): Promise<pg.Client> {
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: endpoint.password,
    database: endpoint.database,
    ssl: sslOptionsOf(endpoint),
    connectionTimeoutMillis: options.timeoutMs,
    query_timeout: options.queryTimeoutMs ?? options.timeoutMs,
    ...(options.serverStatementTimeout === false ? {} : { statement_timeout: options.queryTimeoutMs ?? options.timeoutMs }),
    application_name: options.applicationName ?? 'pg-failover',
    keepAlive: true,
  });
  client.on('error', () => discard(client));
  try {
    await client.connect();
  } catch (error) {
    discard(client);
    throw error;
  }
  return client;
}

/**
 * Drops a connection without waiting for the server: after a client-side timeout the
 * server may still run the query (or be frozen), so a polite `end()` could hang.
 */
export function discard(client: pg.Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  try {
    stream?.destroy();
  } catch {
    // already gone
  }
  client.end().catch(() => undefined);
}

/** Runs one statement on a fresh connection and closes it. */
export async function withClient<T>(endpoint: Endpoint, options: ConnectOptions, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(endpoint, options);
  try {
    return await use(client);
  } finally {
    discard(client);
  }
}

export function sqlStateOf(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = sqlStateOf(error);
    return code ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
