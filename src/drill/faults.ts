import type Docker from 'dockerode';
import { killContainer, startContainer, stopContainer, userNetworkOf } from '../docker/engine.js';

export const SCENARIOS = ['kill-primary', 'stop-primary', 'pause-primary', 'partition-primary', 'kill-leader', 'restart-old-primary', 'switchover'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Fault {
  inject(): Promise<void>;
  /** Puts the container back as a person would after the incident: started, unfrozen, reconnected. */
  restore(): Promise<void>;
}

export interface FaultTarget {
  engine: Docker;
  container: string;
  /** For `switchover`: files a promote request for another node and waits for its outcome. */
  promote: () => Promise<void>;
  /** For `kill-leader`: resolves with the container of the agent that leads the failover, once it has started one. */
  leaderContainerDuringFailover: () => Promise<string>;
}

export async function faultFor(scenario: Scenario, target: FaultTarget): Promise<Fault> {
  const { engine, container } = target;
  const handle = engine.getContainer(container);
  switch (scenario) {
    case 'switchover':
      return { inject: target.promote, restore: async () => undefined };
    case 'kill-primary':
    // restart-old-primary: the same fault, but the round starts the old primary again
    // the moment a new one is published, while the split-brain monitor is watching.
    case 'restart-old-primary':
      return { inject: () => killContainer(engine, container), restore: () => startContainer(engine, container) };
    case 'kill-leader': {
      // The primary dies, and the agent leading its failover dies half way: another agent must finish it.
      let leader: string | null = null;
      return {
        inject: async () => {
          await killContainer(engine, container);
          leader = await target.leaderContainerDuringFailover();
          await killContainer(engine, leader);
        },
        restore: async () => {
          if (leader) await startContainer(engine, leader);
          await startContainer(engine, container);
        },
      };
    }
    case 'stop-primary':
      return { inject: () => stopContainer(engine, container, 10), restore: () => startContainer(engine, container) };
    case 'pause-primary':
      return {
        inject: () => handle.pause(),
        restore: async () => {
          const state = (await handle.inspect()).State;
          if (state.Paused) await handle.unpause();
          await startContainer(engine, container);
        },
      };
    case 'partition-primary': {
      const info = await handle.inspect();
      const network = userNetworkOf(info.NetworkSettings.Networks);
      if (!network) throw new Error(`${container} is on no user-defined network to cut`);
      return {
        inject: () => engine.getNetwork(network).disconnect({ Container: container, Force: true }),
        restore: async () => {
          const networks = (await handle.inspect()).NetworkSettings.Networks ?? {};
          if (!(network in networks)) await engine.getNetwork(network).connect({ Container: container });
          await startContainer(engine, container);
        },
      };
    }
  }
}
