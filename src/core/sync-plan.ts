// The leader's management of the synchronous set, one step per tick, as rows read in
// order (first match wins), like the decision table in rules.ts. Each step is small
// and ordered so that at every instant the recorded set (etcd) lets a leader find every
// acknowledged commit (safety rule 9):
// - a standby enters the recorded set before it enters the setting;
// - it leaves the recorded set only after the setting without it has been reloaded by
//   every walsender and `number` of the remaining members have flushed the primary's
//   position of that moment (a commit it alone acknowledged exists nowhere else);
// - the record stops promising before the setting stops waiting, and promises again
//   only once the members hold everything acknowledged before.
// Pure: the primary's state and the time come in, one step comes out.
import { claims, formatStandbyNames, sameSet, sortedNames, unique, type PrimarySyncState, type StandbySet, type SyncRecord, type SyncSettings } from './sync-set.js';
import type { Lsn } from './types.js';

export interface SyncMemory {
  /** The setting every walsender was seen to follow, and the primary's position at that moment. */
  mark: { primary: string; setting: string; lsn: Lsn } | null;
  /** Since when fewer than k eligible standbys stream; null while enough do. */
  shortSince: number | null;
  /** Members of the setting that stopped streaming, and since when. */
  missingSince: Record<string, number>;
  /** The setting read on the primary, and since when it has been read unchanged. */
  appliedSeen?: { setting: string; since: number } | null;
}

export const EMPTY_SYNC_MEMORY: SyncMemory = { mark: null, shortSince: null, missingSince: {}, appliedSeen: null };

/**
 * How long a setting must have been read unchanged before the leader notes its mark. What the
 * walsenders show (sync_priority) cannot tell every reload: under ANY k a raised k leaves each
 * priority at 1, and whether commits wait at all is the checkpointer's reading of the setting,
 * which shows nowhere. Processes take a reload within milliseconds unless busy; the leader
 * gives them this long (the agent passes it; tests of the rows' logic pass 0).
 */
export const RELOAD_SETTLE_MS = 1000;

export interface SyncPlanInput {
  now: number;
  settings: SyncSettings;
  /** The published epoch. */
  epoch: number;
  record: SyncRecord | null;
  state: PrimarySyncState;
  /** Nodes that may be synchronous standbys: in the config, not the primary, not tagged noFailover. */
  eligible: string[];
  /** A member that stopped streaming leaves the setting after this long (when enough others stream). */
  graceMs: number;
  /** The mark waits until the applied setting has been read unchanged this long (RELOAD_SETTLE_MS). */
  settleMs: number;
  /** What the last plan returned (empty for a new leader: it marks again, later, which is safe). */
  memory: SyncMemory;
}

export type SyncStep =
  | { kind: 'record'; record: SyncRecord }
  | { kind: 'apply'; set: StandbySet | null }
  | { kind: 'wait' }
  | { kind: 'none' };

export interface SyncPlan {
  rule: string;
  step: SyncStep;
  why: string;
  memory: SyncMemory;
}

/** What one plan knows, computed once. */
interface SyncSituation {
  input: SyncPlanInput;
  healthy: string[];
  applied: StandbySet | null;
  /** Where the setting should be: null is asynchronous. */
  target: StandbySet | null;
  memory: SyncMemory;
}

interface SyncRule {
  id: string;
  when: string;
  then: string;
  matches(s: SyncSituation): boolean;
  plan(s: SyncSituation): { step: SyncStep; why: string; memory?: SyncMemory };
}

const membersOf = (set: StandbySet | null): string[] => set?.standbys ?? [];
const covers = (names: readonly string[], wanted: readonly string[]): boolean => wanted.every((name) => names.includes(name));
const wantedMode = (s: SyncSituation) => s.input.settings.mode;
const degradedNow = (s: SyncSituation) => s.input.settings.mode === 'quorum' && s.target === null;

