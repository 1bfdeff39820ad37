import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { containerState, disableRestart, DockerDeadlineError, execIn, killContainer, putFiles, startContainer, stopContainer, withDeadline } from '../../../src/docker/engine.js';

// Issue 12, item 2: every Docker call has a deadline. An engine that takes a call and
// never answers (a wedged daemon on a sick host) must fail the call, naming it, the
// container and the limit, and abort its request, instead of holding the step forever.

const signals: AbortSignal[] = [];

/** A call that never answers; it records the abort signal it was given. */
const hang = (options?: { abortSignal?: AbortSignal }) => {
  if (options?.abortSignal) signals.push(options.abortSignal);
  return new Promise<never>(() => undefined);
};

const wedged = {
  getContainer: () => ({ kill: hang, update: hang, start: hang, stop: hang, inspect: hang, exec: hang, putArchive: (_: unknown, options: { abortSignal?: AbortSignal }) => hang(options) }),
} as unknown as Docker;

async function expectDeadline(call: Promise<unknown>, name: RegExp, limitMs: number): Promise<void> {
  const began = Date.now();
  const error = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DockerDeadlineError);
  expect((error as Error).message).toMatch(name);
  expect((error as Error).message).toContain('pgsql-1');
  expect((error as Error).message).toContain(`${limitMs} ms`);
  expect(Date.now() - began).toBeLessThan(limitMs + 500);
  expect(signals.at(-1)?.aborted).toBe(true);
}

describe('Docker calls on a wedged engine end at their deadline', () => {
  it('kill', () => expectDeadline(killContainer(wedged, 'pgsql-1', 50), /docker kill of/, 50));
  it('restart-policy update', () => expectDeadline(disableRestart(wedged, 'pgsql-1', 50), /docker update/, 50));
  it('start', () => expectDeadline(startContainer(wedged, 'pgsql-1', 50), /docker start of/, 50));
  it('stop (its grace period plus the margin given)', () => expectDeadline(stopContainer(wedged, 'pgsql-1', 0, 50), /docker stop of/, 50));
  it('archive', () => expectDeadline(putFiles(wedged, 'pgsql-1', '/data', { 'standby.signal': '' }, 50), /docker put archive into \/data of/, 50));
  it('exec, within the exec limit', () => expectDeadline(execIn(wedged, 'pgsql-1', ['pg_ctl', 'promote'], { timeoutMs: 50 }), /docker exec create \(pg_ctl\) of/, 50));

  it('inspect: the state is unknown, not a hang', async () => {
    const began = Date.now();
    expect(await containerState(wedged, 'pgsql-1', 50)).toBe('unknown');
    expect(Date.now() - began).toBeLessThan(550);
  });
});

describe('withDeadline', () => {
  it('a call that answers in time resolves, and its signal is never aborted (a stream it returned stays open)', async () => {
    let seen: AbortSignal | null = null;
    const value = await withDeadline('inspect', 'pgsql-1', 1000, async (signal) => {
      seen = signal;
      return 'ok';
    });
    expect(value).toBe('ok');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen!.aborted).toBe(false);
  });

  it("the engine's own refusal passes through unchanged", async () => {
    const refused = Object.assign(new Error('conflict'), { statusCode: 409 });
    await expect(withDeadline('kill', 'pgsql-1', 1000, async () => Promise.reject(refused))).rejects.toBe(refused);
  });
});
