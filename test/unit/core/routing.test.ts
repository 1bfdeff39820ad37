import { describe, expect, it } from 'vitest';
import { databasesIni, hostsField, readRoute, writeRoute, type RouteTarget } from '../../../src/core/routing.js';
import { downObs, MiB, observations, primaryObs, PRIMARY_HOSTS, published, replicaObs } from './fixtures.js';

const TARGETS: Record<string, RouteTarget> = {
  pgsql: { node: 'pgsql', host: 'pgsql', port: 5432 },
  'replica-1': { node: 'replica-1', host: 'pgsql-replica-1', port: 5432 },
  'replica-2': { node: 'replica-2', host: 'pgsql-replica-2', port: 5432 },
};

function read(obs: ReturnType<typeof observations>, options: { maxLagBytes?: bigint; name?: string } = {}) {
  return readRoute({
    published: published(options.name ? { name: options.name } : {}),
    observations: obs,
    targets: TARGETS,
    primaryHosts: PRIMARY_HOSTS,
    maxLagBytes: options.maxLagBytes ?? 16n * MiB,
  });
}

const healthy = () => [primaryObs('pgsql', { lsn: 100n * MiB }), replicaObs('replica-1', { lsn: 100n * MiB }), replicaObs('replica-2', { lsn: 99n * MiB })];

describe('writeRoute', () => {
  it('is the published primary, whatever the agents observe', () => {
    expect(writeRoute(published({ name: 'replica-1' }), TARGETS)).toEqual(TARGETS['replica-1']);
  });
  it('is nothing without a published primary, or for a node not in the config', () => {
    expect(writeRoute(null, TARGETS)).toBeNull();
    expect(writeRoute(published({ name: 'elsewhere' }), TARGETS)).toBeNull();
  });
});

describe('readRoute', () => {
  it('spreads reads over every healthy replica', () => {
    expect(read(observations(...healthy()))).toEqual({ targets: [TARGETS['replica-1'], TARGETS['replica-2']], fallback: false, excluded: [] });
  });

  it.each([
    ['unreachable', downObs('replica-2'), 'unreachable'],
    ['promoted, so not in recovery', primaryObs('replica-2'), 'not in recovery'],
    ['not streaming', replicaObs('replica-2', { streaming: false, upstreamHost: null }), 'not streaming'],
    ['streaming from a host that is not the primary', replicaObs('replica-2', { upstreamHost: 'pgsql-replica-1' }), 'streaming from pgsql-replica-1, not the primary'],
    ['beyond the lag limit', replicaObs('replica-2', { lsn: 80n * MiB }), `${20n * MiB} bytes behind`],
  ])('leaves out a replica %s', (_, observation, reason) => {
    const nodes = healthy();
    nodes[2] = observation;
    expect(read(observations(...nodes))).toEqual({ targets: [TARGETS['replica-1']], fallback: false, excluded: [{ node: 'replica-2', reason }] });
  });

  it('keeps a replica exactly at the lag limit', () => {
    const nodes = [primaryObs('pgsql', { lsn: 100n * MiB }), replicaObs('replica-1', { lsn: 84n * MiB }), replicaObs('replica-2', { lsn: 100n * MiB })];
    expect(read(observations(...nodes)).targets).toHaveLength(2);
  });

  it('keeps streaming replicas when the primary position is unknown (the primary cannot be probed)', () => {
    const nodes = [downObs('pgsql'), replicaObs('replica-1'), replicaObs('replica-2')];
    expect(read(observations(...nodes)).targets.map((t) => t.node)).toEqual(['replica-1', 'replica-2']);
  });

  it('falls back to the primary when no replica is fit', () => {
    const nodes = [primaryObs('pgsql'), downObs('replica-1'), replicaObs('replica-2', { streaming: false, upstreamHost: null })];
    const route = read(observations(...nodes));
    expect(route.targets).toEqual([TARGETS.pgsql]);
    expect(route.fallback).toBe(true);
    expect(route.excluded.map((e) => e.node)).toEqual(['replica-1', 'replica-2']);
  });

  it('never includes the published primary alongside replicas, nor an unobserved node', () => {
    const route = read(observations(primaryObs('pgsql'), replicaObs('replica-1')));
    expect(route.targets).toEqual([TARGETS['replica-1']]);
    expect(route.excluded).toEqual([{ node: 'replica-2', reason: 'not observed' }]);
  });

  it('is empty without a published primary', () => {
    expect(readRoute({ published: null, observations: observations(...healthy()), targets: TARGETS, primaryHosts: PRIMARY_HOSTS, maxLagBytes: 0n })).toEqual({
      targets: [],
      fallback: false,
      excluded: [],
    });
  });
});

describe('databasesIni', () => {
  it('lists every database at the hosts, sorted and once each', () => {
    expect(databasesIni(['postgres', 'app', 'app'], [TARGETS['replica-1']!, TARGETS['replica-2']!], 'epoch 2')).toBe(
      ['; epoch 2', 'app = host=pgsql-replica-1,pgsql-replica-2 port=5432 dbname=app', 'postgres = host=pgsql-replica-1,pgsql-replica-2 port=5432 dbname=postgres', ''].join('\n'),
    );
  });
  it('lists no database when there is no target, so clients are refused rather than misrouted', () => {
    expect(databasesIni(['app'], [], 'none')).toBe('; none\n');
  });
  it('quotes names PgBouncer would not take bare', () => {
    expect(databasesIni(["my db's"], [TARGETS.pgsql!], 'x')).toBe(`; x\n"my db's" = host=pgsql port=5432 dbname='my db\\'s'\n`);
  });
  it('keeps the header a comment of one line, whatever it was given (issue 15)', () => {
    const text = databasesIni(['app'], [TARGETS.pgsql!], 'epoch 2\n[databases]\nx = host=evil\r');
    expect(text.split('\n')).toEqual(['; epoch 2 [databases] x = host=evil ', 'app = host=pgsql port=5432 dbname=app', '']);
  });
  it('leaves out a database whose name would end the line (it cannot be written safely)', () => {
    expect(databasesIni(['app', 'x\n[databases]\nevil = host=evil', 'tab\tname'], [TARGETS.pgsql!], 'h')).toBe('; h\napp = host=pgsql port=5432 dbname=app\n');
  });
  it('leaves out a target whose host is not a plain host name or address', () => {
    const bad = { node: 'x', host: 'evil port=1 dbname=x\n[databases]', port: 5432 };
    expect(databasesIni(['app'], [bad, TARGETS['replica-1']!], 'h')).toBe('; h\napp = host=pgsql-replica-1 port=5432 dbname=app\n');
    expect(databasesIni(['app'], [bad], 'h')).toBe('; h\n');
  });
});

describe('hostsField', () => {
  it('keeps only the hosts on the first target port (PgBouncer 1.18 takes one port per database)', () => {
    expect(hostsField([TARGETS.pgsql!, { node: 'x', host: 'x', port: 6543 }, TARGETS['replica-1']!])).toEqual({ host: 'pgsql,pgsql-replica-1', port: 5432 });
    expect(hostsField([])).toBeNull();
  });
});
