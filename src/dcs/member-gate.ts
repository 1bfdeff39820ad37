import { connect } from 'node:net';
import { NoopPolicy, type IDefaultPolicyContext, type IPolicy } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';

/** Thrown without calling the member: etcd3 then sends the call to the next member. */
export class MemberDown extends Error {}

/** The member itself did not answer; "etcdserver: …" errors are answers (no leader, timed out in raft). */
export function memberUnreachable(error: unknown): boolean {
  if (error instanceof GRPCDeadlineExceededError) return true;
  return error instanceof GRPCUnavailableError && !/etcdserver:/.test(error.message);
}

export type Reachable = (endpoint: string, timeoutMs: number) => Promise<boolean>;

/** A TCP connect to the member's client port: a restarted member listens only once it has rejoined. */
export const tcpReachable: Reachable = (endpoint, timeoutMs) =>
  new Promise((resolve) => {
    const url = new URL(endpoint);
    const socket = connect({ host: url.hostname, port: Number(url.port || 2379), timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });

/**
 * etcd3's per-member fault policy for a client of several members. A member that
 * failed to answer is passed over until a background probe reaches it again, so no
 * real call is spent finding out that it is still down (a circuit breaker's half-open
 * trial would fail one call of the agent's every time).
 */
export class MemberGate implements IPolicy {
  declare readonly _altReturn: never;
  private readonly inner = new NoopPolicy();
  readonly onSuccess = this.inner.onSuccess;
  readonly onFailure = this.inner.onFailure;
  private down = false;

  constructor(
    private readonly endpoint: string,
    private readonly probeEveryMs = 500,
    private readonly reachable: Reachable = tcpReachable,
  ) {}

  get isDown(): boolean {
    return this.down;
  }

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal: AbortSignal = new AbortController().signal): Promise<T> {
    if (this.down) throw new MemberDown(`etcd member ${this.endpoint} is down`);
    try {
      return await fn({ signal });
    } catch (error) {
      if (memberUnreachable(error)) this.markDown();
      throw error;
    }
  }

  private markDown(): void {
    if (this.down) return;
    this.down = true;
    const probe = async () => {
      if (await this.reachable(this.endpoint, 300)) {
        this.down = false;
        return;
      }
      setTimeout(() => void probe(), this.probeEveryMs).unref();
    };
    setTimeout(() => void probe(), this.probeEveryMs).unref();
  }
}
