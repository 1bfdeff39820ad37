// A small model of a primary in zero-loss mode, to check safety rule 9 against random
// histories: the primary writes and acknowledges commits as PostgreSQL does, standbys
// flush, connect and disconnect, the leader runs planSync one step at a time and carries
// it out, and at any moment the primary may die and chooseCandidate picks its successor.
//
// What PostgreSQL does, and the model copies (syncrep.c):
// - with an empty synchronous_standby_names a commit is acknowledged at once; setting it
//   empty releases every waiting commit;
// - otherwise a commit is acknowledged once a walsender releases it: a walsender that is
//   streaming and counts itself in (sync_priority > 0, from the setting *it* last loaded)
//   releases up to the k-th highest flush position among such walsenders, k being the
//   number of the setting it loaded. Each walsender reloads the setting on its own: right
//   after the change, or later (a new walsender loads the current one).
// Not modelled: the checkpointer's own, possibly later, reload of the setting (it decides
// whether commits wait at all), and a leader that reads a stale setting. And k raised while a
// walsender has not yet reloaded is only checked with reloads done by the next step: under
// ANY k a walsender's sync_priority is 1 whatever k it loaded, so nothing the leader can read
// tells it that every walsender uses the new k (the property finds that at once when
// walsenders may reload later than the leader's next tick).
import { chooseCandidate, type Chosen, type Refused } from '../../../src/core/candidate.js';
import { EMPTY_SYNC_MEMORY, planSync, type SyncMemory, type SyncPlan } from '../../../src/core/sync-plan.js';
import { claims, type PrimarySyncState, type StandbySet, type SyncRecord, type SyncSettings } from '../../../src/core/sync-set.js';
import type { Lsn } from '../../../src/core/types.js';
import { MiB, PRIMARY, downObs, observations, replicaObs, spec } from './fixtures.js';

export type Link = 'streaming' | 'catchup' | 'gone';

export interface ModelStandby {
  name: string;
  flush: Lsn;
  link: Link;
  /** The setting its walsender last loaded (meaningless while gone). */
  loaded: StandbySet | null;
  /** Its walsender has yet to reload the primary's current setting. */
  reloadPending: boolean;
}

export interface Model {
  settings: SyncSettings;
  graceMs: number;
  /** Reloads put off by a planned change happen at the end of the next action ('next'), or only when an action says so ('late'). */
  reloads: 'next' | 'late';
  noFailover: string | null;
  now: number;
  lsn: Lsn;
  /** Every commit at or below this position was acknowledged to its client. */
  acked: Lsn;
  applied: StandbySet | null;
  record: SyncRecord | null;
  memory: SyncMemory;
  standbys: ModelStandby[];
  /** What happened, for a failure's message (kept only while `tracing`: it costs). */
  tracing: boolean;
  trace: string[];
}

export type Action =
  | { kind: 'commit'; bytes: number }
  | { kind: 'flush'; who: number; part: number }
  | { kind: 'disconnect'; who: number }
  | { kind: 'connect'; who: number }
  | { kind: 'caught-up'; who: number }
  | { kind: 'reload'; who: number }
  | { kind: 'plan'; reloadNow: boolean[] }
  /** The leader ticks `ticks` times in a row (nothing else happens meanwhile). */
  | { kind: 'lead'; ticks: number; reloadNow: boolean[] }
  /** A commit that one standby flushes at once: under ANY k it may be acknowledged by that standby alone. */
  | { kind: 'race'; who: number; bytes: number }
  | { kind: 'time'; ms: number }
  | { kind: 'new-leader' }
  /** A person edits replication.synchronous in the config. */
  | { kind: 'configure'; settings: SyncSettings }
  /** A person tags a standby noFailover (or takes the tag off: who beyond the standbys). */
  | { kind: 'tag'; who: number }
  /** The primary dies now: who would the leader promote (or, `target` set, would a person's `promote` without --force)? Nothing changes. */
  | { kind: 'primary-dies'; reachable: boolean[]; lastKnown: boolean; target?: number };

export const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `replica-${i + 1}`);

