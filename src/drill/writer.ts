import type pg from 'pg';
import { connect, discard, type Endpoint } from '../postgres/connection.js';
import type { ClusterStore } from '../dcs/store.js';
import type { LabAccess } from './lab-access.js';
import { BackgroundLoop } from './background-loop.js';
import { sleep } from './wait.js';

export interface Ack {
  seq: number;
  node: string;
  at: number;
}

/**
 * Commits numbered rows as an application would: through the published primary
 * (on an error it re-reads the published primary and reconnects), or through the
 * write endpoint (PgBouncer; on an error it reconnects to the same address). Every
 * acknowledged row is remembered with the node that took it, to be read back after
 * the round.
 */
export class Writer extends BackgroundLoop {
  readonly acks: Ack[] = [];
  /** Errors the writer saw (a failed connect or insert): what an application would have seen. */
  errors = 0;
  /** The longest single insert, connect included: how long a client waited at worst. */
  longestWaitMs = 0;
  /**
   * How long one statement may wait, when a scenario needs longer than the writer's own
   * limits (1 s direct, 15 s through the endpoint): a commit waiting for a synchronous
   * standby is then measured as one long wait, not as timeouts and retries.
   */
  patienceMs: number | null = null;
  private seq = 0;

  constructor(
    private readonly access: LabAccess,
    private readonly store: ClusterStore,
    private readonly round: number,
    /** Write through this fixed address (the write endpoint) instead of the published primary. */
    private readonly via: Endpoint | null = null,
  ) {
    super();
  }

  protected async loop(): Promise<void> {
    let client: pg.Client | null = null;
    let node: string | null = null;
    while (this.running) {
      const began = Date.now();
      try {
        if (client === null) {
          if (this.via) {
            node = null;
            // As an application behind PgBouncer: no statement_timeout at startup (PgBouncer refuses
            // it), and patience while the endpoint holds queries during a promotion.
            client = await connect(this.via, { timeoutMs: 1000, queryTimeoutMs: Math.max(15_000, this.patienceMs ?? 0), serverStatementTimeout: false, applicationName: 'pg-failover-drill' });
          } else {
            const published = await this.store.published();
            if (!published) throw new Error('no published primary');
            node = published.name;
            client = await connect(this.access.endpoint(this.access.node(node)), { timeoutMs: 1000, ...(this.patienceMs === null ? {} : { queryTimeoutMs: this.patienceMs }), applicationName: 'pg-failover-drill' });
          }
        }
        const seq = ++this.seq;
        // Behind PgBouncer the node may change between transactions: each row says which took it.
        const { rows } = await client.query<{ node: string }>(`INSERT INTO drill_rows (round, seq) VALUES ($1, $2) RETURNING current_setting('cluster_name') AS node`, [this.round, seq]);
        this.acks.push({ seq, node: node ?? (rows[0]?.node || 'unknown'), at: Date.now() });
        this.longestWaitMs = Math.max(this.longestWaitMs, Date.now() - began);
        await sleep(5);
      } catch {
        if (this.running) this.errors += 1;
        if (client) discard(client);
        client = null;
        await sleep(10);
      }
    }
    if (client) discard(client);
  }
}

