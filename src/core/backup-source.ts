// Which node a backup is taken from, as rows read in order (first match wins). Dumps come
// from a healthy streaming replica, never a lagging one, so the primary's disks and CPU serve
// the application; the primary only when no replica qualifies. pgBackRest's full and
// differential backups come from the primary: taking them from a standby (backup-standby)
// needs pgBackRest's remote access to the primary (SSH or its TLS server), which this
// project's node image leaves out. Pure: the agents' views and the time come in; a refusal
// is a value with the reason a person reads.
import type { BackupKind } from './backup-catalog.js';
import { formatBytes } from './bytes.js';
import { liveViews, sqlOf, isReachable } from './liveness.js';
import { lsnLag } from './lsn.js';
import type { AgentView, Lsn } from './types.js';

export interface BackupSourceInput {
  /** The published primary (a Published fits); `host` is one of the names replicas stream from. */
  published: { name: string; host?: string } | null;
  /** Every hostname the published primary is known by (a replica's upstream is one of them); its name and published host count when absent. */
  primaryHosts?: readonly string[];
  views: readonly AgentView[];
  /** The cluster's nodes, from the config. */
  nodes: ReadonlyArray<{ name: string }>;
  /** A replica further behind the primary's position than this is never a dump's source. */
  maxLagBytes: bigint;
  now: number;
  /** An agent view older than this is not believed. */
  viewStaleMs: number;
  kind: BackupKind;
}

export type BackupSourceRuleId =
  | 'backup-source-no-primary'
  | 'backup-source-primary-unreachable'
  | 'backup-source-physical-primary'
  | 'backup-source-dump-replica'
  | 'backup-source-dump-primary-fallback';

export type BackupSourceChoice =
  | { ok: true; node: string; role: 'primary' | 'replica'; rule: BackupSourceRuleId; why: string; lagBytes?: bigint }
  | { ok: false; rule: BackupSourceRuleId; reason: string };

export interface BackupSourceRule {
  id: BackupSourceRuleId;
  when: string;
  action: string;
  why: string;
  choose(s: SourceSituation): BackupSourceChoice | null;
}

/** A replica that may serve a dump, and how far behind the primary it is. */
interface Qualified {
  name: string;
  lagBytes: bigint;
}

/** What the rows read, computed once. */
export interface SourceSituation {
  input: BackupSourceInput;
  primary: string | null;
  /** Why the published primary cannot serve (null when it can). */
  primaryProblem: string | null;
  /** Replicas that qualify for a dump, least lagging first, then by name. */
  qualified: Qualified[];
  /** Each other replica, with why it was passed over. */
  passedOver: Array<{ name: string; why: string }>;
}

export const BACKUP_SOURCE_RULES: readonly BackupSourceRule[] = [
  {
    id: 'backup-source-no-primary',
    when: 'no primary is published',
    action: 'refuse: take no backup',
    why: 'a backup follows the cluster\'s roles; with no published primary there is no role to follow, and a failover may be under way',
    choose: (s) => (s.primary === null ? { ok: false, rule: 'backup-source-no-primary', reason: 'no primary is published: no backup until one is' } : null),
  },
  {
    id: 'backup-source-primary-unreachable',
    when: 'no fresh agent view sees the published primary reachable and writable',
    action: 'refuse: take no backup',
    why: 'a replica\'s lag is judged against the primary\'s position, and a pgBackRest backup runs on the primary: neither can be judged or done while it does not answer',
    choose: (s) => (s.primaryProblem === null ? null : { ok: false, rule: 'backup-source-primary-unreachable', reason: s.primaryProblem }),
  },
  {
    id: 'backup-source-physical-primary',
    when: 'a full or differential pgBackRest backup',
    action: 'take it on the published primary',
    why: 'pgBackRest backs up a standby only with remote access to the primary (SSH or its TLS server), which the node image leaves out; on the primary it needs nothing more',
    choose: (s) =>
      s.input.kind === 'dump'
        ? null
        : { ok: true, node: s.primary!, role: 'primary', rule: 'backup-source-physical-primary', why: `pgBackRest backs up the primary ${s.primary!} (taking it from a standby needs remote access to the primary, left out)` },
  },
  {
    id: 'backup-source-dump-replica',
    when: 'a dump, and a replica is reachable, in recovery, streaming from the published primary and within dumps.maxLagBytes of its position',
    action: 'dump that replica: the least lagging, ties by name',
    why: 'a dump reads every table once: on a replica the application\'s primary does not pay for it, and a replica close to the primary dumps recent data',
    choose: (s) => {
      const best = s.qualified[0];
      if (best === undefined) return null;
      const why = `${best.name} streams from ${s.primary!} and is ${formatBytes(best.lagBytes)} behind (limit ${formatBytes(s.input.maxLagBytes)})`;
      return { ok: true, node: best.name, role: 'replica', rule: 'backup-source-dump-replica', why, lagBytes: best.lagBytes };
    },
  },
  {
    id: 'backup-source-dump-primary-fallback',
    when: 'a dump, and no replica qualifies',
    action: 'dump the published primary',
    why: 'a dump from the primary costs it some I/O, but a cluster without a dump for want of a healthy replica is worse',
    choose: (s) => {
      const reasons = s.passedOver.length === 0 ? 'no replica is configured' : s.passedOver.map((p) => p.why).join('; ');
      return { ok: true, node: s.primary!, role: 'primary', rule: 'backup-source-dump-primary-fallback', why: `no replica qualifies (${reasons}): dumping the primary ${s.primary!}` };
    },
  },
];

