import { claims, type SyncRecord } from '../core/sync-set.js';
import { containerState, killContainer, startContainer } from '../docker/engine.js';
import type { Fault, FaultTarget } from './faults.js';
import { streamingTo } from './cluster-checks.js';
import { failoverSeen } from './no-failover.js';
import { acksWithin, describeSettings, describeSync, forbiddenWindow, judgeStandbyLoss, stallAfter, type Stall } from './stall.js';
import { sleep, until } from './wait.js';

export const DEFAULT_OUTAGE_MS = 15_000;

/**
 * How long the writer lets one commit wait: the whole outage, the standbys' start and
 * catch-up, and a margin. A shorter limit would cut a commit that waits for a standby
 * (required durability) short, count an error and measure a stall of retries instead.
 */
export function writerPatienceFor(outageMs: number): number {
  return outageMs + 60_000;
}

/**
 * standby-loss: every replica's container is SIGKILLed at once (the lab's nodes have
 * restart policy "no", and the round checks that none comes back by itself), kept down
 * for `outageMs`, then started again, while the writer commits on the primary. No
 * failover may follow. What it measures is what synchronous replication costs when the
 * standbys go away: under `required` durability commits wait until one streams again
 * (stallMs about the outage plus the restart); under `preferred` they wait about
 * degradeAfterMs, until the leader drops to asynchronous; with mode off they do not wait.
 */
export function standbyLoss(target: FaultTarget): Fault {
  const { engine, round } = target;
  const outageMs = round.outageMs ?? DEFAULT_OUTAGE_MS;
  const standbys = round.access.config.nodes.filter((n) => n.name !== target.node);
  const configured = round.access.config.replication.synchronous;
  const detail: Record<string, string | number | null> = {
    standbys: standbys.map((n) => n.name).join(','),
    outageMs,
    sync: null,
    configured: describeSettings(configured),
    degradeAfterMs: null,
    allDownMs: null,
    degradedMs: null,
    startedMs: null,
    firstStreamingMs: null,
    ackedWhileDown: null,
    promisingAgainMs: null,
  };
  let record: SyncRecord | null = null;
  let struckAt: number | null = null;
  let moments: { allDownAt: number; startedAt: number } | null = null;
  let startedAt = 0;
  let stall: Stall = { stallMs: null, resumeAt: null };
  const primary = { name: target.node, epoch: 0 };

  const startAll = async () => {
    await Promise.all(standbys.map((n) => startContainer(engine, n.container)));
  };

  return {
    detail,
    outcome: 'same-primary',
    writerPatienceMs: writerPatienceFor(outageMs),
    struckAt: () => struckAt,
    prepare: async () => {
      record = await round.store.sync();
      // A lab just started, or a round right after one that degraded: start from the promise, not before it.
      if (record?.mode === 'quorum' && !claims(record)) {
        record = await until('the synchronous set promising before the fault (the sync key)', 30_000, async () => {
          const now = await round.store.sync();
          return claims(now) ? now : null;
        }, 100);
      }
      detail.sync = describeSync(record);
      // The drill knows degradeAfterMs only from its own config: trusted when it agrees with the record.
      if (record?.durability === 'preferred' && configured.mode === 'quorum' && configured.durability === 'preferred') detail.degradeAfterMs = configured.degradeAfterMs;
      primary.epoch = (await round.store.published())?.epoch ?? 0;
    },
    inject: async () => {
      struckAt = Date.now();
      await Promise.all(standbys.map((n) => killContainer(engine, n.container)));
      const allDownAt = Date.now();
      detail.allDownMs = allDownAt - struckAt;
      // The outage is a fixed stretch: watched, not slept through. Nothing may fail over,
      // no standby may come back by itself, and the moment the leader degrades is noted.
      while (Date.now() < allDownAt + outageMs) {
        const seen = failoverSeen(primary, { published: await round.store.published(), journal: await round.store.journal() });
        if (seen) throw new Error(`no failover was expected, but ${seen}`);
        const states = await Promise.all(standbys.map(async (n) => [n.name, await containerState(engine, n.container)] as const));
        const back = states.filter(([, state]) => state === 'running' || state === 'restarting').map(([name]) => name);
        if (back.length > 0) throw new Error(`standby-loss: ${back.join(', ')} came back by itself during the outage (a restart policy?): the outage is not the one configured`);
        if (detail.degradedMs === null && (await round.store.sync().catch(() => null))?.degraded) detail.degradedMs = Date.now() - struckAt;
        await sleep(Math.min(200, Math.max(0, allDownAt + outageMs - Date.now())));
      }
      startedAt = Date.now();
      moments = { allDownAt, startedAt };
      detail.startedMs = startedAt - struckAt;
      await startAll();
      await until('a standby streaming from the primary again', 60_000, async () => (await streamingTo(round, target.node)).length > 0, 50);
      detail.firstStreamingMs = Date.now() - struckAt;
      await until('a write acknowledged after the standbys were started again', 60_000, async () => target.acks().some((a) => a.at > startedAt), 20);
    },
    restore: startAll,
    settled: async () => {
      // The next round must start under the same promise: in preferred mode the leader
      // restores synchronous mode once the standbys stream.
      if (!claims(record)) return;
      await until('the synchronous set promising again (the sync key)', 60_000, async () => claims(await round.store.sync()), 100);
      // Only a record seen degraded came back: a required one promised throughout.
      if (detail.degradedMs !== null) detail.promisingAgainMs = Date.now() - startedAt;
    },
    figures: (acks, endAt) => {
      if (struckAt === null) return {};
      stall = stallAfter(acks, struckAt, endAt);
      return { stallMs: stall.stallMs, resumeMs: stall.resumeAt === null ? null : stall.resumeAt - struckAt };
    },
    judge: ({ acks, stored }) => {
      const lost = acks.filter((a) => !stored.has(a.seq)).length;
      const times = acks.map((a) => a.at);
      const forbidden = moments ? forbiddenWindow(record, moments, typeof detail.degradeAfterMs === 'number' ? detail.degradeAfterMs : null) : null;
      const ackedInForbidden = forbidden ? acksWithin(times, forbidden) : 0;
      if (moments) detail.ackedWhileDown = acksWithin(times, { from: moments.allDownAt, to: moments.startedAt });
      return judgeStandbyLoss({ lost, stall, forbidden, ackedInForbidden, sync: String(detail.sync), configured: String(detail.configured) });
    },
  };
}
