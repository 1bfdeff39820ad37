import type { Etcd3 } from 'etcd3';
import { afterEach } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { ClusterContext } from '../../src/agent/cluster-context.js';
import type { Config } from '../../src/config/schema.js';
import type { Journal, StepName } from '../../src/core/journal.js';
import { createEtcd } from '../../src/dcs/client.js';
import { keysFor } from '../../src/dcs/keys.js';
import { Leadership } from '../../src/dcs/leadership.js';
import { ClusterStore } from '../../src/dcs/store.js';
import { createLogger } from '../../src/log.js';
import { freePort, PGBOUNCER_ADMIN_PASSWORD, POSTGRES_PASSWORD, REPLICATION_PASSWORD, type TestCluster } from './cluster.js';
import { eventually } from './eventually.js';
import { TcpProxy } from './tcp-proxy.js';
import { DockerStallProxy } from './docker-stall-proxy.js';
import { serveAgentHttp } from '../../src/http/agent-http.js';
import type { HttpServer } from '../../src/http/server.js';

export interface RunningAgents {
  agents: Agent[];
  store: ClusterStore;
  config: Config;
  leaderId(): Promise<string | null>;
  agent(id: string): Agent;
  /** What agent `id` has logged so far, as pino's JSON lines (only with `captureLogs`). */
  logs(id: string): string;
  /** The agent's own way to etcd (only with `etcdProxies`). */
  proxy(id: string): TcpProxy;
  /** The agent's own way to the Docker engine (only with `dockerProxies`). */
  dockerProxy(id: string): DockerStallProxy;
  /** Stops one agent as SIGTERM stops `failover agent`: its HTTP server, then the agent. */
  stopAgent(id: string): Promise<void>;
  /** Where agent `id` serves HTTP (only with `http`; null when it could not bind). */
  httpAddress(id: string): { host: string; port: number } | null;
  stop(): Promise<void>;
}

const env = { POSTGRES_PASSWORD, REPLICATION_PASSWORD, PGBOUNCER_ADMIN_PASSWORD };