export function chooseBackupSource(input: BackupSourceInput): BackupSourceChoice {
  const situation = situationOf(input);
  for (const rule of BACKUP_SOURCE_RULES) {
    const choice = rule.choose(situation);
    if (choice !== null) return choice;
  }
  throw new Error('unreachable: the last backup source rule always chooses');
}

function situationOf(input: BackupSourceInput): SourceSituation {
  const primary = input.published?.name ?? null;
  const fresh = liveViews(input.views, input.now, input.viewStaleMs);
  const empty = { primary, qualified: [], passedOver: [] };
  if (primary === null) return { input, primaryProblem: null, ...empty };
  const primaryLsn = primaryPosition(fresh, primary);
  if (typeof primaryLsn === 'string') return { input, primaryProblem: primaryLsn, ...empty };

  const hosts = new Set([primary, ...(input.published?.host === undefined ? [] : [input.published.host]), ...(input.primaryHosts ?? [])]);
  const qualified: Qualified[] = [];
  const passedOver: Array<{ name: string; why: string }> = [];
  for (const { name } of input.nodes) {
    if (name === primary) continue;
    const judged = judgeReplica(fresh, name, primary, hosts, primaryLsn, input.maxLagBytes);
    if ('why' in judged) passedOver.push({ name, why: judged.why });
    else qualified.push(judged);
  }
  qualified.sort((a, b) => (a.lagBytes !== b.lagBytes ? (a.lagBytes < b.lagBytes ? -1 : 1) : a.name.localeCompare(b.name)));
  passedOver.sort((a, b) => a.name.localeCompare(b.name));
  return { input, primary, primaryProblem: null, qualified, passedOver };
}

/**
 * The primary's position: the most advanced any fresh view saw while it answered as a
 * writable primary (the strictest reference for a replica's lag); or why it cannot serve.
 */
function primaryPosition(fresh: AgentView[], primary: string): Lsn | string {
  if (fresh.length === 0) return `no fresh agent view: whether the primary ${primary} answers is unknown`;
  let best: Lsn | null = null;
  let inRecovery = false;
  for (const view of fresh) {
    const observation = view.nodes[primary];
    const sql = sqlOf(observation);
    if (!isReachable(observation) || sql === null) continue;
    if (sql.inRecovery) inRecovery = true;
    else if (best === null || sql.lsn > best) best = sql.lsn;
  }
  if (best !== null) return best;
  return inRecovery
    ? `the published primary ${primary} is in recovery (a standby): no backup until the roles settle`
    : `no fresh agent view sees the published primary ${primary} reachable`;
}

/**
 * A replica qualifies when some fresh view sees it reachable, in recovery and streaming from the
 * primary, and its replayed position (what a dump reads) is within the limit of the primary's.
 * Among the views where it qualifies its best position counts; when none does, the freshest
 * view says why it was passed over.
 */
function judgeReplica(
  fresh: AgentView[],
  name: string,
  primary: string,
  hosts: ReadonlySet<string>,
  primaryLsn: Lsn,
  maxLagBytes: bigint,
): Qualified | { why: string } {
  const seen = fresh.filter((view) => view.nodes[name] !== undefined).sort((a, b) => b.at - a.at);
  let replayed: Lsn | null = null;
  let firstWhy: string | null = null;
  for (const view of seen) {
    const observation = view.nodes[name]!;
    const sql = sqlOf(observation);
    let why: string | null = null;
    if (!isReachable(observation) || sql === null) why = observation.container === 'running' ? `${name} does not answer SQL` : `${name}'s container is ${observation.container}`;
    else if (!sql.inRecovery) why = `${name} is not in recovery`;
    else if (!sql.streaming) why = `${name} is not streaming`;
    else if (sql.upstreamHost !== null && !hosts.has(sql.upstreamHost)) why = `${name} streams from ${sql.upstreamHost}, not from the primary ${primary}`;
    if (why !== null) {
      firstWhy ??= why;
      continue;
    }
    const position = sql!.replayLsn ?? sql!.lsn;
    if (replayed === null || position > replayed) replayed = position;
  }
  if (replayed === null) return { why: firstWhy ?? `no fresh agent view sees ${name}` };
  const lagBytes = lsnLag(primaryLsn, replayed);
  if (lagBytes > maxLagBytes) return { why: `${name} is ${formatBytes(lagBytes)} behind the primary ${primary} (limit ${formatBytes(maxLagBytes)})` };
  return { name, lagBytes };
}