function recordOf(s: SyncSituation, fields: Partial<SyncRecord> & Pick<SyncRecord, 'standbys' | 'number'>): SyncRecord {
  const { settings, epoch, now } = s.input;
  return { mode: settings.mode, epoch, degraded: false, pending: false, at: now, ...fields, durability: settings.durability, standbys: sortedNames(unique(fields.standbys)) };
}

/** The record must shrink or start promising: that waits for the members' confirmation. */
function needsConfirmation(s: SyncSituation): boolean {
  const record = s.input.record;
  if (s.target === null) return false;
  if (!claims(record)) return true;
  return !covers(s.target.standbys, record!.standbys) || record!.number < s.target.number;
}

const markFits = (s: SyncSituation): boolean =>
  s.memory.mark !== null && s.memory.mark.primary === s.input.state.primary && s.memory.mark.setting === formatStandbyNames(s.target);

/** Every walsender counts itself in or out of the quorum as the applied setting says. */
function everySenderReloaded(s: SyncSituation): boolean {
  const members = membersOf(s.applied);
  return s.input.state.senders.every((sender) => (sender.priority > 0) === members.includes(sender.name));
}

function confirmedBy(s: SyncSituation): string[] {
  const mark = s.memory.mark!;
  return s.input.state.senders.filter((sender) => membersOf(s.target).includes(sender.name) && sender.flushLsn !== null && sender.flushLsn >= mark.lsn).map((sender) => sender.name);
}

