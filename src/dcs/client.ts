import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';

export interface EtcdOptions {
  endpoints: string[];
  callTimeoutMs: number;
}

/**
 * An etcd client whose unary calls fail within a deadline and are not retried or
 * circuit-broken by the library: the agent loop decides what a failure means, and
 * must see etcd come back the moment it does.
 */
export function createEtcd(options: EtcdOptions): Etcd3 {
  return new Etcd3({
    hosts: options.endpoints,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
    faultHandling: { host: () => noop, global: noop },
    grpcOptions: { 'grpc.keepalive_time_ms': 5000, 'grpc.keepalive_timeout_ms': 2000 },
  });
}

export function describeEtcdError(error: unknown, endpoints: string[]): string {
  const message = error instanceof Error ? error.message : String(error);
  return `etcd at ${endpoints.join(',')} is unreachable (${message.split('\n')[0]})`;
}
