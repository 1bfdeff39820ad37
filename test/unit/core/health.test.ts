import { describe, expect, it } from 'vitest';
import { classifyHealth, type ExpectedReplica, type Health, type HealthInput, type ReplicationRow, type SlotRow } from '../../../src/core/health.js';
import { MiB, PRIMARY } from './fixtures.js';

const CURRENT = 0x3000148n;
const EXPECTED: ExpectedReplica[] = [
  { name: 'replica-1', slot: 'replica_1' },
  { name: 'replica-2', slot: 'replica_2' },
];

/** A walsender of a caught-up, idle, streaming standby on its own slot. */
function row(name: string, extra: Partial<ReplicationRow> = {}): ReplicationRow {
  const behind = extra.lagBytes ?? 0n;
  return {
    applicationName: name,
    clientAddr: '172.20.0.3',
    state: 'streaming',
    syncState: 'async',
    sentLsn: CURRENT,
    writeLsn: CURRENT,
    flushLsn: CURRENT,
    replayLsn: CURRENT - behind,
    lagBytes: 0n,
    writeLagSeconds: null,
    flushLagSeconds: null,
    replayLagSeconds: null,
    slotName: name.replace(/-/g, '_'),
    ...extra,
  };
}

function slot(name: string, extra: Partial<SlotRow> = {}): SlotRow {
  return { slotName: name, active: true, retainedBytes: 0n, ...extra };
}

function input(extra: Partial<HealthInput> = {}): HealthInput {
  return {
    primary: PRIMARY,
    currentLsn: CURRENT,
    replication: [row('replica-1'), row('replica-2')],
    slots: [slot('replica_1'), slot('replica_2')],
    expected: EXPECTED,
    ...extra,
  };
}