export const SYNC_RULES: readonly SyncRule[] = [
  {
    id: 'sync-setting-unreadable',
    when: "the primary's synchronous_standby_names is not a form pg-failover can read (set by hand)",
    then: 'change nothing; say so until a person sets it back or to empty',
    matches: (s) => s.input.state.applied === 'unparsable',
    plan: () => ({ step: { kind: 'wait' }, why: 'synchronous_standby_names on the primary is not ANY/FIRST k (names), a list or empty: not managed until it is' }),
  },
  {
    id: 'sync-stop-promising',
    when: 'the setting must become asynchronous (mode off, or preferred durability short of standbys for degradeAfterMs) and the record still promises',
    then: 'record first that it no longer promises (degraded, or mode off)',
    matches: (s) => s.target === null && claims(s.input.record),
    plan: (s) => ({
      step: { kind: 'record', record: recordOf(s, { ...s.input.record!, mode: wantedMode(s), degraded: degradedNow(s), pending: false, epoch: s.input.epoch, at: s.input.now }) },
      why: degradedNow(s) ? `fewer than ${s.input.settings.number} standbys healthy for ${s.input.settings.degradeAfterMs} ms: preferred durability goes on without them` : 'synchronous mode is off in the config',
    }),
  },
  {
    id: 'sync-release-writes',
    when: 'the setting must become asynchronous and the record no longer promises',
    then: 'empty synchronous_standby_names, so commits stop waiting for standbys',
    matches: (s) => s.target === null && s.applied !== null,
    plan: () => ({ step: { kind: 'apply', set: null }, why: 'the record promises nothing: commits need not wait' }),
  },
  {
    id: 'sync-record-asynchronous',
    when: 'the setting is asynchronous and the record does not say so (yet)',
    then: 'record mode off, or degraded',
    matches: (s) => s.target === null && (s.input.record === null || s.input.record.mode !== wantedMode(s) || s.input.record.degraded !== degradedNow(s) || s.input.record.pending),
    plan: (s) => ({
      step: { kind: 'record', record: recordOf(s, { standbys: s.input.record?.standbys ?? [], number: s.input.settings.number, degraded: degradedNow(s) }) },
      why: degradedNow(s) ? 'writes go on without synchronous standbys (preferred durability)' : 'synchronous mode is off',
    }),
  },
  {
    id: 'sync-record-before-setting',
    when: 'the record promises, and the setting is about to name a standby it lacks (or the setting names one, or asks fewer, than it records)',
    then: 'add the standby to the record (and lower its number) before the setting changes',
    matches: (s) => {
      const record = s.input.record;
      if (!claims(record) || s.target === null) return false;
      const wanted = [...s.target.standbys, ...membersOf(s.applied)];
      return !covers(record!.standbys, wanted) || Math.min(s.target.number, s.applied?.number ?? Infinity) < record!.number;
    },
    plan: (s) => {
      const record = s.input.record!;
      const standbys = [...record.standbys, ...s.target!.standbys, ...membersOf(s.applied)];
      const number = Math.min(record.number, s.target!.number, s.applied?.number ?? Infinity);
      return { step: { kind: 'record', record: recordOf(s, { standbys, number }) }, why: `record ${standbys.filter((n) => !record.standbys.includes(n)).join(', ') || `number ${number}`} before the setting names it` };
    },
  },
  {
    id: 'sync-record-pending',
    when: 'the record does not promise (new, off or degraded) and synchronous mode is to start',
    then: 'record the standbys as pending (not yet promising), then set the setting',
    matches: (s) => {
      const record = s.input.record;
      if (claims(record) || s.target === null) return false;
      const pendingCovers = record !== null && record.mode === 'quorum' && record.pending && !record.degraded && covers(record.standbys, [...s.target.standbys, ...membersOf(s.applied)]);
      return !pendingCovers;
    },
    plan: (s) => {
      const kept = s.input.record?.pending ? s.input.record.standbys : [];
      const standbys = [...kept, ...s.target!.standbys, ...membersOf(s.applied)];
      return { step: { kind: 'record', record: recordOf(s, { standbys, number: s.target!.number, pending: true }) }, why: `synchronous mode starts with ${s.target!.standbys.join(', ')}: they promise once they hold everything acknowledged so far` };
    },
  },
  {
    id: 'sync-apply-setting',
    when: 'the recorded set covers the wanted setting and the primary runs another',
    then: 'ALTER SYSTEM SET synchronous_standby_names and reload',
    matches: (s) => s.target !== null && !sameSet(s.applied, s.target),
    plan: (s) => ({ step: { kind: 'apply', set: s.target }, why: `commits wait for ${formatStandbyNames(s.target)}` }),
  },
  {
    id: 'sync-await-reload',
    when: 'the record must shrink or start promising, and not every walsender has reloaded the setting yet',
    then: 'wait; once they all have, note the primary\'s position',
    matches: (s) => needsConfirmation(s) && !markFits(s),
    plan: (s) => {
      if (!everySenderReloaded(s)) return { step: { kind: 'wait' }, why: 'waiting for every walsender to reload synchronous_standby_names' };
      const seenFor = s.input.now - (s.memory.appliedSeen?.since ?? s.input.now);
      if (seenFor < s.input.settleMs) return { step: { kind: 'wait' }, why: `waiting for the setting to settle (${seenFor} of ${s.input.settleMs} ms): every process must have reloaded it` };
      const mark = { primary: s.input.state.primary, setting: formatStandbyNames(s.target), lsn: s.input.state.lsn };
      return { step: { kind: 'wait' }, why: `the setting is in effect; waiting for ${s.target!.number} of ${s.target!.standbys.join(', ')} to flush the primary's position of now`, memory: { ...s.memory, mark } };
    },
  },
  {
    id: 'sync-confirm-members',
    when: 'the record must shrink or start promising, and number of the setting\'s members have flushed the position noted after the reload',
    then: 'record exactly the setting\'s members and number: it promises again',
    matches: (s) => needsConfirmation(s) && markFits(s) && confirmedBy(s).length >= s.target!.number,
    plan: (s) => ({
      step: { kind: 'record', record: recordOf(s, { standbys: s.target!.standbys, number: s.target!.number }) },
      why: `${confirmedBy(s).join(', ')} hold everything acknowledged before the change`,
    }),
  },
  {
    id: 'sync-await-flush',
    when: 'the record must shrink or start promising, and fewer than number members have flushed the noted position',
    then: 'wait',
    matches: (s) => needsConfirmation(s),
    plan: (s) => ({ step: { kind: 'wait' }, why: `waiting for ${s.target!.number} of ${s.target!.standbys.join(', ')} to flush the position noted after the reload` }),
  },
  {
    id: 'sync-record-durability',
    when: 'the set is as wanted, but the record names another durability than the config (the agents were restarted with a changed config)',
    then: 'rewrite the record with the configured durability; its set and promise unchanged',
    matches: (s) => s.input.record !== null && s.input.record.durability !== s.input.settings.durability,
    plan: (s) => ({ step: { kind: 'record', record: recordOf(s, { ...s.input.record!, at: s.input.now }) }, why: `durability is ${s.input.settings.durability} in the config` }),
  },
  {
    id: 'sync-steady',
    when: 'the setting and the record agree',
    then: 'nothing',
    matches: () => true,
    plan: () => ({ step: { kind: 'none' }, why: 'the synchronous set is as wanted' }),
  },
];

