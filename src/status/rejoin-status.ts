import type { RejoinRecord } from '../dcs/rejoins.js';

// What `status` says about rejoins (issue 14): one that runs (with a clone's progress), and the
// last one of each node when it failed or ended in the last ten minutes.

export interface RejoinStatus {
  node: string;
  method: RejoinRecord['method'];
  source: string;
  state: RejoinRecord['state'];
  epoch: number;
  startedAt: string;
  ms: number | null;
  error: string | null;
  progress: RejoinRecord['progress'] | null;
}

const RECENT_MS = 10 * 60_000;

export function rejoinStatuses(records: RejoinRecord[], now: number): RejoinStatus[] {
  return records
    .filter((r) => r.state === 'running' || now - Date.parse(r.at) <= RECENT_MS)
    .map((r) => ({ node: r.node, method: r.method, source: r.source, state: r.state, epoch: r.epoch, startedAt: r.startedAt, ms: r.ms ?? null, error: r.error ?? null, progress: r.progress ?? null }));
}

export function renderRejoins(rejoins: RejoinStatus[]): string[] {
  return rejoins.map((r) => {
    const progress = r.progress ? `, ${r.progress.phase}: ${mb(r.progress.doneBytes)}${r.progress.totalBytes === null ? '' : ` of ${mb(r.progress.totalBytes)}`}` : '';
    const end = r.state === 'done' ? (r.ms === null ? '' : ` in ${r.ms} ms`) : r.state === 'failed' ? `: ${r.error ?? 'failed'}` : ` since ${r.startedAt}${progress}`;
    return `rejoin ${r.node} by ${r.method} from ${r.source} (epoch ${r.epoch}) ${r.state}${end}`;
  });
}

const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`;
