import type pg from 'pg';
import { connect, discard } from '../postgres/connection.js';
import type { LabAccess } from './lab-access.js';
import { BackgroundLoop } from './background-loop.js';

/** What one probe of one node said: writable, read-only (in recovery), down (refused), or no answer. */
export type NodeAnswer = 'writable' | 'read-only' | 'down' | 'unknown';

export interface Sample {
  at: number;
  answers: Record<string, NodeAnswer>;
}

export interface WritablePeriod {
  node: string;
  from: number;
  to: number;
}

export interface Overlap {
  nodes: [string, string];
  from: number;
  to: number;
}

/**
 * A node's writable periods: from a sample where it accepted writes to the last such
 * sample before it was seen read-only or down. A probe that got no answer (a frozen
 * or unreachable server) does not end a period: the node may still take writes.
 */
export function writablePeriods(samples: Sample[]): WritablePeriod[] {
  const periods: WritablePeriod[] = [];
  const open = new Map<string, WritablePeriod>();
  for (const { at, answers } of samples) {
    for (const [node, answer] of Object.entries(answers)) {
      const current = open.get(node);
      if (answer === 'writable') {
        if (current) current.to = at;
        else open.set(node, { node, from: at, to: at });
      } else if (answer !== 'unknown' && current) {
        periods.push(current);
        open.delete(node);
      }
    }
  }
  periods.push(...open.values());
  return periods.sort((a, b) => a.from - b.from);
}

/** Split brain: two nodes whose writable periods overlap, even if no single sample saw both at once. */
export function splitBrainOverlaps(samples: Sample[]): Overlap[] {
  const periods = writablePeriods(samples);
  const overlaps: Overlap[] = [];
  for (let i = 0; i < periods.length; i++) {
    for (let j = i + 1; j < periods.length; j++) {
      const a = periods[i]!;
      const b = periods[j]!;
      if (a.node === b.node) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      if (from <= to) overlaps.push({ nodes: [a.node, b.node], from, to });
    }
  }
  return overlaps;
}

/** A refused connection or a server shutting down takes no writes; anything else might. */
export function answerOfError(error: unknown): NodeAnswer {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : '';
  return code === 'ECONNREFUSED' || code.startsWith('57P') ? 'down' : 'unknown';
}

/**
 * Watches every node directly, independently of the agents: 50 times a second, which
 * nodes accept writes (are out of recovery). The samples are kept, and judged by
 * `splitBrainOverlaps` once the round is over.
 */
export class SplitBrainMonitor extends BackgroundLoop {
  readonly samples: Sample[] = [];

  constructor(private readonly access: LabAccess) {
    super();
  }

  get overlaps(): Overlap[] {
    return splitBrainOverlaps(this.samples);
  }

  protected async loop(): Promise<void> {
    const clients = new Map<string, pg.Client | null>();
    const nodes = this.access.config.nodes;
    while (this.running) {
      const answers = await Promise.all(
        nodes.map(async (node): Promise<[string, NodeAnswer]> => {
          try {
            let client = clients.get(node.name) ?? null;
            if (!client) {
              client = await connect(this.access.endpoint(node), { timeoutMs: 300, applicationName: 'pg-failover-drill-watch' });
              clients.set(node.name, client);
            }
            const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
            return [node.name, rows[0]?.r === false ? 'writable' : 'read-only'];
          } catch (error) {
            const client = clients.get(node.name);
            if (client) discard(client);
            clients.set(node.name, null);
            return [node.name, answerOfError(error)];
          }
        }),
      );
      this.samples.push({ at: Date.now(), answers: Object.fromEntries(answers) });
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const client of clients.values()) if (client) discard(client);
  }
}
