import type { RoundResult } from './round.js';

const WIDTH = 800;
const HEIGHT = 220;
const PAD = 40;

/**
 * A picture of one round: acknowledged writes per 100 ms (one bar each, coloured by
 * the node that took them), with the fault, detection, the first write on the new
 * primary, convergence and the undo of the fault marked, to the end of the watch. Self-contained SVG: no fonts or scripts fetched.
 */
export function timelineSvg(round: RoundResult): string {
  const points = round.timeline ?? [];
  const start = Math.min(-1000, ...points.map(([t]) => t));
  const end = Math.max(1000, round.convergeMs ?? 0, round.watch?.untilMs ?? 0, ...points.map(([t]) => t)) + 200;
  const bucketMs = 100;
  const buckets = new Map<number, Map<string, number>>();
  for (const [t, node] of points) {
    const b = Math.floor((t - start) / bucketMs);
    const perNode = buckets.get(b) ?? new Map<string, number>();
    perNode.set(node, (perNode.get(node) ?? 0) + 1);
    buckets.set(b, perNode);
  }
  const nodes = [...new Set(points.map(([, n]) => n))].sort();
  const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];
  const colourOf = (node: string) => colours[nodes.indexOf(node) % colours.length]!;
  const max = Math.max(1, ...[...buckets.values()].map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
  const x = (t: number) => PAD + ((t - start) / (end - start)) * (WIDTH - 2 * PAD);
  const barWidth = Math.max(1, (bucketMs / (end - start)) * (WIDTH - 2 * PAD) - 1);
  const y = (n: number) => HEIGHT - PAD - (n / max) * (HEIGHT - 2 * PAD);
  const parts: string[] = [];
  for (const [b, perNode] of buckets) {
    let stacked = 0;
    for (const [node, count] of perNode) {
      const top = y(stacked + count);
      parts.push(`<rect x="${x(start + b * bucketMs).toFixed(1)}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${(y(stacked) - top).toFixed(1)}" fill="${colourOf(node)}"/>`);
      stacked += count;
    }
  }
  const marks: Array<[string, number | null, string]> = [
    ['fault', 0, '#000'],
    ['detected', round.detectMs, '#9467bd'],
    ['first write', round.rtoMs, '#2ca02c'],
    ['converged', round.convergeMs, '#8c564b'],
    ['undone', round.watch?.restoredMs ?? null, '#7f7f7f'],
  ];
  marks.forEach(([label, t, colour], i) => {
    if (t === null) return;
    parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${PAD - 10}" y2="${HEIGHT - PAD}" stroke="${colour}" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${(x(t) + 3).toFixed(1)}" y="${PAD - 12 + (i % 2) * 12}" font-size="11" fill="${colour}">${label} ${t} ms</text>`);
  });
  nodes.forEach((node, i) => parts.push(`<text x="${PAD + 160 + 150 * i}" y="${HEIGHT - 8}" font-size="11" fill="${colourOf(node)}">■ writes on ${escape(node)}</text>`));
  const title = `${round.scenario} round ${round.round}: ${round.from} → ${round.to ?? '?'}; writes per ${bucketMs} ms; lost ${round.lost}${round.splitBrain ? '; SPLIT BRAIN' : ''}${round.observable === false ? '; a node went unobserved' : ''}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${PAD}" y="14" font-size="12">${escape(title)}</text>`,
    `<line x1="${PAD}" x2="${WIDTH - PAD}" y1="${HEIGHT - PAD}" y2="${HEIGHT - PAD}" stroke="#999"/>`,
    `<text x="${PAD}" y="${HEIGHT - PAD + 16}" font-size="10">${start} ms</text>`,
    `<text x="${WIDTH - PAD - 50}" y="${HEIGHT - PAD + 16}" font-size="10">${end} ms</text>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
