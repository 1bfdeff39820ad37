import { readFileSync } from 'node:fs';
import { Etcd3, GRPCUnavailableError, type IOptions } from 'etcd3';
import { handleWhen, noop, retry } from 'cockatiel';
import { ConfigError, passwordOf } from '../config/load.js';
import { MemberDown, MemberGate } from './member-gate.js';

interface EtcdLogin {
  user: string;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
}

/** The config's etcd section (or the part of it a caller has): endpoints, deadline, TLS files, logins. */
export interface EtcdOptions {
  endpoints: string[];
  callTimeoutMs: number;
  cacert?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  user?: string | undefined;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
  reader?: EtcdLogin | undefined;
}

/**
 * Which login a client uses: the agents' (read-write on the cluster's keys), or the
 * read-only one for commands that only read (`status`, `health`, `history`, `events`),
 * when the config has one.
 */
export type EtcdRole = 'agent' | 'reader';

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError([`config: etcd.${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

/** TLS and login options for etcd3, read from the files the config names. The password never leaves this object. */
export function etcdSecurity(options: EtcdOptions, role: EtcdRole = 'agent', env: NodeJS.ProcessEnv = process.env): Pick<IOptions, 'credentials' | 'auth'> {
  const security: Pick<IOptions, 'credentials' | 'auth'> = {};
  if (options.cacert !== undefined || options.cert !== undefined) {
    security.credentials = {
      rootCertificate: options.cacert !== undefined ? readPem(options.cacert, 'cacert') : (undefined as unknown as Buffer),
      ...(options.cert !== undefined && options.key !== undefined ? { certChain: readPem(options.cert, 'cert'), privateKey: readPem(options.key, 'key') } : {}),
    };
  }
  const login: EtcdLogin | undefined = role === 'reader' && options.reader ? options.reader : options.user !== undefined ? { user: options.user, passwordEnv: options.passwordEnv, passwordFile: options.passwordFile } : undefined;
  if (login) security.auth = { username: login.user, password: passwordOf(login, env) };
  return security;
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
export function createEtcd(options: EtcdOptions, role: EtcdRole = 'agent'): Etcd3 {
  const several = options.endpoints.length > 1;
  return new Etcd3({
    hosts: options.endpoints,
    ...etcdSecurity(options, role),
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
