// Who may be promoted in synchronous mode (issue 13, item 3). While the recorded set
// promises that every acknowledged commit is on k of its n members, the most advanced of
// any n-k+1 members holds them all (any k members and any n-k+1 members share one). With
// fewer members seen, one of the missing ones may hold the last acknowledged commit: wait.
import { claims, type SyncRecord } from './sync-set.js';

export type SyncQuorum =
  | { kind: 'not-promising' }
  | { kind: 'met'; members: string[]; seen: string[]; need: number }
  | { kind: 'short'; members: string[]; seen: string[]; need: number; reason: string };

/** `seen`: members whose position is known this tick (reachable standbys on the published timeline). */
export function syncQuorum(record: SyncRecord | null | undefined, seen: readonly string[]): SyncQuorum {
  if (record === undefined || record === null || !claims(record)) return { kind: 'not-promising' };
  const members = record.standbys;
  const need = Math.max(1, members.length - record.number + 1);
  const seenMembers = members.filter((name) => seen.includes(name));
  if (seenMembers.length >= need) return { kind: 'met', members, seen: seenMembers, need };
  const missing = members.filter((name) => !seenMembers.includes(name));
  const reason =
    `waiting for the synchronous standbys: ${seenMembers.length} of the ${members.length} recorded (ANY ${record.number} of ${members.join(', ')}) can be seen, ${need} are needed; ` +
    `${missing.join(', ')} may hold the last acknowledged commit`;
  return { kind: 'short', members, seen: seenMembers, need, reason };
}

/**
 * What a forced promotion of `target` may lose, in one line; null when it loses nothing acknowledged.
 * `ahead`: seen members with more WAL than the target (any of them may alone hold a commit).
 */
export function forcedLoss(quorum: SyncQuorum, target: string, ahead: readonly string[] = []): string | null {
  if (quorum.kind === 'not-promising') return null;
  const missing = quorum.members.filter((name) => !quorum.seen.includes(name));
  if (quorum.kind === 'met' && quorum.members.includes(target) && ahead.length === 0) return null;
  const parts = [
    ...(quorum.members.includes(target) ? [] : [`${target} is not in the recorded synchronous set (${quorum.members.join(', ')})`]),
    ...(missing.length > 0 ? [`${missing.join(', ')} cannot be seen`] : []),
    ...(ahead.length > 0 ? [`${ahead.join(', ')} ${ahead.length === 1 ? 'has' : 'have'} more WAL than ${target}`] : []),
  ];
  return `commits acknowledged by the synchronous standbys may be lost: ${parts.join('; ')}`;
}
