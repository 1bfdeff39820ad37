import { readFileSync } from 'node:fs';
import type { DockerOptions } from 'dockerode';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';

/** Where a Docker engine answers: the local socket (the default), or a remote engine over mutual TLS. */
export interface DockerEndpoint {
  socketPath?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  protocol?: 'http' | 'https' | undefined;
  /** File paths of the CA, the client certificate and its key. */
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/**
 * dockerode's options for an endpoint. A remote engine is reached over https with the
 * CONTENTS of ca, cert and key (dockerode wants PEM, not paths); plain http to a remote
 * engine is refused here as well as in the config schema: anyone on its path could start,
 * stop and exec in the database containers. The local socket is used as given.
 */
export function dockerOptionsOf(endpoint: DockerEndpoint): DockerOptions | undefined {
  if (endpoint.host === undefined) return endpoint.socketPath ? { socketPath: endpoint.socketPath } : undefined;
  const engine = endpoint.port === undefined ? endpoint.host : `${endpoint.host}:${endpoint.port}`;
  if (endpoint.protocol !== 'https') throw new ConfigError([`docker: the engine at ${engine} is remote: it is reached over TLS only (protocol "https" with ca, cert and key)`]);
  const read = (what: 'ca' | 'cert' | 'key'): Buffer => {
    const path = endpoint[what];
    if (path === undefined) throw new ConfigError([`docker: the engine at ${engine} needs ${what} (a file) for mutual TLS`]);
    try {
      return readFileSync(path);
    } catch (error) {
      throw new ConfigError([`docker: cannot read ${what} ${path} for the engine at ${engine}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`]);
    }
  };
  return { host: endpoint.host, port: endpoint.port, protocol: 'https', ca: read('ca'), cert: read('cert'), key: read('key') };
}

/** Every engine an agent may call: each node's, and each PgBouncer's. */
export function dockerEndpointsOf(config: Config): DockerEndpoint[] {
  const pgbouncers = [config.endpoints?.write, config.endpoints?.read].flatMap((p) => (p ? [p.docker] : []));
  return [...config.nodes.map((n) => n.docker), ...pgbouncers];
}
