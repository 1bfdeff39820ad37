import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { disableRestart, signalAndWaitForExit } from '../../../src/docker/engine.js';

// What the engine answers must never go unhandled: an unhandled rejection crashes
// Node 20, and with it the agent (issue 12, item 11: a missing container).
const noSuchContainer = () => Object.assign(new Error('no such container'), { statusCode: 404 });

function missingContainer(waitRejectsAfterMs: number): Docker {
  return {
    getContainer: () => ({
      wait: () => new Promise((_, reject) => setTimeout(() => reject(noSuchContainer()), waitRejectsAfterMs)),
      kill: async () => Promise.reject(noSuchContainer()),
    }),
  } as unknown as Docker;
}

describe('signalAndWaitForExit', () => {
  it('a container that is gone counts as exited, and the wait that fails after is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(signalAndWaitForExit(missingContainer(20), 'gone', 'SIGINT', 1000)).resolves.toBeUndefined();
      // Let the wait's rejection arrive, then the turn in which Node reports it unhandled.
      await new Promise((r) => setTimeout(r, 60));
      await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('disableRestart', () => {
  const engineUpdating = (update: () => Promise<unknown>) => ({ getContainer: () => ({ update }) }) as unknown as Docker;

  it('a container that is gone counts as done; any other refusal fails the fence', async () => {
    await expect(disableRestart(engineUpdating(async () => Promise.reject(noSuchContainer())), 'gone')).resolves.toBeUndefined();
    const refused = Object.assign(new Error('cannot update a container in state dead'), { statusCode: 500 });
    await expect(disableRestart(engineUpdating(async () => Promise.reject(refused)), 'c')).rejects.toThrow(/cannot update/);
    await expect(disableRestart(engineUpdating(async () => ({})), 'c')).resolves.toBeUndefined();
  });
});
