// Concise builders for the decision core's inputs. Defaults describe the lab in
// good health at time NOW: `pgsql` primary on timeline 1, replicas streaming.
import { completeStep, type Journal } from '../../../src/core/journal.js';
import type { SyncRecord } from '../../../src/core/sync-set.js';
import type {
  AgentView,
  ContainerState,
  Lsn,
  NodeObservation,
  NodeSpec,
  Published,
  SqlProbe,
  Timings,
} from '../../../src/core/types.js';

export const NOW = 1_000_000;
export const MiB = 1024n * 1024n;
export const TIMINGS: Timings = { failureTimeMs: 10_000, viewStaleMs: 5_000 };
export const PRIMARY = 'pgsql';
export const PRIMARY_HOSTS = ['pgsql', '172.20.0.2'];

interface Common {
  at?: number;
  container?: ContainerState;
  lastSqlOkAt?: number | null;
}

export function primaryObs(name = PRIMARY, options: Common & { lsn?: Lsn; timeline?: number } = {}): NodeObservation {
  const at = options.at ?? NOW;
  return {
    name,
    container: options.container ?? 'running',
    at,
    lastSqlOkAt: options.lastSqlOkAt === undefined ? at : options.lastSqlOkAt,
    sql: {
      ok: true,
      inRecovery: false,
      timeline: options.timeline ?? 1,
      lsn: options.lsn ?? 0x3000000n,
      receiveLsn: null,
      replayLsn: null,
      streaming: false,
      upstreamHost: null,
      receiptAgeMs: null,
    },
  };
}

export interface ReplicaOptions extends Common {
  /** Replay position; also the default for receive. */
  lsn?: Lsn;
  receiveLsn?: Lsn | null;
  replayLsn?: Lsn | null;
  timeline?: number;
  streaming?: boolean;
  upstreamHost?: string | null;
  receiptAgeMs?: number | null;
  inRecovery?: boolean;
}

export function replicaObs(name: string, options: ReplicaOptions = {}): NodeObservation {
  const at = options.at ?? NOW;
  const lsn = options.lsn ?? 0x3000000n;
  const streaming = options.streaming ?? true;
  const sql: SqlProbe = {
    ok: true,
    inRecovery: options.inRecovery ?? true,
    timeline: options.timeline ?? 1,
    lsn,
    receiveLsn: options.receiveLsn === undefined ? lsn : options.receiveLsn,
    replayLsn: options.replayLsn === undefined ? lsn : options.replayLsn,
    streaming,
    upstreamHost: options.upstreamHost === undefined ? (streaming ? 'pgsql' : null) : options.upstreamHost,
    receiptAgeMs: options.receiptAgeMs === undefined ? (streaming ? 50 : null) : options.receiptAgeMs,
  };
  return { name, container: options.container ?? 'running', at, lastSqlOkAt: options.lastSqlOkAt ?? at, sql };
}

/** A node whose SQL probe failed; by default it last answered `silentForMs` before `at`. */
export function downObs(
  name: string,
  options: Common & { silentForMs?: number; error?: string } = {},
): NodeObservation {
  const at = options.at ?? NOW;
  return {
    name,
    container: options.container ?? 'running',
    at,
    lastSqlOkAt: options.lastSqlOkAt === undefined ? at - (options.silentForMs ?? 60_000) : options.lastSqlOkAt,
    sql: { ok: false, error: options.error ?? 'connect ETIMEDOUT' },
  };
}

export function view(agentId: string, nodes: NodeObservation[], at = NOW): AgentView {
  return { agentId, at, nodes: Object.fromEntries(nodes.map((node) => [node.name, node])) };
}

export function observations(...nodes: NodeObservation[]): Record<string, NodeObservation> {
  return Object.fromEntries(nodes.map((node) => [node.name, node]));
}

export function spec(name: string, options: Partial<Omit<NodeSpec, 'name'>> = {}): NodeSpec {
  return { name, noFailover: options.noFailover ?? false, priority: options.priority ?? 0 };
}

export const LAB_SPECS: NodeSpec[] = [spec(PRIMARY), spec('replica-1'), spec('replica-2')];

export const LAB_HOSTS: Record<string, string[]> = {
  [PRIMARY]: PRIMARY_HOSTS,
  'replica-1': ['pgsql-replica-1'],
  'replica-2': ['pgsql-replica-2'],
};

export function published(options: Partial<Published> = {}): Published {
  return {
    name: PRIMARY,
    host: 'pgsql',
    port: 5432,
    epoch: 1,
    timeline: 1,
    // Before every probe of the fixtures (their clock starts at 1970), as a real publication is.
    since: new Date(0).toISOString(),
    ...options,
  };
}

/** The journal after `steps` were each recorded at `at` (throws on a step the plan refuses). */
export const advance = (journal: Journal, steps: Journal['step'][], at: number): Journal =>
  steps.reduce<Journal>((j, step) => {
    const result = completeStep(j, step, at);
    if (!result.ok) throw new Error(result.reason);
    return result.journal;
  }, journal);

/** A recorded synchronous set that promises: every acknowledged commit is on `number` of `standbys`. */
export function syncRecord(standbys: string[], number = 1, options: Partial<SyncRecord> = {}): SyncRecord {
  return { mode: 'quorum', number, standbys, epoch: 1, durability: 'required', degraded: false, pending: false, at: 0, ...options };
}
