// `failover promote <node>`: what the leader makes of a request, before it touches
// anything. A healthy primary means a planned switchover (no acknowledged write
// lost); a failed primary means a manual failover to the named node, through the
// same fenced steps as an automatic one; a primary in doubt (suspect, partition,
// unknown) is refused unless the operator forces it.
import { formatBytes } from './bytes.js';
import { chooseCandidate, positionOf } from './candidate.js';
import type { PrimaryVerdict } from './detector.js';
import { isReachable, sqlOf, streamsFrom } from './liveness.js';
import { lsnLag } from './lsn.js';
import type { OperationKind } from './journal.js';
import type { SyncRecord } from './sync-set.js';
import type { Lsn, NodeObservation, NodeSpec, Published } from './types.js';

export interface PromoteRequestInput {
  target: string;
  force: boolean;
  published: Published;
  verdict: PrimaryVerdict | null;
  specs: NodeSpec[];
  observations: Record<string, NodeObservation>;
  primaryHosts: string[];
  lastKnownPrimaryLsn: Lsn | null;
  maxLagBytes: bigint;
  /** The recorded synchronous set: a manual failover honours it unless forced. */
  sync?: SyncRecord | null;
}

export type PromotePlan = { ok: true; kind: OperationKind; from: string; to: string; reason: string } | { ok: false; reason: string };

export function planPromote(input: PromoteRequestInput): PromotePlan {
  const { target, published } = input;
  const names = input.specs.map((s) => s.name);
  if (!names.includes(target)) return { ok: false, reason: `unknown node ${target}; valid nodes: ${names.join(', ')}` };
  if (target === published.name) return { ok: false, reason: `${target} is already the primary (epoch ${published.epoch})` };

  if (input.verdict?.kind !== 'healthy') {
    // Only a primary judged failed is fenced on request: one that is merely suspect,
    // partitioned or unknown may be alive, and a kill would lose its last commits.
    if (input.verdict?.kind !== 'failed' && !input.force) {
      const kind = input.verdict?.kind ?? 'unknown';
      const why = input.verdict === null ? 'no verdict yet' : input.verdict.reason;
      return {
        ok: false,
        reason: `the primary ${published.name} is ${kind} (${why}), not failed: promoting now would kill a primary that may be alive and lose its last commits; wait for a verdict, or use --force`,
      };
    }
    const chosen = chooseCandidate({
      specs: input.specs,
      observations: input.observations,
      failedPrimary: published.name,
      lastKnownPrimaryLsn: input.lastKnownPrimaryLsn,
      maxLagBytes: input.maxLagBytes,
      publishedTimeline: published.timeline,
      target,
      force: input.force,
      sync: input.sync ?? null,
    });
    if (!chosen.ok) return { ok: false, reason: chosen.reason };
    const why = input.verdict === null ? 'primary state unknown' : input.verdict.reason;
    return { ok: true, kind: 'failover', from: published.name, to: target, reason: `manual failover: ${why}` };
  }

  const observation = input.observations[target];
  const sql = sqlOf(observation);
  if (!isReachable(observation) || sql === null) return { ok: false, reason: `${target} is down or unreachable` };
  if (!sql.inRecovery) return { ok: false, reason: `${target} is not a replica (it is out of recovery)` };
  if (!streamsFrom(sql, input.primaryHosts)) return { ok: false, reason: `${target} is not streaming from the primary ${published.name}` };
  const spec = input.specs.find((s) => s.name === target);
  if (spec?.noFailover && !input.force) return { ok: false, reason: `${target} is tagged noFailover; use --force to promote it anyway` };
  const primaryLsn = sqlOf(input.observations[published.name])?.lsn ?? input.lastKnownPrimaryLsn;
  const position = observation ? positionOf(observation) : null;
  if (primaryLsn !== null && position !== null) {
    const lag = lsnLag(primaryLsn, position);
    if (lag > input.maxLagBytes && !input.force) {
      return { ok: false, reason: `${target} is ${formatBytes(lag)} behind the primary (limit ${formatBytes(input.maxLagBytes)}); use --force to promote it anyway` };
    }
  }
  return { ok: true, kind: 'switchover', from: published.name, to: target, reason: `planned switchover to ${target}` };
}