export function freshModel(options: { n: number; settings: SyncSettings; graceMs: number; reloads: Model['reloads']; noFailover: string | null }): Model {
  return {
    ...options,
    now: 1_000_000,
    lsn: 0x1000n,
    acked: 0x1000n,
    applied: null,
    record: null,
    memory: EMPTY_SYNC_MEMORY,
    standbys: names(options.n).map((name) => ({ name, flush: 0x1000n, link: 'streaming', loaded: null, reloadPending: false })),
    tracing: true,
    trace: [],
  };
}

/**
 * Right after a failover that promoted PRIMARY (core/sync-promotion.ts): the record names the
 * new primary and the standbys, and the setting was put in place before the promotion. The
 * standbys hold some prefix of the new primary's WAL; what k of them (the primary counting
 * as one) hold counts as acknowledged, the most the promise allows.
 */
export function promotedModel(options: Parameters<typeof freshModel>[0] & { flush: Lsn[]; lsn: Lsn }): Model {
  const model = freshModel(options);
  const eligible = eligibleOf(model);
  const applied = { number: options.settings.number, standbys: eligible };
  model.lsn = options.lsn;
  model.applied = applied;
  model.record = { mode: 'quorum', number: options.settings.number, standbys: [PRIMARY, ...eligible].sort(), epoch: 1, durability: options.settings.durability, degraded: false, pending: false, at: 0 };
  model.standbys.forEach((s, i) => Object.assign(s, { flush: options.flush[i]! > options.lsn ? options.lsn : options.flush[i]!, loaded: applied }));
  const held = [options.lsn, ...model.standbys.filter((s) => eligible.includes(s.name)).map((s) => s.flush)].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  model.acked = held[options.settings.number - 1] ?? 0n;
  return model;
}

export const eligibleOf = (m: Model): string[] => m.standbys.map((s) => s.name).filter((name) => name !== m.noFailover);
const member = (set: StandbySet | null, name: string): boolean => set?.standbys.includes(name) ?? false;
const maxLsn = (a: Lsn, b: Lsn): Lsn => (a > b ? a : b);

/** The primary releases every commit some walsender may release (syncrep.c, quorum method). */
function release(m: Model): void {
  if (m.applied === null) {
    m.acked = m.lsn;
    return;
  }
  const candidates = m.standbys.filter((s) => s.link === 'streaming' && member(s.loaded, s.name) && s.flush > 0n);
  const flushes = candidates.map((s) => s.flush).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  for (const walsender of candidates) {
    const k = walsender.loaded!.number;
    if (flushes.length >= k) m.acked = maxLsn(m.acked, flushes[k - 1]!);
  }
}

export function primaryState(m: Model): PrimarySyncState {
  const senders = m.standbys
    .filter((s) => s.link !== 'gone')
    .map((s) => ({ name: s.name, streaming: s.link === 'streaming', flushLsn: s.flush, priority: member(s.loaded, s.name) ? 1 : 0 }));
  return { primary: PRIMARY, lsn: m.lsn, applied: m.applied, senders };
}

export function plan(m: Model): SyncPlan {
  return planSync({ now: m.now, settings: m.settings, epoch: 1, record: m.record, state: primaryState(m), eligible: eligibleOf(m), graceMs: m.graceMs, settleMs: 0, memory: m.memory });
}

/** Who the leader would promote if the primary died now (or whether `target` may be promoted). */
export function successor(m: Model, reachable: boolean[], lastKnown: boolean, target?: string): Chosen | Refused {
  const obs = m.standbys.map((s, i) => (reachable[i] ? replicaObs(s.name, { lsn: s.flush, streaming: false }) : downObs(s.name, { container: 'exited' })));
  return chooseCandidate({
    specs: [spec(PRIMARY), ...m.standbys.map((s) => spec(s.name, { noFailover: s.name === m.noFailover }))],
    observations: observations(downObs(PRIMARY, { container: 'exited' }), ...obs),
    failedPrimary: PRIMARY,
    lastKnownPrimaryLsn: lastKnown ? m.lsn : null,
    maxLagBytes: 16n * MiB,
    publishedTimeline: 1,
    sync: m.record,
    ...(target === undefined ? {} : { target }),
  });
}

function reload(s: ModelStandby, applied: StandbySet | null): void {
  s.loaded = applied;
  s.reloadPending = false;
}

