import type { Etcd3 } from 'etcd3';
import type { AgentView, Published } from '../core/types.js';
import type { Journal } from '../core/journal.js';
import type { z } from 'zod';
import { decode, decodeAs, encode, printableKey } from './codec.js';
import type { Keys } from './keys.js';
import type { SyncRecord } from '../core/sync-set.js';
import { historySchema, journalSchema, pauseSchema, publishedSchema, requestSchema, resultSchema, syncSchema, verdictSchema, viewSchema } from './snapshot-schema.js';

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

/** A value in etcd that does not parse: named with its key and the problem, never repeated (it may be anything). */
export class UnreadableValueError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${printableKey(key)} does not parse: ${problem}`);
    this.name = 'UnreadableValueError';
  }
}

/**
 * Typed reads and writes of the cluster's keys. Writes that must be leader-guarded go through
 * Leadership.guard. Every read is validated (snapshot-schema.ts): a single key that does not
 * parse throws UnreadableValueError; views and history records that do not parse are left out.
 */
export class ClusterStore {
  constructor(
    readonly etcd: Etcd3,
    readonly keys: Keys,
  ) {}

  private async getChecked<S extends z.ZodType>(key: string, schema: S): Promise<z.infer<S> | null> {
    const text = await this.etcd.get(key).string();
    if (text === null) return null;
    const checked = decodeAs(text, schema);
    if (!checked.ok) throw new UnreadableValueError(key, checked.problem);
    return checked.value;
  }

  private async allChecked<S extends z.ZodType>(prefix: string, schema: S): Promise<Array<z.infer<S>>> {
    const all = await this.etcd.getAll().prefix(prefix).strings();
    return Object.values(all).flatMap((text) => {
      const checked = decodeAs(text, schema);
      return checked.ok ? [checked.value] : [];
    });
  }

  published(): Promise<Published | null> {
    return this.getChecked(this.keys.primary, publishedSchema) as Promise<Published | null>;
  }

  journal(): Promise<Journal | null> {
    return this.getChecked(this.keys.journal, journalSchema) as Promise<Journal | null>;
  }

  paused(): Promise<PauseState | null> {
    return this.getChecked(this.keys.paused, pauseSchema);
  }

  request(): Promise<PromoteRequest | null> {
    return this.getChecked(this.keys.request, requestSchema);
  }

  verdict(): Promise<VerdictRecord | null> {
    return this.getChecked(this.keys.verdict, verdictSchema);
  }

  result(id: string): Promise<RequestResult | null> {
    return this.getChecked(this.keys.requestResult(id), resultSchema);
  }

  /** The recorded synchronous set, checked: a value that does not parse throws (the caller's step fails and is retried). */
  sync(): Promise<SyncRecord | null> {
    return this.getChecked(this.keys.sync, syncSchema) as Promise<SyncRecord | null>;
  }

  async leader(): Promise<string | null> {
    return this.etcd.get(this.keys.leader).string();
  }

  /** The agents' views; one that does not parse is left out (the leader's snapshot names it). */
  async views(): Promise<AgentView[]> {
    return (await this.allChecked(this.keys.agentsPrefix, viewSchema)) as AgentView[];
  }

  /** Past promotions, newest first; a record that does not parse is left out. */
  async history(): Promise<HistoryRecord[]> {
    const records = (await this.allChecked(this.keys.historyPrefix, historySchema)) as HistoryRecord[];
    return records.sort((a, b) => b.epoch - a.epoch);
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
