// Builders for planSync's inputs: the lab's names, a primary `pgsql` at LSN, and a
// walsender per standby whose sync_priority follows the applied setting unless told.
import { EMPTY_SYNC_MEMORY, type SyncPlanInput } from '../../../src/core/sync-plan.js';
import type { PrimarySyncState, StandbySet, SyncSettings, WalSender } from '../../../src/core/sync-set.js';
import type { Lsn } from '../../../src/core/types.js';
import { NOW, PRIMARY } from './fixtures.js';

export const R1 = 'replica-1';
export const R2 = 'replica-2';
export const R3 = 'replica-3';
export const LSN: Lsn = 0x5000000n;
export const GRACE_MS = 3_000;
export const DEGRADE_MS = 10_000;

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
    memory: EMPTY_SYNC_MEMORY,
    ...overrides,
  };
}
