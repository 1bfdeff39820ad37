import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { Agent } from '../../agent/agent.js';
import { ClusterContext } from '../../agent/cluster-context.js';
import { serveAgentHttp } from '../../http/agent-http.js';
import { loadHttpSecurity, type HttpSecurity } from '../../http/security.js';
import { dockerEndpointsOf } from '../../docker/endpoint.js';
import { engineFor } from '../../docker/engine.js';
import { ConfigError } from '../../config/load.js';
import { createEtcd } from '../../dcs/client.js';
import { keysFor } from '../../dcs/keys.js';
import { Leadership } from '../../dcs/leadership.js';
import { monotonicMs } from '../../time.js';
import { createLogger } from '../../log.js';
import { describeError } from '../../postgres/connection.js';
import { watchReceiverTimeouts } from '../../postgres/receiver-settings.js';
import { CliError, configOf } from '../context.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('run one agent until SIGTERM (then resign leadership cleanly)')
    .option('--id <id>', 'agent id (env FAILOVER_AGENT_ID, default the host name)')
    .action(async (options: { id?: string }, command: Command) => {
      const config = configOf(command);
      if (config.nodes.some((n) => n.name === 'unconfigured')) throw new CliError('agent: no config; pass --config <file> or set FAILOVER_CONFIG', 2);
      const agentId = options.id ?? process.env.FAILOVER_AGENT_ID ?? hostname();
      const log = createLogger('pg-failover').child({ agent: agentId, cluster: config.cluster });
      let etcd: Etcd3 | undefined;
      let cluster: ClusterContext;
      let httpSecurity: HttpSecurity | null;
      try {
        // The files the config names (HTTP certificate, key, token; remote Docker engines' CA and client
        // certificates) are read before anything starts: a wrong path is one line and exit 2.
        httpSecurity = config.http ? loadHttpSecurity(config.http) : null;
        for (const docker of dockerEndpointsOf(config)) engineFor(docker);
        etcd = createEtcd(config.etcd);
        cluster = new ClusterContext(config, etcd, log);
      } catch (error) {
        etcd?.close();
        if (error instanceof ConfigError) throw new CliError(error.message, 2);
        throw error;
      }
      const leadership = new Leadership(etcd, keysFor(config.etcd.prefix, config.cluster), agentId, config.timings.leaseTtlSec, monotonicMs, (error) =>
        log.debug({ error: describeError(error) }, 'lease heartbeat failed'),
      );
      const helperLabels = Object.fromEntries(
        (process.env.FAILOVER_HELPER_LABELS ?? '')
          .split(',')
          .filter((pair) => pair.includes('='))
          .map((pair) => pair.split('=', 2) as [string, string]),
      );
      const agent = new Agent(cluster, leadership, { agentId, helperLabels });
      await agent.start();
      // The partition rule leans on each standby's wal_receiver_timeout: say so when it does not fit the timings.
      const stopReceiverCheck = watchReceiverTimeouts(
        config.nodes.map((n) => ({ node: n.name, endpoint: cluster.sqlEndpoint(n) })),
        config.timings,
        log,
      );
      // The HTTP status and metrics server reads the agent's memory and etcd; it never acts.
      const http = config.http && httpSecurity ? serveAgentHttp({ state: () => agent.state(), store: cluster.store, clusterName: config.cluster, nodes: config.nodes, synchronous: config.replication.synchronous }, { ...config.http, security: httpSecurity }, log) : null;
      log.info({ nodes: config.nodes.map((n) => n.name), timings: config.timings }, 'agent started');
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          log.info({ signal }, 'stopping: resigning leadership');
          stopReceiverCheck();
          // A stuck call must not keep a stopping agent alive: Docker would SIGKILL it later anyway.
          setTimeout(() => {
            log.warn('stop took longer than 5 s; exiting');
            process.exit(0);
          }, 5000).unref();
          void Promise.all([http?.close(), agent.stop()]).finally(() => {
            etcd.close();
            log.info('stopped');
            resolve();
          });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });
}
