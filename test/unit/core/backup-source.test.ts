import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKUP_SOURCE_RULES, chooseBackupSource, type BackupSourceInput, type BackupSourceRuleId } from '../../../src/core/backup-source.js';
import type { AgentView } from '../../../src/core/types.js';
import { MiB, NOW, TIMINGS, downObs, primaryObs, published, replicaObs, view } from './fixtures.js';

// Where a backup is taken from, one row per case. The lab: pgsql primary at P, replica-1 and
// replica-2 streaming from it.
const P = 0x30000000n;
const NODES = [{ name: 'pgsql' }, { name: 'replica-1' }, { name: 'replica-2' }];
const healthy = (r1 = P, r2 = P): AgentView[] => [view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: r1 }), replicaObs('replica-2', { lsn: r2 })])];

function input(views: AgentView[], overrides: Partial<BackupSourceInput> = {}): BackupSourceInput {
  return { published: published(), views, nodes: NODES, maxLagBytes: 16n * MiB, now: NOW, viewStaleMs: TIMINGS.viewStaleMs, kind: 'dump', ...overrides };
}

interface SourceCase {
  name: string;
  input: BackupSourceInput;
  by: BackupSourceRuleId;
  /** The node chosen and its role; absent for a refusal. */
  node?: string;
  role?: 'primary' | 'replica';
  says?: string[];
}