describe('classifyHealth: one row per rule', () => {
  it.each<{ rule: string; input: HealthInput; healthy: boolean; problems?: RegExp[]; warnings?: RegExp[]; levels?: Record<string, string> }>([
    {
      rule: 'both replicas streaming, caught up, slots in use: healthy and silent',
      input: input(),
      healthy: true,
      problems: [],
      warnings: [],
      levels: { 'replica-1': 'ok', 'replica-2': 'ok' },
    },
    {
      rule: 'no replica connected at all: unhealthy',
      input: input({ replication: [], slots: [], expected: [] }),
      healthy: false,
      problems: [/^no replica is connected to the primary pgsql$/],
    },
    {
      rule: 'no replica connected, expected ones named too',
      input: input({ replication: [], slots: [] }),
      healthy: false,
      problems: [/^no replica is connected/, /^replica-1 is not connected to the primary pgsql$/, /^replica-2 is not connected/],
      levels: { 'replica-1': 'alert', 'replica-2': 'alert' },
    },
    {
      rule: 'a base backup walsender is not a replica',
      input: input({ replication: [row('pg_basebackup', { state: 'backup', slotName: null })], slots: [], expected: [] }),
      healthy: false,
      problems: [/^no replica is connected/],
    },
    {
      rule: 'a replica past the alert limit: unhealthy, with seconds and bytes',
      input: input({ replication: [row('replica-1', { replayLagSeconds: 75.25, lagBytes: 48n * MiB }), row('replica-2')] }),
      healthy: false,
      problems: [/^replica-1 is 75\.3 s behind the primary pgsql \(limit 60 s\), 48 MiB to replay$/],
      levels: { 'replica-1': 'alert', 'replica-2': 'ok' },
    },
    {
      rule: 'lag exactly at the alert limit is a warning, not an alert',
      input: input({ replication: [row('replica-1', { replayLagSeconds: 60, lagBytes: 1n }), row('replica-2')] }),
      healthy: true,
      warnings: [/^replica-1 is 60 s behind/],
      levels: { 'replica-1': 'warn' },
    },
    {
      rule: 'a replica above the warning: listed, still healthy',
      input: input({ replication: [row('replica-1'), row('replica-2', { replayLagSeconds: 31, lagBytes: 1024n })] }),
      healthy: true,
      problems: [],
      warnings: [/^replica-2 is 31 s behind the primary pgsql \(warning above 30 s\), 1 KiB to replay$/],
      levels: { 'replica-1': 'ok', 'replica-2': 'warn' },
    },
    {
      rule: 'lag at or under the warning: ok',
      input: input({ replication: [row('replica-1', { replayLagSeconds: 30, lagBytes: 10n }), row('replica-2', { replayLagSeconds: 0.002, lagBytes: 10n })] }),
      healthy: true,
      warnings: [],
      levels: { 'replica-1': 'ok', 'replica-2': 'ok' },
    },
    {
      rule: '--max-lag lowers the alert limit',
      input: input({ replication: [row('replica-1', { replayLagSeconds: 12, lagBytes: 10n }), row('replica-2')], thresholds: { alertSeconds: 10 } }),
      healthy: false,
      problems: [/^replica-1 is 12 s behind the primary pgsql \(limit 10 s\)/],
      levels: { 'replica-1': 'alert' },
    },
    {
      rule: '--max-lag raises the alert limit; the warning stays at 30 s',
      input: input({ replication: [row('replica-1', { replayLagSeconds: 90, lagBytes: 10n }), row('replica-2')], thresholds: { alertSeconds: 120 } }),
      healthy: true,
      warnings: [/^replica-1 is 90 s behind/],
      levels: { 'replica-1': 'warn' },
    },
    {
      rule: 'an expected replica not connected: unhealthy, named, its slot reported',
      input: input({ replication: [row('replica-1')], slots: [slot('replica_1'), slot('replica_2', { active: false, retainedBytes: 0n })] }),
      healthy: false,
      problems: [/^replica-2 is not connected to the primary pgsql$/],
      levels: { 'replica-1': 'ok', 'replica-2': 'alert' },
    },
    {
      rule: 'an expected replica connected but not streaming: unhealthy',
      input: input({ replication: [row('replica-1', { state: 'catchup', lagBytes: 5n * MiB }), row('replica-2')] }),
      healthy: false,
      problems: [/^replica-1 is connected to the primary pgsql but not streaming \(state catchup\)$/],
      levels: { 'replica-1': 'alert' },
    },
    {
      rule: 'an unexpected walsender that is not streaming is listed, not a problem',
      input: input({ replication: [row('replica-1'), row('replica-2'), row('reporting', { state: 'startup', slotName: null, replayLsn: null, lagBytes: null })] }),
      healthy: true,
      levels: { reporting: 'ok' },
    },
    {
      rule: 'a slot without a consumer retaining WAL: unhealthy, names the slot and its replica',
      input: input({ replication: [row('replica-1'), row('replica-2')], slots: [slot('replica_1'), slot('replica_2'), slot('old_node', { active: false, retainedBytes: 3n * MiB })] }),
      healthy: false,
      problems: [/^slot old_node has no consumer and retains 3 MiB of WAL$/],
    },
    {
      rule: 'a stopped replica: not connected, and its slot retains WAL',
      input: input({ replication: [row('replica-1')], slots: [slot('replica_1'), slot('replica_2', { active: false, retainedBytes: 1536n })] }),
      healthy: false,
      problems: [/^replica-2 is not connected/, /^slot replica_2 \(of replica-2\) has no consumer and retains 1\.5 KiB of WAL$/],
    },
    {
      rule: 'an inactive slot that retains nothing (yet) is fine',
      input: input({ slots: [slot('replica_1'), slot('replica_2'), slot('spare', { active: false, retainedBytes: null }), slot('fresh', { active: false, retainedBytes: 0n })] }),
      healthy: true,
      problems: [],
    },
    {
      rule: 'the published primary is in recovery: unhealthy',
      input: input({ inRecovery: true, currentLsn: null, replication: [], slots: [] }),
      healthy: false,
      problems: [/^pgsql is published as the primary but is in recovery/],
    },
  ])('$rule', ({ input: given, healthy, problems, warnings, levels }) => {
    const health = classifyHealth(given);
    expect(health.healthy).toBe(healthy);
    if (problems) expectSentences(health.problems, problems);
    if (warnings) expectSentences(health.warnings, warnings);
    for (const [name, level] of Object.entries(levels ?? {})) expect(replica(health, name).level).toBe(level);
  });
});

