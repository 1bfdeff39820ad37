import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import type { ContainerState } from '../core/types.js';

export interface DockerEndpoint {
  socketPath?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  protocol?: 'http' | 'https' | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const engines = new Map<string, Docker>();

/** One dockerode client per endpoint. No API version is pinned: Debian's engine speaks 1.41. */
export function engineFor(endpoint: DockerEndpoint = {}): Docker {
  const key = JSON.stringify(endpoint);
  let engine = engines.get(key);
  if (!engine) {
    const hasRemote = endpoint.host !== undefined;
    engine = hasRemote
      ? new Docker({ host: endpoint.host, port: endpoint.port, protocol: endpoint.protocol, ca: endpoint.ca, cert: endpoint.cert, key: endpoint.key })
      : new Docker(endpoint.socketPath ? { socketPath: endpoint.socketPath } : undefined);
    engines.set(key, engine);
  }
  return engine;
}

function statusCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? Number((error as { statusCode: unknown }).statusCode) : undefined;
}

export async function containerState(engine: Docker, container: string, timeoutMs = 2000): Promise<ContainerState> {
  let timer: NodeJS.Timeout | undefined;
  try {
    // The engine can hold an inspect while the container changes state: never wait on it for long.
    const info = await Promise.race([
      engine.getContainer(container).inspect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('inspect timed out')), timeoutMs);
      }),
    ]);
    const state = info.State;
    if (state.Paused) return 'paused';
    if (state.Restarting) return 'restarting';
    if (state.Running) return 'running';
    if (state.Dead) return 'dead';
    return 'exited';
  } catch (error) {
    return statusCode(error) === 404 ? 'missing' : 'unknown';
  } finally {
    clearTimeout(timer);
  }
}

/** SIGKILL; a container that is already gone or stopped counts as killed. */
export async function killContainer(engine: Docker, container: string): Promise<void> {
  try {
    await engine.getContainer(container).kill({ signal: 'SIGKILL' });
  } catch (error) {
    const code = statusCode(error);
    if (code === 409) {
      // 409: not running, or paused. A paused container cannot take SIGKILL through the API on every engine: unpause first.
      const info = await engine.getContainer(container).inspect();
      if (info.State.Paused) {
        await engine.getContainer(container).kill({ signal: 'SIGKILL' }).catch(async () => {
          await engine.getContainer(container).unpause().catch(() => undefined);
          await engine.getContainer(container).kill({ signal: 'SIGKILL' }).catch(() => undefined);
        });
      }
      return;
    }
    if (code === 404) return;
    throw error;
  }
}

export async function stopContainer(engine: Docker, container: string, timeoutSec: number): Promise<void> {
  try {
    await engine.getContainer(container).stop({ t: timeoutSec });
  } catch (error) {
    const code = statusCode(error);
    if (code === 304 || code === 404) return;
    throw error;
  }
}

/**
 * Sends `signal` to the container's main process and resolves when it has exited,
 * without waiting for the rest of `docker stop`'s bookkeeping. Resolves at once for a
 * container that is not running.
 */
export async function signalAndWaitForExit(engine: Docker, container: string, signal: string, timeoutMs: number): Promise<void> {
  const handle = engine.getContainer(container);
  // 'not-running' (not 'next-exit'): it resolves however the wait and the exit race each other.
  const exited = handle.wait({ condition: 'not-running' }) as Promise<unknown>;
  // When the kill below finds no container, nobody awaits the wait, whose own 404 would
  // then go unhandled and crash the process: it is observed here, and raced below.
  exited.catch(() => undefined);
  try {
    await handle.kill({ signal });
  } catch (error) {
    const code = statusCode(error);
    if (code === 409 || code === 404) return;
    throw error;
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      exited,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${container} did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startContainer(engine: Docker, container: string): Promise<void> {
  try {
    await engine.getContainer(container).start();
  } catch (error) {
    if (statusCode(error) === 304) return;
    throw error;
  }
}

/** Stops Docker from restarting a container by itself, so a fenced primary stays down. */
export async function disableRestart(engine: Docker, container: string): Promise<void> {
  try {
    await engine.getContainer(container).update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 } });
  } catch (error) {
    // A container that is gone cannot be restarted by Docker: that is what was asked.
    if (statusCode(error) !== 404) throw error;
  }
}

