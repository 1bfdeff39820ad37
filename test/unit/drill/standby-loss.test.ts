import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import type { SyncRecord } from '../../../src/core/sync-set.js';
import { writerPatienceFor } from '../../../src/drill/fault-standby-loss.js';
import { renderTable, shownFigures, summarise } from '../../../src/drill/report.js';
import type { RoundResult } from '../../../src/drill/round.js';
import { ACK_IN_FLIGHT_MS, acksWithin, describeSettings, describeSync, forbiddenWindow, judgeStandbyLoss, stallAfter } from '../../../src/drill/stall.js';

describe('standby-loss: the stall', () => {
  it.each<[string, number[], number, number, { stallMs: number | null; resumeAt: number | null }]>([
    ['writes every 10 ms, then nothing for 15 s', [980, 990, 1000, 1010, 16_200, 16_210], 1005, 20_000, { stallMs: 15_190, resumeAt: 16_200 }],
    ['counted from the fault, not from the last write before it', [100, 16_000, 16_010], 1000, 20_000, { stallMs: 15_000, resumeAt: 16_000 }],
    ['writes that go on: the longest small gap', [1000, 1010, 1030, 1035], 1000, 1040, { stallMs: 20, resumeAt: 1030 }],
    ['writes that never resumed: open until the end of the watch', [990, 1000, 1010], 1005, 9005, { stallMs: 7995, resumeAt: null }],
    ['no write at all after the fault', [100, 200], 1000, 4000, { stallMs: 3000, resumeAt: null }],
    ['acknowledgements out of order are sorted first', [16_000, 1000, 1010], 1000, 17_000, { stallMs: 14_990, resumeAt: 16_000 }],
    ['a watch that ended before the fault', [100], 1000, 900, { stallMs: null, resumeAt: null }],
  ])('%s', (_, acks, faultAt, endAt, expected) => {
    expect(stallAfter(acks, faultAt, endAt)).toEqual(expected);
  });
});

const record = (overrides: Partial<SyncRecord> = {}): SyncRecord => ({ mode: 'quorum', number: 1, standbys: ['replica-1', 'replica-2'], epoch: 3, durability: 'required', degraded: false, pending: false, at: 0, ...overrides });
const moments = { allDownAt: 10_000, startedAt: 25_000 };

describe('standby-loss: when no write may be acknowledged', () => {
  it.each<[string, SyncRecord | null, number | null, { from: number; to: number } | null]>([
    ['required: from every standby down (plus what was in flight) until one is started', record(), null, { from: 10_000 + ACK_IN_FLIGHT_MS, to: 25_000 }],
    ['preferred: for degradeAfterMs, when the drill knows it', record({ durability: 'preferred' }), 5000, { from: 10_000 + ACK_IN_FLIGHT_MS, to: 15_000 }],
    ['preferred with a degradeAfterMs longer than the outage: the whole outage', record({ durability: 'preferred' }), 60_000, { from: 10_000 + ACK_IN_FLIGHT_MS, to: 25_000 }],
    ['preferred, degradeAfterMs unknown: nothing is judged', record({ durability: 'preferred' }), null, null],
    ['mode off', record({ mode: 'off' }), null, null],
    ['no record', null, null, null],
    ['a record already degraded', record({ durability: 'preferred', degraded: true }), 5000, null],
    ['a record still pending', record({ pending: true }), null, null],
    ['degradeAfterMs shorter than what may be in flight', record({ durability: 'preferred' }), 100, null],
  ])('%s', (_, r, degradeAfterMs, expected) => {
    expect(forbiddenWindow(r, moments, degradeAfterMs)).toEqual(expected);
  });

  it('counts the acknowledgements strictly inside a window', () => {
    expect(acksWithin([999, 1000, 1001, 1999, 2000, 2001], { from: 1000, to: 2000 })).toBe(2);
  });
});