describe('classifyHealth: the report', () => {
  it('formats positions as the server does and gives lag in bytes and seconds', () => {
    const health = classifyHealth(
      input({
        replication: [
          row('replica-1', { sentLsn: (0x16n << 32n) + 0xb374d848n, flushLsn: 0x3000100n, replayLsn: 0x3000000n, lagBytes: 0x148n, replayLagSeconds: 0.25 }),
          row('replica-2'),
        ],
      }),
    );
    expect(health.currentLsn).toBe('0/3000148');
    expect(replica(health, 'replica-1')).toEqual({
      name: 'replica-1',
      state: 'streaming',
      syncState: 'async',
      clientAddr: '172.20.0.3',
      sentLsn: '16/B374D848',
      writeLsn: '0/3000148',
      flushLsn: '0/3000100',
      replayLsn: '0/3000000',
      lagBytes: 328,
      lagSeconds: 0.25,
      slot: 'replica_1',
      level: 'ok',
    });
    expect(health.thresholds).toEqual({ warnSeconds: 30, alertSeconds: 60 });
  });

  it('replay_lag NULL with nothing to replay is 0 s; with WAL to replay it is unknown', () => {
    const health = classifyHealth(input({ replication: [row('replica-1', { replayLagSeconds: null, lagBytes: 0n }), row('replica-2', { replayLagSeconds: null, lagBytes: 100n })] }));
    expect(replica(health, 'replica-1').lagSeconds).toBe(0);
    expect(replica(health, 'replica-2').lagSeconds).toBeNull();
    expect(replica(health, 'replica-2').level).toBe('ok');
  });

  it('a replica on no slot reports slot null; without the walsender link, its own active slot is used', () => {
    const health = classifyHealth(
      input({ replication: [row('replica-1', { slotName: null }), { ...row('replica-2'), slotName: undefined }], slots: [slot('replica_1', { active: false, retainedBytes: 0n }), slot('replica_2')] }),
    );
    expect(replica(health, 'replica-1').slot).toBeNull();
    expect(replica(health, 'replica-2').slot).toBe('replica_2');
  });

  it('lists slots with their replica, and replicas sorted by name, missing ones last', () => {
    const health = classifyHealth(input({ replication: [row('replica-2'), row('extra', { slotName: null })], slots: [slot('replica_2'), slot('replica_1', { active: false, retainedBytes: 10n })] }));
    expect(health.replicas.map((r) => [r.name, r.state])).toEqual([
      ['extra', 'streaming'],
      ['replica-2', 'streaming'],
      ['replica-1', 'disconnected'],
    ]);
    expect(replica(health, 'replica-1').slot).toBe('replica_1');
    expect(health.slots).toEqual([
      { name: 'replica_1', active: false, retainedBytes: 10, replica: 'replica-1' },
      { name: 'replica_2', active: true, retainedBytes: 0, replica: 'replica-2' },
    ]);
  });

  it('the primary itself is never an expected replica', () => {
    const health = classifyHealth(input({ expected: [...EXPECTED, { name: PRIMARY, slot: PRIMARY }] }));
    expect(health.healthy).toBe(true);
    expect(health.replicas.map((r) => r.name)).toEqual(['replica-1', 'replica-2']);
  });

  it('is plain JSON: no bigint anywhere', () => {
    const health = classifyHealth(input({ replication: [row('replica-1', { lagBytes: 5n, replayLagSeconds: 1 })], slots: [slot('replica_2', { active: false, retainedBytes: 7n })] }));
    expect(() => JSON.stringify(health)).not.toThrow();
    expect(JSON.parse(JSON.stringify(health))).toEqual(health);
  });
});