/** Starts `count` real agents in this process against a test cluster, and waits for a published primary. */
export async function startAgents(
  cluster: TestCluster,
  options: {
    count?: number;
    config?: Partial<Record<string, unknown>>;
    afterStep?: (agentId: string, step: StepName, journal: Journal) => Promise<void>;
    beforeStep?: (agentId: string, step: StepName, journal: Journal) => void;
    /** Each agent reaches etcd through its own TcpProxy, which a test can cut (see RunningAgents.proxy). */
    etcdProxies?: boolean;
    /** Each agent reaches Docker (for every node) through its own DockerStallProxy, which a test can tell to stall calls (see RunningAgents.dockerProxy). */
    dockerProxies?: boolean;
    /** Each agent serves HTTP on its own free 127.0.0.1 port, as `failover agent` does (see RunningAgents.httpAddress). */
    http?: boolean;
    /** Each agent logs at this level into memory instead of stdout (see RunningAgents.logs), e.g. to scan what it would print. */
    captureLogs?: 'trace' | 'debug' | 'info';
  } = {},
): Promise<RunningAgents> {
  const config = cluster.config(options.config ?? {});
  const etcds: Etcd3[] = [];
  const agents: Agent[] = [];
  const proxies = new Map<string, TcpProxy>();
  const dockerProxies = new Map<string, DockerStallProxy>();
  const servers = new Map<string, HttpServer>();
  const level = options.captureLogs ?? process.env.FAILOVER_TEST_LOG ?? 'silent';
  const captured = new Map<string, string[]>();
  for (let i = 1; i <= (options.count ?? 3); i++) {
    const id = `agent-${i}`;
    let etcdConfig = config.etcd;
    if (options.etcdProxies) {
      const target = new URL(config.etcd.endpoints[0]!);
      const proxy = await new TcpProxy(target.hostname, Number(target.port)).start();
      proxies.set(id, proxy);
      etcdConfig = { ...config.etcd, endpoints: [proxy.url] };
    }
    const etcd = createEtcd(etcdConfig);
    etcds.push(etcd);
    const lines: string[] = [];
    captured.set(id, lines);
    const log = createLogger('pg-failover', level, options.captureLogs ? { write: (line: string) => void lines.push(line) } : undefined).child({ agent: id });
    const leadership = new Leadership(etcd, keysFor(config.etcd.prefix, config.cluster), id, config.timings.leaseTtlSec);
    let own: Config = options.http ? { ...config, http: { host: '127.0.0.1', port: await freePort(), allowUnauthenticated: false } } : config;
    if (options.dockerProxies) {
      const proxy = await new DockerStallProxy().start();
      dockerProxies.set(id, proxy);
      own = { ...own, nodes: own.nodes.map((n) => ({ ...n, docker: { socketPath: proxy.socketPath } })) };
    }
    const agent = new Agent(new ClusterContext(own, etcd, log, env), leadership, {
      agentId: id,
      helperLabels: cluster.labels,
      ...(options.afterStep ? { afterStep: (step, journal) => options.afterStep!(id, step, journal) } : {}),
      ...(options.beforeStep ? { beforeStep: (step, journal) => options.beforeStep!(id, step, journal) } : {}),
    });
    await agent.start();
    agents.push(agent);
    if (own.http) servers.set(id, serveAgentHttp({ state: () => agent.state(), store: new ClusterStore(etcd, keysFor(config.etcd.prefix, config.cluster)), clusterName: config.cluster, nodes: config.nodes, synchronous: config.replication.synchronous }, own.http, log));
  }
  const reader = createEtcd(config.etcd);
  etcds.push(reader);
  const store = new ClusterStore(reader, keysFor(config.etcd.prefix, config.cluster));
  await eventually(async () => (await store.published()) !== null, 'a published primary', 30_000);
  return {
    agents,
    store,
    config,
    leaderId: () => store.leader(),
    agent: (id) => agents.find((a) => a.id === id)!,
    logs: (id) => {
      if (!options.captureLogs) throw new Error('the agents were started without captureLogs');
      return (captured.get(id) ?? []).join('');
    },
    proxy: (id) => {
      const proxy = proxies.get(id);
      if (!proxy) throw new Error(`agent ${id} has no etcd proxy (start the agents with etcdProxies)`);
      return proxy;
    },
    dockerProxy: (id) => {
      const proxy = dockerProxies.get(id);
      if (!proxy) throw new Error(`agent ${id} has no Docker proxy (start the agents with dockerProxies)`);
      return proxy;
    },
    httpAddress: (id) => servers.get(id)?.address() ?? null,
    async stopAgent(id) {
      await servers.get(id)?.close();
      await agents.find((a) => a.id === id)?.stop();
    },
    async stop() {
      await Promise.all([...servers.values()].map((server) => server.close()));
      await Promise.all(agents.map((a) => a.stop().catch(() => undefined)));
      for (const etcd of etcds) etcd.close();
      await Promise.all([...proxies.values(), ...dockerProxies.values()].map((p) => p.close()));
    },
  };
}

/** Waits until a primary other than `old` is published. */
export async function publishedOtherThan(running: RunningAgents, old: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const published = await running.store.published();
    return published && published.name !== old ? published : undefined;
  }, `a primary other than ${old}`, timeoutMs, 50);
}

/** Waits until the leader's published verdict carries a note that `matches`, and returns it. */
export async function verdictWithNote(running: RunningAgents, matches: (note: string) => boolean, what: string, timeoutMs = 20_000) {
  return eventually(async () => {
    const verdict = await running.store.verdict();
    return verdict?.notes.some(matches) ? verdict : undefined;
  }, what, timeoutMs);
}

/** A cluster and agents that each test starts for itself; stopped after every test (agents first). */
export function clusterPerTest(): { cluster?: TestCluster; agents?: RunningAgents } {
  const current: { cluster?: TestCluster; agents?: RunningAgents } = {};
  afterEach(async () => {
    await current.agents?.stop();
    await current.cluster?.stop();
    delete current.agents;
    delete current.cluster;
  });
  return current;
}
