import { z } from 'zod';

// The shapes of the values agents and the CLI write under a cluster's prefix. Values
// read from etcd are input like any other: a value that does not parse is reported
// (ClusterSnapshot.unreadable), never trusted. Extra keys are kept (older or newer
// agents may write more); what the code relies on must be there with the right type.

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'a node name');
// Whatever a config may name (a container name, an address, IPv6 included), but never a
// character that would end a value in PgBouncer's file or a libpq conninfo.
const host = z.string().regex(/^[A-Za-z0-9_.:\[\]-]{1,253}$/, 'a host name or address');
const decimal = z.string().regex(/^\d{1,20}$/, 'a decimal LSN');
/** PostgreSQL's text form of an LSN, as the journal records it: 0/3002440. */
const pgLsn = z.string().regex(/^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/, 'an LSN such as 0/3002440');
const count = z.number().int().nonnegative();

export const publishedSchema = z.looseObject({
  name,
  host,
  port: z.number().int().min(1).max(65535),
  epoch: z.number().int().positive(),
  timeline: z.number().int().positive(),
  since: z.string(),
  lastLsn: decimal.optional(),
});

const stepName = z.enum(['fence-old', 'stop-old', 'catch-up', 'promote', 'verify-write', 'publish', 'rejoin-old', 'repoint-replicas', 'fence-target', 'restart-old', 'done']);

export const journalSchema = z.looseObject({
  id: z.string().min(1).max(200),
  kind: z.enum(['failover', 'switchover']),
  from: name,
  to: name,
  epoch: z.number().int().positive(),
  reason: z.string(),
  requestedBy: z.string(),
  startedAt: count,
  updatedAt: count,
  step: stepName,
  completed: z.array(z.looseObject({ step: stepName, at: count, ms: count })),
  targetLsn: pgLsn.optional(),
  error: z.string().optional(),
  replans: z.array(z.looseObject({ at: count, abandoned: name, to: name, why: z.string() })).optional(),
  rollback: z.looseObject({ at: count, why: z.string(), targetPromoted: z.boolean() }).optional(),
  oldPrimaryUnclean: z.boolean().optional(),
});

/** The recorded synchronous set; members must be node names (checked against the config where it is used). */
export const syncSchema = z.looseObject({
  mode: z.enum(['off', 'quorum']),
  number: z.number().int().min(1).max(16),
  standbys: z.array(name).max(64),
  epoch: z.number().int().nonnegative(),
  durability: z.enum(['required', 'preferred']).default('required'),
  degraded: z.boolean().default(false),
  pending: z.boolean().default(false),
  at: count.default(0),
});

export const pauseSchema = z.looseObject({ since: z.string(), by: z.string() });

export const requestSchema = z.looseObject({
  id: z.string().min(1).max(200),
  target: z.string(),
  force: z.boolean(),
  at: z.string(),
  by: z.string(),
});

export const verdictSchema = z.looseObject({
  at: count,
  leader: z.string(),
  verdict: z.string(),
  rule: z.string().optional(),
  why: z.string().optional(),
  notes: z.array(z.string()),
});

/**
 * One agent's probe of one node, as observer.ts writes it (decode turned LSNs into bigints).
 * Every field the core computes with is checked: an LSN that is text would make its
 * arithmetic throw, and with it every tick of the leader.
 */
const lsn = z.bigint().nonnegative();
const sqlProbeSchema = z.looseObject({
  ok: z.literal(true),
  inRecovery: z.boolean(),
  timeline: z.number().int().nonnegative(),
  lsn,
  receiveLsn: lsn.nullable().default(null),
  replayLsn: lsn.nullable().default(null),
  streaming: z.boolean(),
  upstreamHost: z.string().max(253).nullable().default(null),
  receiptAgeMs: z.number().nullable().default(null),
  replayLagMs: z.number().nullable().optional(),
});
const sqlFailureSchema = z.looseObject({ ok: z.literal(false), error: z.string().max(2000) });
const CONTAINER_STATES = ['running', 'paused', 'restarting', 'exited', 'dead', 'missing', 'unknown'] as const;
const observationSchema = z.looseObject({
  name: z.string().max(63),
  containerName: z.string().max(255).optional(),
  // A state a newer engine or agent reports is not a reason to drop the view.
  container: z.enum(CONTAINER_STATES).catch('unknown'),
  sql: z.discriminatedUnion('ok', [sqlProbeSchema, sqlFailureSchema]),
  at: count,
  lastSqlOkAt: count.nullable().default(null),
});

/** An agent's view: what it saw of each node. */
export const viewSchema = z.looseObject({
  agentId: z.string().min(1).max(200),
  at: count,
  nodes: z.record(z.string().max(63), observationSchema),
});

/** The answer to a promote request, under results/<id>. */
export const resultSchema = z.looseObject({
  id: z.string().min(1).max(200),
  ok: z.boolean(),
  from: z.string().nullable(),
  to: z.string(),
  epoch: z.number().int().nullable(),
  kind: z.enum(['switchover', 'failover']),
  ms: z.number().nullable(),
  error: z.string().optional(),
});

export const historySchema = z.looseObject({
  epoch: z.number().int().positive(),
  from: z.string().nullable(),
  to: z.string(),
  kind: z.enum(['failover', 'switchover', 'bootstrap']),
  reason: z.string(),
  at: z.string(),
  timeline: z.number().int().positive(),
  timings: z.record(z.string(), z.number()),
  leader: z.string(),
});
