/** Waits `ms`. For pacing polls and retries only; waiting on a condition is the caller's loop. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
