import type { Etcd3 } from 'etcd3';
import { z } from 'zod';
import { REJOIN_METHODS } from '../core/rejoin-method.js';
import type { Keys } from './keys.js';

// The rejoin journal (`rejoins/<node>`, issue 14): the leader records each rejoin it starts,
// its end, and a clone's progress. Read by `status`; what etcd holds is input: validated,
// and a value that does not parse is left out with a note.

const NODE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const rejoinRecordSchema = z.object({
  node: z.string().regex(NODE_NAME),
  method: z.enum(REJOIN_METHODS),
  source: z.string().regex(NODE_NAME),
  epoch: z.number().int().nonnegative(),
  state: z.enum(['running', 'done', 'failed']),
  failed: z.array(z.enum(REJOIN_METHODS)).max(20).default([]),
  startedAt: z.string().max(40),
  at: z.string().max(40),
  ms: z.number().int().nonnegative().optional(),
  error: z.string().max(2000).optional(),
  /** A clone in progress, from the source's pg_stat_progress_basebackup. */
  progress: z.object({ phase: z.string().max(80), doneBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative().nullable() }).optional(),
});

export type RejoinRecord = z.infer<typeof rejoinRecordSchema>;

export async function readRejoins(etcd: Etcd3, keys: Keys): Promise<{ records: RejoinRecord[]; unreadable: string[] }> {
  const prefix = keys.rejoin('');
  const all = await etcd.getAll().prefix(prefix).strings();
  const records: RejoinRecord[] = [];
  const unreadable: string[] = [];
  for (const [key, text] of Object.entries(all)) {
    try {
      const parsed = rejoinRecordSchema.safeParse(JSON.parse(text));
      if (parsed.success && key === keys.rejoin(parsed.data.node)) records.push(parsed.data);
      else unreadable.push(key);
    } catch {
      unreadable.push(key);
    }
  }
  return { records: records.sort((a, b) => a.node.localeCompare(b.node)), unreadable };
}
