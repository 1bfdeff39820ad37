import Docker from 'dockerode';
import { PassThrough } from 'node:stream';
import type { ContainerState } from '../core/types.js';
import { dockerOptionsOf, type DockerEndpoint } from './endpoint.js';

export type { DockerEndpoint } from './endpoint.js';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const engines = new Map<string, Docker>();

/**
 * One dockerode client per endpoint. No API version is pinned: Debian's engine speaks 1.41.
 * A remote endpoint's files are read when its client is first made (the agent makes them
 * all at start); a ConfigError names an endpoint that is not over TLS or a file that cannot be read.
 */
export function engineFor(endpoint: DockerEndpoint = {}): Docker {
  const key = JSON.stringify(endpoint);
  let engine = engines.get(key);
  if (!engine) {
    engine = new Docker(dockerOptionsOf(endpoint));
    engines.set(key, engine);
  }
  return engine;
}

/**
 * How long each kind of Docker call may take before the agent gives up on it (ms). The
 * engine answers these in well under a second on a healthy host (kill 0.2 s, exec 0.1 s,
 * start 0.3-1 s); the limits are generous against a busy engine, and short against the
 * leader's progress bound (timings.leaderProgressMs, 40 s by default): a wedged engine on
 * a sick host fails the step with a DockerDeadlineError instead of holding it forever.
 */
export const DOCKER_DEADLINES = {
  inspect: 2000,
  kill: 10_000,
  update: 10_000,
  unpause: 10_000,
  start: 20_000,
  /** On top of the stop's own grace period (`docker stop -t`), which the engine waits out first. */
  stopBeyondGrace: 10_000,
  archive: 10_000,
  /** Each of an exec's calls (create, start, inspect); the whole exec has its own limit. */
  execCall: 10_000,
  exec: 60_000,
  create: 30_000,
  remove: 15_000,
  logs: 10_000,
  /** Opening the event stream; the stream itself stays open as long as it is followed. */
  events: 10_000,
  /** A one-off helper container's run (a rebuild's pg_basebackup). */
  helperRun: 120_000,
} as const;

/** A Docker call that did not answer within its limit. */
export class DockerDeadlineError extends Error {
  constructor(
    readonly call: string,
    readonly container: string,
    readonly limitMs: number,
  ) {
    super(`docker ${call} of ${container} did not answer within ${limitMs} ms`);
    this.name = 'DockerDeadlineError';
  }
}

/**
 * Runs one Docker call with a deadline: past `limitMs` the call's HTTP request is aborted
 * and the returned promise rejects with a DockerDeadlineError naming the call, the
 * container and the limit. The race does not rely on the abort: a call that ignores
 * its signal still cannot hold the caller. The signal fires only on expiry, so a stream
 * the call returned stays open after it answered.
 */