export function planSync(input: SyncPlanInput): SyncPlan {
  const situation = situationOf(input);
  const rule = SYNC_RULES.find((row) => row.matches(situation))!;
  const planned = rule.plan(situation);
  const memory = planned.memory ?? situation.memory;
  // A mark speaks only for commits acknowledged under the setting in force when it was noted.
  // Any change of the setting forgets it: should that setting come back, a member that joined
  // and left meanwhile (or the asynchronous spell) may have acknowledged commits past the mark
  // that none of the remaining members holds.
  return { rule: rule.id, step: planned.step, why: planned.why, memory: planned.step.kind === 'apply' ? { ...memory, mark: null } : memory };
}

function situationOf(input: SyncPlanInput): SyncSituation {
  const { now, settings, state } = input;
  const applied = state.applied === 'unparsable' ? null : state.applied;
  const streaming = new Set(state.senders.filter((sender) => sender.streaming).map((sender) => sender.name));
  const healthy = sortedNames(input.eligible.filter((name) => streaming.has(name)));
  const missingSince: Record<string, number> = {};
  for (const name of membersOf(applied)) if (!streaming.has(name)) missingSince[name] = input.memory.missingSince[name] ?? now;
  const short = healthy.length < settings.number;
  const shortSince = short ? (input.memory.shortSince ?? now) : null;
  const setting = state.applied === 'unparsable' ? '(unparsable)' : formatStandbyNames(applied);
  const appliedSeen = input.memory.appliedSeen?.setting === setting ? input.memory.appliedSeen : { setting, since: now };
  const memory: SyncMemory = { ...input.memory, missingSince, shortSince, appliedSeen };
  return { input, healthy, applied, target: targetOf(input, healthy, applied, memory), memory };
}

/**
 * The wanted setting: ANY k over the healthy streaming standbys. A member that stopped
 * streaming keeps its place for graceMs (a blip does not reshape the set). With fewer than k
 * healthy, required durability keeps waiting for the members it has (or every eligible
 * node); preferred does the same until degradeAfterMs, then goes asynchronous until k stream.
 */
function targetOf(input: SyncPlanInput, healthy: string[], applied: StandbySet | null, memory: SyncMemory): StandbySet | null {
  const { settings, now } = input;
  if (settings.mode === 'off') return null;
  const k = settings.number;
  if (healthy.length < k && settings.durability === 'preferred') {
    const stillDegraded = input.record?.degraded === true && input.record.mode === 'quorum';
    if (stillDegraded || now - memory.shortSince! >= settings.degradeAfterMs) return null;
  }
  const inGrace = membersOf(applied).filter((name) => input.eligible.includes(name) && now - (memory.missingSince[name] ?? now) < input.graceMs);
  let members = unique([...healthy, ...inGrace]);
  if (healthy.length < k) members = unique([...healthy, ...membersOf(applied).filter((name) => input.eligible.includes(name))]);
  if (members.length < k) members = [...input.eligible];
  return { number: k, standbys: sortedNames(members) };
}