describe('standby-loss: the verdict', () => {
  const held = { lost: 0, stall: { stallMs: 15_300, resumeAt: 26_000 }, forbidden: { from: 10_250, to: 25_000 }, ackedInForbidden: 0, sync: 'quorum ANY 1 required' };
  it.each<[string, Parameters<typeof judgeStandbyLoss>[0], RegExp | null]>([
    ['commits waited and none was lost', held, null],
    ['an acknowledged row missing', { ...held, lost: 2 }, /2 acknowledged write\(s\) missing/],
    ['writes never resumed', { ...held, stall: { stallMs: 40_000, resumeAt: null } }, /never resumed/],
    ['a write acknowledged with every standby down under required durability', { ...held, ackedInForbidden: 3 }, /3 write\(s\) acknowledged while every standby was down \(14750 ms window\), which the synchronous set \(quorum ANY 1 required\) forbids/],
    ['the same, when the drill\'s config says otherwise than the record: it says so', { ...held, ackedInForbidden: 1121, configured: 'quorum ANY 1 preferred' }, /forbids; the drill's config says quorum ANY 1 preferred: did the record not follow a change of the agents' config\?$/],
    ['no hint when the config agrees', { ...held, ackedInForbidden: 1, configured: 'quorum ANY 1 required' }, /forbids$/],
    ['writes going on in mode off are fine', { ...held, forbidden: null, ackedInForbidden: 0, stall: { stallMs: 40, resumeAt: 1040 }, sync: 'off' }, null],
  ])('%s', (_, facts, expected) => {
    const verdict = judgeStandbyLoss(facts);
    if (expected === null) expect(verdict).toBeNull();
    else expect(verdict).toMatch(expected);
  });

  it.each<[SyncRecord | null, string]>([
    [record(), 'quorum ANY 1 required'],
    [record({ durability: 'preferred', degraded: true }), 'quorum ANY 1 preferred (degraded)'],
    [record({ number: 2, pending: true }), 'quorum ANY 2 required (pending)'],
    [record({ mode: 'off' }), 'off'],
    [null, 'none'],
  ])('describes the record %j as "%s"', (r, expected) => {
    expect(describeSync(r)).toBe(expected);
  });

  it.each([
    [{ mode: 'quorum', number: 1, durability: 'preferred' }, 'quorum ANY 1 preferred'],
    [{ mode: 'off', number: 1, durability: 'required' }, 'off'],
  ])('describes the drill\'s config %j as "%s"', (settings, expected) => {
    expect(describeSettings(settings)).toBe(expected);
  });

  it('lets a commit wait through the whole outage and a restart', () => {
    expect(writerPatienceFor(15_000)).toBeGreaterThanOrEqual(15_000 + 30_000);
  });
});

describe('standby-loss in the report', () => {
  const round = (overrides: Partial<RoundResult>): RoundResult => ({ round: 1, scenario: 'standby-loss', from: 'pgsql', to: 'pgsql', epoch: 2, detectMs: null, rtoMs: 15_400, gapMs: 15_395, convergeMs: 17_000, rejoinMs: 300, acked: 900, lost: 0, splitBrain: false, observable: true, unobservedMs: {}, ...overrides });

  it('summarises stallMs and resumeMs like every figure', () => {
    const summary = summarise([round({ stallMs: 15_300, resumeMs: 15_400 }), round({ stallMs: 16_000, resumeMs: 16_100 }), round({ stallMs: 15_500, resumeMs: 15_600 })]);
    expect(summary.median.stallMs).toBe(15_500);
    expect(summary.worst.resumeMs).toBe(16_100);
  });

  it('shows them only in the table of a scenario that measures them', () => {
    expect(shownFigures([round({ stallMs: 15_300, resumeMs: 15_400 })])).toContain('stallMs');
    const other = [round({ scenario: 'kill-primary' })];
    expect(shownFigures(other)).not.toContain('stallMs');
    expect(renderTable('kill-primary', other, summarise(other))).not.toMatch(/stallMs|resumeMs/);
  });
});

describe('the lab config for preferred durability', () => {
  const read = (name: string) => JSON.parse(readFileSync(new URL(`../../../config/${name}`, import.meta.url), 'utf8')) as { replication: { synchronous: unknown } };

  it('is config/lab.json with preferred durability after 5 s, and nothing else changed', () => {
    const lab = read('lab.json');
    const preferred = read('lab-preferred.json');
    expect(preferred.replication.synchronous).toEqual({ mode: 'quorum', number: 1, durability: 'preferred', degradeAfterMs: 5000 });
    expect({ ...preferred, replication: { ...preferred.replication, synchronous: null } }).toEqual({ ...lab, replication: { ...lab.replication, synchronous: null } });
  });

  it('loads', () => {
    const config = loadConfig({ file: new URL('../../../config/lab-preferred.json', import.meta.url).pathname }, {});
    expect(config.replication.synchronous.durability).toBe('preferred');
  });
});
