import type { Etcd3 } from 'etcd3';
import { createEtcd, type EtcdOptions } from '../dcs/client.js';

export interface MemberAnswer {
  endpoint: string;
  /** The answering member's id, and the raft leader it knows ('0': none). */
  id: string;
  leader: string;
}

export interface MemberFailure {
  endpoint: string;
  error: string;
}

export interface Member {
  id: string;
  name: string;
}

/** What the drill asks etcd before and after the etcd-member-loss fault. */
export interface MemberFacts {
  members: Member[];
  answers: Array<MemberAnswer | MemberFailure>;
}

/** The raft leader every answering member names, or null when they name none or disagree. */
export function agreedLeader(facts: MemberFacts): Member | null {
  const answered = facts.answers.filter((a): a is MemberAnswer => 'id' in a);
  const leaders = new Set(answered.map((a) => a.leader));
  if (answered.length === 0 || leaders.size !== 1 || leaders.has('0')) return null;
  const [leader] = leaders;
  return facts.members.find((m) => m.id === leader) ?? null;
}

/**
 * Why etcd is not fit for a drill (null: it is): every endpoint of the config must
 * answer a quorum read, as `etcdctl endpoint health` asks. For a member-loss drill
 * (`minMembers` 3), also every member must answer on one of those endpoints, and all
 * must agree on a leader.
 */
export function membersProblem(facts: MemberFacts, minMembers: number): string | null {
  const { members, answers } = facts;
  const failed = answers.find((a): a is MemberFailure => 'error' in a);
  if (failed) return `etcd at ${failed.endpoint} does not answer (${failed.error})`;
  if (minMembers <= 1) return null;
  if (members.length < minMembers) {
    return `etcd has ${members.length} member(s); losing one must leave a quorum, so the drill needs ${minMembers} or more (compose.ha.yml runs three)`;
  }
  const reached = new Set(answers.map((a) => ('id' in a ? a.id : '')));
  const unlisted = members.filter((m) => !reached.has(m.id));
  if (unlisted.length > 0) {
    return `etcd member(s) ${unlisted.map((m) => m.name || m.id).join(', ')} answer on none of the config's etcd.endpoints; list every member there`;
  }
  if (!agreedLeader(facts)) return 'the etcd members do not agree on a raft leader';
  return null;
}

/**
 * The etcd cluster member by member: one client per endpoint, since an answer from
 * "some member" cannot say which one is down.
 */
export class EtcdMembers {
  private readonly clients: Array<[string, Etcd3]>;

  readonly endpoints: string[];
  /** A key the read-only login may read: a locked etcd (issue 15) refuses one outside the prefix. */
  private readonly probeKey: string;

  constructor(etcd: EtcdOptions & { prefix: string }, callTimeoutMs = 1000) {
    this.endpoints = etcd.endpoints;
    this.probeKey = `${etcd.prefix}/health`;
    this.clients = etcd.endpoints.map((endpoint) => [endpoint, createEtcd({ ...etcd, endpoints: [endpoint], callTimeoutMs }, 'reader')]);
  }

  async facts(): Promise<MemberFacts> {
    const answers = await Promise.all(
      this.clients.map(async ([endpoint, client]): Promise<MemberAnswer | MemberFailure> => {
        try {
          // A quorum read, as `etcdctl endpoint health` does: a member cut off from the others fails it.
          await client.get(this.probeKey).string();
          const status = await client.maintenance.status();
          return { endpoint, id: status.header.member_id, leader: status.leader };
        } catch (error) {
          return { endpoint, error: (error instanceof Error ? error.message : String(error)).split('\n')[0]! };
        }
      }),
    );
    let members: Member[] = [];
    for (const [, client] of this.clients) {
      try {
        members = (await client.cluster.memberList({})).members.map((m) => ({ id: m.ID, name: m.name }));
        break;
      } catch {
        // ask the next member
      }
    }
    return { members, answers };
  }

  close(): void {
    for (const [, client] of this.clients) client.close();
  }
}
