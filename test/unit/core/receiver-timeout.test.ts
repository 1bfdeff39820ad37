import { describe, expect, it } from 'vitest';
import { maxReceiverTimeoutMs, receiverTimeoutProblem, settingMs } from '../../../src/core/receiver-timeout.js';

const defaults = { failureTimeMs: 3000, probeIntervalMs: 250, probeTimeoutMs: 800 };

describe('wal_receiver_timeout against the failure time (the partition rule\'s evidence)', () => {
  it('allows up to 2 x (failure time - 100 ms - probe interval - probe timeout): 3700 ms with the default timings', () => {
    expect(maxReceiverTimeoutMs(defaults)).toBe(3700);
    expect(maxReceiverTimeoutMs({ failureTimeMs: 10_000, probeIntervalMs: 500, probeTimeoutMs: 1000 })).toBe(16_800);
  });

  it.each<[string, number, typeof defaults, RegExp | null]>([
    ['the lab\'s 3 s fits the defaults', 3000, defaults, null],
    ['exactly the limit fits', 3700, defaults, null],
    ['one millisecond more does not', 3701, defaults, /replica-1: wal_receiver_timeout is 3701 ms, expected 1 to 3700 ms/],
    ['PostgreSQL\'s default 60 s does not', 60_000, defaults, /wal_receiver_timeout is 60000 ms, expected 1 to 3700 ms \(wal_receiver_timeout \/ 2 \+ 100 ms \+ probeIntervalMs 250 \+ probeTimeoutMs 800 <= failureTimeMs 3000\); otherwise a live, idle primary/],
    ['0 turns the receiver\'s ping off', 0, defaults, /wal_receiver_timeout is 0 \(its ping is off\), expected 1 to 3700 ms/],
    ['60 s fits a failure time of 32 s', 60_000, { failureTimeMs: 32_000, probeIntervalMs: 1000, probeTimeoutMs: 900 }, null],
    ['timings that leave no room name the failure time', 3000, { failureTimeMs: 1000, probeIntervalMs: 250, probeTimeoutMs: 800 }, /no value fits .*raise timings.failureTimeMs/],
  ])('%s', (_case, timeoutMs, timings, expected) => {
    const problem = receiverTimeoutProblem('replica-1', timeoutMs, timings);
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });
});

describe('settingMs (pg_settings setting and unit)', () => {
  it.each<[string, string | null, number | null]>([
    ['3000', 'ms', 3000],
    ['10', 's', 10_000],
    ['1', 'min', 60_000],
    ['0', 'ms', 0],
    ['on', null, null],
    ['', 'ms', null],
    ['8', 'kB', null],
  ])('%s %s is %s ms', (setting, unit, ms) => {
    expect(settingMs(setting, unit)).toBe(ms);
  });
});
