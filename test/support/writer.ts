import { connect, discard } from '../../src/postgres/connection.js';
import { POSTGRES_PASSWORD, type TestCluster } from './cluster.js';
import type { RunningAgents } from './agents.js';

export interface SteadyWriter {
  /** Sequence numbers whose INSERT was acknowledged (committed), in order. */
  readonly acked: number[];
  stop(): Promise<void>;
}

/**
 * Commits numbered rows into `table (seq int PRIMARY KEY)` through the published
 * primary, following it like an application: on any error it reconnects to whatever
 * etcd publishes then.
 */
export function steadyWriter(c: TestCluster, running: RunningAgents, table = 'steady'): SteadyWriter {
  const acked: number[] = [];
  let stop = false;
  const done = (async () => {
    let seq = 0;
    let client: Awaited<ReturnType<typeof connect>> | null = null;
    while (!stop) {
      try {
        if (!client) {
          const published = await running.store.published();
          if (!published) throw new Error('nothing published');
          client = await connect({ host: '127.0.0.1', port: c.node(published.name).port, user: 'postgres', password: POSTGRES_PASSWORD, database: 'postgres' }, { timeoutMs: 1000 });
        }
        const n = ++seq;
        await client.query(`INSERT INTO ${table} (seq) VALUES ($1)`, [n]);
        acked.push(n);
      } catch {
        if (client) discard(client);
        client = null;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    if (client) discard(client);
  })();
  return {
    acked,
    async stop() {
      stop = true;
      await done;
    },
  };
}
