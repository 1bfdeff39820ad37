import type pg from 'pg';
import { connect, discard } from '../postgres/connection.js';
import type { ClusterStore } from '../dcs/store.js';
import type { LabAccess } from './lab-access.js';
import { BackgroundLoop } from './background-loop.js';

export interface Ack {
  seq: number;
  node: string;
  at: number;
}

/**
 * Commits numbered rows through the published primary, as an application would:
 * on an error it re-reads the published primary and reconnects. Every
 * acknowledged row is remembered, to be read back after the round.
 */
export class Writer extends BackgroundLoop {
  readonly acks: Ack[] = [];
  private seq = 0;

  constructor(
    private readonly access: LabAccess,
    private readonly store: ClusterStore,
    private readonly round: number,
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    let client: pg.Client | null = null;
    let node: string | null = null;
    while (this.running) {
      try {
        if (client === null) {
          const published = await this.store.published();
          if (!published) throw new Error('no published primary');
          node = published.name;
          client = await connect(this.access.endpoint(this.access.node(node)), { timeoutMs: 1000, applicationName: 'pg-failover-drill' });
        }
        const seq = ++this.seq;
        await client.query('INSERT INTO drill_rows (round, seq) VALUES ($1, $2)', [this.round, seq]);
        this.acks.push({ seq, node: node!, at: Date.now() });
        await sleep(5);
      } catch {
        if (client) discard(client);
        client = null;
        await sleep(10);
      }
    }
    if (client) discard(client);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
