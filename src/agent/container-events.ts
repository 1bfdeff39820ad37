import type { ContainerState } from '../core/types.js';
import { followContainerEvents } from '../docker/engine.js';
import { describeError } from '../postgres/connection.js';
import type { ClusterContext } from './cluster-context.js';

// Docker's event stream, so that a container that dies wakes the agent at once instead
// of at its next inspect. One stream per engine; a stream that ends is opened again.

// Not `oom`: Docker sends it when any process in the container is OOM-killed (one
// backend's sort) while the postmaster lives on. If the container dies, `die` follows.
const EVENT_STATES: Record<string, ContainerState> = {
  die: 'exited',
  destroy: 'missing',
  pause: 'paused',
  unpause: 'running',
  start: 'running',
};

/** The container's state after a Docker event, or null when the event does not say. */
export function containerStateAfter(action: string): ContainerState | null {
  return Object.hasOwn(EVENT_STATES, action) ? EVENT_STATES[action]! : null;
}

export interface ContainerEventSink {
  /** A container of the cluster changed state. */
  onState(node: string, state: ContainerState, at: number, action: string): void;
  /** The stream could not be opened (counted as a Docker error). */
  onUnavailable(): void;
  /** Whether the agent has stopped: no stream is reopened then. */
  stopped(): boolean;
}

/** Follows every engine of the cluster; returns the functions that stop the streams opened so far. */
export async function followClusterContainers(cluster: ClusterContext, sink: ContainerEventSink): Promise<Array<() => void>> {
  const unfollow: Array<() => void> = [];
  const engines = new Map(cluster.nodes.map((node) => [JSON.stringify(node.docker), cluster.engine(node)]));
  for (const engine of engines.values()) {
    const follow = async (): Promise<void> => {
      if (sink.stopped()) return;
      try {
        const stop = await followContainerEvents(
          engine,
          (event) => {
            const node = cluster.nodeOfContainer(event.container);
            const state = containerStateAfter(event.action);
            if (!node || !state) return;
            cluster.log.info({ node: node.name, event: event.action }, 'container event');
            sink.onState(node.name, state, event.at, event.action);
          },
          () => setTimeout(() => void follow(), 500),
        );
        unfollow.push(stop);
      } catch (error) {
        sink.onUnavailable();
        cluster.log.warn({ error: describeError(error) }, 'docker events unavailable; retrying');
        setTimeout(() => void follow(), 1000);
      }
    };
    await follow();
  }
  return unfollow;
}
