import { backupsToPrune } from '../core/backup-rules.js';
import { chooseBackupSource, type BackupSourceChoice } from '../core/backup-source.js';
import { replicationHostOf, type NodeConfig } from '../config/schema.js';
import { withBackupLock } from '../dcs/backup-lock.js';
import { backupIdAt, deleteBackup, putBackup, readBackups, type BackupRecord } from '../dcs/backups.js';
import type { ClusterStore } from '../dcs/store.js';
import { sleep } from '../time.js';
import { cancelledByRecovery, removeDump, takeDump } from './dump.js';
import type { BackupEdges } from './edges.js';

// One dump, start to end, as the CLI (`failover backup dump --now`) and the leader's
// schedule both run it: under the backup lock, from the source the core chooses (a healthy
// streaming replica, the primary only when none qualifies), recorded in the catalogue, then
// the dumps past backup.dumps.keep pruned, file first and record second.
//
// A dump cancelled on a standby by a recovery conflict (replay needed a lock or row versions
// its snapshot held, past max_standby_streaming_delay) is taken once more from the next
// source, with that standby left out: another replica, or the primary. Pausing the standby's
// replay instead would let it fall behind, and it may be the one a failover promotes.

export interface DumpRunContext {
  edges: BackupEdges;
  store: ClusterStore;
  /** 'schedule', or `cli:user@host`. */
  by: string;
  /** An agent view older than this is not believed (the agents' failureTimeMs). */
  viewStaleMs: number;
  /** The backup lock's lease; a holder that dies frees it this long after. */
  lockTtlSec?: number;
  now?: () => number;
}

export interface Pruned {
  id: string;
  ok: boolean;
  error?: string;
}

export type DumpRun =
  /** Dumped (or failed) from a chosen source: every attempt is in the catalogue, the newest last. */
  | { outcome: 'taken' | 'failed'; record: BackupRecord; attempts: BackupRecord[]; source: { rule: string; why: string }; pruned: Pruned[] }
  /** No source may serve (no published primary, or it does not answer): nothing was taken or recorded. */
  | { outcome: 'refused'; rule: string; reason: string }
  /** Another backup holds the lock. */
  | { outcome: 'locked'; heldBy: string };

export async function runDump(ctx: DumpRunContext): Promise<DumpRun> {
  const { store } = ctx;
  const locked = await withBackupLock(store.etcd, store.keys, `${ctx.by} (dump)`, ctx.lockTtlSec ?? 10, () => dumpUnderLock(ctx));
  return locked.ok ? locked.value : { outcome: 'locked', heldBy: locked.heldBy };
}

async function dumpUnderLock(ctx: DumpRunContext): Promise<DumpRun> {
  const { edges, store } = ctx;
  const now = ctx.now ?? Date.now;
  const [published, views] = await Promise.all([store.published(), store.views()]);
  const primaryNode = edges.nodes.find((n) => n.name === published?.name);
  const choose = (nodes: NodeConfig[]): BackupSourceChoice =>
    chooseBackupSource({
      published,
      primaryHosts: primaryNode ? [primaryNode.container, replicationHostOf(primaryNode)] : [],
      views,
      nodes,
      maxLagBytes: BigInt(edges.backup.dumps.maxLagBytes),
      now: now(),
      viewStaleMs: ctx.viewStaleMs,
      kind: 'dump',
    });

  const first = choose(edges.nodes);
  if (!first.ok) return { outcome: 'refused', rule: first.rule, reason: first.reason };
  const attempts: BackupRecord[] = [];
  let choice = first;
  for (;;) {
    const node = edges.nodes.find((n) => n.name === choice.node);
    // The published primary is etcd's word: one the config does not name is not dumped.
    if (node === undefined) return { outcome: 'refused', rule: choice.rule, reason: `the chosen source ${choice.node} is not a node of the config` };
    await waitForFreshId(store, attempts, now);
    const record = await takeDump(edges, { node, role: choice.role }, { by: ctx.by, now });
    await putBackup(store.etcd, store.keys, record);
    attempts.push(record);
    const source = { rule: choice.rule, why: choice.why };
    if (record.ok) return { outcome: 'taken', record, attempts, source, pruned: await prune(ctx, node) };
    // Once more, from another source, only after a recovery conflict: any other failure would fail there too.
    const next = attempts.length === 1 && cancelledByRecovery(record) ? choose(edges.nodes.filter((n) => n.name !== node.name)) : null;
    if (next === null || !next.ok) return { outcome: 'failed', record, attempts, source, pruned: [] };
    choice = next;
  }
}

/**
 * A dump's id is its start to the second: two started within one second would share it (and
 * its file name). Under the lock only this run takes dumps, so waiting for the next second suffices.
 */
async function waitForFreshId(store: ClusterStore, attempts: BackupRecord[], now: () => number): Promise<void> {
  const taken = new Set([...attempts.map((r) => r.id), ...(await readBackups(store.etcd, store.keys)).records.filter((r) => r.kind === 'dump').map((r) => r.id)]);
  while (taken.has(backupIdAt('dump', new Date(now())))) await sleep(1000 - (now() % 1000) + 5);
}

/**
 * Dumps past the newest `keep` good ones (and old failures, see core/backup-prune.ts): the
 * file is deleted first, and its record only once the file is gone, so a file is never left
 * without a record that names it. Full and diff records are left to the pgBackRest runner.
 */
async function prune(ctx: DumpRunContext, via: NodeConfig): Promise<Pruned[]> {
  const { edges, store } = ctx;
  const { records } = await readBackups(store.etcd, store.keys);
  const pruned: Pruned[] = [];
  const dumps = records.filter((r) => r.kind === 'dump');
  for (const record of backupsToPrune(dumps, edges.backup, (ctx.now ?? Date.now)())) {
    const removed = await removeDump(edges, via, record);
    if (!removed.ok) {
      pruned.push({ id: record.id, ok: false, error: removed.error });
      continue;
    }
    await deleteBackup(store.etcd, store.keys, 'dump', record.id);
    pruned.push({ id: record.id, ok: true });
  }
  return pruned;
}
