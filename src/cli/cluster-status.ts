import { formatEvent } from '../core/event.js';
import type { ClusterStatus } from '../status/cluster-status.js';
import { renderSynchronous } from '../status/synchronous-status.js';
import { renderRejoins } from '../status/rejoin-status.js';
import { renderBackups } from '../status/backup-status.js';

// The builder moved to src/status so that agents serve the same JSON on GET /cluster;
// re-exported here for the CLI's commands.
export { readStatus, summarise, type ClusterStatus, type NodeStatus, type Role } from '../status/cluster-status.js';

export function renderStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  const primary = status.primary ? `${status.primary.name} (${status.primary.host}:${status.primary.port})` : 'none published';
  lines.push(`cluster ${status.cluster}  epoch ${status.epoch}  timeline ${status.timeline ?? '-'}  leader ${status.leader ?? 'none'}${status.paused ? '  PAUSED' : ''}`);
  lines.push(`primary ${primary}  agents ${status.agents.map((a) => a.id).join(', ') || 'none'}`);
  const verdict = status.verdict;
  lines.push(verdict ? `verdict ${verdict.kind}${verdict.rule ? ` (rule ${verdict.rule})` : ''}: ${verdict.why}` : 'verdict - (no leader has decided yet)');
  for (const note of status.notes) lines.push(`note: ${note}`);
  lines.push(renderSynchronous(status.synchronous));
  lines.push(...renderRejoins(status.rejoins ?? []));
  lines.push(...renderBackups(status.backups ?? []));
  const op = status.operation;
  if (op) {
    lines.push(`operation ${op.kind} ${op.from} -> ${op.to} (epoch ${op.epoch}) at step ${op.step} for ${seconds(op.stepMs)}, ${seconds(op.elapsedMs)} in all${op.error ? `; last error: ${op.error}` : ''}`);
    for (const replan of op.replans) lines.push(`  re-planned: ${replan.to} instead of ${replan.abandoned} (${replan.why})`);
    if (op.rollback) lines.push(`  rolling back: ${op.rollback}`);
  }
  const header = ['NODE', 'ROLE', 'REACHABLE', 'TL', 'LSN', 'LAG', 'STREAMING'];
  const rows = status.nodes.map((n) => [
    n.name,
    n.role,
    n.reachable ? 'yes' : 'no',
    n.timeline === null ? '-' : String(n.timeline),
    n.lsn ?? '-',
    n.lagBytes === null ? '-' : `${n.lagBytes} B`,
    n.streaming === null ? '-' : n.streaming ? `from ${n.upstream ?? '?'}` : 'no',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) lines.push(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  if (status.events.length > 0) {
    lines.push('recent events (failover events for all):');
    for (const event of status.events) lines.push(`  ${formatEvent(event)}`);
  }
  return lines.join('\n');
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
