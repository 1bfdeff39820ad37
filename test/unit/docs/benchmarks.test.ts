// docs/benchmarks.md against its raw reports in docs/bench/: every figure the page
// attributes to a report is recomputed from that report's rounds, so a figure edited
// by hand (or a report swapped or deleted) fails here rather than misleading a reader.
//
// What the page must follow (it says so to its readers too):
// - a table whose body holds a digit has a `report` column; each row links one
//   report (`bench/….json`), its first cell starts with the report's scenario, and
//   every other column is a figure this file knows how to recompute;
// - a link into bench/ whose text holds a digit is a figure: its title names what
//   to recompute ("median rtoMs", "worst gapMs", "range fault.etcdRejoinMs",
//   "each fault.etcdElectionMs", "rounds lost"), and its text must match.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FIGURES, median } from '../../../src/drill/report.js';

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs');
const page = readFileSync(join(docsDir, 'benchmarks.md'), 'utf8');

interface Report {
  scenario: string;
  rounds: Array<Record<string, unknown>>;
}

const reports = new Map<string, Report | null>();
function report(href: string): Report | null {
  if (!reports.has(href)) {
    const path = join(docsDir, href);
    reports.set(href, existsSync(path) && href.endsWith('.json') ? (JSON.parse(readFileSync(path, 'utf8')) as Report) : null);
  }
  return reports.get(href)!;
}

/** A round's figure by name; a dotted name reaches inside (`fault.etcdElectionMs`). */
function valuesOf(r: Report, figure: string): number[] {
  const get = (round: Record<string, unknown>) => figure.split('.').reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), round);
  return r.rounds.map(get).filter((v): v is number => typeof v === 'number');
}

/** Median and worst as the drill summarises them: worst is the largest, except for `acked`. */
function medianWorst(r: Report, figure: string): [number, number] | null {
  const values = valuesOf(r, figure);
  if (values.length === 0) return null;
  return [median(values)!, figure === 'acked' ? Math.min(...values) : Math.max(...values)];
}

