import { readFileSync, existsSync } from 'node:fs';
import type { Config, NodeConfig } from '../config/schema.js';
import { passwordOf } from '../config/load.js';
import type { Endpoint, EndpointTls } from '../postgres/connection.js';
import { loadEndpointTls } from '../postgres/endpoint-tls.js';

/**
 * How a drill on the Docker host reaches the lab's nodes: through the ports they
 * publish on 127.0.0.1 (`hostPort` in the config), not the names agents use inside
 * the Docker network.
 */
export class LabAccess {
  private readonly password: string;
  /** The application's login from the lab's .env (APP_USER, APP_PASSWORD): PgBouncer serves no superuser (issue 15). */
  private readonly app: { user: string; password: string } | null;
  /** The config's PostgreSQL TLS with its CA read once; the nodes' certificates name 127.0.0.1 for this. */
  private readonly tls: EndpointTls | undefined;

  constructor(
    readonly config: Config,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const values = { ...dotenv(), ...env };
    this.password = passwordOf(config.superuser, values);
    this.app = values.APP_USER && values.APP_PASSWORD ? { user: values.APP_USER, password: values.APP_PASSWORD } : null;
    this.tls = loadEndpointTls(config.tls);
  }

  endpoint(node: NodeConfig, database = this.config.database): Endpoint {
    if (node.hostPort === undefined) throw new Error(`node ${node.name} has no hostPort in the config; a drill reaches nodes through 127.0.0.1:<hostPort>`);
    return { host: '127.0.0.1', port: node.hostPort, user: this.config.superuser.user, password: this.password, database, ...(this.tls ? { tls: this.tls } : {}) };
  }

  /** The write endpoint (PgBouncer) as a client on the Docker host reaches it: as the application, over TLS. */
  writeEndpoint(database = this.config.database): Endpoint {
    const write = this.config.endpoints?.write;
    if (write?.hostPort === undefined) throw new Error('the config has no endpoints.write with a hostPort; --via write-endpoint needs one');
    const login = this.app ?? { user: this.config.superuser.user, password: this.password };
    return { host: '127.0.0.1', port: write.hostPort, ...login, database, ...(this.tls ? { tls: this.tls } : {}) };
  }

  node(name: string): NodeConfig {
    const node = this.config.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`unknown node ${name}`);
    return node;
  }
}

/** The lab's .env, so that a drill run from the repository knows the lab's passwords. */
function dotenv(path = '.env'): Record<string, string> {
  if (!existsSync(path)) return {};
  const entries = readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && line.includes('='))
    .map((line) => {
      const at = line.indexOf('=');
      return [line.slice(0, at), line.slice(at + 1).replace(/^["']|["']$/g, '')] as [string, string];
    });
  return Object.fromEntries(entries);
}
