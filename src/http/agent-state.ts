import type { EdgeHealthState } from '../agent/edge-health.js';
import type { AgentView } from '../core/types.js';

/** What an agent knows locally at one moment, read without waiting on etcd, SQL or Docker. */
export interface AgentState {
  agentId: string;
  /** This agent's own latest observation of every node. */
  view: AgentView;
  /** Leader by its own clock (lease fresh and leader key held). */
  isLeader: boolean;
  /** A lease is granted and its last keepalive is fresh (younger than 2/3 of the TTL). */
  leaseHeld: boolean;
  edges: EdgeHealthState;
}
