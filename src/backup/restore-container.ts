import type Docker from 'dockerode';
import type { NodeConfig } from '../config/schema.js';
import { DOCKER_DEADLINES, execIn, inspectContainer, statusCode, userNetworkOf, withDeadline } from '../docker/engine.js';

// The Docker side of a restored copy (issue 16): what it borrows from a node's container (its
// image, network, the backup storage's mount, the TLS mount and the role names, never a
// password), and the calls that make, run, read and remove containers and volumes, each with
// a deadline. restore-copy.ts puts them in order.

export const RESTORE_LABEL = 'pg-failover.restore';
const DEFAULT_PGDATA = '/var/lib/postgresql/data';
const DEFAULT_TLS_DIR = '/etc/pg-failover/tls';
/** Environment a copy takes from its node: names only, never a secret (no *_PASSWORD, no *_FILE). */
const BORROWED_ENV = ['POSTGRES_USER', 'POSTGRES_DB', 'REPLICATION_USER', 'REWIND_USER', 'PGBOUNCER_AUTH_USER', 'APP_USER', 'PGF_TLS_DIR', 'PGDATA'];

export interface Template {
  node: NodeConfig;
  engine: Docker;
  image: string;
  network: string | undefined;
  pgdata: string;
  /** The node's backup storage, as a mount for another container (read-only: a copy never writes to it). */
  backupMount: Docker.MountSettings;
  tlsMount: Docker.MountSettings | null;
  env: string[];
}

function mountOf(mount: Docker.ContainerInspectInfo['Mounts'][number], target: string): Docker.MountSettings | null {
  if (mount.Type === 'bind') return { Type: 'bind', Source: mount.Source, Target: target, ReadOnly: true };
  if (mount.Type === 'volume' && mount.Name) return { Type: 'volume', Source: mount.Name, Target: target, ReadOnly: true };
  return null;
}

/**
 * The first running node container (in `nodes`' order) that mounts the backup storage at
 * `directory`: a copy is made from its image, on its network, with that same storage. Null
 * with the reasons when none does.
 */
export async function findTemplate(nodes: NodeConfig[], engineOf: (node: NodeConfig) => Docker, directory: string): Promise<{ ok: true; template: Template } | { ok: false; reasons: string[] }> {
  const reasons: string[] = [];
  for (const node of nodes) {
    const engine = engineOf(node);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await inspectContainer(engine, node.container);
    } catch (error) {
      reasons.push(`${node.name}: ${statusCode(error) === 404 ? 'no container' : 'docker inspect failed'}`);
      continue;
    }
    if (!info.State.Running) {
      reasons.push(`${node.name}: not running`);
      continue;
    }
    const storage = (info.Mounts ?? []).find((m) => m.Destination === directory);
    const backupMount = storage ? mountOf(storage, directory) : null;
    if (!backupMount) {
      reasons.push(`${node.name}: mounts no backup storage at ${directory}`);
      continue;
    }
    const env = new Map((info.Config.Env ?? []).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
    const tlsDir = env.get('PGF_TLS_DIR') || DEFAULT_TLS_DIR;
    const tls = (info.Mounts ?? []).find((m) => m.Destination === tlsDir);
    return {
      ok: true,
      template: {
        node,
        engine,
        image: info.Config.Image,
        network: userNetworkOf(info.NetworkSettings.Networks),
        pgdata: env.get('PGDATA') || DEFAULT_PGDATA,
        backupMount,
        tlsMount: tls ? mountOf(tls, tlsDir) : null,
        env: BORROWED_ENV.filter((name) => env.has(name)).map((name) => `${name}=${env.get(name)}`),
      },
    };
  }
  return { ok: false, reasons };
}

/** Whether a container or a volume of that name exists on the engine. */
export async function nameTaken(engine: Docker, name: string): Promise<'container' | 'volume' | null> {
  const exists = async (call: string, probe: (signal: AbortSignal) => Promise<unknown>) => {
    try {
      await withDeadline(call, name, DOCKER_DEADLINES.inspect, probe);
      return true;
    } catch (error) {
      if (statusCode(error) === 404) return false;
      throw error;
    }
  };
  if (await exists('inspect', (abortSignal) => engine.getContainer(name).inspect({ abortSignal }))) return 'container';
  if (await exists('volume inspect', (abortSignal) => engine.getVolume(name).inspect({ abortSignal } as object))) return 'volume';
  return null;
}