describe('classifyHealth: zero-loss mode (config replication.synchronous)', () => {
  const QUORUM = { mode: 'quorum' as const, number: 1, durability: 'required' as const, degradeAfterMs: 10_000 };
  const quorumRows = (...states: Array<string | null>) => states.map((syncState, i) => row(`replica-${i + 1}`, { syncState }));

  it.each<{ rule: string; input: HealthInput; warnings: RegExp[]; standbys: string[] | null }>([
    {
      rule: 'quorum ANY 1, both standbys quorum: no warning',
      input: input({ synchronous: QUORUM, replication: quorumRows('quorum', 'quorum') }),
      warnings: [],
      standbys: ['replica-1', 'replica-2'],
    },
    {
      rule: "FIRST-style 'sync' counts too",
      input: input({ synchronous: QUORUM, replication: quorumRows('sync', 'potential') }),
      warnings: [],
      standbys: ['replica-1'],
    },
    {
      rule: 'quorum ANY 1, no standby synchronous (setting empty): a warning naming the cost under required durability',
      input: input({ synchronous: QUORUM, replication: quorumRows('async', 'async') }),
      warnings: [/^synchronous mode wants 1 synchronous standby \(ANY 1\), none is in pg_stat_replication: commits wait until enough are \(durability required\)$/],
      standbys: [],
    },
    {
      rule: 'quorum ANY 2, one synchronous, preferred durability: a warning naming the one and degradeAfterMs',
      input: input({ synchronous: { ...QUORUM, number: 2, durability: 'preferred' }, replication: quorumRows('quorum', 'potential') }),
      warnings: [/^synchronous mode wants 2 synchronous standbys \(ANY 2\), only 1 is \(replica-1\) in pg_stat_replication: commits wait for them up to 10 s, then are acknowledged without them/],
      standbys: ['replica-1'],
    },
    {
      rule: 'a base backup walsender is not a standby',
      input: input({ synchronous: { ...QUORUM, number: 2 }, replication: [row('replica-1', { syncState: 'quorum' }), row('replica-2', { syncState: 'async' }), row('pg_basebackup', { state: 'backup', syncState: 'quorum' })] }),
      warnings: [/only 1 is \(replica-1\)/],
      standbys: ['replica-1'],
    },
    {
      rule: 'mode off: no warning whatever sync_state says',
      input: input({ synchronous: { ...QUORUM, mode: 'off' }, replication: quorumRows('async', 'async') }),
      warnings: [],
      standbys: [],
    },
    {
      rule: 'no synchronous settings given: no warning, synchronous null',
      input: input({ replication: quorumRows('async', 'async') }),
      warnings: [],
      standbys: null,
    },
  ])('$rule', ({ input: given, warnings, standbys }) => {
    const health = classifyHealth(given);
    // A warning never changes the verdict: exit codes stay as they are.
    expect(health.healthy).toBe(true);
    expect(health.problems).toEqual([]);
    expectSentences(health.warnings, warnings);
    expect(health.synchronous?.standbys ?? null).toEqual(standbys);
  });

  it('reports the configured mode and k beside what pg_stat_replication counts', () => {
    expect(classifyHealth(input({ synchronous: QUORUM, replication: quorumRows('quorum', 'quorum') })).synchronous).toEqual({ mode: 'quorum', number: 1, durability: 'required', standbys: ['replica-1', 'replica-2'] });
  });
});

function replica(health: Health, name: string) {
  const found = health.replicas.find((r) => r.name === name);
  if (!found) throw new Error(`no replica ${name} in ${JSON.stringify(health.replicas.map((r) => r.name))}`);
  return found;
}

function expectSentences(actual: string[], patterns: RegExp[]): void {
  expect(actual).toHaveLength(patterns.length);
  patterns.forEach((pattern, i) => expect(actual[i]).toMatch(pattern));
}
