import type { AgentView } from '../core/types.js';
import { replicationHostOf } from '../config/schema.js';
import { withClient } from '../postgres/connection.js';
import type { RoundContext } from './round.js';
import { until } from './wait.js';

/** What the drill reads before a round: etcd as the agents wrote it, and each node asked directly. */
export interface ClusterFacts {
  config: Array<{ name: string; container: string }>;
  leader: string | null;
  views: AgentView[];
  published: { name: string } | null;
  paused: boolean;
  journal: { kind: string; from: string; to: string } | null;
  /** The nodes whose WAL receiver streams from the published primary. */
  streaming: string[];
}

/**
 * Why a round must not start (null: it may). The first check is that the agents watch
 * the very nodes and containers of the drill's config: a drill kills containers by the
 * names in its config, and must never do so on a cluster it was not given.
 */
export function clusterProblem(facts: ClusterFacts): string | null {
  const configured = facts.config.map((n) => `${n.name}=${n.container}`).sort().join(', ');
  for (const view of facts.views) {
    const watched = Object.values(view.nodes).map((n) => `${n.name}=${n.containerName ?? '?'}`).sort().join(', ');
    if (watched !== configured) {
      return `agent ${view.agentId} watches nodes ${watched}, but the drill's config names ${configured}: give the drill the config the agents run`;
    }
  }
  if (facts.leader === null || facts.views.length === 0) return 'no agent leads the cluster (are the agents running?)';
  if (!facts.published) return 'no primary is published';
  const primary = facts.published.name;
  if (!facts.config.some((n) => n.name === primary)) return `the published primary ${primary} is not a node of the drill's config`;
  if (facts.paused) return 'the cluster is paused (maintenance mode), so nothing would fail over; run failover resume first';
  if (facts.journal) return `an operation is under way (${facts.journal.kind} ${facts.journal.from} -> ${facts.journal.to})`;
  const behind = facts.config.map((n) => n.name).filter((n) => n !== primary && !facts.streaming.includes(n));
  if (behind.length > 0) return `${behind.join(', ')} not streaming from the primary ${primary}`;
  return null;
}

/**
 * The nodes whose WAL receiver streams from `primary`, asked of each node itself:
 * the primary's pg_stat_replication would also count a pg_basebackup in progress.
 */
export async function streamingTo(ctx: RoundContext, primary: string): Promise<string[]> {
  const target = ctx.access.node(primary);
  const hosts = new Set([target.container, target.host, replicationHostOf(target)]);
  const others = ctx.access.config.nodes.filter((n) => n.name !== primary);
  const streaming = await Promise.all(
    others.map(async (node) => {
      try {
        return await withClient(ctx.access.endpoint(node), { timeoutMs: 500 }, async (client) => {
          const { rows } = await client.query<{ status: string; sender_host: string }>('SELECT status, sender_host FROM pg_stat_wal_receiver');
          return rows[0]?.status === 'streaming' && hosts.has(rows[0].sender_host) ? node.name : null;
        });
      } catch {
        return null;
      }
    }),
  );
  return streaming.filter((n): n is string => n !== null);
}

async function factsOf(ctx: RoundContext): Promise<ClusterFacts> {
  const { store } = ctx;
  const [leader, views, published, paused, journal] = await Promise.all([store.leader(), store.views(), store.published(), store.paused(), store.journal()]);
  const known = published !== null && ctx.access.config.nodes.some((n) => n.name === published.name);
  return {
    config: ctx.access.config.nodes.map((n) => ({ name: n.name, container: n.container })),
    leader,
    views,
    published,
    paused: paused !== null,
    journal,
    streaming: known ? await streamingTo(ctx, published.name) : [],
  };
}

/** Waits for a published primary, no operation under way, and every other node streaming from it; says why not on timeout. */
export async function awaitHealthy(ctx: RoundContext, limitMs = 120_000): Promise<string> {
  let problem = 'etcd did not answer';
  try {
    return await until('a healthy cluster', limitMs, async () => {
      const facts = await factsOf(ctx);
      problem = clusterProblem(facts) ?? '';
      return problem === '' ? facts.published!.name : undefined;
    }, 200);
  } catch {
    throw new Error(`the cluster is not healthy: ${problem}`);
  }
}
