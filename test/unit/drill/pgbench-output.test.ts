import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePgbenchOutput } from '../../../src/drill/pgbench-output.js';

// A run of PostgreSQL 15's pgbench on the lab, as scripts/bench-pgbench saved it.
const PG15_RUN = `pgbench (15.20 (Debian 15.20-0+deb12u1))
starting vacuum...end.
progress: 5.0 s, 471.0 tps, lat 8.377 ms stddev 13.706, 0 failed
progress: 10.0 s, 509.8 tps, lat 7.855 ms stddev 6.665, 0 failed
progress: 15.0 s, 516.8 tps, lat 7.737 ms stddev 7.705, 0 failed
progress: 20.0 s, 547.6 tps, lat 7.301 ms stddev 6.459, 0 failed
progress: 25.0 s, 501.7 tps, lat 7.967 ms stddev 6.642, 0 failed
progress: 30.0 s, 562.1 tps, lat 7.101 ms stddev 18.697, 0 failed
transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
query mode: prepared
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 30 s
number of transactions actually processed: 15549
number of failed transactions: 0 (0.000%)
latency average = 7.702 ms
latency stddev = 11.112 ms
initial connection time = 46.119 ms
tps = 518.654206 (without initial connection time)
`;

// PostgreSQL 13's: two tps lines, no failed transactions.
const PG13_RUN = `number of transactions actually processed: 900
latency average = 4.420 ms
tps = 880.100000 (including connections establishing)
tps = 905.500000 (excluding connections establishing)
`;

describe('pgbench output', () => {
  it('reads tps, the average latency and the counts of a PostgreSQL 15 run', () => {
    expect(parsePgbenchOutput(PG15_RUN)).toEqual({ tps: 518.654206, latencyAvgMs: 7.702, transactions: 15549, failed: 0 });
  });

  it('takes the tps without connection time from an older pgbench', () => {
    expect(parsePgbenchOutput(PG13_RUN)).toEqual({ tps: 905.5, latencyAvgMs: 4.42, transactions: 900, failed: null });
  });

  it('does not take a progress line for the summary: a run cut short says so', () => {
    const cut = PG15_RUN.split('\n').slice(0, 4).join('\n');
    expect(parsePgbenchOutput(cut)).toMatch(/no tps line: the run did not finish/);
  });
});

function bench(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['scripts/bench-pgbench', ...args], { timeout: 10_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr: String(stderr) });
    });
  });
}

describe('scripts/bench-pgbench refuses bad input before touching the lab', () => {
  const out = mkdtempSync(join(tmpdir(), 'pgf-bench-'));
  it.each<[string, string[], RegExp]>([
    ['no output directory', [], /^usage: scripts\/bench-pgbench <out-dir>/],
    ['an option where the directory belongs', ['--clients', '4'], /^usage:/],
    ['a count that is not a number', [out, '--clients', 'four'], /^bench-pgbench: --clients must be a whole number from 1 to 99999, got 'four'\n$/],
    ['a zero duration', [out, '--time', '0'], /--time must be a whole number/],
    ['more threads than clients', [out, '--clients', '2', '--jobs', '4'], /--jobs \(4\) must not exceed --clients \(2\)/],
    ['an unknown option', [out, '--rate', '5'], /unknown option '--rate'/],
  ])('%s: one line, exit 2', async (_, args, message) => {
    const result = await bench(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(readdirSync(out)).toEqual([]);
  });
});
