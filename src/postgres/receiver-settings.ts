import { receiverTimeoutProblem, settingMs, type DetectionTimings } from '../core/receiver-timeout.js';
import type { Logger } from '../log.js';
import { describeError, withClient, type Endpoint } from './connection.js';

// Each node's wal_receiver_timeout, checked against the detector's timings (the
// partition rule's evidence, see core/receiver-timeout.ts). Every node is checked,
// the primary too: any of them may be a standby after the next promotion.

/** A node that did not answer is tried again after this long. */
const RETRY_MS = 30_000;
/** Settings change with a reload: every node is read again this often. */
const RECHECK_MS = 10 * 60_000;

export interface NodeToCheck {
  node: string;
  endpoint: Endpoint;
}

export interface ReceiverTimeoutResult {
  node: string;
  /** null when the node could not be read. */
  receiverTimeoutMs: number | null;
  /** The warning line, when the value does not fit. */
  problem: string | null;
  error?: string;
}

export async function readReceiverTimeoutMs(endpoint: Endpoint, timeoutMs: number): Promise<number> {
  const rows = await withClient(endpoint, { timeoutMs, applicationName: 'pg-failover-settings' }, async (client) => {
    return (await client.query<{ setting: string; unit: string | null }>(`SELECT setting, unit FROM pg_settings WHERE name = 'wal_receiver_timeout'`)).rows;
  });
  const ms = rows[0] ? settingMs(rows[0].setting, rows[0].unit) : null;
  if (ms === null) throw new Error(`wal_receiver_timeout reads as ${rows[0] ? `${rows[0].setting} ${rows[0].unit ?? ''}`.trim() : 'nothing'}`);
  return ms;
}

/** Reads every node at once; a node that does not answer has an error instead of a verdict. */
export async function checkReceiverTimeouts(nodes: NodeToCheck[], timings: DetectionTimings, timeoutMs: number): Promise<ReceiverTimeoutResult[]> {
  return Promise.all(
    nodes.map(async ({ node, endpoint }): Promise<ReceiverTimeoutResult> => {
      try {
        const receiverTimeoutMs = await readReceiverTimeoutMs(endpoint, timeoutMs);
        return { node, receiverTimeoutMs, problem: receiverTimeoutProblem(node, receiverTimeoutMs, timings) };
      } catch (error) {
        return { node, receiverTimeoutMs: null, problem: null, error: describeError(error) };
      }
    }),
  );
}

/**
 * At agent start, then every RECHECK_MS (and RETRY_MS for a node that did not answer):
 * one warning line per node whose wal_receiver_timeout does not fit, repeated only when
 * its value changes, and one line when it fits again. Returns the function that stops it.
 */
export function watchReceiverTimeouts(nodes: NodeToCheck[], timings: DetectionTimings, log: Logger): () => void {
  const reported = new Map<string, number>();
  const readAt = new Map<string, number>();
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const round = async () => {
    const now = Date.now();
    const due = nodes.filter((n) => now - (readAt.get(n.node) ?? -Infinity) >= RECHECK_MS);
    for (const result of await checkReceiverTimeouts(due, timings, timings.probeTimeoutMs + 2000)) {
      if (result.receiverTimeoutMs === null) {
        log.debug({ node: result.node, error: result.error }, 'wal_receiver_timeout not read; trying again later');
        continue;
      }
      readAt.set(result.node, now);
      const before = reported.get(result.node);
      if (result.problem !== null && before !== result.receiverTimeoutMs) {
        reported.set(result.node, result.receiverTimeoutMs);
        log.warn({ node: result.node, walReceiverTimeoutMs: result.receiverTimeoutMs }, result.problem);
      } else if (result.problem === null && before !== undefined) {
        reported.delete(result.node);
        log.info({ node: result.node, walReceiverTimeoutMs: result.receiverTimeoutMs }, `${result.node}: wal_receiver_timeout is ${result.receiverTimeoutMs} ms, which fits the failure time again`);
      }
    }
  };
  const schedule = () => {
    if (stopped) return;
    const unread = nodes.some((n) => !readAt.has(n.node));
    timer = setTimeout(() => void round().finally(schedule), unread ? RETRY_MS : RECHECK_MS);
    timer.unref();
  };
  void round().finally(schedule);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
