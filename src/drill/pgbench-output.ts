/**
 * The figures of one pgbench run, read from its summary (scripts/bench-pgbench): PostgreSQL
 * 15's pgbench prints `tps = … (without initial connection time)`, `latency average = … ms`,
 * `number of transactions actually processed: …` and `number of failed transactions: …`.
 */
export interface PgbenchFigures {
  tps: number;
  latencyAvgMs: number;
  transactions: number | null;
  /** PostgreSQL 15 and later; null from an older pgbench. */
  failed: number | null;
}

const number = (text: string, pattern: RegExp): number | null => {
  const m = pattern.exec(text);
  return m ? Number(m[1]) : null;
};

/** The run's figures, or a sentence saying what is missing (a run that failed prints no summary). */
export function parsePgbenchOutput(text: string): PgbenchFigures | string {
  // Older versions print two tps lines (including and excluding connections): the latter is the run's.
  const tps = number(text, /^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/m) ?? number(text, /^tps = ([\d.]+)/m);
  const latencyAvgMs = number(text, /^latency average = ([\d.]+) ms/m);
  if (tps === null || latencyAvgMs === null) return `pgbench printed no ${tps === null ? 'tps' : 'latency average'} line: the run did not finish`;
  return {
    tps,
    latencyAvgMs,
    transactions: number(text, /^number of transactions actually processed: (\d+)/m),
    failed: number(text, /^number of failed transactions: (\d+)/m),
  };
}
