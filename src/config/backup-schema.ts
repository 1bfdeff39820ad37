import { z } from 'zod';

// Backups (issue 16): the plan's logical dumps and pgBackRest's physical backups
// with continuous WAL archiving. Every node mounts one shared backup volume at
// `directory` (the lab's `backups` volume); dumps go under `dumps/`, pgBackRest's
// repository under `pgbackrest/`. Intervals are milliseconds like every other timing.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const dumpsSchema = z
  .object({
    /** pg_dump -Fc of `database` this often (the plan: every 6 h). */
    intervalMs: z.number().int().min(60_000).max(30 * DAY).default(6 * HOUR),
    /** The newest this many good dumps are kept; older ones are deleted with their file. */
    keep: z.number().int().min(1).max(10_000).default(30),
    /** The database dumped; the config's `database` when absent. */
    database: z.string().min(1).optional(),
    /** A replica further behind the primary than this is never a dump's source. */
    maxLagBytes: z.number().int().min(0).default(16 * 1024 * 1024),
    /** A dump that has not finished after this long is stopped and recorded as failed. */
    timeoutMs: z.number().int().min(10_000).max(2 * DAY).default(6 * HOUR),
  })
  .strict();

const pgbackrestSchema = z
  .object({
    /** The pgBackRest stanza; the cluster's name when absent. */
    stanza: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, dashes and underscores').optional(),
    /** A full backup this often (default weekly) and a differential in between (default daily). */
    fullIntervalMs: z.number().int().min(60_000).max(365 * DAY).default(7 * DAY),
    diffIntervalMs: z.number().int().min(60_000).max(365 * DAY).default(DAY),
    /** Full backups kept, each with the WAL needed to restore to any point after it (repo1-retention-full). */
    retentionFull: z.number().int().min(1).max(100).default(2),
    /** A backup that has not finished after this long is stopped and recorded as failed. */
    timeoutMs: z.number().int().min(10_000).max(2 * DAY).default(12 * HOUR),
  })
  .strict();

export const backupSchema = z
  .object({
    /** Where every node container mounts the shared backup volume. */
    directory: z.string().regex(/^\/[A-Za-z0-9._/-]+$/, 'an absolute path inside the node containers').default('/backups'),
    /** The leader takes scheduled backups; false leaves only `failover backup …` by hand. */
    schedule: z.boolean().default(true),
    dumps: dumpsSchema.prefault({}),
    pgbackrest: pgbackrestSchema.prefault({}),
  })
  .strict();

export type BackupConfig = z.infer<typeof backupSchema>;
