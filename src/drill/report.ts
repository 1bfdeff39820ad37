import type { RoundResult } from './round.js';

/** Figures only some scenarios measure (standby-loss: stallMs, resumeMs; replica-cut: cutMs, followMs); the table shows them only when a round has them. */
export const SCENARIO_FIGURES = ['stallMs', 'resumeMs', 'cutMs', 'followMs'] as const;
export type ScenarioFigure = (typeof SCENARIO_FIGURES)[number];
export const FIGURES = ['detectMs', 'rtoMs', 'gapMs', 'convergeMs', 'rejoinMs', 'acked', 'lost', 'writerErrors', 'longestWaitMs', ...SCENARIO_FIGURES] as const;
export type Figure = (typeof FIGURES)[number];

export interface Summary {
  median: Record<Figure, number | null>;
  worst: Record<Figure, number | null>;
  splitBrain: boolean;
  /** Every round saw every node throughout (see RoundResult.observable): without it, "no split brain" proves nothing. */
  observable: boolean;
  failedRounds: number;
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

/** Worst is the largest figure, except for `acked`, where fewer is worse. */
export function summarise(rounds: RoundResult[]): Summary {
  const med = {} as Record<Figure, number | null>;
  const worst = {} as Record<Figure, number | null>;
  for (const figure of FIGURES) {
    const values = rounds.map((r) => r[figure]).filter((v): v is number => typeof v === 'number');
    med[figure] = median(values);
    worst[figure] = values.length === 0 ? null : figure === 'acked' ? Math.min(...values) : Math.max(...values);
  }
  return { median: med, worst, splitBrain: rounds.some((r) => r.splitBrain), observable: rounds.every((r) => r.observable), failedRounds: rounds.filter((r) => r.error).length };
}

/** The figures a table shows: every common one, and a scenario's own once a round has it. */
export function shownFigures(rounds: RoundResult[]): Figure[] {
  const own = new Set<Figure>(SCENARIO_FIGURES);
  return FIGURES.filter((f) => !own.has(f) || rounds.some((r) => r[f] !== undefined));
}

export function renderTable(scenario: string, rounds: RoundResult[], summary: Summary): string {
  const figures = shownFigures(rounds);
  // How the old primary came back (follow, rewind, clone), beside where it went, once a round knows it.
  const methods = rounds.some((r) => typeof r.rejoinMethod === 'string');
  const method = (v: string[]) => (methods ? v : []);
  const header = ['round', 'from', 'to', ...method(['rejoin']), ...figures, 'splitBrain', 'observable', 'error'];
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const rows = rounds.map((r) => [cell(r.round), r.from, cell(r.to), ...method([cell(r.rejoinMethod)]), ...figures.map((f) => cell(r[f])), r.splitBrain ? 'YES' : 'no', r.observable ? 'yes' : 'NO', r.error ?? '']);
  rows.push(['median', '', '', ...method(['']), ...figures.map((f) => cell(summary.median[f])), '', '', '']);
  rows.push(['worst', '', '', ...method(['']), ...figures.map((f) => cell(summary.worst[f])), summary.splitBrain ? 'YES' : 'no', summary.observable ? 'yes' : 'NO', `${summary.failedRounds} failed`]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`drill ${scenario}: ${rounds.length} round(s)`, line(header), ...rows.map(line)].join('\n');
}
