// Builders for planSync's inputs: the lab's names, a primary `pgsql` at LSN, and a
// walsender per standby whose sync_priority follows the applied setting unless told.
import { expect } from 'vitest';
import { EMPTY_SYNC_MEMORY, planSync, type SyncMemory, type SyncPlanInput, type SyncStep } from '../../../src/core/sync-plan.js';
import { formatStandbyNames, type PrimarySyncState, type StandbySet, type SyncRecord, type SyncSettings, type WalSender } from '../../../src/core/sync-set.js';
import type { Lsn } from '../../../src/core/types.js';
import { NOW, PRIMARY, syncRecord } from './fixtures.js';

export const R1 = 'replica-1';
export const R2 = 'replica-2';
export const R3 = 'replica-3';
export const LSN: Lsn = 0x5000000n;
export const GRACE_MS = 3_000;
export const DEGRADE_MS = 10_000;
export const LATER: Lsn = LSN + 0x1000n;

export const REQUIRED: SyncSettings = { mode: 'quorum', number: 1, durability: 'required', degradeAfterMs: DEGRADE_MS };
export const PREFERRED: SyncSettings = { ...REQUIRED, durability: 'preferred' };
export const OFF: SyncSettings = { ...REQUIRED, mode: 'off' };

export function anyOf(number: number, ...standbys: string[]): StandbySet {
  return { number, standbys };
}

/** A walsender; `priority` undefined: it has reloaded the applied setting (see primaryState). */
export interface SenderSpec {
  name: string;
  flush?: Lsn | null;
  streaming?: boolean;
  priority?: number;
}

export function sender(name: string, options: Omit<SenderSpec, 'name'> = {}): SenderSpec {
  return { name, ...options };
}

export function primaryState(applied: StandbySet | null | 'unparsable', senders: SenderSpec[], options: { lsn?: Lsn; primary?: string } = {}): PrimarySyncState {
  const members = applied === null || applied === 'unparsable' ? [] : applied.standbys;
  const walSenders: WalSender[] = senders.map((s) => ({
    name: s.name,
    streaming: s.streaming ?? true,
    flushLsn: s.flush === undefined ? LSN : s.flush,
    priority: s.priority ?? (members.includes(s.name) ? 1 : 0),
  }));
  return { primary: options.primary ?? PRIMARY, lsn: options.lsn ?? LSN, applied, senders: walSenders };
}

export function planInput(overrides: Partial<SyncPlanInput> = {}): SyncPlanInput {
  return {
    now: NOW,
    settings: REQUIRED,
    epoch: 1,
    record: null,
    state: primaryState(null, [sender(R1), sender(R2)]),
    eligible: [R1, R2],
    graceMs: GRACE_MS,
    settleMs: 0,
    memory: EMPTY_SYNC_MEMORY,
    ...overrides,
  };
}

/** The leader's memory after it saw every walsender follow `set` with the primary at `lsn`. */
export function marked(set: StandbySet, lsn: Lsn = LSN, primary = PRIMARY, rest: Partial<SyncMemory> = {}): SyncMemory {
  return { ...EMPTY_SYNC_MEMORY, ...rest, mark: { primary, setting: formatStandbyNames(set), lsn } };
}

export const pending = (standbys: string[], number = 1): SyncRecord => syncRecord(standbys, number, { pending: true });
export const degraded = (standbys: string[]): SyncRecord => syncRecord(standbys, 1, { degraded: true, durability: 'preferred' });
export const three = { eligible: [R1, R2, R3] };

/** One row of the planner's table of cases: `by` names the SYNC_RULES row it must take. */
export interface SyncCase {
  rule: string;
  by: string;
  input: SyncPlanInput;
  step: SyncStep['kind'];
  /** record steps: the fields the new record must have. */
  record?: Partial<SyncRecord>;
  /** apply steps: the setting. */
  set?: StandbySet | null;
  /** The position noted in the returned memory: undefined is not checked, null is none. */
  mark?: Lsn | null;
  why?: RegExp;
}

export function checkCase({ input, by, step, record, set, mark, why }: SyncCase): void {
  const plan = planSync(input);
  expect(plan.rule).toBe(by);
  expect(plan.step.kind).toBe(step);
  if (record !== undefined) expect(plan.step).toEqual({ kind: 'record', record: expect.objectContaining(record) });
  if (set !== undefined) expect(plan.step).toEqual({ kind: 'apply', set });
  if (mark !== undefined) expect(plan.memory.mark?.lsn ?? null).toBe(mark);
  if (why !== undefined) expect(plan.why).toMatch(why);
  expect(plan.why.length).toBeGreaterThan(10);
}
