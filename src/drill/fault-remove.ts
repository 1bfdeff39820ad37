import { containerState } from '../docker/engine.js';
import { composeServiceOf, composeUp, type ComposeService } from './compose-service.js';
import type { Fault, FaultTarget } from './faults.js';

/**
 * remove-primary: `docker rm -f` of the primary's container. A failover must happen and
 * end (a new primary published, writes flowing) although nothing can be done to the old
 * container any more: no fence to verify on it, no file to write into it. The undo
 * creates the container again as a person would, with the lab's compose file (`up -d
 * --no-deps <service>`), on its named volume: the data directory the old primary left,
 * without the standby.signal or rebuild marker a fence writes into a container that
 * still exists. The agents must then make it a replica of the new primary.
 */
export function removePrimary(target: FaultTarget): Fault {
  const { engine, container } = target;
  const detail: Record<string, string | number | null> = { composeService: null, recreateMs: null };
  let service: ComposeService | null = null;
  return {
    detail,
    prepare: async () => {
      const labels = (await engine.getContainer(container).inspect()).Config.Labels ?? {};
      service = composeServiceOf(labels);
      if (!service) throw new Error(`remove-primary: ${container} was not created by docker compose (no com.docker.compose.* labels), so the drill could not create it again`);
      detail.composeService = `${service.project}/${service.service}`;
    },
    inject: () => engine.getContainer(container).remove({ force: true }),
    restore: async () => {
      if (!service) return;
      // Once created again (an earlier undo, or a person), compose would leave it as it is: start it only.
      if ((await containerState(engine, container)) !== 'missing') return void (await engine.getContainer(container).start().catch(() => undefined));
      const began = Date.now();
      await composeUp(service);
      detail.recreateMs = Date.now() - began;
    },
  };
}