describe('chooseBackupSource: first matching row wins', () => {
  it.each<SourceCase>([
    // Refusals.
    { name: 'nothing published', input: input(healthy(), { published: null }), by: 'backup-source-no-primary', says: ['no primary is published'] },
    { name: 'nothing published, a full', input: input(healthy(), { published: null, kind: 'full' }), by: 'backup-source-no-primary' },
    { name: 'the primary does not answer SQL', input: input([view('agent-1', [downObs('pgsql'), replicaObs('replica-1')])]), by: 'backup-source-primary-unreachable', says: ['no fresh agent view sees the published primary pgsql reachable'] },
    { name: 'the primary\'s container is gone', input: input([view('agent-1', [primaryObs('pgsql', { container: 'exited' }), replicaObs('replica-1')])], { kind: 'full' }), by: 'backup-source-primary-unreachable' },
    { name: 'only a stale view sees the primary', input: input([view('agent-1', [primaryObs('pgsql'), replicaObs('replica-1')], NOW - 6_000)]), by: 'backup-source-primary-unreachable', says: ['no fresh agent view'] },
    { name: 'no view at all', input: input([]), by: 'backup-source-primary-unreachable' },
    { name: 'the published primary is in recovery', input: input([view('agent-1', [replicaObs('pgsql'), replicaObs('replica-1')])]), by: 'backup-source-primary-unreachable', says: ['is in recovery'] },

    // pgBackRest: the primary.
    { name: 'a full, healthy replicas or not', input: input(healthy(), { kind: 'full' }), by: 'backup-source-physical-primary', node: 'pgsql', role: 'primary', says: ['remote access'] },
    { name: 'a diff', input: input(healthy(), { kind: 'diff' }), by: 'backup-source-physical-primary', node: 'pgsql', role: 'primary' },
    { name: 'a full after a failover: the new primary', input: input([view('agent-1', [primaryObs('replica-1', { lsn: P }), replicaObs('pgsql', { upstreamHost: 'pgsql-replica-1' })])], { published: published({ name: 'replica-1', host: 'pgsql-replica-1' }), kind: 'full' }), by: 'backup-source-physical-primary', node: 'replica-1', role: 'primary' },

    // Dumps: a replica.
    { name: 'two healthy replicas at the same position: the first by name', input: input(healthy()), by: 'backup-source-dump-replica', node: 'replica-1', role: 'replica', says: ['replica-1 streams from pgsql and is 0 B behind (limit 16 MiB)'] },
    { name: 'the least lagging replica wins', input: input(healthy(P - 2n * MiB, P - MiB)), by: 'backup-source-dump-replica', node: 'replica-2', role: 'replica', says: ['1 MiB behind'] },
    { name: 'a lagging replica is passed over for a healthy one', input: input(healthy(P - 32n * MiB, P - 8n * MiB)), by: 'backup-source-dump-replica', node: 'replica-2', role: 'replica' },
    { name: 'exactly at the limit qualifies', input: input(healthy(P - 16n * MiB, P - 17n * MiB)), by: 'backup-source-dump-replica', node: 'replica-1', role: 'replica' },
    { name: 'an unreported upstream counts as the primary', input: input([view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P, upstreamHost: null })])]), by: 'backup-source-dump-replica', node: 'replica-1', role: 'replica' },
    { name: 'an upstream by one of the primary\'s other hostnames', input: input([view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P, upstreamHost: '172.20.0.2' })])], { primaryHosts: ['pgsql', '172.20.0.2'] }), by: 'backup-source-dump-replica', node: 'replica-1', role: 'replica' },
    {
      name: 'a replica down in one view but streaming in another fresh view qualifies',
      input: input([
        view('agent-1', [primaryObs('pgsql', { lsn: P }), downObs('replica-1'), replicaObs('replica-2', { lsn: P - MiB })]),
        view('agent-2', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P })], NOW - 1_000),
      ]),
      by: 'backup-source-dump-replica',
      node: 'replica-1',
      role: 'replica',
    },
    {
      name: 'lag is judged against the most advanced primary position any fresh view saw',
      input: input([
        view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P - MiB }), replicaObs('replica-2', { lsn: P - 2n * MiB })]),
        view('agent-2', [primaryObs('pgsql', { lsn: P + 20n * MiB })], NOW - 1_000),
      ]),
      by: 'backup-source-dump-primary-fallback',
      node: 'pgsql',
      role: 'primary',
      says: ['replica-1 is 21 MiB behind the primary pgsql (limit 16 MiB)'],
    },
    { name: 'the replay position counts, not what was received', input: input([view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P - 32n * MiB, receiveLsn: P, replayLsn: P - 32n * MiB }), replicaObs('replica-2', { lsn: P - MiB })])]), by: 'backup-source-dump-replica', node: 'replica-2', role: 'replica' },

    // Dumps: the primary as the last resort, saying why each replica was passed over.
    {
      name: 'every replica unfit: the primary, with a reason for each',
      input: input([
        view('agent-1', [
          primaryObs('pgsql', { lsn: P }),
          replicaObs('replica-1', { streaming: false, upstreamHost: null }),
          replicaObs('replica-2', { lsn: P - 64n * MiB }),
        ]),
      ]),
      by: 'backup-source-dump-primary-fallback',
      node: 'pgsql',
      role: 'primary',
      says: ['replica-1 is not streaming', 'replica-2 is 64 MiB behind the primary pgsql (limit 16 MiB)', 'dumping the primary pgsql'],
    },
    { name: 'a replica that does not answer SQL', input: input([view('agent-1', [primaryObs('pgsql'), downObs('replica-1'), downObs('replica-2', { container: 'exited' })])]), by: 'backup-source-dump-primary-fallback', node: 'pgsql', role: 'primary', says: ['replica-1 does not answer SQL', 'replica-2\'s container is exited'] },
    { name: 'a replica streaming from another node (cascading or stale)', input: input([view('agent-1', [primaryObs('pgsql'), replicaObs('replica-1', { upstreamHost: 'pgsql-replica-2' })])], { nodes: NODES.slice(0, 2) }), by: 'backup-source-dump-primary-fallback', node: 'pgsql', role: 'primary', says: ['replica-1 streams from pgsql-replica-2, not from the primary pgsql'] },
    { name: 'a stray writable "replica" is not a source', input: input([view('agent-1', [primaryObs('pgsql'), primaryObs('replica-1')])], { nodes: NODES.slice(0, 2) }), by: 'backup-source-dump-primary-fallback', node: 'pgsql', role: 'primary', says: ['replica-1 is not in recovery'] },
    { name: 'a replica seen only by a stale view', input: input([view('agent-1', [primaryObs('pgsql')]), view('agent-2', [replicaObs('replica-1')], NOW - 10_000)], { nodes: NODES.slice(0, 2) }), by: 'backup-source-dump-primary-fallback', node: 'pgsql', role: 'primary', says: ['no fresh agent view sees replica-1'] },
    { name: 'no replica configured', input: input(healthy(), { nodes: [{ name: 'pgsql' }] }), by: 'backup-source-dump-primary-fallback', node: 'pgsql', role: 'primary', says: ['no replica is configured'] },
  ])('$name -> $by', ({ input: given, by, node, role, says }) => {
    const choice = chooseBackupSource(given);
    expect(choice.rule).toBe(by);
    if (node === undefined) {
      expect(choice.ok).toBe(false);
    } else {
      expect(choice).toMatchObject({ ok: true, node, role });
    }
    const line = choice.ok ? choice.why : choice.reason;
    expect(line).not.toContain('\n');
    for (const words of says ?? []) expect(line).toContain(words);
  });

  it('does not depend on the order of nodes or views', () => {
    const views = [
      view('agent-1', [primaryObs('pgsql', { lsn: P }), replicaObs('replica-1', { lsn: P - MiB }), replicaObs('replica-2', { lsn: P - MiB })]),
      view('agent-2', [primaryObs('pgsql', { lsn: P }), downObs('replica-2')], NOW - 500),
    ];
    const forward = chooseBackupSource(input(views));
    const backward = chooseBackupSource(input([...views].reverse(), { nodes: [...NODES].reverse() }));
    expect(backward).toEqual(forward);
    expect(forward).toMatchObject({ ok: true, node: 'replica-1' });
  });

  it('reports the chosen replica\'s lag', () => {
    expect(chooseBackupSource(input(healthy(P - 3n * MiB, P - 5n * MiB)))).toMatchObject({ node: 'replica-1', lagBytes: 3n * MiB });
  });
});

describe('the backup source rule table', () => {
  const ids = BACKUP_SOURCE_RULES.map((rule) => rule.id);

  it('gives every row a unique kebab-case id and says when, what and why', () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const rule of BACKUP_SOURCE_RULES) {
      expect(rule.id).toMatch(/^backup-source(-[a-z]+)+$/);
      expect(rule.when.length, rule.id).toBeGreaterThan(10);
      expect(rule.action.length, rule.id).toBeGreaterThan(5);
      expect(rule.why.length, rule.id).toBeGreaterThan(10);
    }
  });

  it('has a case for every row here (a new row without its test fails)', () => {
    const text = readFileSync(new URL(import.meta.url), 'utf8');
    const covered = new Set([...text.matchAll(/by: '([a-z-]+)'/g)].map((m) => m[1]));
    expect(ids.filter((id) => !covered.has(id))).toEqual([]);
  });
});
