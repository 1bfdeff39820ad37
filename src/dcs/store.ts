import type { Etcd3 } from 'etcd3';
import type { AgentView, Published } from '../core/types.js';
import type { Journal } from '../core/journal.js';
import { decode, encode } from './codec.js';
import type { Keys } from './keys.js';
import type { SyncRecord } from '../core/sync-set.js';
import { syncSchema } from './snapshot-schema.js';

export interface HistoryRecord {
  epoch: number;
  from: string | null;
  to: string;
  kind: 'failover' | 'switchover' | 'bootstrap';
  reason: string;
  at: string;
  timeline: number;
  /** Milliseconds per step, and `total` from the start of the operation to the publication. */
  timings: Record<string, number>;
  /** When the operation began (ms since epoch): for a failover, the moment the primary was declared failed. */
  startedAt?: number;
  leader: string;
  /** Whether the promotion ran under a promising synchronous set (issue 13); absent in older records. */
  synchronous?: boolean;
}

export interface PauseState {
  since: string;
  by: string;
}

export interface PromoteRequest {
  id: string;
  target: string;
  force: boolean;
  at: string;
  by: string;
}

export interface RequestResult {
  id: string;
  ok: boolean;
  from: string | null;
  to: string;
  epoch: number | null;
  kind: 'switchover' | 'failover';
  ms: number | null;
  error?: string;
}

/** The leader's latest verdict and refusals, published so that `status` can say why nothing happens. */
export interface VerdictRecord {
  at: number;
  leader: string;
  verdict: string;
  /** The decision rule that matched, and the verdict's reason (older agents did not publish them). */
  rule?: string;
  why?: string;
  notes: string[];
}

/** Typed reads and writes of the cluster's keys. Writes that must be leader-guarded go through Leadership.guard. */
export class ClusterStore {
  constructor(
    readonly etcd: Etcd3,
    readonly keys: Keys,
  ) {}

  private async getJson<T>(key: string): Promise<T | null> {
    const text = await this.etcd.get(key).string();
    return text === null ? null : decode<T>(text);
  }

  published(): Promise<Published | null> {
    return this.getJson<Published>(this.keys.primary);
  }

  journal(): Promise<Journal | null> {
    return this.getJson<Journal>(this.keys.journal);
  }

  paused(): Promise<PauseState | null> {
    return this.getJson<PauseState>(this.keys.paused);
  }

  request(): Promise<PromoteRequest | null> {
    return this.getJson<PromoteRequest>(this.keys.request);
  }

  verdict(): Promise<VerdictRecord | null> {
    return this.getJson<VerdictRecord>(this.keys.verdict);
  }

  result(id: string): Promise<RequestResult | null> {
    return this.getJson<RequestResult>(this.keys.requestResult(id));
  }

  /** The recorded synchronous set, checked: a value that does not parse throws (the caller's step fails and is retried). */
  async sync(): Promise<SyncRecord | null> {
    const value = await this.getJson<unknown>(this.keys.sync);
    if (value === null) return null;
    const parsed = syncSchema.safeParse(value);
    if (!parsed.success) throw new Error(`${this.keys.sync} does not parse: ${parsed.error.issues[0]?.path.join('.') || 'value'}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data as SyncRecord;
  }

  async leader(): Promise<string | null> {
    return this.etcd.get(this.keys.leader).string();
  }

  async views(): Promise<AgentView[]> {
    const all = await this.etcd.getAll().prefix(this.keys.agentsPrefix).strings();
    return Object.values(all).map((text) => decode<AgentView>(text));
  }

  async history(): Promise<HistoryRecord[]> {
    const all = await this.etcd.getAll().prefix(this.keys.historyPrefix).strings();
    return Object.values(all)
      .map((text) => decode<HistoryRecord>(text))
      .sort((a, b) => b.epoch - a.epoch);
  }

  /** An agent's view lives under its lease: it disappears when the agent does. */
  async putView(view: AgentView, leaseId: string): Promise<void> {
    await this.etcd.put(this.keys.agent(view.agentId)).value(encode(view)).lease(leaseId);
  }

  async setPaused(state: PauseState | null): Promise<void> {
    if (state === null) await this.etcd.delete().key(this.keys.paused);
    else await this.etcd.put(this.keys.paused).value(encode(state));
  }

  /** Files a promote request only if none is pending and no operation is running: two promotes at once, one wins. */
  async fileRequest(request: PromoteRequest): Promise<boolean> {
    const result = await this.etcd
      .if(this.keys.request, 'Create', '==', 0)
      .and(this.keys.journal, 'Create', '==', 0)
      .then(this.etcd.put(this.keys.request).value(encode(request)))
      .commit();
    return result.succeeded;
  }

  /**
   * Takes back a filed request, in one transaction: only if it is still there as filed.
   * False means a leader took it (or answered it) first, so something may be under way.
   */
  async withdrawRequest(request: PromoteRequest): Promise<boolean> {
    const result = await this.etcd
      .if(this.keys.request, 'Value', '==', encode(request))
      .then(this.etcd.delete().key(this.keys.request))
      .commit();
    return result.succeeded;
  }
}

export { encode, decode };
