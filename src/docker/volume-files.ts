import type Docker from 'dockerode';
import { putFiles, statusCode, withDeadline } from './engine.js';

export interface DataVolume {
  volume: string;
  image: string;
  /** Where the node's container mounts it. */
  pgdata: string;
}

/**
 * Writes files into a named volume whose container is gone (`docker rm -f`): a helper
 * container is created on the volume, never started, the files go in through the archive
 * API, and the helper is removed. Returns false when the volume is gone too.
 */
export async function putFilesIntoVolume(engine: Docker, data: DataVolume, files: Record<string, string>, limitMs = 10_000): Promise<boolean> {
  try {
    await withDeadline('inspect volume', data.volume, limitMs, (abortSignal) => engine.getVolume(data.volume).inspect({ abortSignal }));
  } catch (error) {
    if (statusCode(error) === 404) return false;
    throw error;
  }
  const helper = await withDeadline('create helper', data.volume, limitMs, (abortSignal) =>
    engine.createContainer({
      Image: data.image,
      Entrypoint: ['true'],
      Cmd: [],
      Labels: { 'pg-failover.helper': 'true' },
      HostConfig: { Binds: [`${data.volume}:${data.pgdata}`] },
      abortSignal,
    } as Docker.ContainerCreateOptions),
  );
  try {
    await putFiles(engine, helper.id, data.pgdata, files, limitMs);
    return true;
  } finally {
    await helper.remove({ force: true }).catch(() => undefined);
  }
}
