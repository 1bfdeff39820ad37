import { streamingTo } from './cluster-checks.js';
import type { RoundContext, RoundResult } from './round.js';
import { sleep, until } from './wait.js';
import type { Ack } from './writer.js';

/**
 * The moment writes flowed again after a fault that must not fail over (oom-backend):
 * the acknowledged write that ends the longest stretch without one after `faultAt`
 * (PostgreSQL's crash recovery ends every connection at once). Null before any write
 * after the fault.
 */
export function writesBackAt(acks: number[], faultAt: number): number | null {
  let end: number | null = null;
  let longest = -1;
  for (let i = 1; i < acks.length; i++) {
    if (acks[i]! < faultAt) continue;
    const gap = acks[i]! - Math.max(acks[i - 1]!, faultAt);
    if (gap > longest) {
      longest = gap;
      end = acks[i]!;
    }
  }
  return end;
}

/** Why the cluster's state shows a failover that must not have happened (null: none). */
export function failoverSeen(primary: { name: string; epoch: number }, now: { published: { name: string; epoch: number } | null; journal: { kind: string; from: string; to: string } | null }): string | null {
  if (now.journal) return `a ${now.journal.kind} started (${now.journal.from} -> ${now.journal.to})`;
  if (!now.published) return 'no primary is published any more';
  if (now.published.name !== primary.name || now.published.epoch !== primary.epoch) return `the published primary changed: ${primary.name} (epoch ${primary.epoch}) -> ${now.published.name} (epoch ${now.published.epoch})`;
  return null;
}

/**
 * A fault after which the same primary must serve again, with no failover: waits until
 * it takes writes again and every other node streams from it again, then keeps watching
 * etcd until twice the failure time has passed since the fault (the agents judge a
 * primary failed after `failureTimeMs` of failed probes): no journal may appear, and the
 * published primary and its epoch must stay. An observation window, not a wait for a
 * condition: it is how long "no failover" must hold.
 */
export async function awaitSamePrimary(ctx: RoundContext, acks: Ack[], primary: { name: string; epoch: number }, faultAt: number, result: RoundResult): Promise<void> {
  result.to = primary.name;
  result.epoch = primary.epoch;
  const problem = async () => failoverSeen(primary, { published: await ctx.store.published(), journal: await ctx.store.journal() });
  const fail = (why: string) => new Error(`no failover was expected, but ${why}`);
  // `until` takes an error for "not yet": a failover seen is returned, and thrown here.
  const first = await until(`a write accepted by ${primary.name} again`, 30_000, async () => (await problem()) ?? (acks.some((a) => a.node === primary.name && a.at > faultAt) ? 'ok' : null));
  if (first !== 'ok') throw fail(first);
  const others = ctx.access.config.nodes.map((n) => n.name).filter((n) => n !== primary.name);
  await until(`every other node streaming from ${primary.name} again`, 60_000, async () => {
    const streaming = await streamingTo(ctx, primary.name);
    return others.every((n) => streaming.includes(n));
  });
  result.convergeMs = Date.now() - faultAt;
  const watchUntil = faultAt + 2 * ctx.access.config.timings.failureTimeMs;
  for (;;) {
    const seen = await problem();
    if (seen) throw fail(seen);
    if (Date.now() >= watchUntil) break;
    await sleep(100);
  }
  const back = writesBackAt(acks.filter((a) => a.node === primary.name).map((a) => a.at), faultAt);
  result.rtoMs = back === null ? null : back - faultAt;
}
