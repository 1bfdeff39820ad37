/** Waits `ms`. For pacing polls and retries only; waiting on a condition is the caller's loop. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Milliseconds on a clock that never steps: for judging how old something is (a lease's
 * last keepalive). Date.now() follows the wall clock, which NTP or a person may set back.
 */
export const monotonicMs = (): number => performance.now();