/** Runs a command in a running container and waits for its exit code. */
export async function execIn(
  engine: Docker,
  container: string,
  cmd: string[],
  options: { user?: string; env?: string[]; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const exec = await engine.getContainer(container).exec({
    Cmd: cmd,
    User: options.user ?? 'postgres',
    Env: options.env,
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  engine.modem.demuxStream(stream, stdout, stderr);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${cmd[0]} in ${container} timed out`)), Math.max(0, deadline - Date.now()));
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  // ExitCode can be null for a moment after the stream ends: poll until Running is false.
  for (;;) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null) {
      return { exitCode: info.ExitCode, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
    }
    if (Date.now() > deadline) throw new Error(`exec ${cmd[0]} in ${container} did not report an exit code`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Writes files into one directory of a container, running or stopped (volumes
 * included), in one archive: each archive call mounts the container.
 */
export async function putFiles(engine: Docker, container: string, dir: string, files: Record<string, string>): Promise<void> {
  const entries = Object.entries(files).map(([name, content]) => tarEntry(name, Buffer.from(content), 0, 0));
  await engine.getContainer(container).putArchive(Buffer.concat([...entries, Buffer.alloc(1024, 0)]), { path: dir });
}

function tarEntry(name: string, body: Buffer, uid: number, gid: number): Buffer {
  const header = Buffer.alloc(512, 0);
  const field = (value: string, offset: number, length: number) => header.write(value, offset, length, 'ascii');
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, '0') + '\0';
  field(name, 0, 100);
  // World-readable: the node's entrypoint runs as postgres and reads what the agent leaves.
  field(octal(0o644, 8), 100, 8);
  field(octal(uid, 8), 108, 8);
  field(octal(gid, 8), 116, 8);
  field(octal(body.length, 12), 124, 12);
  field(octal(Math.floor(Date.now() / 1000), 12), 136, 12);
  field('        ', 148, 8);
  field('0', 156, 1);
  field('ustar\0', 257, 6);
  field('00', 263, 2);
  let sum = 0;
  for (const byte of header) sum += byte;
  field(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512, 0);
  return Buffer.concat([header, body, padding]);
}

export interface ContainerEvent {
  container: string;
  action: string;
  at: number;
}

/**
 * Follows Docker's event stream for containers: a killed primary is noticed at once,
 * without waiting for a probe to time out. Returns a function that stops following.
 */
export async function followContainerEvents(engine: Docker, onEvent: (event: ContainerEvent) => void, onEnd: (error?: Error) => void): Promise<() => void> {
  const stream = (await engine.getEvents({
    filters: { type: ['container'], event: ['die', 'kill', 'stop', 'start', 'pause', 'unpause', 'destroy', 'oom'] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line) continue;
      try {
        const event = JSON.parse(line) as { Action: string; Actor?: { Attributes?: { name?: string } }; timeNano?: number };
        const name = event.Actor?.Attributes?.name;
        if (name) onEvent({ container: name, action: event.Action, at: event.timeNano ? Math.floor(event.timeNano / 1e6) : Date.now() });
      } catch {
        // a partial or foreign line: ignore
      }
    }
  });
  stream.on('end', () => onEnd());
  stream.on('error', (error: Error) => onEnd(error));
  return () => stream.destroy();
}

/** The user-defined network among a container's networks: the default bridge has no name resolution. */
export function userNetworkOf(networks: Record<string, unknown> | undefined): string | undefined {
  const names = Object.keys(networks ?? {});
  return names.find((n) => !['bridge', 'host', 'none'].includes(n)) ?? names[0];
}

/**
 * Runs a one-off container with another container's volumes and network and waits
 * for it: this is how a node's data directory is rebuilt while the node is stopped.
 */
export async function runWithVolumesOf(
  engine: Docker,
  container: string,
  cmd: string[],
  options: { env?: string[]; user?: string; timeoutMs?: number; labels?: Record<string, string>; requireMount?: string },
): Promise<ExecResult> {
  const info = await engine.getContainer(container).inspect();
  if (options.requireMount && !(info.Mounts ?? []).some((m) => m.Destination === options.requireMount)) {
    throw new Error(`${container} has no volume at ${options.requireMount}; a rebuild cannot reach its data directory`);
  }
  const network = userNetworkOf(info.NetworkSettings.Networks);
  const helper = await engine.createContainer({
    Image: info.Config.Image,
    Entrypoint: [],
    Cmd: cmd,
    Env: options.env,
    User: options.user ?? 'postgres',
    Labels: { 'pg-failover.helper': 'true', ...(options.labels ?? {}) },
    HostConfig: { VolumesFrom: [info.Id], NetworkMode: network, AutoRemove: false },
  });
  try {
    await helper.start();
    const waited = (await Promise.race([
      helper.wait(),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`rebuild helper for ${container} timed out`)), options.timeoutMs ?? 120_000)),
    ])) as { StatusCode: number };
    const logs = (await helper.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return { exitCode: waited.StatusCode, stdout: logs.toString(), stderr: '' };
  } finally {
    await helper.remove({ force: true }).catch(() => undefined);
  }
}
