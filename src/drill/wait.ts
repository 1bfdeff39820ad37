import { sleep } from '../time.js';

export { sleep };

/** Polls `check` until it returns a value (errors count as "not yet"), or fails after `limitMs`. */
export async function until<T>(what: string, limitMs: number, check: () => Promise<T | undefined | null | false>, everyMs = 20): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
