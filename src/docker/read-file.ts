import type Docker from 'dockerode';

/**
 * Reads one file out of a container, running or stopped, through Docker's archive API
 * (a stopped container cannot run `cat`). Small files only: the whole archive is held in memory.
 */
export async function readFileFrom(engine: Docker, container: string, path: string, timeoutMs = 5000): Promise<Buffer> {
  const signal = AbortSignal.timeout(timeoutMs);
  const read = async (): Promise<Buffer> => {
    const stream = (await engine.getContainer(container).getArchive({ path, abortSignal: signal } as { path: string })) as NodeJS.ReadableStream;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
    return firstTarEntry(Buffer.concat(chunks), `${container}:${path}`);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      read(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading ${path} from ${container} took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The body of the first entry of a tar archive (ustar: a 512-byte header, the size in octal at 124). */
export function firstTarEntry(archive: Buffer, what: string): Buffer {
  if (archive.length < 512) throw new Error(`the archive of ${what} is empty`);
  const sizeField = archive.subarray(124, 136).toString('ascii').replace(/\0.*$/, '').trim();
  const size = Number.parseInt(sizeField, 8);
  if (!Number.isFinite(size) || 512 + size > archive.length) throw new Error(`the archive of ${what} is truncated or not a tar archive`);
  return archive.subarray(512, 512 + size);
}
