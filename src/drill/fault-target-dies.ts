import type { Journal } from '../core/journal.js';
import { killContainer, startContainer } from '../docker/engine.js';
import type { Fault, FaultTarget } from './faults.js';
import { until } from './wait.js';

/**
 * A failover of `from` whose fence is recorded: its journal has moved past `fence-old`.
 * Returns the journal then (its `to` is the chosen candidate), null before.
 */
export function pastFence(journal: Journal | null, from: string): Journal | null {
  if (!journal || journal.kind !== 'failover' || journal.from !== from) return null;
  return journal.completed.some((c) => c.step === 'fence-old') ? journal : null;
}

/**
 * target-dies: the primary is SIGKILLed; the moment the failover's journal moves past
 * `fence-old` (the old primary is verified down), the candidate the journal names (`to`)
 * is SIGKILLed too. The leader must re-plan and promote the remaining node: the round
 * waits for a published primary that is neither of the two.
 */
export function targetDies(target: FaultTarget): Fault {
  const { engine, container, round } = target;
  const detail: Record<string, string | number | null> = { candidate: null, candidateKilledAtStep: null, candidateKilledMs: null };
  let candidate: string | null = null;
  return {
    detail,
    acceptable: (node) => node !== target.node && node !== candidate,
    downUntilUndo: () => (candidate ? [candidate] : []),
    inject: async () => {
      const began = Date.now();
      await killContainer(engine, container);
      // Polled tightly: the steps after the fence (catch-up, promote) take a few hundred ms.
      const journal = await until('the failover journal past fence-old', 30_000, async () => pastFence(await round.store.journal(), target.node), 5);
      candidate = journal.to;
      detail.candidate = candidate;
      detail.candidateKilledAtStep = journal.step;
      await killContainer(engine, round.access.node(candidate).container);
      detail.candidateKilledMs = Date.now() - began;
    },
    restore: async () => {
      if (candidate) await startContainer(engine, round.access.node(candidate).container);
      await startContainer(engine, container);
    },
  };
}
