import { Etcd3, GRPCUnavailableError } from 'etcd3';
import { handleWhen, noop, retry } from 'cockatiel';
import { MemberDown, MemberGate } from './member-gate.js';

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
 * and a call that provably never reached a member goes to the next (see retriesOnAnotherMember).
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
    // gRPC's reconnect backoff grows to 120 s by default: an agent cut off from etcd for a
    // while would then rejoin the cluster long after the network healed.
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 2000, 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 },
  });
}

/**
 * Only an error that proves the call never reached a member's raft log is sent to
 * another member: no connection could be made, the member refused it for want of a
 * leader, or the gate passed the member over. Anything else (a dropped connection, a
 * member stopping, a timeout) may come after the write was applied, and a second
 * attempt could turn a create-if-absent that succeeded into a reported failure.
 */
export function retriesOnAnotherMember(error: Error): boolean {
  if (error instanceof MemberDown) return true;
  return error instanceof GRPCUnavailableError && /No connection established|Name resolution failed|ECONNREFUSED|etcdserver: no leader/.test(error.message);
}

export function describeEtcdError(error: unknown, endpoints: string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  return `etcd at ${endpoints.join(',')} is unreachable (${message.split('\n')[0]})`;
}
