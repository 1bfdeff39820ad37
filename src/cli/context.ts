import type { Command } from 'commander';
import type { Etcd3 } from 'etcd3';
import { ConfigError, loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { createEtcd, describeEtcdError } from '../dcs/client.js';
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

export function configOf(command: Command): Config {
  const options = command.optsWithGlobals<GlobalOptions>();
  try {
    return loadConfig({ file: options.config, etcd: options.etcd, cluster: options.cluster });
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
export async function openStore(config: Config): Promise<{ etcd: Etcd3; store: ClusterStore }> {
  const etcd = createEtcd({ endpoints: config.etcd.endpoints, callTimeoutMs: Math.max(config.etcd.callTimeoutMs, 2000) });
  const store = new ClusterStore(etcd, keysFor(config.etcd.prefix, config.cluster));
  let existing: string[] | null = null;
  try {
    if (!(await clusterExists(etcd, config.etcd.prefix, config.cluster))) existing = await clusterNames(etcd, config.etcd.prefix);
  } catch (error) {
    etcd.close();
    throw new CliError(describeEtcdError(error, config.etcd.endpoints), 1);
  }
  if (existing !== null) {
    etcd.close();
    throw new CliError(unknownClusterMessage(config.cluster, config.etcd.prefix, existing), 1);
  }
  return { etcd, store };
}

export async function withStore<T>(command: Command, use: (store: ClusterStore, config: Config) => Promise<T>): Promise<T> {
  const config = configOf(command);
  const { etcd, store } = await openStore(config);
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
