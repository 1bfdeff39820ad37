import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { Config, DockerEndpointConfig } from './schema.js';

/**
 * Relative file paths in a config (certificates, keys, password and token files) are
 * read from the config's own place, not from wherever the command runs: against the
 * repository for a file in its `config/` folder (so config/lab.json names `.lab/tls/ca.crt`
 * as a person at the repository root would), against the file's folder otherwise.
 * Paths inside containers (tls.nodeCa, replicationPassfile, databasesFile) are left as they are.
 */
export function baseDirOf(configFile: string): string {
  const folder = dirname(resolve(configFile));
  return basename(folder) === 'config' ? dirname(folder) : folder;
}

export function resolveConfigPaths(config: Config, baseDir: string): Config {
  const at = <T extends string | undefined>(path: T): T => (path === undefined || isAbsolute(path) ? path : (resolve(baseDir, path) as T));
  const docker = (d: DockerEndpointConfig): DockerEndpointConfig => ({ ...d, ca: at(d.ca), cert: at(d.cert), key: at(d.key) });
  const credential = <C extends { passwordFile?: string | undefined }>(c: C): C => ({ ...c, passwordFile: at(c.passwordFile) });
  const { etcd, http, tls, endpoints } = config;
  return {
    ...config,
    etcd: { ...etcd, cacert: at(etcd.cacert), cert: at(etcd.cert), key: at(etcd.key), passwordFile: at(etcd.passwordFile), reader: etcd.reader && credential(etcd.reader) },
    superuser: credential(config.superuser),
    replication: credential(config.replication),
    nodes: config.nodes.map((node) => ({ ...node, docker: docker(node.docker) })),
    ...(tls ? { tls: { ...tls, ca: at(tls.ca) } } : {}),
    ...(http ? { http: { ...http, tokenFile: at(http.tokenFile), tls: http.tls && { cert: at(http.tls.cert), key: at(http.tls.key), clientCa: at(http.tls.clientCa) } } } : {}),
    ...(endpoints
      ? {
          endpoints: {
            ...endpoints,
            admin: credential(endpoints.admin),
            write: endpoints.write && { ...endpoints.write, docker: docker(endpoints.write.docker) },
            read: endpoints.read && { ...endpoints.read, docker: docker(endpoints.read.docker) },
          },
        }
      : {}),
  };
}