const lostRounds = (r: Report) => r.rounds.filter((round) => typeof round.lost === 'number' && round.lost > 0).length;
const splitRounds = (r: Report) => r.rounds.filter((round) => round.splitBrain === true).length;
const plain = (text: string) => text.replace(/[*`]/g, '').trim();

/**
 * Does a figure written in the page equal `ms`? "1246" and "1246 ms" exactly; "1.25 s"
 * to the shown precision (1246 ms is 1.25 s, not 1.2 s nor 1.250 s).
 */
function sameFigure(written: string, ms: number, unit: string): boolean {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(written);
  if (!m) return false;
  if (unit !== 's') return m[2] === undefined && Number(m[1]) === ms;
  const decimals = m[2]?.length ?? 0;
  return Number(`${m[1]}${m[2] ?? ''}`) === Math.round(ms / 10 ** (3 - decimals));
}

/** "a / b / c ms" or "a–b s": the numbers, and the unit written after the last one. */
function splitFigures(text: string, separator: RegExp): { parts: string[]; unit: string } {
  const m = /^(.*?)\s*(ms|s)?$/.exec(plain(text))!;
  return { parts: m[1]!.split(separator).map((p) => p.trim()), unit: m[2] ?? '' };
}

const sameList = (text: string, separator: RegExp, expected: number[]) => {
  const { parts, unit } = splitFigures(text, separator);
  return parts.length === expected.length && parts.every((p, i) => sameFigure(p, expected[i]!, unit));
};

/** Why a linked figure in the text does not match its report, or null when it does. */
function proseProblem(text: string, spec: string, r: Report): string | null {
  const [kind, figure] = spec.split(' ') as [string, string | undefined];
  const values = figure ? valuesOf(r, figure) : [];
  let expected: string;
  let ok: boolean;
  if (spec === 'rounds lost') {
    expected = `${lostRounds(r)} of ${r.rounds.length}`;
    ok = plain(text) === expected;
  } else if ((kind === 'median' || kind === 'worst') && figure && values.length > 0) {
    const [med, worst] = medianWorst(r, figure)!;
    const ms = kind === 'median' ? med : worst;
    expected = `${ms} ms`;
    ok = sameList(text, /\//, [ms]);
  } else if (kind === 'range' && figure && values.length > 0) {
    expected = `${Math.min(...values)}–${Math.max(...values)} ms`;
    ok = sameList(text, /[–-]/, [Math.min(...values), Math.max(...values)]);
  } else if (kind === 'each' && figure && values.length > 0) {
    expected = `${values.join(' / ')} ms`;
    ok = sameList(text, /\//, values);
  } else {
    return `"${spec}": not a figure this check knows, or the report has no such figure`;
  }
  return ok ? null : `"${text}" (${spec}) should be ${expected}`;
}

/** Why a table cell does not match its report, or null; undefined for a column this check does not know. */
function cellProblem(header: string, cell: string, r: Report): string | null | undefined {
  const name = plain(header);
  const figure = FIGURES.find((f) => name === f || name.startsWith(`${f} (`));
  let expected: string;
  if (figure) {
    const mw = medianWorst(r, figure);
    expected = mw ? `${mw[0]} / ${mw[1]}` : '-';
  } else if (name === 'rounds') expected = String(r.rounds.length);
  else if (name === 'rounds that lost a row') expected = `${lostRounds(r)} of ${r.rounds.length}`;
  else if (name === 'split brain') expected = splitRounds(r) === 0 ? 'never' : `${splitRounds(r)} of ${r.rounds.length}`;
  else return undefined;
  return plain(cell) === expected ? null : `${name} "${plain(cell)}" should be "${expected}"`;
}

const LINK = /\[([^\]]*)\]\(([^)\s]+)(?:\s+"([^"]*)")?\)/g;
const cellsOf = (line: string) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());

interface PageCheck {
  problems: string[];
  /** Table rows checked against a report: compared with the rows that name one, so a parser that skips rows fails. */
  checkedRows: number;
}

function checkPage(markdown: string): PageCheck {
  const problems: string[] = [];
  let checkedRows = 0;
  const lines = markdown.split('\n');

  for (const [i, line] of lines.entries()) {
    for (const [, text, href, title] of line.matchAll(LINK)) {
      const where = `line ${i + 1}`;
      if (!href!.startsWith('bench/')) {
        if (href!.includes('bench/')) problems.push(`${where}: ${href} must be a link relative to docs/ (bench/…)`);
        continue;
      }
      if (!existsSync(join(docsDir, href!))) {
        problems.push(`${where}: ${href} does not exist in docs/`);
        continue;
      }
      if (!/\d/.test(text!) || line.trimStart().startsWith('|')) continue;
      const r = report(href!);
      if (!title) problems.push(`${where}: the figure "${text}" links ${href} but does not say which figure it is (a title such as "median rtoMs")`);
      else if (!r) problems.push(`${where}: "${text}" links ${href}, which is not a report`);
      else {
        const problem = proseProblem(text!, title, r);
        if (problem) problems.push(`${where}: ${problem} (${href})`);
      }
    }
  }

  for (let start = 0; start < lines.length; start++) {
    if (!lines[start]!.trimStart().startsWith('|') || (start > 0 && lines[start - 1]!.trimStart().startsWith('|'))) continue;
    let end = start;
    while (end + 1 < lines.length && lines[end + 1]!.trimStart().startsWith('|')) end++;
    const headers = cellsOf(lines[start]!);
    const body = lines.slice(start + 2, end + 1);
    const reportColumn = headers.findIndex((h) => plain(h) === 'report');
    if (reportColumn < 0) {
      if (body.some((row) => /\d/.test(row))) problems.push(`line ${start + 1}: a table with figures and no report column`);
      continue;
    }
    for (const [k, row] of body.entries()) {
      const where = `line ${start + 3 + k}`;
      const cells = cellsOf(row);
      const links = [...(cells[reportColumn] ?? '').matchAll(LINK)].map((m) => m[2]!);
      const r = links.length === 1 ? report(links[0]!) : null;
      if (cells.length !== headers.length) problems.push(`${where}: ${cells.length} cells under ${headers.length} headers`);
      if (!r) {
        problems.push(`${where}: the report cell must link exactly one report in docs/bench/ (it has ${links.join(', ') || 'none'})`);
        continue;
      }
      checkedRows++;
      const label = plain(cells[0] ?? '');
      if (!label.startsWith(r.scenario) || /\d/.test(label)) problems.push(`${where}: "${label}" should start with the report's scenario "${r.scenario}" and hold no figure`);
      headers.forEach((header, c) => {
        if (c === 0 || c === reportColumn) return;
        const problem = cellProblem(header, cells[c] ?? '', r);
        if (problem === undefined) problems.push(`${where}: column "${header}" is not a figure that can be recomputed from a report`);
        else if (problem) problems.push(`${where}: ${problem} (${links[0]})`);
      });
    }
  }
  return { problems, checkedRows };
}

function reportFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? reportFiles(join(dir, e.name)) : e.name.endsWith('.json') ? [join(dir, e.name)] : []));
}

describe('docs/benchmarks.md matches its raw reports', () => {
  it('every figure it attributes to a report is the one recomputed from that report', () => {
    const { problems, checkedRows } = checkPage(page);
    expect(problems).toEqual([]);
    const rowsNamingAReport = page.split('\n').filter((l) => l.trimStart().startsWith('|') && l.includes('](bench/')).length;
    expect(checkedRows).toBe(rowsNamingAReport);
    expect(checkedRows).toBeGreaterThan(0);
  });

  it('every raw report in docs/bench/ is linked from the page', () => {
    const linked = new Set([...page.matchAll(LINK)].map((m) => m[2]!));
    const unlinked = reportFiles(join(docsDir, 'bench')).map((f) => relative(docsDir, f)).filter((f) => !linked.has(f));
    expect(unlinked).toEqual([]);
  });

  // The check itself must be able to fail: each edit below is one a hand could make.
  const KILL = 'bench/kill-primary-2026-11-27T09-46-08-745Z.json';
  const PAUSE = 'bench/pause-primary-2026-11-27T09-48-03-760Z.json';
  const firstRow = page.split('\n').find((l) => l.includes(`(${KILL})`) && l.startsWith('|'))!;
  it.each([
    ['a table figure edited by hand', (p: string) => p.replace('| 428 / 619 |', '| 428 / 600 |'), /detectMs "428 \/ 600" should be "428 \/ 619"/],
    ['a count of rounds that lost a row', (p: string) => p.replace(firstRow, firstRow.replace('2 of 10', '1 of 10')), /rounds that lost a row "1 of 10" should be "2 of 10"/],
    ['a row without its report', (p: string) => p.replace(firstRow, `${firstRow}\n${firstRow.replace(/\[report\]\([^)]*\)/, '')}`), /must link exactly one report/],
    ['a row linked to another scenario\'s report', (p: string) => p.replace(firstRow, firstRow.replace(KILL, PAUSE)), /should start with the report's scenario "pause-primary"/],
    ['a report that does not exist', (p: string) => p.replace(firstRow, firstRow.replace(KILL, 'bench/kill-primary-gone.json')), /does not exist/],
    ['a column that cannot be recomputed', (p: string) => p.replace('| scenario | detectMs | rtoMs | convergeMs |', '| scenario | p99 | rtoMs | convergeMs |'), /column "p99"/],
    ['a table of figures without reports', (p: string) => `${p}\n| scenario | rtoMs |\n| --- | --- |\n| kill-primary | 900 / 1000 |\n`, /a table with figures and no report column/],
    ['a linked figure in the text edited by hand', (p: string) => p.replace('[**1.25 s**]', '[**1.15 s**]'), /"\*\*1\.15 s\*\*" \(median rtoMs\) should be 1246 ms/],
    ['a linked figure shown more precisely than it is', (p: string) => p.replace('[**1.25 s**]', '[**1.250 s**]'), /should be 1246 ms/],
    ['a linked figure that does not say what it is', (p: string) => p.replace(`[**1.25 s**](${KILL} "median rtoMs")`, `[**1.25 s**](${KILL})`), /does not say which figure/],
    ['a linked range edited by hand', (p: string) => p.replace('[3.1–3.4 s]', '[3.0–3.4 s]'), /"3\.0–3\.4 s" \(range fault\.etcdRejoinMs\) should be 3087–3414 ms/],
    ['a linked per-round list edited by hand', (p: string) => p.replace('[1155 / 1473 / 2103 ms]', '[1155 / 1473 ms]'), /should be 1155 \/ 1473 \/ 2103 ms/],
    ['a linked count of lost rounds', (p: string) => p.replace(`[2 of 10](${KILL} "rounds lost")`, `[1 of 10](${KILL} "rounds lost")`), /"1 of 10" \(rounds lost\) should be 2 of 10/],
  ])('fails on %s', (_what, edit, expected) => {
    const edited = edit(page);
    expect(edited).not.toBe(page);
    expect(checkPage(edited).problems.join('\n')).toMatch(expected);
  });
});
