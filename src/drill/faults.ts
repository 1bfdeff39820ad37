import type Docker from 'dockerode';
import { killContainer, startContainer, stopContainer, userNetworkOf } from '../docker/engine.js';
import { agreedLeader, membersProblem, type EtcdMembers } from './etcd-members.js';
import { doubleFailure } from './fault-double-failure.js';
import { oomBackend } from './fault-oom.js';
import { removePrimary } from './fault-remove.js';
import { replicaCut } from './fault-replica-cut.js';
import { standbyLoss } from './fault-standby-loss.js';
import { targetDies } from './fault-target-dies.js';
import type { ScenarioFigure } from './report.js';
import type { RoundContext } from './round.js';
import type { Ack } from './writer.js';
import { sleep, until } from './wait.js';

export const SCENARIOS = [
  'kill-primary',
  'stop-primary',
  'pause-primary',
  'partition-primary',
  'kill-leader',
  'restart-old-primary',
  'switchover',
  'etcd-member-loss',
  'oom-backend',
  'remove-primary',
  'target-dies',
  'double-failure',
  'standby-loss',
  'replica-cut',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Fault {
  /** A fault in force before the measured one; the figures count from `inject`. */
  prepare?(): Promise<void>;
  inject(): Promise<void>;
  /** Puts the container back as a person would after the incident: started, unfrozen, reconnected. */
  restore(): Promise<void>;
  /** After `restore`: waits until what the fault broke besides the primary is whole again. */
  settled?(): Promise<void>;
  /** What the fault hit and how long its parts took, for the report. */
  readonly detail?: Record<string, string | number | null>;
  /** What must follow: a failover (the default), or the same primary serving again with no failover at all. */
  readonly outcome?: 'failover' | 'same-primary';
  /** The moment the fault took effect, when later than its injection began (oom-backend: the backend's death): the figures count from it. */
  struckAt?(): number | null;
  /** Whether `node` may end the failover as the published primary (default: any node but the old primary). */
  acceptable?(node: string): boolean;
  /** Nodes besides the old primary that the fault keeps down until its undo: convergence does not wait for them. */
  downUntilUndo?(): string[];
  /** The scenario's own check of the rows read back from the final primary (`round`: the rows' round id), after the watch: a sentence when it fails, null when it holds. */
  judge?(readBack: { acks: Ack[]; stored: Set<number>; round: number }): string | null | Promise<string | null>;
  /** How long the writer lets one statement wait (default: its own short limits): a commit that waits for a standby must be measured as waiting. */
  readonly writerPatienceMs?: number;
  /** The scenario's own figures, from the acknowledgement times and the end of the watch (ms since the epoch); called before `judge`. */
  figures?(acks: number[], endAt: number): Partial<Record<ScenarioFigure, number | null>>;
}

export interface FaultTarget {
  engine: Docker;
  /** The primary's container, and its node name. */
  container: string;
  node: string;
  /** The round's access to the lab: etcd (the journal, the published primary) and the nodes over SQL. */
  round: RoundContext;
  /** For `switchover`: files a promote request for another node and waits for its outcome. */
  promote: () => Promise<void>;
  /** For `kill-leader`: resolves with the container of the agent that leads the failover, once it has started one. */
  leaderContainerDuringFailover: () => Promise<string>;
  /** For `etcd-member-loss`: every member of the etcd cluster, one client each. */
  etcdMembers: EtcdMembers | null;
  /** The container of a compose service of the lab (an etcd member is a service named after it). */
  containerOfService: (service: string) => Promise<string>;
  /** The writer's acknowledged rows so far (the round's writer runs while the fault is in force). */
  acks: () => Ack[];
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
    case 'etcd-member-loss':
      return etcdMemberLoss(target);
    case 'oom-backend':
      return oomBackend(target);
    case 'remove-primary':
      return removePrimary(target);
    case 'target-dies':
      return targetDies(target);
    case 'double-failure':
      return doubleFailure(target);
    case 'standby-loss':
      return standbyLoss(target);
    case 'replica-cut':
      return replicaCut(target);
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

/**
 * The etcd member that leads raft dies; once the other two have elected a leader, the
 * primary is SIGKILLed: the failover must complete on a quorum of two. The member is
 * started again with the primary and must rejoin (every member healthy).
 */
function etcdMemberLoss(target: FaultTarget): Fault {
  const { engine, container, etcdMembers: members } = target;
  if (!members) throw new Error('etcd-member-loss needs the etcd members (the config\'s etcd.endpoints)');
  let member: string | null = null;
  let restoredAt = 0;
  const detail: Record<string, string | number | null> = { etcdMember: null, etcdElectionMs: null, etcdRejoinMs: null };
  return {
    detail,
    prepare: async () => {
      const leader = agreedLeader(await members.facts());
      if (!leader) throw new Error('the etcd members do not agree on a raft leader');
      member = await target.containerOfService(leader.name);
      detail.etcdMember = leader.name;
      const killedAt = Date.now();
      await killContainer(engine, member);
      await until('a new etcd raft leader among the surviving members', 15_000, async () => {
        const next = agreedLeader(await members.facts());
        return next !== null && next.id !== leader.id;
      }, 50);
      detail.etcdElectionMs = Date.now() - killedAt;
      // The agents' calls to the dead member fail once, then pass it over for a second:
      // let them settle, so that the primary's death is judged on the quorum of two.
      await sleep(1500);
    },
    inject: () => killContainer(engine, container),
    restore: async () => {
      restoredAt = Date.now();
      if (member) await startContainer(engine, member);
      await startContainer(engine, container);
    },
    settled: async () => {
      if (!member) return;
      await until('every etcd member healthy again', 60_000, async () => membersProblem(await members.facts(), 3) === null, 200);
      detail.etcdRejoinMs = Date.now() - restoredAt;
    },
  };
}
