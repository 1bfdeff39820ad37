// Shared vocabulary of the decision core. Everything here is plain data: the core
// never performs I/O and never reads the clock; `now` (ms since epoch) is passed in.

export type Lsn = bigint;

/** What Docker says about a node's container. `paused` is frozen, not dead. */
export type ContainerState = 'running' | 'paused' | 'restarting' | 'exited' | 'dead' | 'missing' | 'unknown';

/** One successful SQL probe of a node. */
export interface SqlProbe {
  ok: true;
  inRecovery: boolean;
  timeline: number;
  /** primary: pg_current_wal_lsn(); replica: the replay position. */
  lsn: Lsn;
  /** replica only: pg_last_wal_receive_lsn() (may be rounded down after a restart). */
  receiveLsn: Lsn | null;
  /** replica only: pg_last_wal_replay_lsn(). */
  replayLsn: Lsn | null;
  /** replica only: is a WAL receiver streaming right now, and from which host. */
  streaming: boolean;
  upstreamHost: string | null;
  /** replica only: ms since the WAL receiver last heard from its upstream, measured by the server's clock. */
  receiptAgeMs: number | null;
  /**
   * replica only: replay lag in ms (0 when everything received is replayed, else the age of
   * the last replayed commit). Optional: views published by older agents lack it.
   */
  replayLagMs?: number | null;
}

export interface SqlFailure {
  ok: false;
  error: string;
}

export interface NodeObservation {
  name: string;
  /** The Docker container's name, for people reading status. */
  containerName?: string;
  container: ContainerState;
  sql: SqlProbe | SqlFailure;
  /** When this probe finished (observer's clock). */
  at: number;
  /** Last time an SQL probe of this node succeeded, as seen by this observer; null if never. */
  lastSqlOkAt: number | null;
}

/** What one agent published about every node. */
export interface AgentView {
  agentId: string;
  at: number;
  nodes: Record<string, NodeObservation>;
}

export interface NodeSpec {
  name: string;
  noFailover: boolean;
  priority: number;
}

export interface Timings {
  /** How long SQL probes must fail before the primary may be declared failed. */
  failureTimeMs: number;
  /** An agent view older than this is not counted as a live agent. */
  viewStaleMs: number;
  /** An operation step failing for longer than this since the last progress gives up its target (default 20 s). */
  stepDeadlineMs?: number;
}

export interface Published {
  name: string;
  host: string;
  port: number;
  epoch: number;
  timeline: number;
  since: string;
  /** Last WAL position the leader saw on this primary (decimal string of an LSN), used to judge lag after its loss. */
  lastLsn?: string;
}
