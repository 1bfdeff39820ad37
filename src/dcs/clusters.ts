// Which clusters an etcd holds: a cluster exists once anything is stored under
// `<prefix>/<cluster>/` (agents publish their views, the leader key, the primary).
// The CLI asks before it reads or writes a cluster, so that a mistyped
// `--cluster` is refused with the names that exist instead of showing an empty
// cluster or filing a request nobody will ever carry out.
import { EtcdPermissionDeniedError, type Etcd3 } from 'etcd3';

// The config's rule for cluster names; a key segment that breaks it is not shown
// (values read from etcd are input too: never echo control characters or paths).
const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The cluster names found in `keys` (full etcd keys) under `prefix`, sorted, each once. */
export function clusterNamesIn(keys: string[], prefix: string): string[] {
  const names = new Set<string>();
  const head = `${prefix}/`;
  for (const key of keys) {
    if (!key.startsWith(head)) continue;
    const rest = key.slice(head.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || slash === rest.length - 1) continue;
    const name = rest.slice(0, slash);
    if (CLUSTER_NAME.test(name)) names.add(name);
  }
  return [...names].sort();
}

/** Whether anything is stored for `cluster` (one key is enough, so one small read). */
export async function clusterExists(etcd: Etcd3, prefix: string, cluster: string): Promise<boolean> {
  const keys = await etcd.getAll().prefix(`${prefix}/${cluster}/`).limit(1).keys();
  return keys.length > 0;
}

/**
 * Every cluster stored under `prefix`; null when this login may not list them (the
 * agents' etcd role reaches its own cluster's keys only, issue 15).
 */
export async function clusterNames(etcd: Etcd3, prefix: string): Promise<string[] | null> {
  try {
    return clusterNamesIn(await etcd.getAll().prefix(`${prefix}/`).keys(), prefix);
  } catch (error) {
    if (error instanceof EtcdPermissionDeniedError) return null;
    throw error;
  }
}

/** The one line the CLI prints for a cluster that is not in etcd. */
export function unknownClusterMessage(cluster: string, prefix: string, existing: string[] | null): string {
  if (existing === null) return `unknown cluster ${cluster}: nothing is stored under ${prefix}/${cluster}/ that this etcd login may read; choose one with --cluster or FAILOVER_CLUSTER`;
  const known = existing.length > 0 ? `clusters in etcd under ${prefix}: ${existing.join(', ')}` : `etcd holds no cluster under ${prefix} (no agent has run against it yet)`;
  return `unknown cluster ${cluster}; ${known}; choose one with --cluster or FAILOVER_CLUSTER`;
}
