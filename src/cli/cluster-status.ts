import type { ClusterStatus } from '../status/cluster-status.js';

// The builder moved to src/status so that agents serve the same JSON on GET /cluster;
// re-exported here for the CLI's commands.
export { readStatus, summarise, type ClusterStatus, type NodeStatus, type Role } from '../status/cluster-status.js';

export function renderStatus(status: ClusterStatus): string {
  const lines: string[] = [];
  const primary = status.primary ? `${status.primary.name} (${status.primary.host}:${status.primary.port})` : 'none published';
  lines.push(`cluster ${status.cluster}  epoch ${status.epoch}  timeline ${status.timeline ?? '-'}  leader ${status.leader ?? 'none'}${status.paused ? '  PAUSED' : ''}`);
  lines.push(`primary ${primary}  verdict ${status.verdict ?? '-'}${status.rule ? ` (rule ${status.rule})` : ''}  agents ${status.agents.map((a) => a.id).join(', ') || 'none'}`);
  for (const note of status.notes) lines.push(`note: ${note}`);
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
  return lines.join('\n');
}
