import type Docker from 'dockerode';
import type pg from 'pg';
import type { NodeConfig } from '../config/schema.js';
import { containerState, engineFor, execIn, followContainerEvents } from '../docker/engine.js';
import { connect, discard } from '../postgres/connection.js';
import { BackgroundLoop } from './background-loop.js';
import type { LabAccess } from './lab-access.js';
import { answerOfExecError, answerOfLastEvent, answerOfPsql, answerOfState, changes, lastSeen, observability, seenWhole, type Observability } from './observation.js';
import { splitBrainOverlaps, type NodeAnswer, type Overlap, type Sample } from './split-brain.js';
import { sleep } from './wait.js';

/** After a failed SQL probe or connect, the next connect waits this long (the samples go on through Docker meanwhile). */
const SQL_RETRY_MS = 250;
const SQL_TIMEOUT_MS = 300;
const INSPECT_TIMEOUT_MS = 300;
const EXEC_TIMEOUT_MS = 1000;
const EVENTS_TIMEOUT_MS = 1000;

/**
 * Watches every node directly, independently of the agents, each in its own loop (a slow
 * node never slows the others' samples): which nodes accept writes. First over SQL through
 * the node's published port; when that fails, through the Docker API, which reaches a
 * container cut off from its network: its state (not running: down; paused: frozen), then
 * `psql` inside it over the local socket; while the engine holds its inspect (it does
 * while it starts or kills the container), the engine's last event about it. A refused connection on the published port is not
 * taken as "down": a container disconnected from its network is refused the same way. The
 * samples are judged once the round is over, by `splitBrainOverlaps` and `observability`.
 */
export class SplitBrainMonitor extends BackgroundLoop {
  readonly samples: Sample[] = [];
  /** Per node, how many answers the server gave from inside its container (`psql` through the Docker API) when SQL could not reach it. */
  readonly viaDockerExec: Record<string, number> = {};
  startedAt = 0;
  stoppedAt = 0;
  /** Per container, the last action the engine reported on its event stream (absent while no stream runs). */
  private readonly lastEvent = new Map<string, string>();

  constructor(private readonly access: LabAccess) {
    super();
  }

  get overlaps(): Overlap[] {
    return splitBrainOverlaps(this.sortedSamples());
  }

  observability(): Observability {
    return observability(this.sortedSamples(), this.nodeNames(), { from: this.startedAt, to: this.stoppedAt || Date.now() });
  }

  lastSeen(): Record<string, NodeAnswer> {
    return lastSeen(this.sortedSamples());
  }

  /** Per node, each change of its answer, in ms from `origin`. */
  changes(origin: number): Record<string, Array<[number, NodeAnswer]>> {
    return changes(this.sortedSamples(), origin);
  }

  /** After `at`, `primary` was last seen writable and every other node as a replica. */
  seenWhole(primary: string, at: number): boolean {
    return seenWhole(this.sortedSamples(), this.nodeNames(), primary, at);
  }

  protected async loop(): Promise<void> {
    this.startedAt = Date.now();
    const unfollow = await this.followEvents();
    try {
      await Promise.all(this.access.config.nodes.map((node) => this.watch(node)));
    } finally {
      for (const stop of unfollow) stop();
      this.stoppedAt = Date.now();
    }
  }

  /** One event stream per engine of the nodes; an engine that does not give one leaves its nodes to inspect and exec alone. */
  private async followEvents(): Promise<Array<() => void>> {
    const byEngine = new Map<Docker, string[]>();
    for (const node of this.access.config.nodes) {
      const engine = engineFor(node.docker);
      byEngine.set(engine, [...(byEngine.get(engine) ?? []), node.container]);
    }
    const streams = [...byEngine].map(async ([engine, containers]) => {
      const watched = new Set(containers);
      const following = followContainerEvents(
        engine,
        (event) => {
          if (watched.has(event.container)) this.lastEvent.set(event.container, event.action);
        },
        // A stream that ended says nothing more: its last events would go stale.
        () => containers.forEach((c) => this.lastEvent.delete(c)),
      );
      try {
        return await within(EVENTS_TIMEOUT_MS, following);
      } catch {
        void following.then((stop) => stop(), () => undefined);
        return () => undefined;
      }
    });
    return Promise.all(streams);
  }

  private async watch(node: NodeConfig): Promise<void> {
    // A connect runs beside the samples, never in their way: a node whose port does not
    // answer is asked through Docker meanwhile, not after a connect timeout per sample.
    const sql: { client: pg.Client | null; connecting: Promise<void> | null; againAt: number } = { client: null, connecting: null, againAt: 0 };
    this.viaDockerExec[node.name] = 0;
    while (this.running) {
      let answer: NodeAnswer = 'unknown';
      if (sql.client) {
        try {
          const { rows } = await sql.client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
          answer = rows[0]?.r === false ? 'writable' : 'read-only';
        } catch {
          discard(sql.client);
          sql.client = null;
          sql.againAt = Date.now() + SQL_RETRY_MS;
        }
      } else if (!sql.connecting && Date.now() >= sql.againAt) {
        sql.connecting = connect(this.access.endpoint(node), { timeoutMs: SQL_TIMEOUT_MS, applicationName: 'pg-failover-drill-watch' })
          .then(
            (client) => void (sql.client = client),
            () => void (sql.againAt = Date.now() + SQL_RETRY_MS),
          )
          .finally(() => (sql.connecting = null));
      }
      if (answer === 'unknown') answer = await this.askDocker(node);
      this.samples.push({ at: Date.now(), answers: { [node.name]: answer } });
      await sleep(20);
    }
    await sql.connecting;
    if (sql.client) discard(sql.client);
  }

  private async askDocker(node: NodeConfig): Promise<NodeAnswer> {
    const engine = engineFor(node.docker);
    const state = await containerState(engine, node.container, INSPECT_TIMEOUT_MS);
    if (state === 'unknown') return answerOfLastEvent(this.lastEvent.get(node.container));
    const byState = answerOfState(state);
    if (byState !== null) return byState;
    try {
      const psql = ['psql', '-X', '-A', '-t', '-w', '-U', this.access.config.superuser.user, '-d', 'postgres', '-c', 'SELECT pg_is_in_recovery()'];
      // The local socket trusts the container's own user: no password crosses the API.
      const env = ['PGCONNECT_TIMEOUT=2', 'PGOPTIONS=-c statement_timeout=500'];
      const answer = answerOfPsql(await within(EXEC_TIMEOUT_MS, execIn(engine, node.container, psql, { env, timeoutMs: EXEC_TIMEOUT_MS })));
      if (answer !== 'unknown') this.viaDockerExec[node.name]! += 1;
      return answer;
    } catch (error) {
      return answerOfExecError(error);
    }
  }

  /** Node samples are pushed by parallel loops, each in its own order: merged by time for the judges. */
  private sortedSamples(): Sample[] {
    return [...this.samples].sort((a, b) => a.at - b.at);
  }

  private nodeNames(): string[] {
    return this.access.config.nodes.map((n) => n.name);
  }
}

/** `work`, or a rejection after `ms`: an exec's create and start calls carry no deadline of their own. */
async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => undefined); // a late failure, after the deadline, interests nobody
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
