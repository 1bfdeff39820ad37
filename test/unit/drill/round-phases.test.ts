import { describe, expect, it } from 'vitest';
import { watchWholeRound, type RoundPhases } from '../../../src/drill/round-phases.js';

/** A round whose phases only record their order; `failing` names the phases that throw. */
function recorded(failing: Array<keyof RoundPhases> = []) {
  const steps: string[] = [];
  const phase = (name: keyof RoundPhases) => async () => {
    await Promise.resolve();
    steps.push(name);
    if (failing.includes(name)) throw new Error(`${name} failed`);
  };
  const watch = {
    start: () => void steps.push('watch starts'),
    stop: async () => {
      await Promise.resolve();
      steps.push('watch stops');
    },
  };
  return { steps, run: () => watchWholeRound(watch, { fault: phase('fault'), undo: phase('undo'), rejoined: phase('rejoined') }) };
}

describe('a drill round watches the whole round', () => {
  it('the writer and the monitor run through the undo of the fault until the old node is back as a replica', async () => {
    const round = recorded();
    expect(await round.run()).toEqual([]);
    expect(round.steps).toEqual(['watch starts', 'fault', 'undo', 'rejoined', 'watch stops']);
  });

  it('a failed round still undoes its fault under watch, and waits for the rejoin', async () => {
    const round = recorded(['fault']);
    expect(await round.run()).toEqual(['fault failed']);
    expect(round.steps).toEqual(['watch starts', 'fault', 'undo', 'rejoined', 'watch stops']);
  });

  it('an undo that fails skips the wait for a rejoin that cannot come, and still stops the watch', async () => {
    const round = recorded(['undo']);
    expect(await round.run()).toEqual(['undo failed']);
    expect(round.steps).toEqual(['watch starts', 'fault', 'undo', 'watch stops']);
  });

  it('a rejoin that never comes is an error of the round, reported after the fault\'s own', async () => {
    const round = recorded(['fault', 'rejoined']);
    expect(await round.run()).toEqual(['fault failed', 'rejoined failed']);
    expect(round.steps.at(-1)).toBe('watch stops');
  });
});
