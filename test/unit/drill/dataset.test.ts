import { describe, expect, it } from 'vitest';
import { loadLimitMs, pgbenchInitCommand, replayLimitMs, scaleFor } from '../../../src/drill/dataset.js';

describe('--dataset-mb: the pgbench scale', () => {
  it.each([
    [0, 0],
    [1, 1], // any dataset at all is at least scale 1
    [15, 1],
    [200, 13],
    [1024, 68],
    [5120, 341],
  ])('%i MB is scale %i', (mb, scale) => {
    expect(scaleFor(mb)).toBe(scale);
  });

  it('gives a bigger dataset more time to load and replay', () => {
    expect(loadLimitMs(5120)).toBeGreaterThan(loadLimitMs(1024));
    expect(replayLimitMs(5120)).toBeGreaterThan(replayLimitMs(1024));
    // 5 GB: minutes, not the default minute.
    expect(loadLimitMs(5120)).toBeGreaterThan(10 * 60_000);
  });

  it('loads with pgbench itself over the local socket: no shell that puts a password into its environment, no host, no password option', () => {
    const cmd = pgbenchInitCommand(68, 'postgres', 'app');
    expect(cmd).toEqual(['pgbench', '-i', '-I', 'dtGvp', '-s', '68', '-U', 'postgres', 'app']);
    expect(cmd.join(' ')).not.toMatch(/PASSWORD|-h\b|--host|sh -c/i);
  });
});
