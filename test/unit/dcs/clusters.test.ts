import { describe, expect, it } from 'vitest';
import { clusterNamesIn, unknownClusterMessage } from '../../../src/dcs/clusters.js';

describe('cluster names in etcd keys', () => {
  it.each([
    ['one cluster, many keys', ['/pg-failover/main/primary', '/pg-failover/main/agents/agent-1', '/pg-failover/main/history/1'], ['main']],
    ['several, sorted, each once', ['/pg-failover/zeta/leader', '/pg-failover/alpha/primary', '/pg-failover/zeta/primary'], ['alpha', 'zeta']],
    ['a key directly under the prefix is no cluster', ['/pg-failover/stray'], []],
    ['an empty segment is no cluster', ['/pg-failover//primary'], []],
    ['a cluster root with nothing under it is no cluster', ['/pg-failover/main/'], []],
    ['a longer prefix that starts the same is another prefix', ['/pg-failover-other/main/primary'], []],
    ['keys outside the prefix are ignored', ['/other/main/primary'], []],
    ['a segment that breaks the naming rule is not echoed', ['/pg-failover/Bad Name/primary', '/pg-failover/x\u001b[2J/primary', '/pg-failover/ok-1/primary'], ['ok-1']],
  ])('%s', (_what, keys, expected) => {
    expect(clusterNamesIn(keys, '/pg-failover')).toEqual(expected);
  });

  it('the refusal names the clusters that exist, on one line', () => {
    const message = unknownClusterMessage('nope', '/pg-failover', ['main', 'staging']);
    expect(message).toBe('unknown cluster nope; clusters in etcd under /pg-failover: main, staging; choose one with --cluster or FAILOVER_CLUSTER');
    expect(message).not.toContain('\n');
  });

  it('with no cluster at all, it says so instead of listing nothing', () => {
    expect(unknownClusterMessage('main', '/pg-failover', [])).toMatch(/^unknown cluster main; etcd holds no cluster under \/pg-failover/);
  });
});