export async function withDeadline<T>(call: string, container: string, limitMs: number, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DockerDeadlineError(call, container, limitMs);
      reject(error);
      controller.abort(error);
    }, limitMs);
  });
  const attempt = run(controller.signal);
  // After expiry the call's own rejection (the abort) has nobody waiting for it.
  attempt.catch(() => undefined);
  try {
    return await Promise.race([attempt, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** docker inspect with a deadline. */
export async function inspectContainer(engine: Docker, container: string, limitMs: number = DOCKER_DEADLINES.inspect): Promise<Docker.ContainerInspectInfo> {
  return withDeadline('inspect', container, limitMs, (abortSignal) => engine.getContainer(container).inspect({ abortSignal }));
}

export function statusCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'statusCode' in error ? Number((error as { statusCode: unknown }).statusCode) : undefined;
}

export async function containerState(engine: Docker, container: string, timeoutMs: number = DOCKER_DEADLINES.inspect): Promise<ContainerState> {
  try {
    // The engine can hold an inspect while the container changes state: never wait on it for long.
    const state = (await inspectContainer(engine, container, timeoutMs)).State;
    if (state.Paused) return 'paused';
    if (state.Restarting) return 'restarting';
    if (state.Running) return 'running';
    if (state.Dead) return 'dead';
    return 'exited';
  } catch (error) {
    return statusCode(error) === 404 ? 'missing' : 'unknown';
  }
}

/** SIGKILL; a container that is already gone or stopped counts as killed. */
export async function killContainer(engine: Docker, container: string, limitMs: number = DOCKER_DEADLINES.kill): Promise<void> {
  const kill = () => withDeadline('kill', container, limitMs, (abortSignal) => engine.getContainer(container).kill({ signal: 'SIGKILL', abortSignal }));
  try {
    await kill();
  } catch (error) {
    const code = statusCode(error);
    if (code === 409) {
      // 409: not running, or paused. A paused container cannot take SIGKILL through the API on every engine: unpause first.
      const info = await inspectContainer(engine, container);
      if (info.State.Paused) {
        await kill().catch(async () => {
          await withDeadline('unpause', container, DOCKER_DEADLINES.unpause, (abortSignal) => engine.getContainer(container).unpause({ abortSignal })).catch(() => undefined);
          await kill().catch(() => undefined);
        });
      }
      return;
    }
    if (code === 404) return;
    throw error;
  }
}

/** docker stop: the engine waits up to `timeoutSec` for the container to exit, then kills it. */
export async function stopContainer(engine: Docker, container: string, timeoutSec: number, limitMs: number = timeoutSec * 1000 + DOCKER_DEADLINES.stopBeyondGrace): Promise<void> {
  try {
    await withDeadline('stop', container, limitMs, (abortSignal) => engine.getContainer(container).stop({ t: timeoutSec, abortSignal }));
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
export async function signalAndWaitForExit(engine: Docker, container: string, signal: string, timeoutMs: number, killLimitMs: number = DOCKER_DEADLINES.kill): Promise<void> {
  const handle = engine.getContainer(container);
  // The wait is a long poll: it is aborted when this function is done, however it ends.
  const waiting = new AbortController();
  // 'not-running' (not 'next-exit'): it resolves however the wait and the exit race each other.
  const exited = handle.wait({ condition: 'not-running', abortSignal: waiting.signal }) as Promise<unknown>;
  // When the kill below finds no container, nobody awaits the wait, whose own 404 would
  // then go unhandled and crash the process: it is observed here, and raced below.
  exited.catch(() => undefined);
  try {
    try {
      await withDeadline(`kill -s ${signal}`, container, killLimitMs, (abortSignal) => handle.kill({ signal, abortSignal }));
    } catch (error) {
      const code = statusCode(error);
      if (code === 409 || code === 404) return;
      throw error;
    }
    await withDeadline(`wait for exit after ${signal}`, container, timeoutMs, () => exited);
  } finally {
    waiting.abort();
  }
}

export async function startContainer(engine: Docker, container: string, limitMs: number = DOCKER_DEADLINES.start): Promise<void> {
  try {
    await withDeadline('start', container, limitMs, (abortSignal) => engine.getContainer(container).start({ abortSignal }));
  } catch (error) {
    if (statusCode(error) === 304) return;
    throw error;
  }
}

/** Stops Docker from restarting a container by itself, so a fenced primary stays down. */
export async function disableRestart(engine: Docker, container: string, limitMs: number = DOCKER_DEADLINES.update): Promise<void> {
  try {
    // The engine sends the options as the request body; dockerode takes abortSignal out of it.
    await withDeadline('update (restart policy)', container, limitMs, (abortSignal) =>
      engine.getContainer(container).update({ RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, abortSignal }),
    );
  } catch (error) {
    // A container that is gone cannot be restarted by Docker: that is what was asked.
    if (statusCode(error) !== 404) throw error;
  }
}

/**
 * Runs a command in a running container and waits for its exit code, all within
 * `timeoutMs` (each of its engine calls also within DOCKER_DEADLINES.execCall).
 */
export async function execIn(
  engine: Docker,
  container: string,
  cmd: string[],
  options: { user?: string; env?: string[]; timeoutMs?: number } = {},
): Promise<ExecResult> {
  const totalMs = options.timeoutMs ?? DOCKER_DEADLINES.exec;
  const deadline = Date.now() + totalMs;
  const callLimit = () => Math.max(1, Math.min(DOCKER_DEADLINES.execCall, deadline - Date.now()));
  // The first call gets the whole budget (a millisecond spent since `deadline` was set must not make its limit read 49 of 50 ms).
  const exec = await withDeadline(`exec create (${cmd[0]})`, container, Math.min(DOCKER_DEADLINES.execCall, totalMs), (abortSignal) =>
    engine.getContainer(container).exec({
      Cmd: cmd,
      User: options.user ?? 'postgres',
      Env: options.env,
      AttachStdout: true,
      AttachStderr: true,
      abortSignal,
    } as Docker.ExecCreateOptions),
  );
  const stream = await withDeadline(`exec start (${cmd[0]})`, container, callLimit(), (abortSignal) => exec.start({ hijack: true, stdin: false, abortSignal }));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  engine.modem.demuxStream(stream, stdout, stderr);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`exec ${cmd[0]} in ${container} did not finish within ${options.timeoutMs ?? DOCKER_DEADLINES.exec} ms`));
    }, Math.max(0, deadline - Date.now()));
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
    const info = await withDeadline(`exec inspect (${cmd[0]})`, container, callLimit(), (abortSignal) => exec.inspect({ abortSignal }));
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
export async function putFiles(engine: Docker, container: string, dir: string, files: Record<string, string>, limitMs: number = DOCKER_DEADLINES.archive): Promise<void> {
  const entries = Object.entries(files).map(([name, content]) => tarEntry(name, Buffer.from(content), 0, 0));
  const archive = Buffer.concat([...entries, Buffer.alloc(1024, 0)]);
  await withDeadline(`put archive into ${dir}`, container, limitMs, (abortSignal) => engine.getContainer(container).putArchive(archive, { path: dir, abortSignal }));
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
export async function followContainerEvents(
  engine: Docker,
  onEvent: (event: ContainerEvent) => void,
  onEnd: (error?: Error) => void,
  limitMs: number = DOCKER_DEADLINES.events,
): Promise<() => void> {
  const stream = (await withDeadline('events', 'every container', limitMs, (abortSignal) =>
    engine.getEvents({
      filters: { type: ['container'], event: ['die', 'kill', 'stop', 'start', 'pause', 'unpause', 'destroy', 'oom'] },
      abortSignal,
    }),
  )) as NodeJS.ReadableStream & { destroy(): void };
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
  const info = await inspectContainer(engine, container);
  if (options.requireMount && !(info.Mounts ?? []).some((m) => m.Destination === options.requireMount)) {
    throw new Error(`${container} has no volume at ${options.requireMount}; a rebuild cannot reach its data directory`);
  }
  const network = userNetworkOf(info.NetworkSettings.Networks);
  const helper = await withDeadline('create (helper)', container, DOCKER_DEADLINES.create, (abortSignal) =>
    engine.createContainer({
      Image: info.Config.Image,
      Entrypoint: [],
      Cmd: cmd,
      Env: options.env,
      User: options.user ?? 'postgres',
      Labels: { 'pg-failover.helper': 'true', ...(options.labels ?? {}) },
      HostConfig: { VolumesFrom: [info.Id], NetworkMode: network, AutoRemove: false },
      abortSignal,
    } as Docker.ContainerCreateOptions),
  );
  const name = `helper of ${container}`;
  try {
    await withDeadline('start', name, DOCKER_DEADLINES.start, (abortSignal) => helper.start({ abortSignal }));
    const waited = (await withDeadline('wait', name, options.timeoutMs ?? DOCKER_DEADLINES.helperRun, (abortSignal) => helper.wait({ abortSignal }))) as { StatusCode: number };
    const logs = (await withDeadline('logs', name, DOCKER_DEADLINES.logs, (abortSignal) => helper.logs({ stdout: true, stderr: true, follow: false, abortSignal }))) as unknown as Buffer;
    return { exitCode: waited.StatusCode, stdout: logs.toString(), stderr: '' };
  } finally {
    await withDeadline('remove', name, DOCKER_DEADLINES.remove, (abortSignal) => helper.remove({ force: true, abortSignal })).catch(() => undefined);
  }
}
