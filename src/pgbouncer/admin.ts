import pg from 'pg';

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
}

/**
 * PgBouncer's admin console (the `pgbouncer` database): a short-lived connection
 * per call, so a restarted PgBouncer needs no reconnect logic. The console speaks
 * the simple query protocol only, which is what pg uses for queries without parameters.
 */
export class PgBouncerAdmin {
  constructor(private readonly endpoint: AdminEndpoint) {}

  async databases(timeoutMs = 1000): Promise<PoolerDatabase[]> {
    const rows = await this.run<{ name: string; host: string | null; port: number; paused: number; disabled: number }>(['SHOW DATABASES'], timeoutMs);
    return rows
      .filter((r) => r.name !== 'pgbouncer')
      .map((r) => ({ name: r.name, host: r.host, port: Number(r.port), paused: Number(r.paused) === 1, disabled: Number(r.disabled) === 1 }));
  }

  /** RELOAD, PAUSE, RESUME, KILL, RECONNECT…; several run in order on one connection. */
  async command(commands: string[], timeoutMs = 2000): Promise<void> {
    await this.run(commands, timeoutMs);
  }

  /** RESUME that treats "is not paused" as done: resuming is what every caller wants to be true. */
  async resume(database: string, timeoutMs = 1000): Promise<void> {
    try {
      await this.run([`RESUME ${identifier(database)}`], timeoutMs);
    } catch (error) {
      if (!/is not paused/.test(error instanceof Error ? error.message : String(error))) throw error;
    }
  }

  private async run<T extends pg.QueryResultRow>(commands: string[], timeoutMs: number): Promise<T[]> {
    const client = new pg.Client({ ...this.endpoint, database: 'pgbouncer', connectionTimeoutMillis: Math.min(timeoutMs, 2000) });
    client.on('error', () => undefined);
    const timer = setTimeout(() => client.end().catch(() => undefined), timeoutMs);
    try {
      await client.connect();
      let rows: T[] = [];
      for (const sql of commands) rows = (await client.query<T>(sql)).rows;
      return rows;
    } catch (error) {
      throw new Error(`pgbouncer ${this.endpoint.host}:${this.endpoint.port}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      clearTimeout(timer);
      await client.end().catch(() => undefined);
    }
  }
}

/** Admin commands take a bare name; quote anything else the way PgBouncer's parser accepts. */
export function identifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
