import type pg from 'pg';
import { connect, discard } from '../postgres/connection.js';
import type { LabAccess } from './lab-access.js';
import { BackgroundLoop } from './background-loop.js';

/**
 * Watches every node directly, independently of the agents: at each sample, which
 * nodes accept writes (are out of recovery). Two at once is split brain.
 */
export class SplitBrainMonitor extends BackgroundLoop {
  readonly overlaps: Array<{ at: number; nodes: string[] }> = [];
  samples = 0;

  constructor(private readonly access: LabAccess) {
    super();
  }

  protected async loop(): Promise<void> {
    const clients = new Map<string, pg.Client | null>();
    const nodes = this.access.config.nodes;
    while (this.running) {
      const writable = await Promise.all(
        nodes.map(async (node) => {
          try {
            let client = clients.get(node.name) ?? null;
            if (!client) {
              client = await connect(this.access.endpoint(node), { timeoutMs: 300, applicationName: 'pg-failover-drill-watch' });
              clients.set(node.name, client);
            }
            const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
            return rows[0]?.r === false ? node.name : null;
          } catch {
            const client = clients.get(node.name);
            if (client) discard(client);
            clients.set(node.name, null);
            return null;
          }
        }),
      );
      this.samples++;
      const primaries = writable.filter((n): n is string => n !== null);
      if (primaries.length > 1) this.overlaps.push({ at: Date.now(), nodes: primaries });
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const client of clients.values()) if (client) discard(client);
  }
}
