import { randomBytes } from 'node:crypto';
import type { Etcd3, Watcher } from 'etcd3';
import { z } from 'zod';
import { eventId, eventsToPrune, type ClusterEvent, type EventInput, type Retention } from '../core/event.js';
import { encode } from './codec.js';
import type { Keys } from './keys.js';

const eventSchema = z.looseObject({
  id: z.string(),
  at: z.string(),
  kind: z.string(),
  rule: z.string(),
  by: z.string(),
  message: z.string(),
  epoch: z.number().optional(),
  nodes: z.array(z.string()).optional(),
  lsn: z.string().optional(),
  elapsedMs: z.number().optional(),
  method: z.enum(['follow', 'rewind', 'clone']).optional().catch(undefined),
  outcome: z.enum(['started', 'done', 'failed', 'waiting', 'refused']).optional().catch(undefined),
});

function parseEvent(text: string): ClusterEvent | null {
  try {
    const parsed = eventSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as ClusterEvent) : null;
  } catch {
    return null;
  }
}

/**
 * The cluster's event log under `<prefix>/<cluster>/events/`. Writing never holds up
 * the caller (a failover does not wait for its own log) and never throws; the log is
 * kept bounded by `prune`, which the leader runs now and then.
 */
export class EventLog {
  constructor(
    private readonly etcd: Etcd3,
    private readonly keys: Keys,
    private readonly by: string,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  private get prefix(): string {
    return `${this.keys.root}/events/`;
  }

  /** Records an event in the background; the returned promise settles when it is written (or failed). */
  emit(input: Omit<EventInput, 'by'> & { by?: string }, now = Date.now()): Promise<void> {
    const event: ClusterEvent = { id: eventId(now, randomBytes(3).toString('hex')), at: new Date(now).toISOString(), by: this.by, ...input };
    return this.etcd
      .put(`${this.prefix}${event.id}`)
      .value(encode(event))
      .then(
        () => undefined,
        (error: unknown) => this.onError(error),
      );
  }

  /** Events, oldest first, optionally only those at or after `sinceMs`. */
  async list(sinceMs?: number): Promise<ClusterEvent[]> {
    const all = await this.etcd.getAll().prefix(this.prefix).sort('Key', 'Ascend').strings();
    return Object.values(all)
      .map(parseEvent)
      .filter((e): e is ClusterEvent => e !== null && (sinceMs === undefined || Date.parse(e.at) >= sinceMs));
  }

  /** The newest `count` events, oldest first. */
  async latest(count: number): Promise<ClusterEvent[]> {
    const newest = await this.etcd.getAll().prefix(this.prefix).sort('Key', 'Descend').limit(count).strings();
    return Object.values(newest)
      .map(parseEvent)
      .filter((e): e is ClusterEvent => e !== null)
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Deletes what `retention` no longer keeps; returns how many. */
  async prune(retention: Retention, now = Date.now()): Promise<number> {
    const keys = await this.etcd.getAll().prefix(this.prefix).keys();
    const ids = keys.map((k) => k.slice(this.prefix.length));
    const doomed = eventsToPrune(ids, now, retention);
    for (const id of doomed) await this.etcd.delete().key(`${this.prefix}${id}`);
    return doomed.length;
  }

  /** Calls `onEvent` for every event written from now on, until the returned function is called. */
  async follow(onEvent: (event: ClusterEvent) => void): Promise<() => Promise<void>> {
    const watcher: Watcher = await this.etcd.watch().prefix(this.prefix).create();
    watcher.on('put', (kv) => {
      const event = parseEvent(kv.value.toString());
      if (event) onEvent(event);
    });
    return () => watcher.cancel();
  }
}
