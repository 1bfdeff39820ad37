import type { NodeConfig } from '../config/schema.js';
import type { ClusterStore } from '../dcs/store.js';
import type { Logger } from '../log.js';
import { describeError } from '../postgres/connection.js';
import { readStatus } from '../status/cluster-status.js';
import { synchronousStatus, type SynchronousConfig } from '../status/synchronous-status.js';
import type { AgentState } from './agent-state.js';
import { METRICS_CONTENT_TYPE, renderMetrics } from './metrics.js';
import { healthReply, json, primaryReply, replicaReply, type Reply } from './routes.js';
import { loadHttpSecurity, type HttpSecurity, type HttpSecurityConfig } from './security.js';
import { startHttpServer, type HttpServer } from './server.js';

/** What the HTTP routes need from a running agent. */
export interface AgentHttpSource {
  state(): AgentState;
  readonly store: ClusterStore;
  readonly clusterName: string;
  readonly nodes: readonly NodeConfig[];
  /** The agent's `replication.synchronous`: GET /cluster and /metrics show it until a leader records a set. */
  readonly synchronous: SynchronousConfig;
}

/**
 * Concurrent requests share one etcd read: a burst of scrapes or health checks costs
 * etcd one call, not one per request. Sequential requests each read afresh.
 */
export function singleFlight<T>(read: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | null = null;
  return () => {
    inFlight ??= read().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };
}

/**
 * GET /primary, /replica, /health, /cluster and /metrics of one agent. TLS and the token
 * come from `security` when the caller read them already (the agent does, before it
 * starts), else from the config's files here: a config with `tls` is never served plain.
 */
export function serveAgentHttp(source: AgentHttpSource, options: { host: string; port: number; security?: HttpSecurity } & HttpSecurityConfig, log: Logger): HttpServer {
  const security = options.security ?? loadHttpSecurity(options);
  const published = singleFlight(() => source.store.published());
  const history = singleFlight(() => source.store.history());
  const journal = singleFlight(() => source.store.journal());
  // A sync key that cannot be read or does not parse leaves only the synchronous metrics out.
  const sync = singleFlight(() => source.store.sync().catch((): 'unreadable' => 'unreadable'));
  const status = singleFlight(() => readStatus(source.store, source.clusterName, source.synchronous));
  // An etcd read that fails is a 503 naming it: the agent cannot vouch for what it did not read.
  const fromEtcd = async (reply: () => Promise<Reply>): Promise<Reply> => {
    try {
      return await reply();
    } catch (error) {
      return json(503, { error: `etcd: ${describeError(error)}` });
    }
  };
  return startHttpServer({
    host: options.host,
    port: options.port,
    log,
    security,
    routes: {
      '/health': () => healthReply(source.state()),
      '/primary': () => fromEtcd(async () => primaryReply(await published(), source.state(), source.nodes)),
      // Replica health is this agent's own observation; the published primary only adds lag, so etcd is optional here.
      '/replica': async () => replicaReply(await published().catch(() => null), source.state(), source.nodes),
      '/cluster': () => fromEtcd(async () => json(200, await status())),
      '/metrics': async () => {
        // Local metrics are served even when etcd cannot be read; etcd's are then left out.
        const cluster = await Promise.all([published(), history(), journal(), sync()]).then(
          ([p, h, j, s]) => ({ published: p, history: h, journal: j, ...(s === 'unreadable' ? {} : { synchronous: synchronousStatus(s, source.synchronous) }) }),
          () => null,
        );
        return { status: 200, contentType: METRICS_CONTENT_TYPE, body: await renderMetrics({ state: source.state(), cluster }) };
      },
    },
  });
}