export async function createVolume(engine: Docker, name: string, labels: Record<string, string>): Promise<void> {
  await withDeadline('volume create', name, DOCKER_DEADLINES.create, (abortSignal) => engine.createVolume({ Name: name, Labels: labels, abortSignal }));
}

/** Removes a container (forced) and a volume; either may be missing. Errors are returned, not thrown: this is cleanup. */
export async function removeCopy(engine: Docker, container: string | null, volume: string | null): Promise<string[]> {
  const problems: string[] = [];
  if (container) {
    await withDeadline('remove', container, DOCKER_DEADLINES.remove, (abortSignal) => engine.getContainer(container).remove({ force: true, v: true, abortSignal })).catch((error: unknown) => {
      if (statusCode(error) !== 404) problems.push(`container ${container}: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
  if (volume) {
    await withDeadline('volume remove', volume, DOCKER_DEADLINES.remove, (abortSignal) => engine.getVolume(volume).remove({ abortSignal } as object)).catch((error: unknown) => {
      if (statusCode(error) !== 404) problems.push(`volume ${volume}: ${error instanceof Error ? error.message : String(error)}`);
    });
  }
  return problems;
}

/** A container's output without Docker's 8-byte frame headers (a container without a TTY is multiplexed). */
export function demuxLogs(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length && (raw[at] === 1 || raw[at] === 2) && raw[at + 1] === 0 && raw[at + 2] === 0 && raw[at + 3] === 0) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return at === 0 ? raw.toString() : Buffer.concat(parts).toString();
}

export async function logsOf(engine: Docker, container: string, tail = 200): Promise<string> {
  const raw = (await withDeadline('logs', container, DOCKER_DEADLINES.logs, (abortSignal) =>
    engine.getContainer(container).logs({ stdout: true, stderr: true, follow: false, tail, abortSignal }),
  )) as unknown as Buffer;
  return demuxLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
}

/**
 * Runs a one-off container to its end (create, start, wait within `timeoutMs`, logs) and removes
 * it. Its exit code and output come back; a run past the limit is removed (killed) and throws.
 */
export async function runToEnd(engine: Docker, name: string, options: Docker.ContainerCreateOptions, timeoutMs: number): Promise<{ exitCode: number; output: string }> {
  const helper = await withDeadline('create', name, DOCKER_DEADLINES.create, (abortSignal) => engine.createContainer({ ...options, name, abortSignal } as Docker.ContainerCreateOptions));
  try {
    await withDeadline('start', name, DOCKER_DEADLINES.start, (abortSignal) => helper.start({ abortSignal }));
    const waited = (await withDeadline('wait', name, timeoutMs, (abortSignal) => helper.wait({ abortSignal }))) as { StatusCode: number };
    return { exitCode: waited.StatusCode, output: await logsOf(engine, name) };
  } finally {
    await removeCopy(engine, name, null);
  }
}

/** Runs SQL in a container as its image's superuser ($POSTGRES_USER) over the local socket (peer: no password); the rows as text. */
export async function psqlIn(engine: Docker, container: string, sql: string, timeoutMs = 10_000): Promise<{ ok: boolean; out: string }> {
  const script = 'exec psql -XAtq -v ON_ERROR_STOP=1 -U "${POSTGRES_USER:-postgres}" -d postgres -c "$1"';
  const result = await execIn(engine, container, ['sh', '-c', script, 'psql', sql], { timeoutMs });
  return { ok: result.exitCode === 0, out: result.exitCode === 0 ? result.stdout.trim() : result.stderr.trim() };
}

/** The published host port of the container's 5432 (Docker chose it), or null. */
export async function hostPortOf(engine: Docker, container: string): Promise<number | null> {
  const info = await inspectContainer(engine, container);
  const binding = info.NetworkSettings.Ports?.['5432/tcp']?.[0];
  const port = Number(binding?.HostPort);
  return Number.isInteger(port) && port > 0 ? port : null;
}

export async function isRunning(engine: Docker, container: string): Promise<boolean> {
  return (await inspectContainer(engine, container)).State.Running;
}