/** Carries out one action; returns the successor chosen when the action is the primary's death. */
export function act(m: Model, action: Action): Chosen | Refused | null {
  const n = m.standbys.length;
  const deferred = m.standbys.filter((s) => s.reloadPending && s.link !== 'gone');
  let chosen: Chosen | Refused | null = null;
  let note = action.kind as string;
  switch (action.kind) {
    case 'commit':
      m.lsn += BigInt(action.bytes);
      break;
    case 'flush': {
      const s = m.standbys[action.who % n]!;
      if (s.link === 'gone') break;
      s.flush = maxLsn(s.flush, s.flush + ((m.lsn - s.flush) * BigInt(action.part)) / 4n);
      note = `${s.name} flushes ${s.flush}`;
      break;
    }
    case 'disconnect':
      m.standbys[action.who % n]!.link = 'gone';
      note = `${m.standbys[action.who % n]!.name} disconnects`;
      break;
    case 'connect': {
      const s = m.standbys[action.who % n]!;
      if (s.link === 'gone') Object.assign(s, { link: 'catchup', loaded: m.applied, reloadPending: false });
      note = `${s.name} connects`;
      break;
    }
    case 'caught-up': {
      const s = m.standbys[action.who % n]!;
      if (s.link === 'catchup') s.link = 'streaming';
      note = `${s.name} streams`;
      break;
    }
    case 'reload':
      reload(m.standbys[action.who % n]!, m.applied);
      note = `${m.standbys[action.who % n]!.name} reloads`;
      break;
    case 'plan': {
      const planned = plan(m);
      m.memory = planned.memory;
      note = `plan ${planned.rule}: ${JSON.stringify(planned.step, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`;
      if (planned.step.kind === 'record') m.record = planned.step.record;
      if (planned.step.kind === 'apply') {
        m.applied = planned.step.set;
        m.standbys.forEach((s, i) => (action.reloadNow[i] ? reload(s, m.applied) : (s.reloadPending = true)));
      }
      break;
    }
    case 'lead':
      for (let i = 0; i < action.ticks; i++) act(m, { kind: 'plan', reloadNow: action.reloadNow });
      return null;
    case 'race':
      act(m, { kind: 'commit', bytes: action.bytes });
      act(m, { kind: 'flush', who: action.who, part: 4 });
      return null;
    case 'time':
      m.now += action.ms;
      break;
    case 'new-leader':
      m.memory = EMPTY_SYNC_MEMORY;
      break;
    case 'tag':
      m.noFailover = m.standbys[action.who]?.name ?? null;
      note = `noFailover: ${m.noFailover ?? 'none'}`;
      break;
    case 'configure':
      m.settings = action.settings;
      note = `configure ${JSON.stringify(action.settings)}`;
      break;
    case 'primary-dies':
      chosen = successor(m, action.reachable, action.lastKnown, action.target === undefined ? undefined : m.standbys[action.target % n]!.name);
      note = `primary dies (reachable ${action.reachable.slice(0, n).join(',')}${action.target === undefined ? '' : `; promote ${m.standbys[action.target % n]!.name} asked`}): ${chosen.ok ? `promote ${chosen.name}` : chosen.reason}`;
      break;
  }
  release(m);
  if (m.reloads === 'next') for (const s of deferred) reload(s, m.applied);
  release(m);
  if (m.tracing) m.trace.push(`${note} | lsn ${m.lsn} acked ${m.acked} applied ${m.applied ? `ANY ${m.applied.number} (${m.applied.standbys.join(',')})` : 'empty'} record ${describeRecord(m.record)} flush ${m.standbys.map((s) => `${s.name}:${s.flush}/${s.link}/${s.loaded ? s.loaded.standbys.join('+') : '-'}`).join(' ')}`);
  return chosen;
}

function describeRecord(record: SyncRecord | null): string {
  if (record === null) return 'none';
  return `${record.mode} ANY ${record.number} (${record.standbys.join(',')})${record.pending ? ' pending' : ''}${record.degraded ? ' degraded' : ''}`;
}

/** Members of a promising record that hold every acknowledged commit (the primary holds them all). */
export function holders(m: Model): string[] {
  if (!claims(m.record)) return [];
  return m.record!.standbys.filter((name) => name === PRIMARY || (m.standbys.find((s) => s.name === name)?.flush ?? 0n) >= m.acked);
}
