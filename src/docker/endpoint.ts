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
 * Why DOCKER_HOST may not stand in for the local engine; null when it may (unset, a unix
 * socket or a named pipe, or https with the client certificate of DOCKER_CERT_PATH).
 * dockerode reads DOCKER_HOST for an endpoint without a host, and lets its host win over
 * an explicit socketPath: unchecked, DOCKER_HOST=tcp://…:2375 in an agent's environment
 * would send every call to a remote engine over plain http, past the checks below.
 */
function dockerHostProblem(env: NodeJS.ProcessEnv): string | null {
  const value = env.DOCKER_HOST;
  if (!value || value.startsWith('unix://') || value.startsWith('npipe://')) return null;
  const port = /:(\d+)\/?$/.exec(value)?.[1];
  const https = env.DOCKER_TLS_VERIFY === '1' || port === '2376';
  if (https && env.DOCKER_CERT_PATH) return null;
  return `docker: DOCKER_HOST names a remote engine without mutual TLS (it needs DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH); give the engine in the config (docker.host, protocol "https", ca, cert, key), or unset DOCKER_HOST`;
}

/**
 * dockerode's options for an endpoint. A remote engine is reached over https with the
 * CONTENTS of ca, cert and key (dockerode wants PEM, not paths); plain http to a remote
 * engine is refused here as well as in the config schema: anyone on its path could start,
 * stop and exec in the database containers. The local socket is used as given (a
 * socketPath wins over DOCKER_HOST); DOCKER_HOST stands in for it only as a local socket
 * or over mutual TLS.
 */
export function dockerOptionsOf(endpoint: DockerEndpoint, env: NodeJS.ProcessEnv = process.env): DockerOptions | undefined {
  if (endpoint.host === undefined) {
    if (endpoint.socketPath) return { socketPath: endpoint.socketPath, host: undefined, protocol: undefined } as DockerOptions;
    const problem = dockerHostProblem(env);
    if (problem !== null) throw new ConfigError([problem]);
    return undefined;
  }
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
