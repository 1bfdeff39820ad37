import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import type { Keys } from './keys.js';
import { encode } from './codec.js';

// The backup catalogue (issue 16): one record per backup attempt, good or failed, under
// `backups/<kind>/<id>`. Whoever takes a backup (the leader on schedule, or `failover
// backup …`) writes it; `backup list`, `status`, `health` and /metrics read it. What
// etcd holds is input: every record is validated, and one that does not parse is left
// out with a note, never trusted with a path or a host.

export const BACKUP_KINDS = ['dump', 'full', 'diff'] as const;
export type BackupKind = (typeof BACKUP_KINDS)[number];

const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** `<kind>-<UTC time, compact>`, e.g. dump-20261129T234500Z: sortable, and safe as a file name. */
export const BACKUP_ID = /^(dump|full|diff)-\d{8}T\d{6}(\d{3})?Z$/;

export const backupRecordSchema = z.object({
  id: z.string().regex(BACKUP_ID),
  kind: z.enum(BACKUP_KINDS),
  ok: z.boolean(),
  startedAt: z.string().max(40),
  finishedAt: z.string().max(40),
  durationMs: z.number().int().nonnegative(),
  /** The node it was taken from, and what that node was then. */
  node: z.string().regex(NODE_NAME),
  role: z.enum(['primary', 'replica']),
  sizeBytes: z.number().int().nonnegative(),
  /** Dumps: the database, the file (relative to the backup directory) and its sha256. */
  database: z.string().max(63).optional(),
  file: z.string().regex(/^dumps\/(dump)-\d{8}T\d{6}(\d{3})?Z\.dump$/).optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** pgBackRest backups: its label (e.g. 20261129-234500F) and the WAL range it needs. */
  label: z.string().regex(/^[0-9]{8}-[0-9]{6}F(_[0-9]{8}-[0-9]{6}[DI])?$/).optional(),
  walStart: z.string().regex(/^[0-9A-F]{24}$/).optional(),
  walStop: z.string().regex(/^[0-9A-F]{24}$/).optional(),
  /** 'schedule', or the operator as `cli:user@host`. */
  by: z.string().max(200),
  /** Why it failed (one line, no secrets). */
  error: z.string().max(2000).optional(),
});

export type BackupRecord = z.infer<typeof backupRecordSchema>;

export function backupIdAt(kind: BackupKind, at: Date): string {
  return `${kind}-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')}`;
}

/**
 * The fields every record of one attempt shares, from its clock readings and its source:
 * id, kind, times, duration, node, role, who asked. The caller adds ok and the outcome.
 */
export function attemptFields(kind: BackupKind, startedAt: number, finishedAt: number, source: { node: string; role: 'primary' | 'replica' }, by: string, id: string = backupIdAt(kind, new Date(startedAt))) {
  return {
    id,
    kind,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: Math.max(0, Math.round(finishedAt - startedAt)),
    node: source.node,
    role: source.role,
    by,
  };
}

export interface BackupCatalog {
  records: BackupRecord[];
  unreadable: string[];
}

/** Every record, newest first (ids sort by time within a kind; across kinds by startedAt). */
export async function readBackups(etcd: Etcd3, keys: Keys): Promise<BackupCatalog> {
  const all = await etcd.getAll().prefix(keys.backupsPrefix).strings();
  const records: BackupRecord[] = [];
  const unreadable: string[] = [];
  for (const [key, text] of Object.entries(all)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      unreadable.push(key);
      continue;
    }
    const parsed = backupRecordSchema.safeParse(value);
    if (parsed.success && key === keys.backup(parsed.data.kind, parsed.data.id)) records.push(parsed.data);
    else unreadable.push(key);
  }
  records.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0));
  return { records, unreadable };
}

export async function putBackup(etcd: Etcd3, keys: Keys, record: BackupRecord): Promise<void> {
  await etcd.put(keys.backup(record.kind, record.id)).value(encode(backupRecordSchema.parse(record)));
}

export async function deleteBackup(etcd: Etcd3, keys: Keys, kind: BackupKind, id: string): Promise<void> {
  await etcd.delete().key(keys.backup(kind, id));
}
