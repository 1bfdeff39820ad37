import { describe, expect, it } from 'vitest';
import { clusterProblem, type ClusterFacts } from '../../../src/drill/cluster-checks.js';
import { agreedLeader, membersProblem, type MemberFacts } from '../../../src/drill/etcd-members.js';
import type { AgentView } from '../../../src/core/types.js';

const config = [
  { name: 'pgsql', container: 'pgsql' },
  { name: 'replica-1', container: 'pgsql-replica-1' },
  { name: 'replica-2', container: 'pgsql-replica-2' },
];

function view(agentId: string, nodes = config): AgentView {
  return { agentId, at: 0, nodes: Object.fromEntries(nodes.map((n) => [n.name, { name: n.name, containerName: n.container } as AgentView['nodes'][string]])) };
}

function facts(overrides: Partial<ClusterFacts>): ClusterFacts {
  return { config, leader: 'agent-1', views: [view('agent-1'), view('agent-2')], published: { name: 'pgsql' }, paused: false, journal: null, streaming: ['replica-1', 'replica-2'], ...overrides };
}

describe('a drill starts only on a healthy cluster it was given', () => {
  it.each<[string, Partial<ClusterFacts>, RegExp | null]>([
    ['healthy', {}, null],
    ['agents watch other nodes', { views: [view('agent-1', [{ name: 'db1', container: 'db1' }])] }, /agent agent-1 watches nodes db1=db1, but the drill's config names/],
    ['same names, other containers', { views: [view('agent-1', [...config.slice(0, 2), { name: 'replica-2', container: 'other' }])] }, /give the drill the config the agents run/],
    ['no agents', { leader: null, views: [] }, /no agent leads the cluster/],
    ['nothing published', { published: null }, /no primary is published/],
    ['published primary unknown to the config', { published: { name: 'db9' } }, /db9 is not a node of the drill's config/],
    ['paused', { paused: true }, /paused \(maintenance mode\)/],
    ['an operation under way', { journal: { kind: 'failover', from: 'pgsql', to: 'replica-1' } }, /operation is under way \(failover pgsql -> replica-1\)/],
    ['a replica not streaming', { streaming: ['replica-1'] }, /replica-2 not streaming from the primary pgsql/],
  ])('%s', (_name, overrides, expected) => {
    const problem = clusterProblem(facts(overrides));
    if (expected === null) expect(problem).toBeNull();
    else expect(problem).toMatch(expected);
  });
});

describe('etcd before a member-loss drill', () => {
  const members = [
    { id: '1', name: 'etcd' },
    { id: '2', name: 'etcd-2' },
    { id: '3', name: 'etcd-3' },
  ];
  const answers = ['1', '2', '3'].map((id, i) => ({ endpoint: `http://127.0.0.1:${[2379, 22379, 32379][i]}`, id, leader: '2' }));
  const healthy: MemberFacts = { members, answers };

  it('three members, each on an endpoint, one leader: fit, and the leader is named', () => {
    expect(membersProblem(healthy, 3)).toBeNull();
    expect(agreedLeader(healthy)).toEqual({ id: '2', name: 'etcd-2' });
  });

  it('one member cannot lose one', () => {
    expect(membersProblem({ members: members.slice(0, 1), answers: answers.slice(0, 1) }, 3)).toMatch(/etcd has 1 member\(s\)/);
    expect(membersProblem({ members: members.slice(0, 1), answers: answers.slice(0, 1) }, 1)).toBeNull();
  });

  it('a member the config does not reach', () => {
    expect(membersProblem({ members, answers: answers.slice(0, 2) }, 3)).toMatch(/etcd-3 answer on none of the config's etcd.endpoints/);
  });

  it('a member that does not answer', () => {
    expect(membersProblem({ members, answers: [...answers.slice(0, 2), { endpoint: 'http://127.0.0.1:32379', error: 'UNAVAILABLE' }] }, 1)).toMatch(/32379 does not answer/);
  });

  it('members that disagree on the leader, or know none', () => {
    expect(agreedLeader({ members, answers: [answers[0]!, { ...answers[1]!, leader: '3' }] })).toBeNull();
    expect(agreedLeader({ members, answers: answers.map((a) => ({ ...a, leader: '0' })) })).toBeNull();
    expect(membersProblem({ members, answers: answers.map((a) => ({ ...a, leader: '0' })) }, 3)).toMatch(/do not agree on a raft leader/);
  });
});
