import type { Published } from '../core/types.js';
import { historyRecord } from '../dcs/history.js';
import type { Leadership } from '../dcs/leadership.js';
import { encode } from '../dcs/store.js';
import { withClient } from '../postgres/connection.js';
import { CURRENT_TIMELINE_SQL } from '../postgres/timeline.js';
import type { ClusterContext } from './cluster-context.js';

/**
 * Publishes epoch 1 for a cluster that has never had a published primary. The
 * transaction only succeeds while nothing is published and this agent still leads
 * (the leadership guard: leader key and lease), so two leaders in quick succession
 * cannot both bootstrap.
 */
export async function publishFirstPrimary(cluster: ClusterContext, leadership: Leadership, name: string): Promise<void> {
  const node = cluster.node(name)!;
  const timeline = await withClient(cluster.sqlEndpoint(node), { timeoutMs: 2000 }, async (client) => {
    const { rows } = await client.query<{ tli: number }>(`SELECT ${CURRENT_TIMELINE_SQL} AS tli`);
    return rows[0]!.tli;
  });
  const since = new Date().toISOString();
  const published: Published = { name, host: node.host, port: node.port, epoch: 1, timeline, since };
  const record = historyRecord({ epoch: 1, from: null, to: name, kind: 'bootstrap', reason: 'first primary published', at: since, timeline, leader: leadership.agentId });
  const keys = cluster.store.keys;
  const done = await leadership.guard(
    [
      { key: keys.primary, value: encode(published) },
      { key: keys.history(1), value: encode(record) },
    ],
    { absent: [keys.primary] },
  );
  if (done) cluster.log.info({ node: name, epoch: 1, timeline }, 'published the first primary');
}
