import { chooseBackupSource } from '../core/backup-source.js';
import { replicationHostOf } from '../config/schema.js';
import { withBackupLock } from '../dcs/backup-lock.js';
import { attemptFields, backupIdAt, backupRecordSchema, deleteBackup, putBackup, readBackups, type BackupRecord } from '../dcs/backups.js';
import { backupsToPrune } from '../core/backup-rules.js';
import type { ClusterStore } from '../dcs/store.js';
import { sleep } from '../time.js';
import type { BackupEdges } from './edges.js';
import { ensureStanza, takePhysicalBackup } from './pgbackrest.js';

// One pgBackRest backup, start to end, as the CLI (`failover backup full|diff`) and the
// leader's schedule both run it: under the backup lock, on the published primary (the core's
// source rules say why not a standby), the stanza made sure of first (stanza-create is
// idempotent, and `check` proves a WAL switch reaches the archive), then the backup, recorded
// in the catalogue whether it succeeded or not. Expiry is pgBackRest's own, after the backup.

export interface PhysicalRunContext {
  edges: BackupEdges;
  store: ClusterStore;
  kind: 'full' | 'diff';
  /** 'schedule', or `cli:user@host`. */
  by: string;
  /** An agent view older than this is not believed (the agents' failureTimeMs). */
  viewStaleMs: number;
  /** The backup lock's lease; a holder that dies frees it this long after. */
  lockTtlSec?: number;
  now?: () => number;
}

export type PhysicalRun =
  /** Taken (or failed) on the primary, and recorded in the catalogue. */
  | { outcome: 'taken' | 'failed'; record: BackupRecord; source: { rule: string; why: string } }
  /** No node may serve (no published primary, or it does not answer): nothing was taken or recorded. */
  | { outcome: 'refused'; rule: string; reason: string }
  /** Another backup holds the lock. */
  | { outcome: 'locked'; heldBy: string };

export async function runPhysical(ctx: PhysicalRunContext): Promise<PhysicalRun> {
  const { store } = ctx;
  const locked = await withBackupLock(store.etcd, store.keys, `${ctx.by} (${ctx.kind})`, ctx.lockTtlSec ?? 10, () => physicalUnderLock(ctx));
  return locked.ok ? locked.value : { outcome: 'locked', heldBy: locked.heldBy };
}

async function physicalUnderLock(ctx: PhysicalRunContext): Promise<PhysicalRun> {
  const { edges, store, kind } = ctx;
  const now = ctx.now ?? Date.now;
  const [published, views] = await Promise.all([store.published(), store.views()]);
  const primaryNode = edges.nodes.find((n) => n.name === published?.name);
  const choice = chooseBackupSource({
    published,
    primaryHosts: primaryNode ? [primaryNode.container, replicationHostOf(primaryNode)] : [],
    views,
    nodes: edges.nodes,
    maxLagBytes: BigInt(edges.backup.dumps.maxLagBytes),
    now: now(),
    viewStaleMs: ctx.viewStaleMs,
    kind,
  });
  if (!choice.ok) return { outcome: 'refused', rule: choice.rule, reason: choice.reason };
  const node = edges.nodes.find((n) => n.name === choice.node);
  // The published primary is etcd's word: one the config does not name is not backed up.
  if (node === undefined) return { outcome: 'refused', rule: choice.rule, reason: `the chosen source ${choice.node} is not a node of the config` };
  const source = { rule: choice.rule, why: choice.why };

  await waitForFreshId(store, now);
  const startedAt = now();
  let record: BackupRecord;
  try {
    await ensureStanza(edges, node);
    record = await takePhysicalBackup(edges, kind, { node, role: choice.role }, { by: ctx.by, now });
  } catch (error) {
    // The stanza or archiving is not right (ensureStanza's one line): a failed backup, recorded as such.
    const finishedAt = now();
    record = backupRecordSchema.parse({
      ...attemptFields(kind, startedAt, finishedAt, { node: node.name, role: choice.role }, ctx.by),
      ok: false,
      sizeBytes: 0,
      error: (error instanceof Error ? error.message : String(error)).slice(0, 2000),
    });
  }
  await putBackup(store.etcd, store.keys, record);
  if (record.ok) await pruneCatalog(ctx, now());
  return { outcome: record.ok ? 'taken' : 'failed', record, source };
}

/**
 * pgBackRest expired the backups past repo1-retention-full itself, after this one; the
 * catalogue follows (core/backup-prune.ts): full and diff records older than the oldest kept
 * full go, and old failures. Records only: the files are pgBackRest's.
 */
async function pruneCatalog(ctx: PhysicalRunContext, at: number): Promise<void> {
  const { store, edges } = ctx;
  const { records } = await readBackups(store.etcd, store.keys);
  for (const record of backupsToPrune(records.filter((r) => r.kind !== 'dump'), edges.backup, at)) {
    await deleteBackup(store.etcd, store.keys, record.kind, record.id);
  }
}

/**
 * A record's id is its kind and start to the second: a full or diff started within the same
 * second as an earlier one (a failed attempt just before) would overwrite its record. Under the
 * lock only this run takes backups, so waiting for the next second suffices.
 */
async function waitForFreshId(store: ClusterStore, now: () => number): Promise<void> {
  const { records } = await readBackups(store.etcd, store.keys);
  const taken = new Set(records.filter((r) => r.kind !== 'dump').map((r) => r.id));
  const clash = () => taken.has(backupIdAt('full', new Date(now()))) || taken.has(backupIdAt('diff', new Date(now())));
  while (clash()) await sleep(1000 - (now() % 1000) + 5);
}
