/**
 * What one probe of one node said: writable, read-only (in recovery), down (nothing in its
 * container accepts a connection), frozen (its container is paused: it takes no writes
 * until unpaused), or no answer.
 */
export type NodeAnswer = 'writable' | 'read-only' | 'down' | 'frozen' | 'unknown';

/** What the monitor saw at one moment; a sample may name only some of the nodes. */
export interface Sample {
  at: number;
  answers: Record<string, NodeAnswer>;
}

export interface WritablePeriod {
  node: string;
  from: number;
  to: number;
}

export interface Overlap {
  nodes: [string, string];
  from: number;
  to: number;
}

/**
 * A node's writable periods: from a sample where it accepted writes to the last such
 * sample before it was seen read-only, down or frozen. A probe that got no answer (a
 * server that answered neither over SQL nor through Docker) does not end a period: the
 * node may still take writes.
 */
export function writablePeriods(samples: Sample[]): WritablePeriod[] {
  const periods: WritablePeriod[] = [];
  const open = new Map<string, WritablePeriod>();
  for (const { at, answers } of samples) {
    for (const [node, answer] of Object.entries(answers)) {
      const current = open.get(node);
      if (answer === 'writable') {
        if (current) current.to = at;
        else open.set(node, { node, from: at, to: at });
      } else if (answer !== 'unknown' && current) {
        periods.push(current);
        open.delete(node);
      }
    }
  }
  periods.push(...open.values());
  return periods.sort((a, b) => a.from - b.from);
}

/** Split brain: two nodes whose writable periods overlap, even if no single sample saw both at once. */
export function splitBrainOverlaps(samples: Sample[]): Overlap[] {
  const periods = writablePeriods(samples);
  const overlaps: Overlap[] = [];
  for (let i = 0; i < periods.length; i++) {
    for (let j = i + 1; j < periods.length; j++) {
      const a = periods[i]!;
      const b = periods[j]!;
      if (a.node === b.node) continue;
      const from = Math.max(a.from, b.from);
      const to = Math.min(a.to, b.to);
      if (from <= to) overlaps.push({ nodes: [a.node, b.node], from, to });
    }
  }
  return overlaps;
}
