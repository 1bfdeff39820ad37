import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { handleWhen, noop, retry } from 'cockatiel';
import { MemberGate } from './member-gate.js';

export interface EtcdOptions {
  endpoints: string[];
  callTimeoutMs: number;
}

/**
 * An etcd client whose unary calls fail within a deadline: the agent loop decides
 * what a failure means, and must see etcd come back the moment it does.
 *
 * With one endpoint nothing is retried or circuit-broken (etcd3's defaults fail a 1 s
 * deadline only after 4 s and then keep failing for 5 s). With several members, the
 * library would send each call to a random member and fail it if that member is
 * down, so one lost member of three would fail a third of all calls: instead a member
 * that does not answer is passed over until it can be reached again (`MemberGate`),
 * and a call that could not reach a member (UNAVAILABLE, never a timeout, whose write
 * may have been applied) goes to the next.
 */
export function createEtcd(options: EtcdOptions): Etcd3 {
  const several = options.endpoints.length > 1;
  return new Etcd3({
    hosts: options.endpoints,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    faultHandling: several
      ? {
          host: (endpoint) => new MemberGate(endpoint.includes('://') ? endpoint : `http://${endpoint}`),
          global: retry(handleWhen(retriesOnAnotherMember), { maxAttempts: options.endpoints.length - 1 }),
        }
      : { host: () => noop, global: noop },
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 2000 },
  });
}

/**
 * A member that is down, or has no raft leader, never applied the call: sending it
 * to another member cannot apply it twice. "request timed out" may have been applied.
 */
export function retriesOnAnotherMember(error: Error): boolean {
  return error instanceof GRPCUnavailableError && !/request timed out/.test(error.message);
}

export function describeEtcdError(error: unknown, endpoints: string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  return `etcd at ${endpoints.join(',')} is unreachable (${message.split('\n')[0]})`;
}
