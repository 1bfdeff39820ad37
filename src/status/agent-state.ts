import type { AgentView } from '../core/types.js';
import type { BackupRecord } from '../dcs/backups.js';
import type { ArchiverRow } from '../postgres/archiver.js';

// What a running agent exposes about itself, read from memory: the agent fills it in,
// the HTTP routes and metrics read it. Here, so that neither folder imports the other.

/**
 * What the agent met at its edges: whether its last etcd call worked, and how many
 * etcd and Docker calls failed since it started.
 */
export interface EdgeHealthState {
  /** Whether the agent's last etcd write (its view) worked; true before the first attempt. */
  etcdOk: boolean;
  lastEtcdOkAt: number | null;
  lastEtcdError: string | null;
  etcdErrors: number;
  dockerErrors: number;
}

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
  /** Backups and WAL archiving as this agent last read them (issue 16); null without a backup config. */
  backups?: BackupWatch | null;
}

/** The backup catalogue and each node's pg_stat_archiver, refreshed in the background. */
export interface BackupWatch {
  /** When the catalogue was last read (ms), null before the first read. */
  readAt: number | null;
  records: BackupRecord[];
  /** pg_stat_archiver per node, as last read; a node that did not answer is absent. */
  archivers: Record<string, ArchiverRow>;
}
