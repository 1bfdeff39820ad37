import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createEtcd, describeEtcdError, type EtcdRole } from '../dcs/client.js';
import { clusterExists, clusterNames, unknownClusterMessage } from '../dcs/clusters.js';
import { keysFor } from '../dcs/keys.js';
import { ClusterStore } from '../dcs/store.js';
import { jsonText } from '../json.js';

export interface GlobalOptions {
  etcd?: string;
  cluster?: string;
  config?: string;
}

/** A failure the user can act on: one line on stderr, and the exit code of the contract. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/**
 * With no --config, no FAILOVER_CONFIG and no etcd given, the CLI talks to the lab as
 * it always has: it reads ./config/lab.json, which names the lab's CA, client certificate
 * and logins (issue 15), so `failover status` keeps working with no flags.
 */
export function defaultConfigFile(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = options.config ?? (env.FAILOVER_CONFIG || undefined);
  if (file !== undefined) return file;
  if (options.etcd !== undefined || env.FAILOVER_ETCD) return undefined;
  return existsSync(LAB_CONFIG) ? LAB_CONFIG : undefined;
}

const LAB_CONFIG = 'config/lab.json';

export function configOf(command: Command): Config {
  const options = command.optsWithGlobals<GlobalOptions>();
  try {
    return loadConfig({ file: defaultConfigFile(options), etcd: options.etcd, cluster: options.cluster });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
}

/**
 * Opens etcd and checks that it answers and holds the cluster, so that an unreachable
 * etcd is one clear line, not a hang, and a mistyped cluster is refused with the names
 * that exist instead of showing an empty cluster (or pausing one nobody runs).
 */
export async function openStore(config: Config, role: EtcdRole = 'agent'): Promise<{ etcd: Etcd3; store: ClusterStore }> {
  let etcd: Etcd3;
  try {
    etcd = createEtcd({ ...config.etcd, callTimeoutMs: Math.max(config.etcd.callTimeoutMs, 2000) }, role);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 2);
    throw error;
  }
  const store = new ClusterStore(etcd, keysFor(config.etcd.prefix, config.cluster));
  let existing: string[] | null | undefined;
  try {
    if (!(await clusterExists(etcd, config.etcd.prefix, config.cluster))) existing = await clusterNames(etcd, config.etcd.prefix);
  } catch (error) {
    etcd.close();
    throw new CliError(describeEtcdError(error, config.etcd.endpoints), 1);
  }
  if (existing !== undefined) {
    etcd.close();
    throw new CliError(unknownClusterMessage(config.cluster, config.etcd.prefix, existing), 1);
  }
  return { etcd, store };
}

export async function withStore<T>(command: Command, use: (store: ClusterStore, config: Config) => Promise<T>, role: EtcdRole = 'agent'): Promise<T> {
  const config = configOf(command);
  const { etcd, store } = await openStore(config, role);
  try {
    return await use(store, config);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(describeEtcdError(error, config.etcd.endpoints), 1);
  } finally {
    etcd.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(jsonText(value));
}
