import type { Published } from '../core/types.js';
import { encode, type HistoryRecord } from '../dcs/store.js';
import { withClient } from '../postgres/connection.js';
import type { Cluster } from './cluster.js';

/**
 * Publishes epoch 1 for a cluster that has never had a published primary. The
 * transaction only succeeds while nothing is published and `leaderId` still leads,
 * so two leaders in quick succession cannot both bootstrap.
 */
export async function publishFirstPrimary(cluster: Cluster, leaderId: string, name: string): Promise<void> {
  const node = cluster.node(name)!;
  const timeline = await withClient(cluster.sqlEndpoint(node), { timeoutMs: 2000 }, async (client) => {
    const { rows } = await client.query<{ tli: number }>(`SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli`);
    return rows[0]!.tli;
  });
  const since = new Date().toISOString();
  const published: Published = { name, host: node.host, port: node.port, epoch: 1, timeline, since };
  const record: HistoryRecord = { epoch: 1, from: null, to: name, kind: 'bootstrap', reason: 'first primary published', at: since, timeline, timings: {}, leader: leaderId };
  const keys = cluster.store.keys;
  const result = await cluster.etcd
    .if(keys.primary, 'Create', '==', 0)
    .and(keys.leader, 'Value', '==', leaderId)
    .then(cluster.etcd.put(keys.primary).value(encode(published)), cluster.etcd.put(keys.history(1)).value(encode(record)))
    .commit();
  if (result.succeeded) cluster.log.info({ node: name, epoch: 1, timeline }, 'published the first primary');
}
