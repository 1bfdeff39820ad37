import { putFiles, runWithVolumesOf, statusCode } from '../../src/docker/engine.js';
import { readFileFrom } from '../../src/docker/read-file.js';
import { docker, type TestCluster } from './cluster.js';
import { eventually } from './eventually.js';

// A node's data directory and container seen from outside, for the rejoin tests: files read and
// written through Docker's archive API (the node may be stopped), a throwaway container on its
// volumes, its exits as Docker's events report them, and what its entrypoint logged.

export const PGDATA = '/var/lib/postgresql/data';

/** Whether `path` exists in the container (running or stopped). */
export async function pathExists(container: string, path: string): Promise<boolean> {
  try {
    await docker.getContainer(container).infoArchive({ path });
    return true;
  } catch (error) {
    if (statusCode(error) === 404) return false;
    throw error;
  }
}

/** A file of the node's data directory; null when it is not there. */
export async function dataFile(container: string, name: string): Promise<Buffer | null> {
  return readFileFrom(docker, container, `${PGDATA}/${name}`).catch((error: unknown) => {
    if (statusCode(error) === 404) return null;
    throw error;
  });
}

export async function putDataFiles(container: string, files: Record<string, string>): Promise<void> {
  await putFiles(docker, container, PGDATA, files);
}

/** A rejoin marker as the agents write it (src/agent/rejoin-marker.ts), with any field chosen by the test. */
export function markerText(m: { epoch: number; source: string; host: string; slot: string; timeline: number; method: string; failed?: string }): string {
  return `EPOCH=${m.epoch}\nSOURCE=${m.source}\nPRIMARY_HOST=${m.host}\nPRIMARY_PORT=5432\nREPLICATION_SLOT=${m.slot}\nTIMELINE=${m.timeline}\nMETHOD=${m.method}\nFAILED=${m.failed ?? ''}\n`;
}

/**
 * Runs a bash script as postgres in a throwaway container on the (stopped) node's volumes; it must
 * exit 0 (its output comes back framed by Docker's log headers: a script checks itself, with its exit code).
 */
export async function onDataVolume(c: TestCluster, container: string, script: string): Promise<void> {
  const result = await runWithVolumesOf(docker, container, ['bash', '-euc', script], { labels: c.labels, requireMount: PGDATA, timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`script on ${container}'s volume exited ${result.exitCode}: ${result.stdout}`);
}

export async function systemIdOf(c: TestCluster, node: string): Promise<string> {
  const [row] = await c.query<{ id: string }>(node, 'SELECT system_identifier::text AS id FROM pg_control_system()');
  return row!.id;
}

/** What the container logged since `sinceMs` (its entrypoint's lines included). */
export async function logsSince(container: string, sinceMs: number): Promise<string> {
  const raw = (await docker.getContainer(container).logs({ stdout: true, stderr: true, follow: false, since: Math.floor(sinceMs / 1000) })) as unknown as Buffer;
  return raw.toString();
}

/** Waits until the container has stopped; returns its exit code. */
export async function exitCodeOf(container: string, timeoutMs = 60_000): Promise<number> {
  return eventually(async () => {
    const state = (await docker.getContainer(container).inspect()).State;
    return state.Running || state.Status !== 'exited' ? null : { code: state.ExitCode };
  }, `${container} exiting`, timeoutMs, 200).then((r) => r.code);
}

/** Records the exit codes of the container's deaths from now on (Docker's `die` events), until `stop`. */
export async function watchExits(container: string): Promise<{ codes: number[]; stop(): void }> {
  const codes: number[] = [];
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['die'], container: [container] } })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const event = JSON.parse(line) as { Actor?: { Attributes?: { exitCode?: string } } };
      codes.push(Number(event.Actor?.Attributes?.exitCode));
    }
  });
  stream.on('error', () => undefined);
  return { codes, stop: () => stream.destroy() };
}
