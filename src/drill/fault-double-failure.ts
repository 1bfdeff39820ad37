import { containerState, killContainer, startContainer } from '../docker/engine.js';
import type { Fault, FaultTarget } from './faults.js';
import { currentLsn, describeStanding, receivedUpTo, replicationFacts, streamsOnTimeline } from './node-replication.js';
import type { Ack } from './writer.js';
import { until } from './wait.js';

/**
 * double-failure, after issue 12's item 1. The primary A is SIGKILLed; the moment a new
 * primary B is published, A is started again (a person bringing it back) while the
 * drill waits for the third node C to stream from B on B's timeline (it was re-pointed
 * at B; a write acknowledged by B can only be on C if C received it before B died), and
 * then until C has received everything B had written by then (B's
 * pg_current_wal_lsn(), read at that moment: the "sync mark"). Then B is SIGKILLed.
 *
 * Expected: C is promoted (A may be too only if, when B died, it already streamed from
 * B on B's timeline: a node on A's old timeline never is); every write B acknowledged
 * before the sync mark is on the final primary (a write B acknowledged in the few ms
 * between the mark and its death may be lost to asynchronous replication, as in
 * kill-primary: counted in `lost`, not failed on); no split brain. All figures count
 * from A's death; `fault` in the report has the moments of each step.
 */
export function doubleFailure(target: FaultTarget): Fault {
  const { engine, container, round } = target;
  const { access, store } = round;
  const detail: Record<string, string | number | null> = {
    second: null, third: null, secondPublishedMs: null, thirdStreamingMs: null, syncMarkMs: null, syncLsn: null, thirdHeldMarkMs: null, secondKilledMs: null, oldPrimaryAtSecondKill: null, ackedBySecond: null, lostOfSecondBeforeMark: null,
  };
  let second: string | null = null;
  let third: string | null = null;
  let oldPrimaryFollowsSecond = false;
  let syncAt = 0;
  return {
    detail,
    acceptable: (node) => node === third || (node === target.node && oldPrimaryFollowsSecond),
    downUntilUndo: () => (second ? [second] : []),
    inject: async () => {
      const began = Date.now();
      const since = (ms: number) => ms - began;
      await killContainer(engine, container);
      const published = await until('a new published primary (B)', 60_000, async () => {
        const p = await store.published();
        return p && p.name !== target.node ? p : undefined;
      });
      second = published.name;
      third = access.config.nodes.find((n) => n.name !== target.node && n.name !== second)?.name ?? null;
      if (!third) throw new Error('double-failure needs three nodes');
      Object.assign(detail, { second, third, secondPublishedMs: since(Date.now()) });
      const secondNode = access.node(second);
      const thirdNode = access.node(third);
      // A comes back while B serves; its start is not awaited before the watch on C begins.
      const restarting = startContainer(engine, container);
      await until(`${third} streaming from ${second} on timeline ${published.timeline}`, 30_000, async () => streamsOnTimeline(await replicationFacts(access, thirdNode), secondNode, published.timeline), 10);
      detail.thirdStreamingMs = since(Date.now());
      // Every write acknowledged before this moment is at or below the position read now.
      syncAt = Date.now();
      const lsn = await currentLsn(access, secondNode);
      await until(`${third} to receive ${second}'s WAL up to ${lsn}`, 10_000, () => receivedUpTo(access, thirdNode, lsn), 5);
      Object.assign(detail, { syncLsn: lsn, syncMarkMs: since(syncAt), thirdHeldMarkMs: since(Date.now()) });
      await restarting;
      // What A was when B died: the question item 1 is about.
      const old = await replicationFacts(access, access.node(target.node), 300);
      oldPrimaryFollowsSecond = streamsOnTimeline(old, secondNode, published.timeline);
      detail.oldPrimaryAtSecondKill = old ? describeStanding(old) : `not answering over SQL (container ${await containerState(engine, container)})`;
      await killContainer(engine, secondNode.container);
      detail.secondKilledMs = since(Date.now());
    },
    restore: async () => {
      if (second) await startContainer(engine, access.node(second).container);
      // A may have exited meanwhile (its entrypoint's clone of B failed when B died), and may
      // exit once more if it is started while B, coming back as a fresh clone of C, answers
      // without A's slot. As a person would: start it again whenever it is found exited, until
      // it runs past its entrypoint (the leader points a stopped node's marker at C meanwhile).
      let starts = 0;
      await until(`${target.node} running as a replica again`, 90_000, async () => {
        const state = await containerState(engine, container);
        if (state === 'running' && (await replicationFacts(access, access.node(target.node), 300)) !== null) return true;
        if (state === 'exited' && starts < 6) {
          starts += 1;
          await startContainer(engine, container);
        }
        return false;
      }, 2000);
      detail.oldPrimaryStarts = starts + 1;
    },
    judge: ({ acks, stored }) => {
      if (!second) return null;
      const bySecond = acks.filter((a) => a.node === second);
      const required = requiredOfSecond(acks, second, syncAt);
      const missing = required.filter((a) => !stored.has(a.seq)).length;
      detail.ackedBySecond = bySecond.length;
      detail.lostOfSecondBeforeMark = missing;
      return missing === 0 ? null : `${missing} of the ${required.length} writes ${second} acknowledged before ${third} held them are missing on the final primary`;
    },
  };
}

/** The writes `second` acknowledged before the sync mark: every one must survive its death. */
export function requiredOfSecond(acks: Ack[], second: string, syncAt: number): Ack[] {
  return acks.filter((a) => a.node === second && a.at <= syncAt);
}
