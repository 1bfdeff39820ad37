/** What a check returns while its condition does not hold yet. */
export type NotYet = undefined | null | false;

/**
 * Polls `check` until it returns a value other than `undefined`, `null` or `false`
 * (all three mean "not yet") or the time runs out; the last error explains a failure.
 * A check must not assert inside: a thrown assertion would be retried until it passes.
 */
export async function eventually<T>(check: () => Promise<T | NotYet>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (!isNotYet(value)) return value as T;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function isNotYet(value: unknown): value is NotYet {
  return value === undefined || value === null || value === false;
}
