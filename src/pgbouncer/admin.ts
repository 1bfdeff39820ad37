import pg from 'pg';
import { discard, sslOptionsOf, type EndpointTls } from '../postgres/connection.js';

/** One database as PgBouncer's `SHOW DATABASES` lists it. */
export interface PoolerDatabase {
  name: string;
  host: string | null;
  port: number;
  paused: boolean;
  disabled: boolean;
}

export interface AdminEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  /** As for the nodes (the same CA signs PgBouncer's certificate): verify-full checks it names `host`. */
  tls?: EndpointTls | undefined;
}

export type AdminQuery = <T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string) => Promise<T[]>;

/**
 * PgBouncer's admin console (the `pgbouncer` database): a short-lived connection
 * per call, so a restarted PgBouncer needs no reconnect logic. The console speaks
 * the simple query protocol only, which is what pg uses for queries without parameters.
 */
export class PgBouncerAdmin {
  constructor(private readonly endpoint: AdminEndpoint) {}

  /** RELOAD, PAUSE, RESUME, KILL, RECONNECT…; several run in order on one connection. */
  async command(commands: string[], timeoutMs = 2000): Promise<void> {
    await this.session(async (query) => {
      for (const sql of commands) await query(sql);
    }, timeoutMs);
  }

  /**
   * One connection for a sequence of commands: each new connection costs a SCRAM
   * exchange, and a switch on the failover path should pay for one only.
   */
  async session<T>(use: (query: AdminQuery) => Promise<T>, timeoutMs = 2000): Promise<T> {
    const { host, port, user, password } = this.endpoint;
    const client = new pg.Client({ host, port, user, password, database: 'pgbouncer', ssl: sslOptionsOf(this.endpoint), connectionTimeoutMillis: Math.min(timeoutMs, 2000) });
    client.on('error', () => undefined);
    const timer = setTimeout(() => discard(client), timeoutMs);
    try {
      await client.connect();
      return await use(async <R extends pg.QueryResultRow>(sql: string) => (await client.query<R>(sql)).rows);
    } catch (error) {
      throw new Error(`pgbouncer ${this.endpoint.host}:${this.endpoint.port}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(timer);
      // Not a polite end(): it waits for the server to close the socket, and a wedged PgBouncer
      // never does (seen in CI after KILL with clients waiting). The endpoint switcher runs its
      // sessions one after another, so one that never ended held every later RESUME back.
      discard(client);
    }
  }
}

export async function listDatabases(query: AdminQuery): Promise<PoolerDatabase[]> {
  const rows = await query<{ name: string; host: string | null; port: number; paused: number; disabled: number }>('SHOW DATABASES');
  return rows
    .filter((r) => r.name !== 'pgbouncer')
    .map((r) => ({ name: r.name, host: r.host, port: Number(r.port), paused: Number(r.paused) === 1, disabled: Number(r.disabled) === 1 }));
}

/** Admin commands take a bare name; quote anything else the way PgBouncer's parser accepts. */
export function identifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
