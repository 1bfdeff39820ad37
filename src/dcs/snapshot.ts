import type { Etcd3 } from 'etcd3';
import type { z } from 'zod';
import type { Journal } from '../core/journal.js';
import type { AgentView, Published } from '../core/types.js';
import type { SyncRecord } from '../core/sync-set.js';
import { decodeAs, printableKey } from './codec.js';
import type { Keys } from './keys.js';
import { syncSchema, historySchema, journalSchema, pauseSchema, publishedSchema, requestSchema, verdictSchema, viewSchema } from './snapshot-schema.js';
import type { HistoryRecord, PauseState, PromoteRequest, VerdictRecord } from './store.js';

/**
 * Everything under a cluster's prefix but its event log, read at one etcd revision:
 * the leader decides, `status` reports and GET /cluster serves from the same state,
 * never from keys read at different moments.
 */
export interface ClusterSnapshot {
  revision: string;
  published: Published | null;
  leader: string | null;
  paused: PauseState | null;
  journal: Journal | null;
  request: PromoteRequest | null;
  verdict: VerdictRecord | null;
  /** The recorded synchronous set (issue 13); null when none is recorded. */
  sync: SyncRecord | null;
  views: AgentView[];
  /** Newest first. */
  history: HistoryRecord[];
  /** Keys whose value did not parse, with why: reported, and never acted on as if absent. */
  unreadable: Array<{ key: string; problem: string }>;
}

export interface RawKeyValue {
  key: string;
  value: string;
}

/** Pure: the key-values of one read, as a typed snapshot. */
export function parseSnapshot(keys: Keys, revision: string, kvs: readonly RawKeyValue[]): ClusterSnapshot {
  const snapshot: ClusterSnapshot = { revision, published: null, leader: null, paused: null, journal: null, request: null, verdict: null, sync: null, views: [], history: [], unreadable: [] };
  const read = <S extends z.ZodType>(kv: RawKeyValue, schema: S): z.infer<S> | null => {
    const checked = decodeAs(kv.value, schema);
    if (checked.ok) return checked.value;
    snapshot.unreadable.push({ key: printableKey(kv.key), problem: checked.problem });
    return null;
  };
  for (const kv of kvs) {
    if (kv.key === keys.primary) snapshot.published = read(kv, publishedSchema) as Published | null;
    else if (kv.key === keys.leader) snapshot.leader = kv.value;
    else if (kv.key === keys.paused) snapshot.paused = read(kv, pauseSchema);
    else if (kv.key === keys.journal) snapshot.journal = read(kv, journalSchema) as Journal | null;
    else if (kv.key === keys.request) snapshot.request = read(kv, requestSchema);
    else if (kv.key === keys.verdict) snapshot.verdict = read(kv, verdictSchema);
    else if (kv.key === keys.sync) snapshot.sync = read(kv, syncSchema) as SyncRecord | null;
    else if (kv.key.startsWith(keys.agentsPrefix)) {
      const view = read(kv, viewSchema) as AgentView | null;
      if (view) snapshot.views.push(view);
    } else if (kv.key.startsWith(keys.historyPrefix)) {
      const record = read(kv, historySchema) as HistoryRecord | null;
      if (record) snapshot.history.push(record);
    }
  }
  snapshot.history.sort((a, b) => b.epoch - a.epoch);
  return snapshot;
}

/**
 * One transaction, so one revision: the cluster's keys except the event log, which
 * can hold a thousand entries and is read only by `failover events`.
 */
export async function readSnapshot(etcd: Etcd3, keys: Keys): Promise<ClusterSnapshot> {
  const root = `${keys.root}/`;
  const eventsPrefix = `${keys.root}/events/`;
  const range = (from: string, to: string) => ({ request_range: { key: Buffer.from(from), range_end: Buffer.from(to) } });
  // [root/, root/events/) and [root/events0, root0): '0' sorts right after '/'.
  const response = await etcd.kv.txn({
    compare: [],
    success: [range(root, eventsPrefix), range(`${keys.root}/events0`, `${keys.root}0`)],
    failure: [],
  });
  const kvs = response.responses.flatMap((r) => r.response_range?.kvs ?? []).map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
  return parseSnapshot(keys, String(response.header.revision), kvs);
}
